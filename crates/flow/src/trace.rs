//! `trace`: explain a verdict the way `ovs-appctl ofproto/trace` does —
//! each table visited with the flow that matched (or the miss), the actions
//! executed, the final flow, the megaflow the cache would install and the
//! datapath actions.

use crate::actions::DpAction;
use crate::classifier::FlowTables;
use crate::ct_fields::CT_TUPLE_FIELDS;
use crate::fields::Field;
use crate::flowvec::{Packet, Words};
use crate::matching::Match;
use crate::print::{format_flow, format_match, port_str};
use crate::translate::{translate, TraceLine, Xlate};
use std::fmt::Write;
use std::net::{Ipv4Addr, Ipv6Addr};

/// A finished trace.
#[derive(Debug, Clone)]
pub struct TraceReport {
    pub packet: Packet,
    pub lines: Vec<TraceLine>,
    pub xlate: Xlate,
}

/// Traces `pkt` through `tables` (no counters are touched, nothing is
/// learned; the learned flows are reported).
pub fn trace(tables: &FlowTables, pkt: &Packet) -> TraceReport {
    let mut lines = Vec::new();
    let set = tables.read();
    let xlate = translate(&set, &pkt.to_words(), Some(&mut lines));
    TraceReport {
        packet: *pkt,
        lines,
        xlate,
    }
}

/// A packet's fields as a trace prints them, the conntrack original
/// direction included (after `ct`, it is part of the packet's state).
const PACKET_HEAD: [Field; 5] = [
    Field::RecircId,
    Field::CtState,
    Field::CtZone,
    Field::CtMark,
    Field::CtLabel,
];

/// The fields after the conntrack original tuple, in printing order.
const PACKET_TAIL: [Field; 26] = [
    Field::PktMark,
    Field::TunId,
    Field::TunSrc,
    Field::TunDst,
    Field::TunFlags,
    Field::Metadata,
    Field::InPort,
    Field::VlanTci,
    Field::DlSrc,
    Field::DlDst,
    Field::DlType,
    Field::NwSrc,
    Field::NwDst,
    Field::Ipv6Src,
    Field::Ipv6Dst,
    Field::NwProto,
    Field::NwTos,
    Field::NwTtl,
    Field::TpSrc,
    Field::TpDst,
    Field::TcpFlags,
    Field::ArpSha,
    Field::ArpTha,
    Field::NwFrag,
    Field::Ipv6Label,
    Field::NdTarget,
];

/// The packet as an exact match on its non-zero fields (plus the ones that
/// are always shown), for printing.
pub fn packet_match(w: &Words) -> Match {
    let mut m = Match::catchall();
    let fields = PACKET_HEAD
        .iter()
        .chain(&CT_TUPLE_FIELDS)
        .chain(&PACKET_TAIL);
    for &f in fields {
        let v = f.get(w);
        if v != 0
            || matches!(
                f,
                Field::InPort | Field::DlSrc | Field::DlDst | Field::DlType
            )
        {
            m.set(f, v);
        }
    }
    for r in 0..16 {
        let v = Field::Reg(r).get(w);
        if v != 0 {
            m.set(Field::Reg(r), v);
        }
    }
    for (n, v) in crate::TunMetadata::from_words(w).iter() {
        m.set(Field::TunMetadata(n), v as u128);
    }
    m.normalize();
    m
}

/// A packet-in: its reason, and a `cloudnet:` local action's text
/// (LOCAL_ACTIONS.md in the vswitch crate) so a trace shows what the
/// switch will answer.
fn controller_str(c: &crate::actions::ControllerAction) -> String {
    use crate::actions::ControllerReason as R;
    let reason = match c.reason {
        R::Action => "action",
        R::NoMatch => "no_match",
        R::InvalidTtl => "invalid_ttl",
    };
    let mut s = format!("userspace(controller,reason={reason},max_len={}", c.max_len);
    match std::str::from_utf8(&c.userdata) {
        Ok(t) if t.starts_with("cloudnet:") => {
            let _ = write!(s, ",local({t})");
        }
        _ => {}
    }
    s + ")"
}

/// Formats a datapath action in the style of OVS's ODP actions.
pub fn dp_action_str(a: &DpAction) -> String {
    let mac = |m: &[u8; 6]| {
        m.iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":")
    };
    match a {
        DpAction::PopVlan => "pop_vlan".into(),
        DpAction::PushVlan { tpid, tci } => {
            format!(
                "push_vlan(tpid={tpid:#06x},vid={},pcp={})",
                tci & 0xfff,
                tci >> 13
            )
        }
        DpAction::SetVlan { tci } => format!("set_vlan(vid={},pcp={})", tci & 0xfff, tci >> 13),
        DpAction::SetEthSrc(m) => format!("set(eth(src={}))", mac(m)),
        DpAction::SetEthDst(m) => format!("set(eth(dst={}))", mac(m)),
        DpAction::SetIpv4Src(a) => format!("set(ipv4(src={}))", Ipv4Addr::from(*a)),
        DpAction::SetIpv4Dst(a) => format!("set(ipv4(dst={}))", Ipv4Addr::from(*a)),
        DpAction::SetIpv6Src(a) => format!("set(ipv6(src={}))", Ipv6Addr::from(*a)),
        DpAction::SetIpv6Dst(a) => format!("set(ipv6(dst={}))", Ipv6Addr::from(*a)),
        DpAction::SetIpTos(t) => format!("set(ip(tos={t:#x}))"),
        DpAction::SetIpTtl(t) => format!("set(ip(ttl={t}))"),
        DpAction::SetTpSrc(p) => format!("set(l4(src={p}))"),
        DpAction::SetTpDst(p) => format!("set(l4(dst={p}))"),
        DpAction::SetArp {
            op,
            sha,
            spa,
            tha,
            tpa,
        } => format!(
            "set(arp(sip={},tip={},op={op},sha={},tha={}))",
            Ipv4Addr::from(*spa),
            Ipv4Addr::from(*tpa),
            mac(sha),
            mac(tha)
        ),
        DpAction::SetNd { target, sll, tll } => format!(
            "set(nd(target={},sll={},tll={}))",
            Ipv6Addr::from(*target),
            mac(sll),
            mac(tll)
        ),
        DpAction::SetTunnel { id, src, dst } => {
            let mut s = format!("set(tunnel(tun_id={id:#x}");
            if *src != 0 {
                let _ = write!(s, ",src={}", Ipv4Addr::from(*src));
            }
            if *dst != 0 {
                let _ = write!(s, ",dst={}", Ipv4Addr::from(*dst));
            }
            s + "))"
        }
        DpAction::SetTunMetadata(md) => {
            let fields: Vec<String> = md
                .iter()
                .map(|(n, v)| format!("tun_metadata{n}={v:#x}"))
                .collect();
            format!("set(tun_metadata({}))", fields.join(","))
        }
        DpAction::SetPktMark(m) => format!("set(skb_mark({m:#x}))"),
        DpAction::SetQueue(q) => format!("set_queue({q})"),
        DpAction::Output(p) => port_str(*p),
        DpAction::OutputInPort => "in_port".into(),
        DpAction::Flood => "flood".into(),
        DpAction::All => "all".into(),
        DpAction::Local => "local".into(),
        DpAction::Normal => "normal".into(),
        DpAction::Enqueue { port, queue } => format!("enqueue({},{queue})", port_str(*port)),
        DpAction::Meter(m) => format!("meter({m})"),
        DpAction::Controller { action, .. } => controller_str(action),
        DpAction::Ct {
            zone,
            commit,
            force,
            nat,
            alg,
            set_mark,
            set_label,
            recirc_table,
            ..
        } => {
            let mut p = Vec::new();
            if *commit {
                p.push("commit".to_string());
            }
            if *force {
                p.push("force".into());
            }
            if *zone != 0 {
                p.push(format!("zone={zone}"));
            }
            if let Some((v, m)) = set_mark {
                p.push(format!("mark={v:#x}/{m:#x}"));
            }
            if let Some((v, m)) = set_label {
                p.push(format!("label={v:#x}/{m:#x}"));
            }
            if let Some(a) = alg {
                p.push(format!("helper={a}"));
            }
            if nat.is_some() {
                p.push("nat".into());
            }
            let mut s = format!("ct({})", p.join(","));
            if let Some(t) = recirc_table {
                let _ = write!(
                    s,
                    ",recirc({:#x})",
                    crate::translate::recirc_id_for_table(*t)
                );
            }
            s
        }
        DpAction::CtClear => "ct_clear".into(),
    }
}

/// Formats datapath actions; none is `drop`.
pub fn format_dp_actions(acts: &[DpAction]) -> String {
    if acts.is_empty() {
        "drop".into()
    } else {
        acts.iter().map(dp_action_str).collect::<Vec<_>>().join(",")
    }
}

impl TraceReport {
    /// The megaflow the cache would install.
    pub fn megaflow(&self) -> Match {
        let mut v = self.packet.to_words();
        for (x, m) in v.iter_mut().zip(self.xlate.mask.iter()) {
            *x &= *m;
        }
        Match {
            value: v,
            mask: self.xlate.mask,
        }
    }

    /// Human-readable report (ofproto/trace layout).
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "Flow: {}",
            format_match(&packet_match(&self.packet.to_words()), None)
        );
        let _ = writeln!(s);
        let _ = writeln!(s, "bridge");
        let _ = writeln!(s, "------");
        for l in &self.lines {
            let indent = "    ".repeat(l.depth.saturating_sub(1) as usize);
            let extra = if l.depth > 0 { "    " } else { "" };
            for (i, part) in l.text.lines().enumerate() {
                let pad = if i == 0 { extra } else { "" };
                let _ = writeln!(s, "{indent}{pad}{part}");
            }
        }
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "Final flow: {}",
            format_match(&packet_match(&self.xlate.final_flow), None)
        );
        let _ = writeln!(s, "Megaflow: {}", format_match(&self.megaflow(), None));
        let _ = writeln!(
            s,
            "Datapath actions: {}",
            format_dp_actions(&self.xlate.actions)
        );
        for l in &self.xlate.learns {
            let _ = writeln!(s, "Learned flow:{}", format_flow(&l.flow, None));
        }
        s
    }
}
