//! Flows between hosts: the overlay that joins the br-int of every chassis
//! (OVN's "physical" stage, ovn-architecture(7) "Tunnel Encapsulations").
//!
//! Each host has one flow-based tunnel port per encapsulation
//! (`remote_ip=flow`, `key=flow`, ovs-vswitchd.conf.db(5) "Tunnel
//! Options"); the flows choose the remote (`set_field:IP->tun_dst`) and
//! the key (`set_tunnel:VNI`, the network's `provider:segmentation_id`).
//! So the mesh is flows, not ports: a chassis appearing or leaving changes
//! flows only, and split horizon is OpenFlow's own rule that a packet is
//! never output to its input port (OpenFlow 1.0 §5.2.1) — a packet that
//! came in from a tunnel cannot leave through it again.
//!
//! * Ingress (table 0): `in_port=<tunnel>,tun_id=<VNI>` enters the
//!   network's pipeline at L2 lookup; the sender's ingress stages (port
//!   security, ingress ACL, ARP responder) already ran on its own host,
//!   the receiver's egress ACL and port security run here, as in OVN.
//! * Egress: a port bound on another chassis skips the egress stages on
//!   the sending host (they run where the port is) and leaves through the
//!   tunnel to its chassis.
//! * Broadcast and unknown unicast are replicated to the chassis that host
//!   ports of the network, and only to them.
//! * Distributed routing: east-west routing runs on the sender's host; the
//!   routed packet leaves through the destination network's tunnel. Routes
//!   through a router's external gateway are redirected, unrouted, to the
//!   gateway chassis (OVN's chassis-redirect port), which routes and SNATs
//!   — except from a floating IP served on the VM's own chassis
//!   ([`fip_site`], crate::dfip).

use std::net::Ipv4Addr;

use model::Network;

use crate::ctx::{is_vm, Bindings, Cx};
use crate::flowset::LFlow;
use crate::tables::{self as t, reg};
use crate::CompileError;

/// Encapsulations that carry overlay networks across hosts.
pub const ENCAPS: [&str; 3] = ["vxlan", "geneve", "gre"];

/// The encapsulation and key of an overlay network, or `None` for flat,
/// VLAN and local networks.
pub(crate) fn encap(n: &Network) -> Option<(&str, u32)> {
    let ty = ENCAPS.iter().find(|e| **e == n.network_type)?;
    Some((ty, n.segmentation_id?))
}

/// Actions sending the packet to the chassis at `ip` in network key `vni`
/// through this host's `encap` tunnel port; `None` when this host has no
/// such port.
pub(crate) fn to_chassis(b: &Bindings, encap: &str, vni: u32, ip: Ipv4Addr) -> Option<String> {
    let of = b.tunnels.get(encap)?;
    Some(format!(
        "set_field:{ip}->tun_dst,set_tunnel:{vni:#x},output:{of}"
    ))
}

/// Where the remote chassis `name` is, if it is live and speaks `encap`.
fn chassis_ip(b: &Bindings, name: &str, encap: &str) -> Option<Ipv4Addr> {
    let c = b.remote_chassis.get(name)?;
    c.encaps.iter().any(|e| e == encap).then_some(c.ip)
}

/// A network's tunnel flows: ingress from every tunnel port of its type,
/// and the flood actions towards the chassis hosting its ports (to prepend
/// to the local flood).
pub(crate) fn network(
    cx: &mut Cx,
    n: &Network,
    dp: u32,
    zone: u32,
) -> Result<(Vec<LFlow>, Vec<String>), CompileError> {
    let Some((ty, vni)) = encap(n) else {
        return Ok((vec![], vec![]));
    };
    let mut v = Vec::new();
    if let Some(of) = cx.b.tunnels.get(ty) {
        v.push(LFlow::new(
            t::PHY_IN,
            100,
            format!("in_port={of},tun_id={vni:#x}"),
            format!(
                "set_field:{dp:#x}->metadata,set_field:{zone:#x}->{},resubmit(,{})",
                reg::ZONE,
                t::LS_IN_L2_LKP
            ),
        ));
    }
    let mut hosts: Vec<Ipv4Addr> = cx
        .ports_on(&n.meta.id)
        .filter(|p| is_vm(p))
        .filter_map(|p| cx.b.remote_ports.get(&p.meta.id))
        .filter_map(|c| chassis_ip(cx.b, c, ty))
        .collect();
    hosts.sort_unstable();
    hosts.dedup();
    let flood = hosts
        .into_iter()
        .filter_map(|ip| to_chassis(cx.b, ty, vni, ip))
        .collect();
    Ok((v, flood))
}

/// The flows of a VM port bound on another chassis: skip the egress
/// stages here and tunnel to its chassis. Empty when the port is not
/// remote or its chassis cannot be reached.
pub(crate) fn remote_port(cx: &Cx, port: &model::Port, key: u32) -> Vec<LFlow> {
    let Some(out) = reach(cx, port) else {
        return vec![];
    };
    let outport = format!("{}={key:#x}", reg::OUTPORT);
    vec![
        LFlow::new(
            t::LS_OUT_PRE_ACL,
            110,
            outport.clone(),
            format!("resubmit(,{})", t::PHY_OUT),
        ),
        LFlow::new(t::PHY_OUT, 100, outport, out),
    ]
}

fn reach(cx: &Cx, port: &model::Port) -> Option<String> {
    if !is_vm(port) || cx.b.ports.contains_key(&port.meta.id) {
        return None;
    }
    let chassis = cx.b.remote_ports.get(&port.meta.id)?;
    let (ty, vni) = encap(cx.st.networks.get(&port.network_id)?)?;
    to_chassis(cx.b, ty, vni, chassis_ip(cx.b, chassis, ty)?)
}

/// Where a router's gateway (SNAT, floating IPs) runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Gateway {
    /// On this host (also: a single host, or nobody has the mapping).
    Here,
    /// On the chassis at this underlay address.
    There(Ipv4Addr),
}

/// The gateway chassis of an external network on `physnet`: the chassis
/// with that bridge mapping whose name sorts first, so every host chooses
/// the same one without coordination (OVN ranks gateway chassis by
/// priority; equal priorities here, name as tie-break).
pub(crate) fn gateway(b: &Bindings, physnet: Option<&str>) -> Gateway {
    let Some(physnet) = physnet.filter(|_| !b.chassis.is_empty()) else {
        return Gateway::Here;
    };
    let here = b
        .bridge_mappings
        .contains_key(physnet)
        .then_some((b.chassis.as_str(), None));
    let there = b
        .remote_chassis
        .iter()
        .filter(|(_, c)| c.physnets.iter().any(|p| p == physnet))
        .map(|(n, c)| (n.as_str(), Some(c.ip)));
    match here.into_iter().chain(there).min() {
        Some((_, Some(ip))) => Gateway::There(ip),
        _ => Gateway::Here,
    }
}

/// Where a floating IP is served (its ARP answer, DNAT and SNAT).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FipSite {
    /// Distributed, on this chassis: the port is bound here and this host
    /// has the external network's bridge mapping.
    Here,
    /// Distributed, on the chassis the port is bound on, which has the
    /// mapping: not here, and not on the gateway chassis either.
    Elsewhere,
    /// Through the router's gateway chassis (a single host, a port whose
    /// chassis has no uplink for the external network, an unbound port).
    Gateway,
}

/// Where the floating IP of `port` on an external network on `physnet` is
/// served. OVN's distributed NAT (ovn-nb(5) NAT `logical_port` and
/// `external_mac`: the rule is applied on the chassis where the logical
/// port resides), restricted to chassis that have an uplink for the
/// physnet (a distributed floating IP needs the provider network on the
/// compute node). Every host computes the same answer from the chassis
/// records and port bindings.
pub(crate) fn fip_site(b: &Bindings, port: &str, physnet: Option<&str>) -> FipSite {
    let Some(physnet) = physnet.filter(|_| !b.chassis.is_empty()) else {
        return FipSite::Gateway;
    };
    if b.ports.contains_key(port) {
        if b.bridge_mappings.contains_key(physnet) {
            return FipSite::Here;
        }
        return FipSite::Gateway;
    }
    let remote = b
        .remote_ports
        .get(port)
        .and_then(|c| b.remote_chassis.get(c));
    match remote {
        Some(c) if c.physnets.iter().any(|p| p == physnet) => FipSite::Elsewhere,
        _ => FipSite::Gateway,
    }
}

/// Redirect of a route through the gateway port to the remote gateway
/// chassis: traffic that entered router `md` from internal port `lrp_key`
/// (on network `net`) and matches `dest` is tunnelled unrouted, in `net`'s
/// key, to `gw`, where the router pipeline runs again, routes and SNATs.
/// One priority above the route itself. Packets flagged
/// [`reg::FLAG_DNAT_LOCAL`] (from a floating IP served here) are not
/// redirected: they take the route itself.
pub(crate) fn redirect(
    cx: &Cx,
    md: &str,
    lrp_key: u32,
    net: &str,
    dest: &str,
    prio: u16,
    gw: Ipv4Addr,
) -> Option<LFlow> {
    let (ty, vni) = encap(cx.st.networks.get(net)?)?;
    Some(LFlow::new(
        t::LR_IN_IP_ROUTING,
        prio + 1,
        format!(
            "{md},{}={lrp_key:#x},{}=0/{:#x},{dest}",
            reg::INPORT,
            reg::FLAGS,
            reg::FLAG_DNAT_LOCAL
        ),
        to_chassis(cx.b, ty, vni, gw)?,
    ))
}
