//! Runs compiled flows through the `flow` crate's tables without a switch:
//! conntrack is simulated (the test says which `ct_state` each pass gets;
//! explicit `nat(src=…)`/`nat(dst=…)` rewrite the packet). Conjunctive
//! flows are loaded as they are (the `flow` crate evaluates them) or, as a
//! cross-check, expanded into their cross product (ovs-fields(7): a
//! conjunctive match is equivalent to it).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use controller::Flow;
use flow::actions::DpAction;
use flow::fields::Field;
use flow::{FlowTables, Packet};

pub struct Sim {
    pub tables: FlowTables,
}

/// What happened to a packet.
#[derive(Debug, Default)]
pub struct Outcome {
    pub outputs: Vec<u32>,
    pub in_port_out: bool,
    /// Userdata texts of controller() actions.
    pub local: Vec<String>,
    /// Conntrack actions seen: (zone, commit, nat).
    pub cts: Vec<(u16, bool, Option<flow::actions::NatSpec>)>,
    /// Packet fields after the last pass.
    pub last: Packet,
}

impl Outcome {
    pub fn dropped(&self) -> bool {
        self.outputs.is_empty() && !self.in_port_out && self.local.is_empty()
    }
}

fn merge(a: &str, b: &str) -> String {
    let mut toks: Vec<&str> = a.split(',').filter(|s| !s.is_empty()).collect();
    for t in b.split(',').filter(|s| !s.is_empty()) {
        if !toks.contains(&t) {
            toks.push(t);
        }
    }
    toks.join(",")
}

/// Replace conjunctive flows by the equivalent plain flows.
pub fn expand(flows: &[Flow]) -> Vec<String> {
    // (table, priority, conj id) → dimension → matches
    let mut dims: BTreeMap<(u8, u16, u32), BTreeMap<u8, Vec<String>>> = BTreeMap::new();
    let mut out = Vec::new();
    for f in flows {
        if f.actions.starts_with("conjunction(") {
            for a in f.actions.split("),") {
                let inner = a.trim_start_matches("conjunction(").trim_end_matches(')');
                let (id, kn) = inner.split_once(',').expect("conjunction(id,k/n)");
                let k: u8 = kn.split('/').next().unwrap().parse().unwrap();
                dims.entry((f.key.table, f.key.priority, id.parse().unwrap()))
                    .or_default()
                    .entry(k)
                    .or_default()
                    .push(f.key.matches.clone());
            }
        }
    }
    for f in flows {
        if f.actions.starts_with("conjunction(") {
            continue;
        }
        if let Some(rest) = f.key.matches.strip_prefix("conj_id=") {
            // `conj_id=N[,more]`: the extra matches apply to every combo.
            let (id, more) = rest.split_once(',').unwrap_or((rest, ""));
            let id: u32 = id.parse().unwrap();
            let Some(d) = dims.get(&(f.key.table, f.key.priority, id)) else {
                continue;
            };
            let mut combos = vec![more.to_string()];
            for ms in d.values() {
                combos = combos
                    .iter()
                    .flat_map(|c| ms.iter().map(move |m| merge(c, m)))
                    .collect();
            }
            for m in combos {
                out.push(format!(
                    "cookie={:#x},table={},priority={},{m},actions={}",
                    f.cookie, f.key.table, f.key.priority, f.actions
                ));
            }
            continue;
        }
        out.push(f.to_string());
    }
    out
}

impl Sim {
    pub fn load(flows: &[Flow]) -> Sim {
        Sim::load_texts(flows.iter().map(|f| f.to_string()).collect())
    }

    pub fn load_expanded(flows: &[Flow]) -> Sim {
        Sim::load_texts(expand(flows))
    }

    fn load_texts(texts: Vec<String>) -> Sim {
        let tables = FlowTables::new();
        for text in texts {
            let p = flow::parse_flow(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
            tables
                .add_flow(p.flow, Duration::ZERO)
                .unwrap_or_else(|e| panic!("{text}: {e}"));
        }
        Sim { tables }
    }

    /// A neighbour on an external network answers the router's ARP (what
    /// `cloudnet:arp-request` asks for): `ip` is at `mac`, seen on uplink
    /// `uplink` by the router gateway port `gw_mac` with address `gw_ip`.
    /// The router learns the binding (table MAC_BINDING), so later packets
    /// to that next hop leave instead of triggering a request.
    pub fn learn_neighbour(&self, uplink: u32, gw_mac: &str, gw_ip: &str, ip: &str, mac: &str) {
        let reply = format!(
            "in_port={uplink},arp,dl_src={mac},dl_dst={gw_mac},arp_op=2,arp_spa={ip},\
             arp_tpa={gw_ip},arp_sha={mac},arp_tha={gw_mac}"
        );
        let before = self.bindings();
        self.run(&reply, &[0]);
        assert_eq!(self.bindings(), before + 1, "{ip} learned from {reply}");
    }

    /// Learned MAC bindings, all routers.
    pub fn bindings(&self) -> usize {
        self.tables
            .read()
            .table(controller::tables::MAC_BINDING)
            .rules()
            .len()
    }

    /// Run `pkt` (ovs-appctl ofproto/trace syntax); each conntrack pass
    /// gets the next state of `ct_states` (the last one repeats).
    pub fn run(&self, pkt: &str, ct_states: &[u32]) -> Outcome {
        let p = flow::parse_packet(pkt).unwrap_or_else(|e| panic!("{pkt}: {e}"));
        let mut words = p.to_words();
        let mut o = Outcome::default();
        for pass in 0..16 {
            let x = flow::translate(&self.tables.read(), &words, None);
            // What `learn` installs is there for the next packet, as in
            // the switch.
            self.tables.apply_learned(&x.learns, Duration::ZERO);
            let mut recirc = None;
            for a in &x.actions {
                match a {
                    DpAction::Output(n) => o.outputs.push(*n),
                    DpAction::OutputInPort => o.in_port_out = true,
                    DpAction::Controller { action, .. } => o
                        .local
                        .push(String::from_utf8_lossy(&action.userdata).into_owned()),
                    DpAction::Ct {
                        zone,
                        commit,
                        nat,
                        recirc_table,
                        ..
                    } => {
                        o.cts.push((*zone, *commit, nat.clone()));
                        if let Some(t) = recirc_table {
                            recirc.get_or_insert((*t, nat.clone()));
                        }
                    }
                    _ => {}
                }
            }
            o.last = Packet::from_words(&x.final_flow);
            let Some((t, nat)) = recirc else { break };
            words = x.final_flow;
            let st = ct_states[pass.min(ct_states.len() - 1)];
            Field::CtState.set(&mut words, st as u128);
            if st & flow::fields::ct_state::RPL != 0 {
                reply_tuple(&mut words);
            }
            Field::RecircId.set(&mut words, flow::recirc_id_for_table(t) as u128);
            if let Some(n) = nat {
                if let (Some(src), Some(IpAddr::V4(a))) = (n.src, n.addr_min) {
                    let f = if src { Field::NwSrc } else { Field::NwDst };
                    f.set(&mut words, u32::from(a) as u128);
                }
            }
        }
        o
    }
}

/// A reply's connection: its original tuple is the packet's reversed
/// (`ct_nw_src` = `nw_dst`…), as conntrack reports it.
fn reply_tuple(w: &mut flow::flowvec::Words) {
    let pairs = if Field::DlType.get(w) == 0x86dd {
        [
            (Field::Ipv6Dst, Field::CtIpv6Src),
            (Field::Ipv6Src, Field::CtIpv6Dst),
        ]
    } else {
        [
            (Field::NwDst, Field::CtNwSrc),
            (Field::NwSrc, Field::CtNwDst),
        ]
    };
    for (f, c) in pairs.into_iter().chain([
        (Field::NwProto, Field::CtNwProto),
        (Field::TpDst, Field::CtTpSrc),
        (Field::TpSrc, Field::CtTpDst),
    ]) {
        let v = f.get(w);
        c.set(w, v);
    }
}
