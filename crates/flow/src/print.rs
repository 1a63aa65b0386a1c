//! Printing flows the way ovs-ofctl does (`dump-flows`, `--no-stats`), in
//! OVS's normalized form: its field order (`match_format()` in OVS's
//! lib/match.c), shorthands (`tcp`, `arp`, ...), `dl_vlan` for a VID match,
//! CIDR prefixes, hex for masked values, named reserved ports.

use crate::actions::*;
use crate::ct_fields::CT_TUPLE_FIELDS;
use crate::fields::{ct_state, prefix_mask, Field, FieldRef, Fmt, TCP_FLAG_NAMES};
use crate::matching::{Match, SHORTHANDS};
use packet::flowkey::{ethertype as et, VLAN_CFI};
use std::fmt::Write;
use std::net::{Ipv4Addr, Ipv6Addr};

fn mac_str(v: u128) -> String {
    let b = (v as u64).to_be_bytes();
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        b[2], b[3], b[4], b[5], b[6], b[7]
    )
}

fn prefix_len(mask: u128, bits: u8) -> Option<u8> {
    let n = mask.count_ones() as u8;
    (n <= bits && mask == prefix_mask(n, bits)).then_some(n)
}

/// Formats a port number, by name if reserved.
pub fn port_str(p: u32) -> String {
    match p {
        port::IN_PORT => "IN_PORT".into(),
        port::TABLE => "TABLE".into(),
        port::NORMAL => "NORMAL".into(),
        port::FLOOD => "FLOOD".into(),
        port::ALL => "ALL".into(),
        port::CONTROLLER => "CONTROLLER".into(),
        port::LOCAL => "LOCAL".into(),
        port::NONE => "ANY".into(),
        _ => p.to_string(),
    }
}

fn flags_str(v: u128, m: u128, names: &[(&str, u32)]) -> Option<String> {
    let known: u128 = names.iter().map(|(_, b)| *b as u128).fold(0, |a, b| a | b);
    if m & !known != 0 {
        return None;
    }
    let mut s = String::new();
    for (n, b) in names {
        let b = *b as u128;
        if m & b != 0 {
            s.push(if v & b != 0 { '+' } else { '-' });
            s.push_str(n);
        }
    }
    Some(s)
}

/// Formats a field value (with `/mask` when not exact), per ovs-fields(7).
pub fn value_str(field: Field, v: u128, m: u128) -> String {
    let info = field.info();
    let full = field.full_mask();
    let exact = m == full;
    match info.fmt {
        Fmt::Mac if exact => mac_str(v),
        Fmt::Mac => format!("{}/{}", mac_str(v), mac_str(m)),
        Fmt::Ipv4 => {
            let a = Ipv4Addr::from(v as u32);
            match prefix_len(m, 32) {
                Some(32) => a.to_string(),
                Some(n) => format!("{a}/{n}"),
                None => format!("{a}/{}", Ipv4Addr::from(m as u32)),
            }
        }
        Fmt::Ipv6 => {
            let a = Ipv6Addr::from(v);
            match prefix_len(m, 128) {
                Some(128) => a.to_string(),
                Some(n) => format!("{a}/{n}"),
                None => format!("{a}/{}", Ipv6Addr::from(m)),
            }
        }
        Fmt::Port => port_str(v as u32),
        // An exact 32-bit state (a trace packet's) is a plain number: the
        // flag names cannot express the bits beyond the eight defined ones,
        // and a packet takes no mask.
        Fmt::CtState if exact => format!("{v:#x}"),
        Fmt::CtState => flags_str(v, m, &ct_state::NAMES)
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| format!("{v:#x}/{m:#x}")),
        Fmt::TcpFlags if exact => format!("0x{v:03x}"),
        Fmt::TcpFlags => flags_str(v, m, &TCP_FLAG_NAMES)
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| format!("0x{v:03x}/0x{m:03x}")),
        Fmt::TunFlags if exact => format!("{v:#x}"),
        Fmt::TunFlags => flags_str(v, m, &crate::tun_md::TUN_FLAG_NAMES)
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| format!("{v:#x}/{m:#x}")),
        Fmt::Frag => match (v, m) {
            (0, 1) => "no".into(),
            (1, 1) => "yes".into(),
            (1, 3) => "first".into(),
            (3, 3) | (2, 2) => "later".into(),
            (0, 2) => "not_later".into(),
            _ => format!("{v:#x}/{m:#x}"),
        },
        Fmt::Hex if field == Field::DlType => format!("0x{v:04x}"),
        Fmt::Hex if exact => format!("{v:#x}"),
        Fmt::Hex => format!("{v:#x}/{m:#x}"),
        Fmt::Dec if exact => v.to_string(),
        Fmt::Dec => format!("0x{v:04x}/0x{m:04x}"),
    }
}

/// Formats a match (and the priority, when given and not the default) the
/// way `ovs-ofctl dump-flows` does.
pub fn format_match(m: &Match, priority: Option<u16>) -> String {
    let mut out: Vec<String> = Vec::new();
    if let Some(p) = priority.filter(|p| *p != crate::DEFAULT_PRIORITY) {
        out.push(format!("priority={p}"));
    }
    let put = |out: &mut Vec<String>, f: Field| {
        let (v, mk) = m.get(f);
        if m.has(f) {
            out.push(format!("{}={}", f.info().name, value_str(f, v, mk)));
        }
    };
    let head = [
        Field::RecircId,
        Field::ConjId,
        Field::PktMark,
        Field::CtState,
        Field::CtZone,
        Field::CtMark,
        Field::CtLabel,
    ];
    for &f in head.iter().chain(&CT_TUPLE_FIELDS) {
        put(&mut out, f);
    }
    let (dl_type, dl_mask) = m.get(Field::DlType);
    let (proto, proto_mask) = m.get(Field::NwProto);
    let dl_exact = dl_mask == 0xffff;
    let mut skip_type = false;
    let mut skip_proto = false;
    if dl_exact {
        for (name, t, p) in SHORTHANDS {
            let proto_ok = match p {
                Some(p) => proto_mask == 0xff && proto == p as u128,
                None => true,
            };
            if dl_type == t as u128 && proto_ok {
                out.push(name.to_string());
                skip_type = true;
                skip_proto = p.is_some();
                break;
            }
        }
        if dl_type == 0x8035 {
            out.push("rarp".into());
            skip_type = true;
        }
    }
    for r in 0..16 {
        put(&mut out, Field::Reg(r));
    }
    for f in [Field::TunId, Field::TunSrc, Field::TunDst, Field::TunFlags] {
        put(&mut out, f);
    }
    // OVS prints the tunnel metadata after the other tunnel fields.
    for n in 0..crate::tun_md::FIELDS {
        put(&mut out, Field::TunMetadata(n));
    }
    for f in [Field::Metadata, Field::InPort] {
        put(&mut out, f);
    }
    let (tci, tci_m) = m.get(Field::VlanTci);
    let cfi = tci & VLAN_CFI as u128 != 0;
    match tci_m {
        0 => {}
        0x1fff if cfi => out.push(format!("dl_vlan={}", tci & 0xfff)),
        0xf000 if cfi => out.push(format!("dl_vlan_pcp={}", tci >> 13)),
        0xffff if cfi => {
            out.push(format!("dl_vlan={}", tci & 0xfff));
            out.push(format!("dl_vlan_pcp={}", tci >> 13));
        }
        0xffff => out.push(format!("vlan_tci=0x{tci:04x}")),
        _ => out.push(format!("vlan_tci=0x{tci:04x}/0x{tci_m:04x}")),
    }
    put(&mut out, Field::DlSrc);
    put(&mut out, Field::DlDst);
    if !skip_type {
        put(&mut out, Field::DlType);
    }
    let t = if dl_exact { dl_type as u16 } else { 0 };
    let is_arp = t == et::ARP || t == 0x8035;
    if t == et::IPV6 {
        put(&mut out, Field::Ipv6Src);
        put(&mut out, Field::Ipv6Dst);
        put(&mut out, Field::Ipv6Label);
    } else if is_arp {
        put(&mut out, Field::ArpSpa);
        put(&mut out, Field::ArpTpa);
    } else {
        put(&mut out, Field::NwSrc);
        put(&mut out, Field::NwDst);
    }
    if !skip_proto {
        put(&mut out, if is_arp { Field::ArpOp } else { Field::NwProto });
    }
    if is_arp {
        put(&mut out, Field::ArpSha);
        put(&mut out, Field::ArpTha);
    }
    let p = if proto_mask == 0xff { proto as u8 } else { 0 };
    let is_nd = t == et::IPV6 && p == 58 && m.get(Field::Icmpv6Type).1 != 0 && {
        let ty = m.get(Field::Icmpv6Type).0;
        ty == 135 || ty == 136
    };
    if is_nd {
        put(&mut out, Field::NdTarget);
        put(&mut out, Field::NdSll);
        put(&mut out, Field::NdTll);
    }
    let (tos, tos_m) = m.get(Field::NwTos);
    if tos_m & 0xfc != 0 {
        out.push(format!("nw_tos={}", tos & 0xfc));
    }
    if tos_m & 3 != 0 {
        out.push(format!("nw_ecn={}", tos & 3));
    }
    put(&mut out, Field::NwTtl);
    put(&mut out, Field::NwFrag);
    // ICMP type/code are the low bytes of tp_src/tp_dst and take no mask
    // (ovs-fields(7)); a tp_src/tp_dst match they cannot express (masked,
    // or on the high byte) prints under its own name so it parses back.
    let icmp = |out: &mut Vec<String>, alias: Field, tp: Field| {
        if m.get(tp).1 == alias.full_mask() {
            put(out, alias);
        } else {
            put(out, tp);
        }
    };
    if t == et::IPV4 && p == 1 {
        icmp(&mut out, Field::IcmpType, Field::TpSrc);
        icmp(&mut out, Field::IcmpCode, Field::TpDst);
    } else if t == et::IPV6 && p == 58 {
        icmp(&mut out, Field::Icmpv6Type, Field::TpSrc);
        icmp(&mut out, Field::Icmpv6Code, Field::TpDst);
    } else {
        put(&mut out, Field::TpSrc);
        put(&mut out, Field::TpDst);
    }
    put(&mut out, Field::TcpFlags);
    out.join(",")
}

/// Formats a field reference in NXM notation (`NXM_OF_VLAN_TCI[0..11]`).
pub fn ref_str(r: &FieldRef) -> String {
    let name = r.field.info().nxm;
    if r.is_whole() {
        format!("{name}[]")
    } else if r.nbits == 1 {
        format!("{name}[{}]", r.ofs)
    } else {
        format!("{name}[{}..{}]", r.ofs, r.ofs as u32 + r.nbits as u32 - 1)
    }
}

fn imm_str(v: u128) -> String {
    if v == 0 {
        "0".into()
    } else {
        format!("{v:#x}")
    }
}

fn hex_bytes(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(".")
}

fn src_str(s: &Src) -> String {
    match s {
        Src::Imm(v) => imm_str(*v),
        Src::Field(r) => ref_str(r),
    }
}

fn learn_str(l: &LearnAction) -> String {
    let mut p = vec![format!("table={}", l.table)];
    if l.idle_timeout != 0 {
        p.push(format!("idle_timeout={}", l.idle_timeout));
    }
    if l.hard_timeout != 0 {
        p.push(format!("hard_timeout={}", l.hard_timeout));
    }
    if l.fin_idle_timeout != 0 {
        p.push(format!("fin_idle_timeout={}", l.fin_idle_timeout));
    }
    if l.fin_hard_timeout != 0 {
        p.push(format!("fin_hard_timeout={}", l.fin_hard_timeout));
    }
    if l.priority != crate::DEFAULT_PRIORITY {
        p.push(format!("priority={}", l.priority));
    }
    if l.send_flow_rem {
        p.push("send_flow_rem".into());
    }
    if l.delete_learned {
        p.push("delete_learned".into());
    }
    if l.cookie != 0 {
        p.push(format!("cookie={:#x}", l.cookie));
    }
    if l.limit != 0 {
        p.push(format!("limit={}", l.limit));
    }
    for s in &l.specs {
        p.push(match s {
            LearnSpec::Match {
                dst,
                src: Src::Field(f),
            } if f == dst => ref_str(dst),
            LearnSpec::Match { dst, src } => format!("{}={}", ref_str(dst), src_str(src)),
            LearnSpec::Load { dst, src } => format!("load:{}->{}", src_str(src), ref_str(dst)),
            LearnSpec::Output { src } => format!("output:{}", ref_str(src)),
        });
    }
    format!("learn({})", p.join(","))
}

fn nat_str(n: &NatSpec) -> String {
    let mut p = Vec::new();
    if let Some(src) = n.src {
        let mut s = String::from(if src { "src" } else { "dst" });
        if let Some(a) = n.addr_min {
            let fmt = |a: std::net::IpAddr| match a {
                std::net::IpAddr::V6(x) => format!("[{x}]"),
                std::net::IpAddr::V4(x) => x.to_string(),
            };
            let _ = write!(s, "={}", fmt(a));
            if let Some(b) = n.addr_max {
                let _ = write!(s, "-{}", fmt(b));
            }
            if let Some(pm) = n.port_min {
                let _ = write!(s, ":{pm}");
                if let Some(px) = n.port_max {
                    let _ = write!(s, "-{px}");
                }
            }
        }
        p.push(s);
    }
    for (on, name) in [
        (n.persistent, "persistent"),
        (n.hash, "hash"),
        (n.random, "random"),
    ] {
        if on {
            p.push(name.to_string());
        }
    }
    if p.is_empty() {
        "nat".into()
    } else {
        format!("nat({})", p.join(","))
    }
}

fn ct_str(c: &CtAction) -> String {
    let mut p = Vec::new();
    if c.commit {
        p.push("commit".to_string());
    }
    if c.force {
        p.push("force".into());
    }
    if let Some(t) = c.table {
        p.push(format!("table={t}"));
    }
    match c.zone {
        Some(CtZone::Imm(z)) => p.push(format!("zone={z}")),
        Some(CtZone::Field(r)) => p.push(format!("zone={}", ref_str(&r))),
        None => {}
    }
    if !c.exec.is_empty() {
        p.push(format!("exec({})", format_actions(&c.exec)));
    }
    if let Some(a) = &c.alg {
        p.push(format!("alg={a}"));
    }
    if let Some(n) = &c.nat {
        p.push(nat_str(n));
    }
    if p.is_empty() {
        "ct".into()
    } else {
        format!("ct({})", p.join(","))
    }
}

/// Formats one action as ovs-ofctl prints it (ovs-actions(7)).
pub fn action_str(a: &Action) -> String {
    match a {
        Action::Output(p) => match *p {
            port::IN_PORT | port::NORMAL | port::FLOOD | port::ALL | port::LOCAL => port_str(*p),
            port::CONTROLLER => "CONTROLLER:65535".into(),
            _ => format!("output:{}", port_str(*p)),
        },
        Action::OutputReg(r) => format!("output:{}", ref_str(r)),
        Action::Controller(c) => {
            let d = ControllerAction::default();
            if c.reason == d.reason && c.controller_id == 0 && c.userdata.is_empty() && !c.pause {
                format!("CONTROLLER:{}", c.max_len)
            } else {
                let mut p = Vec::new();
                if c.max_len != d.max_len {
                    p.push(format!("max_len={}", c.max_len));
                }
                match c.reason {
                    ControllerReason::Action => {}
                    ControllerReason::NoMatch => p.push("reason=no_match".into()),
                    ControllerReason::InvalidTtl => p.push("reason=invalid_ttl".into()),
                }
                if c.controller_id != 0 {
                    p.push(format!("id={}", c.controller_id));
                }
                if !c.userdata.is_empty() {
                    p.push(format!("userdata={}", hex_bytes(&c.userdata)));
                }
                if c.pause {
                    p.push("pause".into());
                }
                format!("controller({})", p.join(","))
            }
        }
        Action::Enqueue { port, queue } => format!("enqueue:{}:{queue}", port_str(*port)),
        Action::Resubmit {
            port: Some(p),
            table: None,
            ct: false,
        } => format!("resubmit:{}", port_str(*p)),
        Action::Resubmit { port, table, ct } => {
            let p = port.map(port_str).unwrap_or_default();
            let t = table.map(|t| t.to_string()).unwrap_or_default();
            format!("resubmit({p},{t}{})", if *ct { ",ct" } else { "" })
        }
        Action::GotoTable(t) => format!("goto_table:{t}"),
        Action::ModVlanVid(v) => format!("mod_vlan_vid:{v}"),
        Action::ModVlanPcp(v) => format!("mod_vlan_pcp:{v}"),
        Action::PushVlan(t) => format!("push_vlan:{t:#06x}"),
        Action::StripVlan => "strip_vlan".into(),
        Action::SetTunnel { id, is64: false } => format!("set_tunnel:{id:#x}"),
        Action::SetTunnel { id, is64: true } => format!("set_tunnel64:{id:#x}"),
        Action::SetField { field, value, mask } => match field {
            Field::DlVlan | Field::DlVlanPcp => format!("set_field:{value}->{}", field.info().name),
            _ => format!(
                "set_field:{}->{}",
                value_str(*field, *value, *mask),
                field.info().name
            ),
        },
        Action::Load { dst, value } => format!("load:{}->{}", imm_str(*value), ref_str(dst)),
        Action::Move { src, dst } => format!("move:{}->{}", ref_str(src), ref_str(dst)),
        Action::ModDlSrc(m) => format!("mod_dl_src:{}", mac_str(mac_u128(m))),
        Action::ModDlDst(m) => format!("mod_dl_dst:{}", mac_str(mac_u128(m))),
        Action::ModNwSrc(a) => format!("mod_nw_src:{}", Ipv4Addr::from(*a)),
        Action::ModNwDst(a) => format!("mod_nw_dst:{}", Ipv4Addr::from(*a)),
        Action::ModNwTos(t) => format!("mod_nw_tos:{t}"),
        Action::ModTpSrc(p) => format!("mod_tp_src:{p}"),
        Action::ModTpDst(p) => format!("mod_tp_dst:{p}"),
        Action::DecTtl => "dec_ttl".into(),
        Action::Learn(l) => learn_str(l),
        Action::SetQueue(q) => format!("set_queue:{q}"),
        Action::Meter(m) => format!("meter:{m}"),
        Action::Note(b) => format!("note:{}", hex_bytes(b)),
        Action::Conjunction(c) => format!("conjunction({},{}/{})", c.id, c.clause, c.n_clauses),
        Action::Ct(c) => ct_str(c),
        Action::CtClear => "ct_clear".into(),
    }
}

fn mac_u128(m: &[u8; 6]) -> u128 {
    u64::from_be_bytes([0, 0, m[0], m[1], m[2], m[3], m[4], m[5]]) as u128
}

/// Formats an action list; the empty list is `drop`.
pub fn format_actions(acts: &[Action]) -> String {
    if acts.is_empty() {
        return "drop".into();
    }
    acts.iter().map(action_str).collect::<Vec<_>>().join(",")
}

/// Statistics printed by `dump-flows`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowStats {
    pub duration: std::time::Duration,
    pub n_packets: u64,
    pub n_bytes: u64,
}

/// Formats a flow like `ovs-ofctl dump-flows` (with `stats`) or
/// `dump-flows --no-stats` (without). The line starts with a space, as OVS's.
pub fn format_flow(f: &FlowMod, stats: Option<FlowStats>) -> String {
    let mut s = String::from(" ");
    match stats {
        Some(st) => {
            let _ = write!(
                s,
                "cookie={:#x}, duration={:.3}s, table={}, n_packets={}, n_bytes={}, ",
                f.cookie,
                st.duration.as_secs_f64(),
                f.table,
                st.n_packets,
                st.n_bytes
            );
        }
        None => {
            if f.cookie != 0 {
                let _ = write!(s, "cookie={:#x}, ", f.cookie);
            }
            if f.table != 0 {
                let _ = write!(s, "table={}, ", f.table);
            }
        }
    }
    if f.idle_timeout != 0 {
        let _ = write!(s, "idle_timeout={}, ", f.idle_timeout);
    }
    if f.hard_timeout != 0 {
        let _ = write!(s, "hard_timeout={}, ", f.hard_timeout);
    }
    for (on, name) in [
        (f.flags.send_flow_rem, "send_flow_rem"),
        (f.flags.check_overlap, "check_overlap"),
        (f.flags.reset_counts, "reset_counts"),
        (f.flags.no_packet_counts, "no_packet_counts"),
        (f.flags.no_byte_counts, "no_byte_counts"),
    ] {
        if on {
            let _ = write!(s, "{name} ");
        }
    }
    if f.importance != 0 {
        let _ = write!(s, "importance={}, ", f.importance);
    }
    let m = format_match(&f.matches, Some(f.priority));
    if !m.is_empty() {
        s.push_str(&m);
        s.push(' ');
    }
    let _ = write!(s, "actions={}", format_actions(&f.actions));
    s
}
