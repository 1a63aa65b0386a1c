//! Security groups as conjunctive matches (ovs-fields(7), "Conjunctive
//! Match Fields"), as OVN compiles ACLs on port groups and address sets.
//!
//! A rule `r` of group `G` (direction ingress = to the VM = the switch's
//! egress ACL table matching `reg15`; egress = from the VM = the ingress
//! ACL table matching `reg14`) becomes `conj_id=c_r` plus up to three
//! dimensions, all at priority [`acl::ALLOW_CONJ`]:
//!
//! 1. the ports: `reg15=K_p,ct_state=-rpl+trk` for each port `p` in `G`,
//!    owned by [`Owner::PortAcl`]`(p)`;
//! 2. the protocol and port range: `tcp,tp_dst=V/M`…, owned by the rule;
//! 3. the remote: a CIDR (`ip,nw_src=N`, owned by the rule) or, for a
//!    remote group `R`, one flow per address of each member of `R`, owned
//!    by that member's [`Owner::PortAcl`] — an address set.
//!
//! Every packet of a connection meets the rules, not only the first
//! (OVN applies ACL changes to existing connections the same way, OVS
//! commit 56ccd8bc "ovn: Apply ACL changes to existing connections"): the
//! original direction as above (new: committed; established: passed), and
//! the reply direction by the same rule compiled a second time in the
//! *other* ACL table, on the connection's original tuple (`ct_nw_src`,
//! `ct_nw_proto`, `ct_tp_dst`…, ovs-fields(7) "Connection Tracking
//! Fields") with `ct_state=+est+rpl` and the opposite port register. A
//! removed rule therefore cuts both directions of what it admitted on the
//! next packet, whichever side sends it, and nothing needs deleting from
//! conntrack — a deleted entry would let the peer commit the connection
//! afresh under its own rules, with the cut side's packets as replies.
//! Conntrack zones are per port ([`crate::ctx::Cx::port_zone`]), so each
//! port's verdict rests on its own zone's state and its own rules only.
//!
//! Flows with the same match and priority are merged into one with all
//! their `conjunction` actions ([`crate::flowset`]), so a port in `G`
//! costs two flows per direction, an address two flows per direction, a
//! rule two `conj_id` flows plus twice its port-range masks: linear in
//! ports plus addresses plus rules, never their product. A port joining a
//! group changes only its own two kinds of flows.

use std::net::IpAddr;

use ipnet::IpNet;
use model::SecurityGroupRule;

use crate::ctx::{secured, stateless, Cx};
use crate::flowset::LFlow;
use crate::tables::{self as t, acl, reg};
use crate::{util, CompileError};

/// The table, register and address side of a rule's direction, for its
/// original-direction packets and (`r…`) for the replies.
struct Dir {
    table: u8,
    next: u8,
    port_reg: &'static str,
    /// Remote addresses are the connection's source (ingress rules).
    remote_is_src: bool,
    /// Replies cross the other ACL table, with the other port register.
    rtable: u8,
    rnext: u8,
    rport_reg: &'static str,
}

fn dir(r: &SecurityGroupRule) -> Dir {
    let (to_vm, from_vm) = (
        (t::LS_OUT_ACL, t::LS_OUT_PORT_SEC, reg::OUTPORT),
        (t::LS_IN_ACL, t::LS_IN_ARP_ND_RSP, reg::INPORT),
    );
    let (o, rp, ingress) = if r.direction == "ingress" {
        (to_vm, from_vm, true)
    } else {
        (from_vm, to_vm, false)
    };
    Dir {
        table: o.0,
        next: o.1,
        port_reg: o.2,
        remote_is_src: ingress,
        rtable: rp.0,
        rnext: rp.1,
        rport_reg: rp.2,
    }
}

/// Whether `r`'s group tracks connections (Neutron `stateful`, the
/// default).
fn rule_stateful(st: &model::State, r: &SecurityGroupRule) -> bool {
    st.security_groups
        .get(&r.security_group_id)
        .is_none_or(|g| g.stateful)
}

/// `ip,ct_nw_src=…` (or `ct_nw_dst`, `ct_ipv6_*`): the remote as the
/// connection's original tuple names it, for the reply-direction flows.
fn ct_addr_match(n: &IpNet, src: bool) -> String {
    let (eth, field) = match (n, src) {
        (IpNet::V4(_), true) => ("ip", "ct_nw_src"),
        (IpNet::V4(_), false) => ("ip", "ct_nw_dst"),
        (IpNet::V6(_), true) => ("ipv6", "ct_ipv6_src"),
        (IpNet::V6(_), false) => ("ipv6", "ct_ipv6_dst"),
    };
    if n.prefix_len() == n.max_prefix_len() {
        format!("{eth},{field}={}", n.addr())
    } else {
        format!("{eth},{field}={n}")
    }
}

fn v6(r: &SecurityGroupRule) -> bool {
    r.ethertype.eq_ignore_ascii_case("IPv6")
}

/// The L4 dimension's matches (one per port-range mask): on the packet's
/// fields, or (`ct`) on the connection's original tuple for replies —
/// there ICMP is matched by protocol only, its type and code being the
/// request's, not the reply's (a tracked ICMP connection is an echo,
/// keyed by identifier).
fn l4(r: &SecurityGroupRule, ct: bool) -> Result<Vec<String>, CompileError> {
    let id = &r.meta.id;
    let eth = if v6(r) { "ipv6" } else { "ip" };
    let proto = r.protocol.as_deref().map(str::to_ascii_lowercase);
    let (name, num) = match proto.as_deref() {
        None | Some("any") | Some("") => return Ok(vec![eth.to_string()]),
        Some("tcp") | Some("6") => ("tcp", 6),
        Some("udp") | Some("17") => ("udp", 17),
        Some("sctp") | Some("132") => ("sctp", 132),
        Some("icmp") | Some("1") if !v6(r) => ("icmp", 1),
        Some("icmp") | Some("ipv6-icmp") | Some("icmpv6") | Some("58") => ("icmp6", 58),
        Some(other) => {
            let n: u8 = other
                .parse()
                .map_err(|_| CompileError::bad("security group rule", id, "protocol", other))?;
            let f = if ct { "ct_nw_proto" } else { "nw_proto" };
            return Ok(vec![format!("{eth},{f}={n}")]);
        }
    };
    // The protocol alone; `tp_dst` or `ct_tp_dst` for ports.
    let (base, tp) = if ct {
        (format!("{eth},ct_nw_proto={num}"), "ct_tp_dst")
    } else {
        (name.to_string(), "tp_dst")
    };
    let (lo, hi) = (r.port_range_min, r.port_range_max);
    if num == 1 || num == 58 {
        if ct {
            return Ok(vec![base]);
        }
        // For ICMP, port_range_min/max are the type and code.
        return Ok(vec![match (lo, hi) {
            (Some(ty), Some(code)) => format!("{name},icmp_type={ty},icmp_code={code}"),
            (Some(ty), None) => format!("{name},icmp_type={ty}"),
            _ => base,
        }]);
    }
    let check = |v: u32| {
        u16::try_from(v)
            .map_err(|_| CompileError::bad("security group rule", id, "port", &v.to_string()))
    };
    Ok(match (lo, hi) {
        (None, None) => vec![base],
        (lo, hi) => {
            let lo = check(lo.or(hi).unwrap_or(0))?;
            let hi = check(hi.or(Some(lo as u32)).unwrap_or(0))?;
            util::port_masks(lo, hi.max(lo))
                .into_iter()
                .map(|(v, m)| {
                    if m == 0xffff {
                        format!("{base},{tp}={v}")
                    } else if m == 0 {
                        base.clone()
                    } else {
                        format!("{base},{tp}={v:#x}/{m:#x}")
                    }
                })
                .collect()
        }
    })
}

/// The remote CIDR of a rule, if it restricts anything.
fn remote_cidr(r: &SecurityGroupRule) -> Result<Option<IpNet>, CompileError> {
    match r.remote_ip_prefix.as_deref() {
        None | Some("") => Ok(None),
        Some(s) => {
            let n = util::net("security group rule", &r.meta.id, s)?;
            Ok((n.prefix_len() != 0).then_some(n))
        }
    }
}

/// How many dimensions a rule's conjunction has.
fn n_dims(r: &SecurityGroupRule) -> Result<u8, CompileError> {
    Ok(
        if r.remote_group_id.is_some() || remote_cidr(r)?.is_some() {
            3
        } else {
            2
        },
    )
}

/// A rule's own flows: `conj_id`, the L4 dimension, a remote CIDR — for
/// its direction, and for a stateful group's rule the same on the
/// replies' side.
pub(crate) fn rule(cx: &mut Cx, id: &str) -> Result<Vec<LFlow>, CompileError> {
    let Some(r) = cx.st.rules.get(id) else {
        return Ok(vec![]);
    };
    let c = cx.conj_id(id)?;
    let d = dir(r);
    let n = n_dims(r)?;
    let p = acl::ALLOW_CONJ;
    let remote = remote_cidr(r)?;
    let mut v = Vec::new();
    if rule_stateful(cx.st, r) {
        // A new connection is committed in the port's zone; an
        // established one passes while the rule stands.
        let commit = format!("ct(commit,zone={}),", reg::ZONE_FIELD);
        v.push(LFlow::new(
            d.table,
            p,
            format!("conj_id={c},ct_state=+new+trk"),
            format!("{commit}resubmit(,{})", d.next),
        ));
        v.push(LFlow::new(
            d.table,
            p,
            format!("conj_id={c},ct_state=-new+trk"),
            format!("resubmit(,{})", d.next),
        ));
        // Replies: the same rule on the connection's original tuple.
        v.push(LFlow::new(
            d.rtable,
            p,
            format!("conj_id={c}"),
            format!("resubmit(,{})", d.rnext),
        ));
        for m in l4(r, true)? {
            v.push(LFlow::new(
                d.rtable,
                p,
                m,
                format!("conjunction({c},2/{n})"),
            ));
        }
        if let Some(net) = remote {
            v.push(LFlow::new(
                d.rtable,
                p,
                ct_addr_match(&net, d.remote_is_src),
                format!("conjunction({c},3/{n})"),
            ));
        }
    } else {
        // A stateless group's rules pass packets without committing them
        // (Neutron `stateful=false`); replies need rules of their own.
        v.push(LFlow::new(
            d.table,
            p,
            format!("conj_id={c}"),
            format!("resubmit(,{})", d.next),
        ));
    }
    for m in l4(r, false)? {
        v.push(LFlow::new(d.table, p, m, format!("conjunction({c},2/{n})")));
    }
    if let Some(net) = remote {
        v.push(LFlow::new(
            d.table,
            p,
            util::addr_match(&net, d.remote_is_src),
            format!("conjunction({c},3/{n})"),
        ));
    }
    Ok(v)
}

/// A port's membership flows: its dimension-1 flow for every rule of its
/// groups, and its addresses in the address sets of the groups it is in.
pub(crate) fn port_acl(cx: &mut Cx, id: &str) -> Result<Vec<LFlow>, CompileError> {
    let st = cx.st;
    let ix = cx.ix;
    let Some(p) = st.ports.get(id) else {
        return Ok(vec![]);
    };
    if !st.networks.contains_key(&p.network_id) {
        return Ok(vec![]);
    }
    let pa = acl::ALLOW_CONJ;
    let mut groups: Vec<&String> = p.security_groups.iter().collect();
    groups.sort_unstable();
    groups.dedup();
    // One flow per (table, match) carrying every conjunction the port
    // takes part in; rules that do not compile are skipped here (their
    // own owner reports the error).
    let mut acc: std::collections::BTreeMap<(u8, String), Vec<String>> = Default::default();
    if secured(p) && cx.b.ports.contains_key(id) {
        let k = cx.port_key(id)?;
        // Stateful ports: the rules see every tracked packet, the
        // original direction as it is and replies by their connection's
        // original tuple; stateless ports: every packet as it is.
        let stateful = !stateless(st, p);
        for g in &groups {
            for rid in crate::index::Index::get(&ix.group_rules, g) {
                let Some(r) = st.rules.get(rid) else { continue };
                let Ok(n) = n_dims(r) else { continue };
                let c = cx.conj_id(rid)?;
                let d = dir(r);
                let dim1 = format!("conjunction({c},1/{n})");
                if stateful {
                    acc.entry((d.table, format!("{}={k:#x},ct_state=-rpl+trk", d.port_reg)))
                        .or_default()
                        .push(dim1.clone());
                    acc.entry((
                        d.rtable,
                        format!("{}={k:#x},ct_state=+est+rpl+trk", d.rport_reg),
                    ))
                    .or_default()
                    .push(dim1);
                } else {
                    acc.entry((d.table, format!("{}={k:#x}", d.port_reg)))
                        .or_default()
                        .push(dim1);
                }
            }
        }
    }
    // Address sets: the port's addresses (fixed IPs and allowed pairs)
    // for every rule naming one of its groups as remote.
    let mut nets: Vec<IpNet> = Vec::new();
    for a in cx.addrs(p)? {
        nets.push(IpNet::from(a.ip));
    }
    for ap in &p.allowed_address_pairs {
        nets.push(util::net("port", id, &ap.ip_address)?);
    }
    for g in &groups {
        for rid in crate::index::Index::get(&ix.remote_rules, g) {
            let Some(r) = st.rules.get(rid) else { continue };
            let c = cx.conj_id(rid)?;
            let d = dir(r);
            let replies = rule_stateful(st, r);
            for net in &nets {
                if matches!(net.addr(), IpAddr::V6(_)) != v6(r) {
                    continue;
                }
                acc.entry((d.table, util::addr_match(net, d.remote_is_src)))
                    .or_default()
                    .push(format!("conjunction({c},3/3)"));
                if replies {
                    acc.entry((d.rtable, ct_addr_match(net, d.remote_is_src)))
                        .or_default()
                        .push(format!("conjunction({c},3/3)"));
                }
            }
        }
    }
    let v = acc
        .into_iter()
        .map(|((table, m), acts)| LFlow::new(table, pa, m, acts.join("\n")))
        .collect();
    Ok(v)
}
