//! The packet a tenant means: what they wrote (`tcp,nw_dst=10.0.0.5,
//! tp_dst=3306`) completed from the port and the intent, as a VM's stack
//! would send it — its in_port, MAC and first IPv4 address, TTL 64, a
//! SYN for TCP (so conntrack sees `+new`), and the next hop's MAC: the
//! destination's own on the same subnet, else the router's gateway MAC
//! (RFC 1122 §3.3.1: off-subnet traffic goes to the gateway).

use std::net::{IpAddr, Ipv4Addr};

use ipnet::Ipv4Net;
use model::State;

use super::microflow::Microflow;
use super::{CtAssume, Probe};

/// A trace request that cannot be turned into a packet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TraceError {
    #[error("port {0} does not exist")]
    NoPort(String),
    #[error("port {0} is not bound on this host")]
    NotBound(String),
    #[error("physical network {0} has no uplink on this host")]
    NoUplink(String),
    #[error("bad {field} {value:?}: {why}")]
    BadField {
        field: &'static str,
        value: String,
        why: String,
    },
    #[error("the flow names no destination: give nw_dst (arp_tpa for ARP), dl_dst, or the destination port")]
    NoDestination,
    /// The completed microflow is not one the switch can trace.
    #[error("bad flow: {0}")]
    BadFlow(String),
    #[error("switch: {0}")]
    Switch(String),
}

impl TraceError {
    /// The HTTP status and NeutronError `type` of this error, shared by
    /// the API server and the agents' trace endpoint so that a trace run
    /// on another host fails exactly as a local one would.
    pub fn class(&self) -> (u16, &'static str) {
        match self {
            TraceError::NoPort(_) => (404, "PortNotFound"),
            TraceError::NotBound(_) => (409, "PortNotBound"),
            TraceError::NoUplink(_) => (409, "NoUplink"),
            TraceError::BadField { .. } | TraceError::BadFlow(_) | TraceError::NoDestination => {
                (400, "HTTPBadRequest")
            }
            TraceError::Switch(_) => (503, "ServiceUnavailable"),
        }
    }
}

/// A MAC no port has: the packet's destination when the next hop cannot
/// be resolved (the trace then shows where it is lost).
pub const UNRESOLVED_MAC: &str = "00:00:00:00:00:00";

const IPV4_PROTOS: [&str; 5] = ["ip", "tcp", "udp", "icmp", "sctp"];

fn ipv4(field: &'static str, v: &str) -> Result<Ipv4Addr, TraceError> {
    v.parse()
        .map_err(|e: std::net::AddrParseError| TraceError::BadField {
            field,
            value: v.into(),
            why: e.to_string(),
        })
}

/// The MAC of the port of network `net` holding `ip`.
fn mac_of(st: &State, net: &str, ip: Ipv4Addr) -> Option<String> {
    let s = ip.to_string();
    st.ports
        .values()
        .find(|p| p.network_id == net && p.fixed_ips.iter().any(|f| f.ip_address == s))
        .map(|p| p.mac_address.clone())
}

/// The next hop's MAC for `dst` from a port of `net` whose first IPv4
/// subnet is `home`.
fn next_hop_mac(st: &State, net: &str, home: Option<&str>, dst: Ipv4Addr) -> String {
    let on_link = st
        .subnets
        .values()
        .any(|s| s.network_id == net && s.cidr.parse::<Ipv4Net>().is_ok_and(|c| c.contains(&dst)));
    let hop = if on_link {
        Some(dst)
    } else {
        home.and_then(|h| st.subnets.get(h))
            .and_then(|s| s.gateway_ip.as_deref())
            .and_then(|g| g.parse().ok())
    };
    hop.and_then(|h| mac_of(st, net, h))
        .unwrap_or_else(|| UNRESOLVED_MAC.into())
}

/// The defaults every sender gets (`mac`, `ip` are the sender's); returns
/// the protocol keyword.
fn sender(m: &mut Microflow, ofport: u32, mac: &str, ip: Option<&str>, ct: CtAssume) -> String {
    if m.protocol().is_none() && !m.has("dl_type") {
        m.set_protocol("ip");
    }
    m.default("in_port", ofport.to_string());
    m.default("dl_src", mac);
    let proto = m.protocol().unwrap_or("").to_string();
    if IPV4_PROTOS.contains(&proto.as_str()) {
        if let Some(ip) = ip {
            m.default("nw_src", ip);
        }
        m.default("nw_ttl", "64");
        if matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
            m.default("tp_src", "40000");
        }
        if proto == "tcp" {
            // SYN for a first packet, ACK for an established one.
            let flags = if ct == CtAssume::New {
                "0x002"
            } else {
                "0x010"
            };
            m.default("tcp_flags", flags);
        }
    }
    if proto == "arp" {
        // A request (RFC 826), broadcast.
        m.default("dl_dst", "ff:ff:ff:ff:ff:ff");
        m.default("arp_op", "1");
        m.default("arp_sha", mac);
        if let Some(ip) = ip {
            m.default("arp_spa", ip);
        }
    }
    proto
}

/// Resolve `dl_dst` with `next_hop` (unless given) and read the fields
/// explanations quote.
fn finish(
    mut m: Microflow,
    proto: String,
    next_hop: impl FnOnce(Ipv4Addr) -> String,
) -> Result<(Microflow, Probe), TraceError> {
    let (dst_key, src_key) = if proto == "arp" {
        ("arp_tpa", "arp_spa")
    } else {
        ("nw_dst", "nw_src")
    };
    let dst = m.get(dst_key).map(|d| ipv4(dst_key, d)).transpose()?;
    let src = m.get(src_key).map(|d| ipv4(src_key, d)).transpose()?;
    if !m.has("dl_dst") {
        let d = dst.ok_or(TraceError::NoDestination)?;
        m.set("dl_dst", next_hop(d));
    }
    let tp_dst = match m.get("tp_dst") {
        Some(v) => Some(v.parse::<u16>().map_err(|e| TraceError::BadField {
            field: "tp_dst",
            value: v.into(),
            why: e.to_string(),
        })?),
        None => None,
    };
    let probe = Probe {
        dl_src: m.get("dl_src").unwrap_or_default().to_string(),
        dl_dst: m.get("dl_dst").unwrap_or_default().to_string(),
        nw_src: src.map(IpAddr::V4),
        nw_dst: dst.map(IpAddr::V4),
        proto: (!proto.is_empty()).then_some(proto),
        tp_dst,
    };
    Ok((m, probe))
}

/// Complete `user` (a microflow) for a packet sent by port `port_id`
/// (bound at `ofport`); returns the packet and the fields explanations
/// quote.
pub fn fill(
    st: &State,
    port_id: &str,
    ofport: u32,
    user: &str,
    ct: CtAssume,
) -> Result<(Microflow, Probe), TraceError> {
    let port = st
        .ports
        .get(port_id)
        .ok_or_else(|| TraceError::NoPort(port_id.into()))?;
    let home = port
        .fixed_ips
        .iter()
        .find(|f| f.ip_address.parse::<Ipv4Addr>().is_ok());
    let mut m = Microflow::parse(user);
    let ip = home.map(|h| h.ip_address.as_str());
    let proto = sender(&mut m, ofport, &port.mac_address, ip, ct);
    let home_subnet = home.map(|h| h.subnet_id.as_str());
    finish(m, proto, |d| {
        next_hop_mac(st, &port.network_id, home_subnet, d)
    })
}

/// The sender outside an uplink, unless the flow says otherwise: a
/// locally administered MAC and an address of TEST-NET-3 (RFC 5737).
pub const OUTSIDE_MAC: &str = "02:00:00:00:00:01";
pub const OUTSIDE_IP: &str = "203.0.113.1";

/// The MAC `dst` is reached at from the outside of `physnet`'s uplink: a
/// port on one of its networks, or for a floating IP the gateway port of
/// its router (which answers ARP for it).
fn outside_next_hop(st: &State, physnet: &str, dst: Ipv4Addr) -> String {
    let nets: Vec<&str> = st
        .networks
        .values()
        .filter(|n| n.physical_network.as_deref() == Some(physnet))
        .map(|n| n.meta.id.as_str())
        .collect();
    let s = dst.to_string();
    // A floating IP first: its own port (device_owner network:floatingip)
    // holds the address but answers nothing; the router's gateway does.
    let gw = st
        .floating_ips
        .values()
        .filter(|f| f.floating_ip_address == s && nets.contains(&f.floating_network_id.as_str()))
        .find_map(|f| {
            st.ports.values().find(|p| {
                p.device_owner == model::owner::ROUTER_GATEWAY
                    && Some(&p.device_id) == f.router_id.as_ref()
            })
        });
    if let Some(p) = gw {
        return p.mac_address.clone();
    }
    nets.iter()
        .find_map(|n| mac_of(st, n, dst))
        .unwrap_or_else(|| UNRESOLVED_MAC.into())
}

/// Complete `user` for a packet arriving from the outside on the uplink of
/// physical network `physnet` (bound at `ofport`).
pub fn fill_uplink(
    st: &State,
    physnet: &str,
    ofport: u32,
    user: &str,
    ct: CtAssume,
) -> Result<(Microflow, Probe), TraceError> {
    let mut m = Microflow::parse(user);
    let proto = sender(&mut m, ofport, OUTSIDE_MAC, Some(OUTSIDE_IP), ct);
    finish(m, proto, |d| outside_next_hop(st, physnet, d))
}
