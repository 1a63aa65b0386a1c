//! The `cloudnet:dhcp4` userdata of a port: everything the switch's DHCPv4
//! server needs to answer this one client (RFC 2131 / RFC 2132 options), as
//! OVN's `put_dhcp_opts` carries its options in the flow.

use std::net::{IpAddr, Ipv4Addr};

use model::{owner, Port};

use crate::ctx::{Addr, Cx};
use crate::flowset::Owner;
use crate::{util, CompileError};

/// Neutron's default `dhcp_lease_duration` (seconds).
pub const LEASE_SECONDS: u32 = 86400;

/// The userdata text, or `None` when the port has no IPv4 address on a
/// subnet with `enable_dhcp`.
pub(crate) fn userdata(
    cx: &Cx,
    p: &Port,
    _mac: &str,
    addrs: &[Addr],
) -> Result<Option<String>, CompileError> {
    let Some(a) = addrs
        .iter()
        .find(|a| a.ip.is_ipv4() && a.subnet.enable_dhcp)
    else {
        return Ok(None);
    };
    let s = a.subnet;
    let sid = &s.meta.id;
    let gateway = s
        .gateway_ip
        .as_deref()
        .map(|g| util::ipv4("subnet", sid, g))
        .transpose()?;
    // The server address: the subnet's DHCP port if Neutron made one, else
    // the gateway, else the subnet's first address.
    let dhcp_port_ip = cx
        .st
        .ports_on_network(&s.network_id)
        .filter(|q| q.device_owner == owner::DHCP)
        .flat_map(|q| q.fixed_ips.iter())
        .find(|f| f.subnet_id == *sid)
        .map(|f| util::ipv4("port", &p.meta.id, &f.ip_address))
        .transpose()?;
    let first = match a.net {
        ipnet::IpNet::V4(n) => Ipv4Addr::from(u32::from(n.network()).wrapping_add(1)),
        ipnet::IpNet::V6(_) => return Ok(None),
    };
    let server = dhcp_port_ip.or(gateway).unwrap_or(first);
    let IpAddr::V4(offer) = a.ip else {
        return Ok(None);
    };
    let mtu = cx.st.networks.get(&s.network_id).map_or(0, |n| n.mtu);
    let mut ud = format!(
        "cloudnet:dhcp4 server={server} server_mac={} offer={offer} mask={}",
        server_mac(sid),
        a.net.prefix_len()
    );
    if let Some(g) = gateway {
        ud.push_str(&format!(" router={g}"));
    }
    push_dns(&mut ud, s, false);
    // The network's MTU already has the overlay overhead subtracted
    // (model::IpamConfig::mtu_for); option 26 carries it as is.
    if mtu > 0 {
        ud.push_str(&format!(" mtu={mtu}"));
    }
    ud.push_str(&format!(" lease={LEASE_SECONDS}"));
    // Option 121 (RFC 3442). A client that receives it ignores option 3,
    // so the default route is included explicitly.
    let mut routes = Vec::new();
    for hr in &s.host_routes {
        let d = util::net("subnet", sid, &hr.destination)?;
        let nh = util::ipv4("subnet", sid, &hr.nexthop)?;
        if d.addr().is_ipv4() {
            routes.push(format!("{d}>{nh}"));
        }
    }
    if !routes.is_empty() {
        if let Some(g) = gateway {
            routes.push(format!("0.0.0.0/0>{g}"));
        }
        ud.push_str(&format!(" routes={}", routes.join(";")));
    }
    ud.push_str(&format!(
        " hostname=host-{}",
        offer.to_string().replace('.', "-")
    ));
    Ok(Some(ud))
}

/// Appends ` dns=A,B` with the subnet's name servers of one family (IPv6
/// when `v6`), if it has any.
pub(crate) fn push_dns(ud: &mut String, s: &model::Subnet, v6: bool) {
    let dns: Vec<&str> = s
        .dns_nameservers
        .iter()
        .map(String::as_str)
        .filter(|d| d.parse::<IpAddr>().is_ok_and(|ip| ip.is_ipv6() == v6))
        .collect();
    if !dns.is_empty() {
        ud.push_str(&format!(" dns={}", dns.join(",")));
    }
}

/// A locally administered MAC for the DHCP server of a subnet, stable
/// across restarts (derived from the subnet ID's hash).
pub fn server_mac(subnet_id: &str) -> String {
    let h = Owner::Network(subnet_id.to_string()).cookie().to_be_bytes();
    format!(
        "02:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        h[3], h[4], h[5], h[6], h[7]
    )
}
