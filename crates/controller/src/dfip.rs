//! Distributed floating IPs: a floating IP served on the chassis its VM is
//! bound on, through that chassis' own uplink, when the chassis has a
//! bridge mapping for the external network (OVN's distributed NAT:
//! ovn-nb(5) NAT `logical_port` + `external_mac`; Neutron's OVN driver
//! sets `external_mac` to the MAC of the floating IP's own port on the
//! external network, which is what is used here).
//!
//! On that chassis (`flows`):
//!
//! * the floating IP's ARP is answered with its own MAC, and frames to
//!   that MAC from the external network reach the router's gateway port
//!   (L2 lookup, admission) — the gateway chassis no longer answers, so
//!   the upstream switch learns the MAC on one port only;
//! * the VM's packets are flagged [`reg::FLAG_DNAT_LOCAL`] in IP input, so
//!   the redirect to the gateway chassis skips them (OVN's
//!   `lr_in_gw_redirect` exception for distributed NAT) and they are
//!   routed, SNATed and sent out of this chassis' uplink, with the
//!   floating IP's MAC as source (set in unDNAT, by the owner in
//!   `router::fip`);
//! * next hops are resolved from the floating IP's address and MAC, and
//!   ARP sent to that MAC is learned as any on the gateway port.
//!
//! Everything else (SNAT without a floating IP, floating IPs of VMs on
//! chassis without the uplink) stays on the gateway chassis, which alone
//! answers for the router's gateway address (`not_resident`).

use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;
use model::Port;

use crate::ctx::Cx;
use crate::flowset::LFlow;
use crate::tables::{self as t, reg};
use crate::{util, CompileError};

/// A floating IP served on this chassis.
pub(crate) struct Dfip<'a> {
    /// Its router.
    pub router: &'a str,
    /// `metadata=<router datapath>`.
    pub md: &'a str,
    pub fip: Ipv4Addr,
    pub fixed: Ipv4Addr,
    /// The MAC of the floating IP's own port (OVN's `external_mac`).
    pub mac: &'a str,
    /// The router's gateway port on the external network.
    pub gw_port: &'a Port,
}

fn next(table: u8) -> String {
    format!("resubmit(,{table})")
}

/// The flows that serve `d` here, besides the NAT flows every chassis has.
pub(crate) fn flows(cx: &mut Cx, d: &Dfip) -> Result<Vec<LFlow>, CompileError> {
    let gwp = d.gw_port;
    let edp = cx.net_dp(&gwp.network_id)?;
    let sk = cx.port_key(&gwp.meta.id)?;
    let gk = cx.lrp_key(&gwp.meta.id)?;
    let (md, mac, fip, fixed) = (d.md, d.mac, d.fip, d.fixed);
    let mut v = vec![
        LFlow::new(
            t::LS_IN_ARP_ND_RSP,
            50,
            format!("metadata={edp:#x},arp,arp_op=1,arp_tpa={fip}"),
            util::userdata(&format!("cloudnet:arp-reply mac={mac}")),
        ),
        LFlow::new(
            t::LS_IN_L2_LKP,
            50,
            format!("metadata={edp:#x},dl_dst={mac}"),
            format!(
                "set_field:{sk:#x}->{},{}",
                reg::OUTPORT,
                next(t::LS_OUT_PRE_ACL)
            ),
        ),
        LFlow::new(
            t::LR_IN_ADMISSION,
            50,
            format!("{md},{}={gk:#x},dl_dst={mac}", reg::INPORT),
            next(t::LR_IN_IP_INPUT),
        ),
        // Below every drop and local answer of IP input.
        LFlow::new(
            t::LR_IN_IP_INPUT,
            30,
            format!("{md},ip,nw_src={fixed}"),
            format!(
                "set_field:{f:#x}/{f:#x}->{},{}",
                reg::FLAGS,
                next(t::LR_IN_UNSNAT),
                f = reg::FLAG_DNAT_LOCAL
            ),
        ),
        // The floating IP asks for its next hop itself: the reply comes
        // back to this chassis' uplink, not the gateway's.
        LFlow::new(
            t::LR_IN_ARP_REQUEST,
            110,
            format!(
                "{md},{}={gk:#x},ip,dl_dst=00:00:00:00:00:00,nw_src={fixed}",
                reg::OUTPORT
            ),
            util::userdata(&format!(
                "cloudnet:arp-request spa={fip} sha={mac} tpa={} table={}",
                reg::NEXTHOP,
                t::LR_OUT_DELIVERY
            )),
        ),
    ];
    let learn = crate::router::learn_binding(d.router);
    for a in cx.addrs(gwp)? {
        if let (IpAddr::V4(_), IpNet::V4(net)) = (a.ip, a.net) {
            v.push(LFlow::new(
                t::LR_IN_ADMISSION,
                60,
                format!(
                    "{md},{}={gk:#x},arp,dl_dst={mac},arp_spa={net}",
                    reg::INPORT
                ),
                learn.clone(),
            ));
        }
    }
    Ok(v)
}

/// On a chassis with an uplink for external network `ext` that is not
/// the router's gateway chassis: the router's gateway port is not resident
/// here (OVN's `is_chassis_resident("cr-…")`), so ARP for its addresses
/// (Neighbor Solicitations for IPv6 ones) arriving on the uplink is not
/// answered and frames to its MAC from the
/// uplink are dropped — the gateway chassis answers and takes them, and
/// the upstream switch sees the MAC on one port only.
pub(crate) fn not_resident(
    cx: &mut Cx,
    ext: &str,
    gw_mac: &str,
    gw_ips: &[IpAddr],
) -> Result<Vec<LFlow>, CompileError> {
    let mapped = cx
        .st
        .networks
        .get(ext)
        .and_then(|n| n.physical_network.as_deref())
        .is_some_and(|p| cx.b.bridge_mappings.contains_key(p));
    if !mapped {
        return Ok(vec![]);
    }
    let edp = cx.net_dp(ext)?;
    let ln = cx.localnet_key(ext)?;
    let from_uplink = format!("metadata={edp:#x},{}={ln:#x}", reg::INPORT);
    let mut v: Vec<LFlow> = gw_ips
        .iter()
        .map(|ip| {
            let m = match ip {
                IpAddr::V4(ip) => format!("arp,arp_op=1,arp_tpa={ip}"),
                IpAddr::V6(ip) => format!("icmp6,icmp_type=135,nd_target={ip}"),
            };
            LFlow::new(
                t::LS_IN_ARP_ND_RSP,
                60,
                format!("{from_uplink},{m}"),
                "drop",
            )
        })
        .collect();
    v.push(LFlow::new(
        t::LS_IN_L2_LKP,
        60,
        format!("{from_uplink},dl_dst={gw_mac}"),
        "drop",
    ));
    Ok(v)
}
