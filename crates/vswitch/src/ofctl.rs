//! Server side of the online ovs-ofctl(8) commands: show, add-flow(s),
//! mod-flows, del-flows, dump-flows, dump-ports, dump-tables, and
//! ofproto/trace (ovs-vswitchd(8)).

use std::fmt::Write as _;

use crate::dp::stats::DropReason;
use crate::dp::Datapath;
use crate::proto::Request;
use crate::schema::{Config, OFPP_LOCAL};
use flow::{FlowMod, FlowOp};

/// The bridge a request addresses.
pub fn bridge_of(req: &Request) -> Option<&str> {
    match req {
        Request::AddFlows { bridge, .. }
        | Request::FlowMods { bridge, .. }
        | Request::ModFlows { bridge, .. }
        | Request::DelFlows { bridge, .. }
        | Request::DumpFlows { bridge, .. }
        | Request::Show { bridge }
        | Request::DumpPorts { bridge, .. }
        | Request::DumpTables { bridge }
        | Request::Trace { bridge, .. }
        | Request::AddTlvMap { bridge, .. }
        | Request::DelTlvMap { bridge, .. }
        | Request::DumpTlvMap { bridge }
        | Request::PacketOut { bridge, .. } => Some(bridge),
        Request::Version
        | Request::Vsctl { .. }
        | Request::DumpConntrack { .. }
        | Request::FlushConntrack { .. }
        | Request::CtStats
        | Request::CtSetLimits { .. }
        | Request::Tc { .. }
        | Request::Stats
        | Request::Capture { .. }
        | Request::Exit => None,
    }
}

fn port_name(n: u16) -> String {
    if n == OFPP_LOCAL {
        "LOCAL".to_owned()
    } else {
        n.to_string()
    }
}

/// A del-flows/dump-flows filter: everything when absent.
fn filter(text: &Option<String>) -> Result<FlowMod, String> {
    match text.as_deref().map(str::trim) {
        None | Some("") => Ok(FlowMod {
            table: 255,
            ..FlowMod::default()
        }),
        Some(t) => {
            let mut f = flow::parse_filter(t)
                .map(|p| p.flow)
                .map_err(|e| format!("{t:?}: {e}"))?;
            // ovs-ofctl(8) "Flow Syntax": without `table=`, del-flows and
            // dump-flows act on every table.
            let names_table = t
                .split(|c: char| c == ',' || c.is_ascii_whitespace())
                .any(|tok| tok.starts_with("table="));
            if !names_table {
                f.table = 255;
            }
            Ok(f)
        }
    }
}

/// The flows of a bridge.
pub fn flow_mods(dp: &Datapath, bridge: &str) -> Vec<FlowMod> {
    let Some(b) = dp.bridge(bridge) else {
        return Vec::new();
    };
    let all = FlowMod {
        table: 255,
        ..FlowMod::default()
    };
    b.tables
        .dump(&all, false, dp.now())
        .into_iter()
        .map(|(f, _)| f)
        .collect()
}

/// The flows of a bridge as add-flow text (what `--persist-flows` stores).
pub fn flows_text(dp: &Datapath, bridge: &str) -> Vec<String> {
    flow_mods(dp, bridge)
        .iter()
        .map(|f| flow::format_flow(f, None).trim().to_owned())
        .collect()
}

/// Flows may use only mapped `tun_metadataN` fields (OVS refuses the
/// others too): the map decides what a field means on the wire, and it
/// keeps fields sharing an inline slot apart (see [`crate::tlv`]).
fn check_mapped(tlv: &crate::tlv::TlvMap, f: &FlowMod) -> Result<(), String> {
    let used = crate::tlv::fields_used(f);
    match (0..flow::tun_md::FIELDS).find(|&n| used >> n & 1 != 0 && !tlv.is_mapped(n)) {
        Some(n) => Err(format!(
            "tun_metadata{n} is not mapped to a Geneve option (add-tlv-map first)"
        )),
        None => Ok(()),
    }
}

/// `ops` followed by an add of each of `flows` (parsed, their
/// `tun_metadataN` fields checked); the error names the bad flow.
fn adds(
    tlv: &crate::tlv::TlvMap,
    flows: &[String],
    mut ops: Vec<FlowOp>,
) -> Result<Vec<FlowOp>, String> {
    ops.reserve(flows.len());
    for (i, f) in flows.iter().enumerate() {
        let p = flow::parse_flow(f).map_err(|e| format!("flow {} ({f:?}): {e}", i + 1))?;
        check_mapped(tlv, &p.flow).map_err(|e| format!("flow {} ({f:?}): {e}", i + 1))?;
        ops.push(FlowOp::Add(p.flow));
    }
    Ok(ops)
}

/// A strict delete for each match (`del-flows --strict` filters).
fn strict_deletes(matches: &[String]) -> Result<Vec<FlowOp>, String> {
    (matches.iter())
        .map(|m| {
            Ok(FlowOp::Delete {
                filter: filter(&Some(m.clone()))?,
                strict: true,
            })
        })
        .collect()
}

/// Apply `ops` to `bridge`'s tables as one transaction.
fn commit(dp: &mut Datapath, bridge: &str, ops: Vec<FlowOp>) -> Result<(), String> {
    let now = dp.now();
    let b = dp.bridge_mut(bridge).ok_or("bridge vanished")?;
    b.tables.transaction(ops, now).map_err(|e| e.to_string())?;
    Ok(())
}

/// Handle an ofctl request; returns the output and whether flows changed.
pub fn handle(cfg: &Config, dp: &mut Datapath, req: &Request) -> Result<(String, bool), String> {
    let Some(bridge) = bridge_of(req) else {
        return Err("not an ofctl request".into());
    };
    if dp.bridge(bridge).is_none() {
        return Err(format!("{bridge} is not a bridge or a socket"));
    }
    let mut out = String::new();
    let mut changed = false;
    match req {
        Request::AddFlows { flows, .. } => {
            // Parse everything first: a bad line adds nothing, and the
            // batch is one atomic transaction of the tables.
            let tlv = &dp.bridge(bridge).ok_or("bridge vanished")?.tlv;
            let ops = adds(tlv, flows, Vec::with_capacity(flows.len()))?;
            commit(dp, bridge, ops)?;
            changed = true;
        }
        Request::FlowMods {
            delete_strict, add, ..
        } => {
            let tlv = &dp.bridge(bridge).ok_or("bridge vanished")?.tlv;
            let ops = adds(tlv, add, strict_deletes(delete_strict)?)?;
            commit(dp, bridge, ops)?;
            changed = true;
        }
        Request::ModFlows {
            flow: text, strict, ..
        } => {
            let p = flow::parse_flow(text).map_err(|e| format!("{text:?}: {e}"))?;
            let tlv = &dp.bridge(bridge).ok_or("bridge vanished")?.tlv;
            check_mapped(tlv, &p.flow).map_err(|e| format!("{text:?}: {e}"))?;
            let now = dp.now();
            let b = dp.bridge_mut(bridge).ok_or("bridge vanished")?;
            b.tables
                .transaction(
                    vec![FlowOp::Modify {
                        filter: p.flow,
                        strict: *strict,
                    }],
                    now,
                )
                .map_err(|e| e.to_string())?;
            changed = true;
        }
        Request::DelFlows {
            matches, strict, ..
        } => {
            let f = filter(matches)?;
            let now = dp.now();
            let b = dp.bridge_mut(bridge).ok_or("bridge vanished")?;
            b.tables
                .transaction(
                    vec![FlowOp::Delete {
                        filter: f,
                        strict: *strict,
                    }],
                    now,
                )
                .map_err(|e| e.to_string())?;
            changed = true;
        }
        Request::DumpFlows { matches, .. } => {
            let f = filter(matches)?;
            let now = dp.now();
            let b = dp.bridge_mut(bridge).ok_or("bridge vanished")?;
            // The flow cache counts hits itself; fold them into the flows.
            b.cache.sync_stats();
            for (fm, st) in b.tables.dump(&f, false, now) {
                let _ = writeln!(out, "{}", flow::format_flow(&fm, Some(st)));
            }
        }
        Request::Show { .. } => {
            let _ = writeln!(out, "OFPT_FEATURES_REPLY: n_tables:1, bridge {bridge}");
            let mut ports: Vec<(u16, String, String)> = Vec::new();
            if let Some(b) = cfg.bridges.get(bridge) {
                for p in &b.ports {
                    if let Some(i) = cfg.interfaces.get(p) {
                        let state = match dp.port_slot(p).and_then(|s| dp.ports[s].as_ref()) {
                            Some(dpp) => match &dpp.io {
                                crate::dp::port::PortIo::Down(e) => format!("down: {e}"),
                                _ => "up".to_owned(),
                            },
                            None => "absent".to_owned(),
                        };
                        ports.push((
                            i.ofport.unwrap_or(0),
                            p.clone(),
                            format!("type {}, {state}", i.kind.as_str()),
                        ));
                    }
                }
            }
            ports.sort();
            for (n, name, info) in ports {
                let _ = writeln!(out, " {}({name}): {info}", port_name(n));
            }
        }
        Request::DumpPorts { port, .. } => {
            let b = dp.bridge(bridge).ok_or("bridge vanished")?;
            let want: Option<u16> = match port.as_deref() {
                None => None,
                Some("LOCAL") => Some(OFPP_LOCAL),
                Some(p) => match p.parse() {
                    Ok(n) => Some(n),
                    Err(_) => Some(
                        cfg.interfaces
                            .get(p)
                            .and_then(|i| i.ofport)
                            .ok_or_else(|| format!("no port {p:?}"))?,
                    ),
                },
            };
            let mut rows: Vec<(u16, crate::dp::stats::PortStats)> = b
                .ports
                .iter()
                .filter_map(|&s| dp.ports[s].as_ref())
                .filter(|p| want.is_none_or(|w| w == p.ofport))
                .map(|p| (p.ofport, p.stats))
                .collect();
            rows.sort_by_key(|r| r.0);
            let _ = writeln!(out, "OFPST_PORT reply: {} ports", rows.len());
            for (n, s) in rows {
                let _ = writeln!(
                    out,
                    "  port {:>5}: rx pkts={}, bytes={}, drop={}, errs={}\n             tx pkts={}, bytes={}, drop={}, errs={}",
                    port_name(n),
                    s.rx_packets,
                    s.rx_bytes,
                    s.rx_dropped,
                    s.rx_errors,
                    s.tx_packets,
                    s.tx_bytes,
                    s.tx_dropped,
                    s.tx_errors
                );
            }
        }
        Request::DumpTables { .. } => {
            let b = dp.bridge(bridge).ok_or("bridge vanished")?;
            let c = &b.cache.stats();
            let _ = writeln!(
                out,
                "OFPST_TABLE reply:\n  flows={}\n  cache: emc_hits={}, megaflow_hits={}, misses={}, flushes={}",
                b.tables.len(),
                c.emc_hits,
                c.megaflow_hits,
                c.misses,
                c.flushes
            );
            let _ = write!(out, "  drops:");
            for r in DropReason::ALL {
                let _ = write!(out, " {}={}", r.name(), b.drops.get(r));
            }
            out.push('\n');
            // Datapath-wide: tunnel receive coalescing (software GRO).
            let g = dp.gro_stats();
            let _ = writeln!(
                out,
                "  tunnel_gro: coalesced={} merged={} bad_checksum={}",
                g.coalesced, g.merged, g.bad_checksum
            );
        }
        Request::Trace { flow, .. } => {
            out = dp.trace(bridge, flow)?;
        }
        Request::PacketOut {
            in_port,
            packet,
            actions,
            ..
        } => {
            let spec = crate::packet_out::PacketOutSpec {
                in_port: in_port.clone(),
                packet: packet.clone(),
                actions: actions.clone(),
            };
            crate::packet_out::execute(cfg, dp, bridge, &spec).map_err(|e| e.to_string())?;
            // A learn action may have added flows: persist them.
            changed = true;
        }
        _ => {}
    }
    Ok((out, changed))
}

#[cfg(test)]
mod tests {
    use super::filter;

    #[test]
    fn a_filter_without_table_covers_every_table() {
        let f = |s: &str| filter(&Some(s.to_owned())).expect("parses").table;
        assert_eq!(f("cookie=0x8/-1"), 255);
        assert_eq!(f("table=3,cookie=0x8/-1"), 3);
        assert_eq!(f("table=0 cookie=0x8/-1"), 0);
        assert_eq!(filter(&None).expect("all").table, 255);
    }
}
