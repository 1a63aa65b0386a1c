//! The outcome of a trace, and for a drop the resource responsible:
//! port security names the port, an ACL drop the security groups of the
//! port whose policy refused, a routing miss the router, an L2 miss the
//! network (with where the destination address actually lives).

use std::net::IpAddr;

use model::State;

use super::describe::{describe, group_str, named, port_ref};
use super::{stage, Hit, Inputs, Pass, ResourceRef, Verdict};
use crate::flowset::Owner;
use crate::tables as t;

/// Split a datapath action list on its top-level commas.
pub(crate) fn split_actions(s: &str) -> Vec<&str> {
    let (mut depth, mut start, mut out) = (0i32, 0, Vec::new());
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(s[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    let last = s[start..].trim();
    if !last.is_empty() {
        out.push(last);
    }
    out
}

/// The verdict of the last pass.
pub fn verdict(inp: &Inputs, passes: &[Pass]) -> Verdict {
    let Some(last) = passes.last() else {
        return Verdict::Drop {
            stage: stage(t::PHY_IN).into(),
            reason: "the switch reported no lookup".into(),
            resource: None,
        };
    };
    let acts = split_actions(&last.datapath_actions);
    let (mut ports, mut uplinks, mut local) = (Vec::new(), Vec::new(), None);
    for a in &acts {
        if let Ok(of) = a.parse::<u32>() {
            if let Some(id) = inp.wiring.ports.get(&of) {
                ports.push(port_ref(inp.st, id));
            } else if let Some(p) = inp.wiring.uplinks.get(&of) {
                uplinks.push(p.clone());
            } else {
                uplinks.push(format!("ofport {of}"));
            }
        } else if let Some(i) = a.find("local(cloudnet:") {
            local = Some(a[i + 6..].trim_end_matches(')').to_string());
        }
    }
    let decider = last.hits.last();
    if let (Some(l), Some(h)) = (&local, decider) {
        if h.table == t::LR_IN_IP_ROUTING && l.contains("icmp4-unreachable") {
            let (reason, resource) = no_route(inp, h);
            return Verdict::Drop {
                stage: stage(h.table).into(),
                reason,
                resource,
            };
        }
    }
    if let Some(action) = local {
        return Verdict::Local { action };
    }
    if !ports.is_empty() || !uplinks.is_empty() {
        return Verdict::Output { ports, uplinks };
    }
    let Some(h) = decider else {
        return Verdict::Drop {
            stage: stage(t::PHY_IN).into(),
            reason: "no flow was consulted".into(),
            resource: None,
        };
    };
    let (reason, resource) = drop_reason(inp, h);
    Verdict::Drop {
        stage: stage(h.table).into(),
        reason,
        resource,
    }
}

fn owner<'a>(inp: &'a Inputs, h: &Hit) -> Option<&'a Owner> {
    h.priority.and(inp.compiler.owner_of(h.cookie))
}

/// Why `h` (the last lookup, a drop or a miss) dropped the packet.
fn drop_reason(inp: &Inputs, h: &Hit) -> (String, Option<ResourceRef>) {
    let st = inp.st;
    let pr = inp.probe;
    let from = port_ref(st, inp.from_port);
    let from_s = named(&from.name, &from.id);
    let src = pr.nw_src.map_or("(none)".to_string(), |a| a.to_string());
    let dst = pr.nw_dst.map_or("(none)".to_string(), |a| a.to_string());
    match h.table {
        t::LS_IN_PORT_SEC_L2 => (
            format!(
                "source MAC {} is not the MAC of port {from_s} nor of one of its allowed address pairs",
                pr.dl_src
            ),
            Some(from),
        ),
        t::LS_IN_PORT_SEC_IP if h.matches.contains("tp_src=67") => (
            format!("port {from_s} may not send DHCP server replies"),
            Some(from),
        ),
        t::LS_IN_PORT_SEC_IP => (
            format!("source {src} is not a fixed IP or allowed address pair of port {from_s}"),
            Some(from),
        ),
        t::LS_IN_PORT_SEC_ND => (
            format!("ARP sender address is not a fixed IP or MAC of port {from_s}"),
            Some(from),
        ),
        t::LS_IN_ACL | t::LS_OUT_ACL => acl_reason(inp, h, &src, &dst),
        t::LS_IN_L2_LKP => l2_reason(inp, &dst),
        t::LS_OUT_PORT_SEC => {
            let res = owner(inp, h).map(|o| describe(st, o));
            (
                format!("destination MAC {} is not the port's MAC", pr.dl_dst),
                res,
            )
        }
        t::LR_IN_IP_INPUT => {
            let res = owner(inp, h).map(|o| describe(st, o));
            let r = res.as_ref().map_or(String::new(), |r| named(&r.name, &r.id));
            (
                format!("{dst} is an address of router {r}: only ICMP echo and ARP are answered there"),
                res,
            )
        }
        t::LR_IN_ADMISSION => (
            format!(
                "destination MAC {} is not a MAC of the router's port",
                pr.dl_dst
            ),
            None,
        ),
        _ if h.actions.iter().any(|a| a.contains("output to input port")) => (
            "it would leave by the port it came in on, which OpenFlow skips (ovs-actions(7) \"output\")".into(),
            owner(inp, h).map(|o| describe(st, o)),
        ),
        table => match (h.priority, owner(inp, h)) {
            (None, _) => (format!("no flow matches in table {table}"), None),
            (Some(p), o) => (
                format!("dropped by a priority-{p} flow of table {table}"),
                o.map(|o| describe(st, o)),
            ),
        },
    }
}

/// A security-group refusal (or conntrack's `+inv`).
fn acl_reason(inp: &Inputs, h: &Hit, src: &str, dst: &str) -> (String, Option<ResourceRef>) {
    let st = inp.st;
    if h.matches.contains("+inv") {
        return (
            "conntrack marked the packet invalid (ct_state +inv)".into(),
            None,
        );
    }
    let ingress = h.table == t::LS_OUT_ACL;
    let port_id = match owner(inp, h) {
        Some(Owner::Port(id)) => id.clone(),
        _ if !ingress => inp.from_port.to_string(),
        _ => String::new(),
    };
    let port = port_ref(st, &port_id);
    let groups: Vec<String> = st.ports.get(&port_id).map_or(Vec::new(), |p| {
        p.security_groups.iter().map(|g| group_str(st, g)).collect()
    });
    let port_s = named(&port.name, &port.id);
    if groups.is_empty() {
        return (
            format!("port {port_s} has port security on and no security groups: every new connection is dropped"),
            Some(port),
        );
    }
    let (dir, peer) = if ingress {
        ("ingress", format!("from {src}"))
    } else {
        ("egress", format!("to {dst}"))
    };
    (
        format!(
            "no {dir} rule of security groups [{}] on port {port_s} admits {} {peer}",
            groups.join(", "),
            inp.probe.service()
        ),
        Some(port),
    )
}

/// Ports of other networks holding `ip`, described as far as `viewer` may
/// see them.
fn whereabouts(inp: &Inputs, ip: IpAddr, from_net: &str) -> Option<String> {
    let st: &State = inp.st;
    let s = ip.to_string();
    let p = st
        .ports
        .values()
        .find(|p| p.network_id != from_net && p.fixed_ips.iter().any(|f| f.ip_address == s))?;
    if inp.viewer.is_some_and(|v| v != p.meta.project_id) {
        return Some(format!("{ip} belongs to another project"));
    }
    let net = st
        .networks
        .get(&p.network_id)
        .map_or(p.network_id.clone(), |n| named(&n.name, &n.meta.id));
    Some(format!(
        "{ip} is port {} on network {net} of project {}",
        named(&p.name, &p.meta.id),
        p.meta.project_id
    ))
}

/// A unicast destination no port of the network has.
fn l2_reason(inp: &Inputs, dst: &str) -> (String, Option<ResourceRef>) {
    let st = inp.st;
    let net_id = st
        .ports
        .get(inp.from_port)
        .map_or(String::new(), |p| p.network_id.clone());
    let net = describe(st, &Owner::Network(net_id.clone()));
    let net_s = named(&net.name, &net.id);
    let mut reason = format!(
        "no port of network {net_s} has destination MAC {} (unknown unicast is only sent out of provider uplinks)",
        inp.probe.dl_dst
    );
    if let Some(w) = inp
        .probe
        .nw_dst
        .and_then(|ip| whereabouts(inp, ip, &net_id))
    {
        reason = format!("{reason}; {w}, which no router connects to network {net_s}");
    } else if inp.probe.nw_dst.is_some() {
        reason = format!("{reason}; no port of the network has address {dst}");
    }
    (reason, Some(net))
}

/// A router without a route to the destination.
fn no_route(inp: &Inputs, h: &Hit) -> (String, Option<ResourceRef>) {
    let st = inp.st;
    let res = owner(inp, h).map(|o| describe(st, o));
    let r = res
        .as_ref()
        .map_or(String::new(), |r| named(&r.name, &r.id));
    let dst = inp
        .probe
        .nw_dst
        .map_or("(none)".to_string(), |a| a.to_string());
    let mut reason =
        format!("router {r} has no route to {dst}; it answers ICMP destination unreachable");
    let from_net = st
        .ports
        .get(inp.from_port)
        .map_or("", |p| p.network_id.as_str());
    if let Some(w) = inp
        .probe
        .nw_dst
        .and_then(|ip| whereabouts(inp, ip, from_net))
    {
        reason = format!("{reason}; {w}, not attached to this router");
    }
    (reason, res)
}
