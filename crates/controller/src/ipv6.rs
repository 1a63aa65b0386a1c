//! IPv6 in the logical switch and router, as OVN compiles it
//! (ovn-northd(8): `ls_in_port_sec_nd`, `ls_in_arp_rsp` for ND,
//! `ls_in_dhcp_options` for DHCPv6, `lr_in_nd_ra_options`/`lr_in_nd_ra_response`,
//! `lr_in_ip_input`, `lr_in_ip_routing`, `lr_in_arp_resolve`) for Neutron's
//! `ipv6_ra_mode` / `ipv6_address_mode`:
//!
//! * **Anti-spoofing** (port security on): a VM's Neighbor Advertisements
//!   must be for its own addresses (fixed IPs, its EUI-64 link-local,
//!   allowed pairs) with its own MAC as target link-layer address, its
//!   solicitations carry its MAC; Router Advertisements and DHCPv6 server
//!   messages from a VM are dropped (Neutron's OVS firewall drops both, as
//!   it drops rogue DHCPv4 servers). DAD and MLD from `::` pass.
//! * **Router Advertisements**: a Router Solicitation on a network is
//!   answered by the router interface whose subnet has an `ipv6_ra_mode`
//!   (`cloudnet:nd-ra`, RFC 4861 §6.2.6) from its link-local address, and
//!   Neighbor Solicitations for that link-local address are answered like
//!   its fixed IPs.
//! * **DHCPv6** for known ports on `dhcpv6-stateful` (IA_NA with the fixed
//!   IP) and `dhcpv6-stateless` (DNS only) subnets: `cloudnet:dhcp6`.
//! * **Routing** between a router's IPv6 subnets: hop limit decremented,
//!   ICMPv6 time exceeded (RFC 4443 §3.3) and no-route unreachable (§3.1)
//!   from the ingress port's address, echo replies from the router's
//!   addresses; connected routes put the destination in the next-hop
//!   registers, resolved from the intent for Neutron ports and by
//!   Neighbor Discovery on the external network (`route6`, which also
//!   holds static routes' and the default route's next hops).

use std::net::{IpAddr, Ipv6Addr};

use ipnet::{IpNet, Ipv6Net};
use model::{owner, Port};

use crate::ctx::{Addr, Cx};
use crate::flowset::LFlow;
use crate::tables::{self as t, reg};
use crate::{dhcp, util, CompileError};

fn next(table: u8) -> String {
    format!("resubmit(,{table})")
}

/// The link-local address a host or router port with `mac` forms (RFC 4862
/// §5.3, modified EUI-64), `None` for a malformed MAC.
pub(crate) fn link_local(mac: &str) -> Option<Ipv6Addr> {
    let net: Ipv6Net = "fe80::/64".parse().ok()?;
    model::ipam::eui64_address(&net, mac)
}

/// Whether `p` is a router interface (it advertises on its subnets).
fn is_router_interface(p: &Port) -> bool {
    p.device_owner.starts_with(owner::ROUTER_INTERFACE)
}

/// The switch-side IPv6 flows of a port owned by it: the ND answer for a
/// router port's link-local address and its Router Advertisements.
pub(crate) fn switch_port(
    cx: &Cx,
    p: &Port,
    mac: &str,
    dp: u32,
    addrs: &[Addr],
) -> Result<Vec<LFlow>, CompileError> {
    let mut v = Vec::new();
    if !is_router_interface(p) || !addrs.iter().any(|a| a.ip.is_ipv6()) {
        return Ok(v);
    }
    let lla = link_local(mac).ok_or_else(|| CompileError::bad("port", &p.meta.id, "mac", mac))?;
    v.push(LFlow::new(
        t::LS_IN_ARP_ND_RSP,
        50,
        format!("metadata={dp:#x},icmp6,icmp_type=135,nd_target={lla}"),
        util::userdata(&format!("cloudnet:nd-na mac={mac} router=1")),
    ));
    let mtu = cx.st.networks.get(&p.network_id).map_or(0, |n| n.mtu);
    for a in addrs {
        let (IpNet::V6(prefix), Some(mode)) = (a.net, a.subnet.ipv6_ra_mode.as_deref()) else {
            continue;
        };
        let mut ud = format!("cloudnet:nd-ra mac={mac} prefix={prefix} mode={mode}");
        if mtu >= 1280 {
            ud.push_str(&format!(" mtu={mtu}"));
        }
        // A router without a gateway still routes between its subnets,
        // so it is a default router on each (RFC 4861 §6.2.5 lifetime).
        v.push(LFlow::new(
            t::LS_IN_ARP_ND_RSP,
            60,
            format!("metadata={dp:#x},icmp6,icmp_type=133,icmp_code=0"),
            util::userdata(&ud),
        ));
    }
    Ok(v)
}

/// Anti-spoofing of a secured VM port's IPv6 control traffic (tables
/// `ls_in_port_sec_ip` and `ls_in_port_sec_nd`), and its DHCPv6 answer.
pub(crate) fn vm_port(
    p: &Port,
    mac: &str,
    inport: &str,
    addrs: &[Addr],
    secured: bool,
) -> Result<Vec<LFlow>, CompileError> {
    let mut v = Vec::new();
    if secured {
        // Rogue routers and DHCPv6 servers (RFC 6105 RA-Guard).
        for m in ["icmp6,icmp_type=134", "udp6,tp_src=547,tp_dst=546"] {
            v.push(LFlow::new(
                t::LS_IN_PORT_SEC_IP,
                95,
                format!("{inport},{m}"),
                "drop",
            ));
        }
        // DAD (RFC 4862 §5.4) and MLD reports come from `::`.
        for ty in [131, 135, 143] {
            v.push(LFlow::new(
                t::LS_IN_PORT_SEC_IP,
                90,
                format!(
                    "{inport},icmp6,dl_src={mac},ipv6_src=::,ipv6_dst=ff02::/16,icmp_type={ty}"
                ),
                next(t::LS_IN_PORT_SEC_ND),
            ));
        }
        v.extend(nd_port_security(p, mac, inport, addrs)?);
    }
    if let Some(ud) = dhcp6_userdata(addrs) {
        v.push(LFlow::new(
            t::LS_IN_DHCP,
            100,
            format!("{inport},udp6,dl_src={mac},tp_src=546,tp_dst=547"),
            util::userdata(&ud),
        ));
    }
    Ok(v)
}

/// ls_in_port_sec_nd for IPv6 (OVN: `nd.target == {addresses}`,
/// `nd.tll == {mac, 0}`, `nd.sll == {mac, 0}`).
fn nd_port_security(
    p: &Port,
    mac: &str,
    inport: &str,
    addrs: &[Addr],
) -> Result<Vec<LFlow>, CompileError> {
    let mut targets: Vec<Ipv6Addr> = addrs
        .iter()
        .filter_map(|a| match a.ip {
            IpAddr::V6(ip) => Some(ip),
            IpAddr::V4(_) => None,
        })
        .collect();
    targets.extend(link_local(mac));
    for ap in &p.allowed_address_pairs {
        if let IpNet::V6(n) = util::net("port", &p.meta.id, &ap.ip_address)? {
            if n.prefix_len() == 128 {
                targets.push(n.addr());
            }
        }
    }
    let zero = "00:00:00:00:00:00";
    let pass = next(t::LS_IN_PRE_ACL);
    let mut v = Vec::new();
    for ll in [mac, zero] {
        v.push(LFlow::new(
            t::LS_IN_PORT_SEC_ND,
            90,
            format!("{inport},icmp6,icmp_type=135,icmp_code=0,nd_sll={ll}"),
            pass.clone(),
        ));
        for ip in &targets {
            v.push(LFlow::new(
                t::LS_IN_PORT_SEC_ND,
                90,
                format!("{inport},icmp6,icmp_type=136,icmp_code=0,nd_target={ip},nd_tll={ll}"),
                pass.clone(),
            ));
        }
    }
    for ty in [135, 136] {
        v.push(LFlow::new(
            t::LS_IN_PORT_SEC_ND,
            80,
            format!("{inport},icmp6,icmp_type={ty}"),
            "drop",
        ));
    }
    Ok(v)
}

/// `cloudnet:dhcp6` for the port's first address on a subnet with
/// enable_dhcp and a DHCPv6 address mode, `None` otherwise.
fn dhcp6_userdata(addrs: &[Addr]) -> Option<String> {
    let a = addrs.iter().find(|a| {
        a.ip.is_ipv6()
            && a.subnet.enable_dhcp
            && matches!(
                a.subnet.ipv6_address_mode.as_deref(),
                Some("dhcpv6-stateful" | "dhcpv6-stateless")
            )
    })?;
    let s = a.subnet;
    let mut ud = format!("cloudnet:dhcp6 server_mac={}", dhcp::server_mac(&s.meta.id));
    if s.ipv6_address_mode.as_deref() == Some("dhcpv6-stateful") {
        ud.push_str(&format!(" addr={}", a.ip));
    }
    dhcp::push_dns(&mut ud, s, true);
    Some(ud)
}

/// A router port's IPv6 addresses, with its key and MAC.
pub(crate) struct Lrp6<'a> {
    pub key: u32,
    pub mac: &'a str,
    pub addrs: Vec<(Ipv6Addr, Ipv6Net)>,
}

/// One router port's IPv6 flows in the router datapath `md`.
pub(crate) fn router_port(md: &str, l: &Lrp6) -> Vec<LFlow> {
    let mut v = Vec::new();
    let Some(&(first, _)) = l.addrs.first() else {
        return v;
    };
    let (k, mac) = (l.key, l.mac);
    let inport = format!("{}={k:#x}", reg::INPORT);
    for hl in [0, 1] {
        v.push(LFlow::new(
            t::LR_IN_IP_INPUT,
            90,
            format!("{md},{inport},ipv6,nw_ttl={hl}"),
            util::userdata(&format!("cloudnet:icmp6-time-exceeded src={first}")),
        ));
    }
    // Not forwarded: link-local sources (RFC 4291 §2.5.6) and multicast.
    for m in ["ipv6_src=fe80::/10", "ipv6_dst=ff00::/8"] {
        v.push(LFlow::new(
            t::LR_IN_IP_INPUT,
            55,
            format!("{md},{inport},ipv6,{m}"),
            "drop",
        ));
    }
    v.push(LFlow::new(
        t::LR_IN_IP_ROUTING,
        1,
        format!("{md},{inport},ipv6"),
        util::userdata(&format!("cloudnet:icmp6-unreachable src={first} code=0")),
    ));
    let lla = link_local(mac);
    for ip in l.addrs.iter().map(|(ip, _)| *ip).chain(lla) {
        v.push(LFlow::new(
            t::LR_IN_IP_INPUT,
            100,
            format!("{md},icmp6,ipv6_dst={ip},icmp_type=128,icmp_code=0"),
            util::userdata("cloudnet:icmp6-echo-reply"),
        ));
        v.push(LFlow::new(
            t::LR_IN_IP_INPUT,
            60,
            format!("{md},ipv6,ipv6_dst={ip}"),
            "drop",
        ));
    }
    for &(_, net) in &l.addrs {
        // Connected route: the next hop is the destination, resolved in
        // lr_in_arp_resolve from the next-hop registers (`route6`).
        v.push(LFlow::new(
            t::LR_IN_IP_ROUTING,
            2 * u16::from(net.prefix_len()) + 11,
            format!("{md},ipv6,ipv6_dst={net}"),
            format!(
                "dec_ttl,{},set_field:{k:#x}->{},set_field:{mac}->eth_src,{}",
                crate::route6::nexthop_is_destination(),
                reg::OUTPORT,
                next(t::LR_IN_ARP_RESOLVE)
            ),
        ));
    }
    v
}
