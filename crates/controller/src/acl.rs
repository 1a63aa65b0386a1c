//! Security groups as conjunctive matches (ovs-fields(7), "Conjunctive
//! Match Fields"), as OVN compiles ACLs on port groups and address sets.
//!
//! A rule `r` of group `G` (direction ingress = to the VM = the switch's
//! egress ACL table matching `reg15`; egress = from the VM = the ingress
//! ACL table matching `reg14`) becomes `conj_id=c_r` plus up to three
//! dimensions, all at priority [`acl::ALLOW_CONJ`]:
//!
//! 1. the ports: `reg15=K_p,ct_state=+new+trk` for each port `p` in `G`,
//!    owned by [`Owner::PortAcl`]`(p)`;
//! 2. the protocol and port range: `tcp,tp_dst=V/M`…, owned by the rule;
//! 3. the remote: a CIDR (`ip,nw_src=N`, owned by the rule) or, for a
//!    remote group `R`, one flow per address of each member of `R`, owned
//!    by that member's [`Owner::PortAcl`] — an address set.
//!
//! Flows with the same match and priority are merged into one with all
//! their `conjunction` actions ([`crate::flowset`]), so a port in `G`
//! costs one flow per direction, an address one flow per direction, a rule
//! one `conj_id` flow plus its port-range masks: linear in ports plus
//! addresses plus rules, never their product. A port joining a group
//! changes only its own two kinds of flows.

use std::net::IpAddr;

use ipnet::IpNet;
use model::SecurityGroupRule;

use crate::ctx::{secured, stateless, Cx};
use crate::flowset::LFlow;
use crate::tables::{self as t, acl, reg};
use crate::{util, CompileError};

/// The table, register and address side of a rule's direction.
struct Dir {
    table: u8,
    next: u8,
    port_reg: &'static str,
    /// Remote addresses are the packet's source (ingress rules).
    remote_is_src: bool,
}

fn dir(r: &SecurityGroupRule) -> Dir {
    if r.direction == "ingress" {
        Dir {
            table: t::LS_OUT_ACL,
            next: t::LS_OUT_PORT_SEC,
            port_reg: reg::OUTPORT,
            remote_is_src: true,
        }
    } else {
        Dir {
            table: t::LS_IN_ACL,
            next: t::LS_IN_ARP_ND_RSP,
            port_reg: reg::INPORT,
            remote_is_src: false,
        }
    }
}

fn v6(r: &SecurityGroupRule) -> bool {
    r.ethertype.eq_ignore_ascii_case("IPv6")
}

/// The L4 dimension's matches (one per port-range mask).
fn l4(r: &SecurityGroupRule) -> Result<Vec<String>, CompileError> {
    let id = &r.meta.id;
    let eth = if v6(r) { "ipv6" } else { "ip" };
    let proto = r.protocol.as_deref().map(str::to_ascii_lowercase);
    let name = match proto.as_deref() {
        None | Some("any") | Some("") => return Ok(vec![eth.to_string()]),
        Some("tcp") | Some("6") => "tcp",
        Some("udp") | Some("17") => "udp",
        Some("sctp") | Some("132") => "sctp",
        Some("icmp") | Some("1") if !v6(r) => "icmp",
        Some("icmp") | Some("ipv6-icmp") | Some("icmpv6") | Some("58") => "icmp6",
        Some(other) => {
            let n: u8 = other
                .parse()
                .map_err(|_| CompileError::bad("security group rule", id, "protocol", other))?;
            return Ok(vec![format!("{eth},nw_proto={n}")]);
        }
    };
    let (lo, hi) = (r.port_range_min, r.port_range_max);
    if name.starts_with("icmp") {
        // For ICMP, port_range_min/max are the type and code.
        return Ok(vec![match (lo, hi) {
            (Some(ty), Some(code)) => format!("{name},icmp_type={ty},icmp_code={code}"),
            (Some(ty), None) => format!("{name},icmp_type={ty}"),
            _ => name.to_string(),
        }]);
    }
    let check = |v: u32| {
        u16::try_from(v)
            .map_err(|_| CompileError::bad("security group rule", id, "port", &v.to_string()))
    };
    Ok(match (lo, hi) {
        (None, None) => vec![name.to_string()],
        (lo, hi) => {
            let lo = check(lo.or(hi).unwrap_or(0))?;
            let hi = check(hi.or(Some(lo as u32)).unwrap_or(0))?;
            util::port_masks(lo, hi.max(lo))
                .into_iter()
                .map(|(v, m)| {
                    if m == 0xffff {
                        format!("{name},tp_dst={v}")
                    } else if m == 0 {
                        name.to_string()
                    } else {
                        format!("{name},tp_dst={v:#x}/{m:#x}")
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

/// A rule's own flows: `conj_id`, the L4 dimension, a remote CIDR.
pub(crate) fn rule(cx: &mut Cx, id: &str) -> Result<Vec<LFlow>, CompileError> {
    let Some(r) = cx.st.rules.get(id) else {
        return Ok(vec![]);
    };
    let c = cx.conj_id(id)?;
    let d = dir(r);
    let n = n_dims(r)?;
    let p = acl::ALLOW_CONJ;
    // A stateless group's rules pass packets without committing them
    // (Neutron `stateful=false`).
    let commit = match cx.st.security_groups.get(&r.security_group_id) {
        Some(g) if !g.stateful => String::new(),
        _ => format!("ct(commit,zone={}),", reg::ZONE_FIELD),
    };
    let mut v = vec![LFlow::new(
        d.table,
        p,
        format!("conj_id={c}"),
        format!("{commit}resubmit(,{})", d.next),
    )];
    for m in l4(r)? {
        v.push(LFlow::new(d.table, p, m, format!("conjunction({c},2/{n})")));
    }
    if let Some(net) = remote_cidr(r)? {
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
        // Stateful ports: the rules admit new connections (the rest is
        // conntrack's); stateless ports: every packet is checked.
        let state = if stateless(st, p) {
            ""
        } else {
            ",ct_state=+new+trk"
        };
        for g in &groups {
            for rid in crate::index::Index::get(&ix.group_rules, g) {
                let Some(r) = st.rules.get(rid) else { continue };
                let Ok(n) = n_dims(r) else { continue };
                let c = cx.conj_id(rid)?;
                let d = dir(r);
                acc.entry((d.table, format!("{}={k:#x}{state}", d.port_reg)))
                    .or_default()
                    .push(format!("conjunction({c},1/{n})"));
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
            for net in &nets {
                if matches!(net.addr(), IpAddr::V6(_)) != v6(r) {
                    continue;
                }
                acc.entry((d.table, util::addr_match(net, d.remote_is_src)))
                    .or_default()
                    .push(format!("conjunction({c},3/3)"));
            }
        }
    }
    let v = acc
        .into_iter()
        .map(|((table, m), acts)| LFlow::new(table, pa, m, acts.join("\n")))
        .collect();
    Ok(v)
}
