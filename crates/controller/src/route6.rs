//! IPv6 next hops, as OVN keeps them (ovn-northd(8) `lr_in_ip_routing`
//! sets `xxreg0`, `lr_in_arp_resolve` `get_nd`, `lr_in_arp_request`
//! `nd_ns { ... }`, MAC_Binding filled by `put_nd`):
//!
//! * **The next hop** of an IPv6 route is written by routing into
//!   `reg0`–`reg3` (OVS's `xxreg0`, `reg0` the most significant 32 bits,
//!   ovs-fields(7)): the destination itself for a connected route (four
//!   `move`s from `ipv6_dst`), the route's `nexthop` for a static route or
//!   the external subnet's `gateway_ip` for the default route. ARP resolve
//!   matches it like the IPv4 next hop in `reg0` (IPv4 flows match `ip`,
//!   these `ipv6`, so the families never meet).
//! * **Neutron ports** are resolved from the intent ([`resolve_entry`]).
//! * **Anything else on the external network** (the upstream router,
//!   hosts on the provider network): the learned bindings of table
//!   MAC_BINDING, and while unknown a Neighbor Solicitation
//!   (`cloudnet:nd-ns … target=xxreg0`, RFC 4861 §7.2.2) from the gateway
//!   port's address and MAC, injected at delivery so it leaves by the
//!   gateway port; the packet is consumed and its sender retries.
//! * **Learning**: a Neighbor Advertisement arriving *on the gateway
//!   port* for a target on the gateway's IPv6 subnets, to the gateway MAC
//!   (the answer to our solicitation), installs
//!   `metadata,reg15=<gateway port>,ipv6,reg0..reg3=<target> →
//!   eth_dst=<TLL>` with the router's MAC-binding cookie, idle timeout and
//!   limit, as ARP does for IPv4 (`router::learn_binding`). An NA claiming
//!   a gateway address is dropped, never learned.
//!
//! No NAT for IPv6 (Neutron routes tenant prefixes; the upstream routes
//! them back to the gateway port's address).

use std::net::Ipv6Addr;

use ipnet::Ipv6Net;

use crate::flowset::LFlow;
use crate::tables::{self as t, mac_binding, reg};
use crate::util;

fn next(table: u8) -> String {
    format!("resubmit(,{table})")
}

/// The four 32-bit words of `ip`, most significant first (`reg0`..`reg3`).
fn words(ip: Ipv6Addr) -> [u32; 4] {
    let v = u128::from(ip);
    [
        (v >> 96) as u32,
        (v >> 64) as u32,
        (v >> 32) as u32,
        v as u32,
    ]
}

/// Match on the next hop `ip` held in `reg0`..`reg3`.
pub(crate) fn match_nexthop(ip: Ipv6Addr) -> String {
    let w = words(ip);
    format!(
        "reg0={:#x},reg1={:#x},reg2={:#x},reg3={:#x}",
        w[0], w[1], w[2], w[3]
    )
}

/// Actions that set the next hop `ip` into `reg0`..`reg3`.
pub(crate) fn set_nexthop(ip: Ipv6Addr) -> String {
    let w = words(ip);
    (0..4)
        .map(|i| format!("set_field:{:#x}->reg{i}", w[i]))
        .collect::<Vec<_>>()
        .join(",")
}

/// Actions that copy `ipv6_dst` into `reg0`..`reg3` (a connected route:
/// the next hop is the destination).
pub(crate) fn nexthop_is_destination() -> String {
    (0..4)
        .map(|i| {
            let hi = 127 - 32 * i;
            format!("move:NXM_NX_IPV6_DST[{}..{hi}]->NXM_NX_REG{i}[]", hi - 31)
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// lr_in_arp_resolve for a Neutron port's IPv6 address `ip` reached
/// through router port `lrp` of router datapath `rdp`.
pub(crate) fn resolve_entry(rdp: u32, lrp: u32, ip: Ipv6Addr, mac: &str) -> LFlow {
    LFlow::new(
        t::LR_IN_ARP_RESOLVE,
        100,
        format!(
            "metadata={rdp:#x},{}={lrp:#x},ipv6,{}",
            reg::OUTPORT,
            match_nexthop(ip)
        ),
        format!("set_field:{mac}->eth_dst,{}", next(t::LR_OUT_UNDNAT)),
    )
}

/// The router's gateway port as the IPv6 resolution sees it.
pub(crate) struct Gateway6<'a> {
    /// `metadata=<router datapath>`.
    pub md: &'a str,
    pub router: &'a str,
    pub key: u32,
    pub mac: &'a str,
    /// Its IPv6 addresses on the external subnets.
    pub addrs: &'a [(Ipv6Addr, Ipv6Net)],
}

/// Neighbor Solicitation for unknown next hops out of the gateway port and
/// learning from Neighbor Advertisements on it (see the module doc). The
/// ARP resolve fallback into MAC_BINDING is shared with IPv4
/// (`router::resolve_fallback`).
pub(crate) fn nd_resolution(g: &Gateway6) -> Vec<LFlow> {
    let Some(&(sip, _)) = g.addrs.first() else {
        return vec![];
    };
    let (md, gk, mac) = (g.md, g.key, g.mac);
    let mut v = vec![LFlow::new(
        t::LR_IN_ARP_REQUEST,
        100,
        format!(
            "{md},{}={gk:#x},ipv6,dl_dst=00:00:00:00:00:00",
            reg::OUTPORT
        ),
        util::userdata(&format!(
            "cloudnet:nd-ns sip={sip} sha={mac} target=xxreg0 table={}",
            t::LR_OUT_DELIVERY
        )),
    )];
    let na = format!(
        "{md},{}={gk:#x},icmp6,icmp_type=136,icmp_code=0",
        reg::INPORT
    );
    for &(ip, _) in g.addrs {
        v.push(LFlow::new(
            t::LR_IN_ADMISSION,
            70,
            format!("{na},nd_target={ip}"),
            "drop",
        ));
    }
    let learn = learn_binding(g.router);
    // Unsolicited advertisements to all-nodes (RFC 4861 §7.2.6) are not
    // learned: the provider network floods multicast to VM ports and the
    // uplink only, never into a router.
    for &(_, net) in g.addrs {
        v.push(LFlow::new(
            t::LR_IN_ADMISSION,
            60,
            format!("{na},dl_dst={mac},nd_target={net}"),
            learn.clone(),
        ));
    }
    v
}

/// The admission action that learns an IPv6 MAC binding from a Neighbor
/// Advertisement on the gateway port, then goes on to IP input.
fn learn_binding(router: &str) -> String {
    let target: Vec<String> = (0..4)
        .map(|i| {
            let hi = 127 - 32 * i;
            format!("NXM_NX_REG{i}[]=NXM_NX_ND_TARGET[{}..{hi}]", hi - 31)
        })
        .collect();
    format!(
        "learn(table={},priority=100,idle_timeout={},cookie={:#x},limit={},\
         OXM_OF_METADATA[],NXM_NX_REG15[]=NXM_NX_REG14[],NXM_OF_ETH_TYPE[]=0x86dd,{},\
         load:NXM_NX_ND_TLL[]->NXM_OF_ETH_DST[]),{}",
        t::MAC_BINDING,
        mac_binding::IDLE_TIMEOUT,
        crate::flowset::mac_binding_cookie(router),
        mac_binding::LIMIT,
        target.join(","),
        next(t::LR_IN_IP_INPUT)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_hop_words_are_most_significant_first() {
        let ip: Ipv6Addr = "2001:db8::1:2".parse().unwrap();
        assert_eq!(
            match_nexthop(ip),
            "reg0=0x20010db8,reg1=0x0,reg2=0x0,reg3=0x10002"
        );
        assert_eq!(
            set_nexthop(ip),
            "set_field:0x20010db8->reg0,set_field:0x0->reg1,set_field:0x0->reg2,set_field:0x10002->reg3"
        );
        assert!(
            nexthop_is_destination().starts_with("move:NXM_NX_IPV6_DST[96..127]->NXM_NX_REG0[],")
        );
        assert!(nexthop_is_destination().ends_with("move:NXM_NX_IPV6_DST[0..31]->NXM_NX_REG3[]"));
    }

    #[test]
    fn actions_parse() {
        let ip: Ipv6Addr = "2001:db8::5".parse().unwrap();
        let net: Ipv6Net = "2001:db8::/64".parse().unwrap();
        let g = Gateway6 {
            md: "metadata=0x3",
            router: "r",
            key: 7,
            mac: "fa:16:3e:00:00:07",
            addrs: &[(ip, net)],
        };
        let mut fl = nd_resolution(&g);
        fl.push(resolve_entry(3, 7, ip, "fa:16:3e:00:00:08"));
        for f in fl {
            let text = format!(
                "table={},priority={},{},actions={}",
                f.table, f.priority, f.matches, f.actions
            );
            flow::parse_flow(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
        }
        let a = format!("actions={}", nexthop_is_destination());
        flow::parse_flow(&format!("table=24,ipv6,{a}")).expect("moves parse");
        let a = format!("actions={}", set_nexthop(ip));
        flow::parse_flow(&format!("table=24,ipv6,{a}")).expect("loads parse");
    }
}
