//! What a host's agent announces by packet-out rather than by flows: the
//! periodic (unsolicited) Router Advertisements of the router interfaces
//! on its networks, and the gratuitous ARP of the floating IPs it serves.
//! The agent schedules and sends them (crates/agent/src/announce.rs); this
//! module only says, from the intent, the bindings and the keys the
//! compiler allocated, what is to be announced and with which
//! packet-out actions.
//!
//! * **Router Advertisements** (RFC 4861 §6.2.4; OVN's pinctrl sends them
//!   for `ipv6_ra_configs:send_periodic`): for each router interface with
//!   an IPv6 subnet whose `ipv6_ra_mode` is set, an advertisement with the
//!   same contents as the solicited one (`ipv6::switch_port`), sent to
//!   the VM ports of that network bound on *this* host only — each host
//!   advertises to its own VMs, as OVN's `MLF_LOCAL_ONLY` does, so no
//!   VM receives one copy per chassis. The actions enter the network's
//!   egress pipeline (table 40) once per local port, with the router
//!   interface as logical inport, so the port's egress ACL (which admits
//!   ND) and port security apply as to any frame.
//! * **Gratuitous ARP** (RFC 5227 §3 ARP announcement) for each floating
//!   IP this host serves on an uplink it has: distributed on the VM's
//!   chassis with the floating IP's own MAC, or on the gateway chassis
//!   with the router gateway's MAC (`router::fip`). When a floating IP
//!   moves, the host that now serves it announces it, so the external
//!   network's neighbour caches and switches follow at once.

use std::net::{IpAddr, Ipv4Addr};

use ipnet::{IpNet, Ipv6Net};
use model::{owner, State};

use crate::tables::{self as t, reg};
use crate::tunnel::{self, FipSite, Gateway};
use crate::{Bindings, Keys};

/// One periodic Router Advertisement: what to advertise and where.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RaAdvert {
    /// The router interface port.
    pub router_port: String,
    /// Its MAC (Ethernet source, SLL option, EUI-64 link-local source).
    pub mac: String,
    /// The advertised prefix (the subnet's CIDR).
    pub prefix: Ipv6Net,
    /// Neutron's `ipv6_ra_mode` (`slaac`, `dhcpv6-stateful`,
    /// `dhcpv6-stateless`).
    pub mode: String,
    /// The network's MTU, when it is worth an MTU option (≥ 1280).
    pub mtu: Option<u32>,
    /// The local VM ports it goes to (port IDs, sorted): a new one
    /// restarts the initial fast advertisements.
    pub targets: Vec<String>,
    /// The packet-out actions that deliver it to those ports.
    pub actions: String,
}

/// One floating IP served here, to announce on its uplink.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct FipAnnounce {
    /// The floating IP.
    pub ip: Ipv4Addr,
    /// The MAC it is served with here.
    pub mac: String,
    /// The packet-out actions that send it out of the uplink (tagged on
    /// a VLAN provider network, as table 64 tags).
    pub actions: String,
}

/// The periodic advertisements of this host: every router interface with
/// an IPv6 `ipv6_ra_mode` subnet on a network with VM ports bound here
/// (compiled already: the keys come from `keys`; a port or network the
/// compiler has not keyed yet is skipped until it has).
pub fn router_advertisements(st: &State, keys: &Keys, b: &Bindings) -> Vec<RaAdvert> {
    let mut out = Vec::new();
    for p in st.ports.values() {
        if p.device_owner != owner::ROUTER_INTERFACE {
            continue;
        }
        let net = &p.network_id;
        let (Some(dp), Some(zone), Some(rk)) = (
            keys.datapaths.get(&format!("n:{net}")),
            keys.zones.get(&format!("n:{net}")),
            keys.ports.get(&format!("p:{}", p.meta.id)),
        ) else {
            continue;
        };
        let mut targets: Vec<(String, u32)> = b
            .ports
            .keys()
            .filter_map(|id| {
                let vm = st.ports.get(id)?;
                let local_vm = vm.network_id == *net && crate::ctx::is_vm(vm);
                let k = keys.ports.get(&format!("p:{id}"))?;
                local_vm.then(|| (id.clone(), k))
            })
            .collect();
        if targets.is_empty() {
            continue;
        }
        targets.sort();
        let mut actions = format!(
            "set_field:{dp:#x}->metadata,set_field:{zone:#x}->{},set_field:{rk:#x}->{}",
            reg::ZONE,
            reg::INPORT
        );
        for (_, k) in &targets {
            actions.push_str(&format!(
                ",set_field:{k:#x}->{},set_field:0->{},resubmit(,{})",
                reg::OUTPORT,
                reg::FLAGS,
                t::LS_OUT_PRE_ACL
            ));
        }
        let mtu = st.networks.get(net).map(|n| n.mtu).filter(|&m| m >= 1280);
        for fip in &p.fixed_ips {
            let Some(s) = st.subnets.get(&fip.subnet_id) else {
                continue;
            };
            let (Some(mode), Ok(IpNet::V6(prefix))) =
                (s.ipv6_ra_mode.as_deref(), s.cidr.parse::<IpNet>())
            else {
                continue;
            };
            out.push(RaAdvert {
                router_port: p.meta.id.clone(),
                mac: p.mac_address.clone(),
                prefix,
                mode: mode.to_owned(),
                mtu,
                targets: targets.iter().map(|(id, _)| id.clone()).collect(),
                actions: actions.clone(),
            });
        }
    }
    out.sort();
    out
}

/// The floating IPs this host serves on an uplink it has, each with the
/// MAC it is served with (the same choice `router::fip` compiles).
pub fn served_floating_ips(st: &State, b: &Bindings) -> Vec<FipAnnounce> {
    let mut out = Vec::new();
    for f in st.floating_ips.values() {
        let (Some(rid), Some(_)) = (&f.router_id, &f.fixed_ip_address) else {
            continue;
        };
        let Ok(IpAddr::V4(ip)) = f.floating_ip_address.parse::<IpAddr>() else {
            continue;
        };
        let Some(net) = st.networks.get(&f.floating_network_id) else {
            continue;
        };
        let physnet = net.physical_network.as_deref();
        let Some(&uplink) = physnet.and_then(|p| b.bridge_mappings.get(p)) else {
            continue;
        };
        let fport = st.ports.get(&f.floating_port_id);
        let site = match (&f.port_id, fport) {
            (Some(p), Some(_)) => tunnel::fip_site(b, p, physnet),
            _ => FipSite::Gateway,
        };
        let mac = match (site, fport) {
            (FipSite::Here, Some(fp)) => fp.mac_address.clone(),
            (FipSite::Gateway, _) if tunnel::gateway(b, physnet) == Gateway::Here => {
                let gw = st.ports.values().find(|q| {
                    q.device_id == *rid
                        && q.device_owner == owner::ROUTER_GATEWAY
                        && q.network_id == f.floating_network_id
                });
                match gw {
                    Some(gw) => gw.mac_address.clone(),
                    None => continue,
                }
            }
            _ => continue,
        };
        let tag = match (net.network_type.as_str(), net.segmentation_id) {
            ("vlan", Some(seg)) => format!("mod_vlan_vid:{seg},"),
            _ => String::new(),
        };
        out.push(FipAnnounce {
            ip,
            mac,
            actions: format!("{tag}output:{uplink}"),
        });
    }
    out.sort();
    out
}
