//! Logical router flows (ovn-northd(8), "Logical Router Datapaths"):
//! admission, IP input (echo replies, TTL exceeded, unreachable), unSNAT,
//! DNAT, IP routing (connected subnets, static routes, default route via
//! the external gateway — both families, IPv6 next hops as in `route6`),
//! ARP resolve, unDNAT, SNAT (IPv4 only), delivery back into a logical
//! switch; and floating IPs.
//!
//! NAT uses two conntrack zones per router, as OVN's gateway routers do:
//! one for DNAT (floating IP → fixed IP) and one for SNAT (fixed IP or
//! internal subnet → floating IP or gateway IP).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use model::{owner, Port};

use crate::ctx::{Addr, Cx};
use crate::flowset::LFlow;
use crate::index::Index;
use crate::tables::{self as t, reg};
use crate::{tunnel, util, CompileError};

fn next(table: u8) -> String {
    format!("resubmit(,{table})")
}

fn hex_ip(ip: std::net::Ipv4Addr) -> String {
    format!("{:#x}", u32::from(ip))
}

/// ARP resolve entries for `p`'s IPv4 addresses in every router attached
/// to `p`'s network: (router, router port on that network, next hop =
/// address) → destination MAC. Owned by the port, so a new VM adds only
/// its own entries.
pub(crate) fn resolve_entries(
    cx: &mut Cx,
    p: &Port,
    mac: &str,
    addrs: &[Addr],
) -> Result<Vec<LFlow>, CompileError> {
    let mut v = Vec::new();
    let routers: Vec<String> = cx.ix.routers_on(&p.network_id).cloned().collect();
    for r in routers {
        let rdp = cx.router_dp(&r)?;
        let lrps: Vec<String> = Index::get(&cx.ix.router_ports, &r)
            .iter()
            .filter(|q| {
                cx.ix
                    .ports
                    .get(*q)
                    .is_some_and(|x| x.network == p.network_id)
            })
            .cloned()
            .collect();
        for lrp_port in lrps {
            let lrp = cx.lrp_key(&lrp_port)?;
            for a in addrs {
                if let IpAddr::V6(ip) = a.ip {
                    v.push(crate::route6::resolve_entry(rdp, lrp, ip, mac));
                }
                if let IpAddr::V4(ip) = a.ip {
                    v.push(LFlow::new(
                        t::LR_IN_ARP_RESOLVE,
                        100,
                        format!(
                            "metadata={rdp:#x},{}={lrp:#x},{}={},ip",
                            reg::OUTPORT,
                            reg::NEXTHOP,
                            hex_ip(ip)
                        ),
                        format!("set_field:{mac}->eth_dst,{}", next(t::LR_OUT_UNDNAT)),
                    ));
                }
            }
        }
    }
    Ok(v)
}

/// A router port as the router sees it.
struct Lrp {
    key: u32,
    /// The network it is attached to.
    net: String,
    mac: String,
    addrs: Vec<(Ipv4Addr, Ipv4Net)>,
    addrs6: Vec<(Ipv6Addr, Ipv6Net)>,
}

impl Lrp {
    /// Whether `ip` is on one of the port's subnets (a next hop it reaches).
    fn reaches(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(ip) => self.addrs.iter().any(|(_, n)| n.contains(&ip)),
            IpAddr::V6(ip) => self.addrs6.iter().any(|(_, n)| n.contains(&ip)),
        }
    }

    fn has_addrs(&self) -> bool {
        !self.addrs.is_empty() || !self.addrs6.is_empty()
    }
}

fn lrp(cx: &mut Cx, p: &Port) -> Result<Lrp, CompileError> {
    let key = cx.lrp_key(&p.meta.id)?;
    let mac = util::mac("port", &p.meta.id, &p.mac_address)?;
    let (mut addrs, mut addrs6) = (Vec::new(), Vec::new());
    for a in cx.addrs(p)? {
        match (a.ip, a.net) {
            (IpAddr::V4(ip), IpNet::V4(n)) => addrs.push((ip, n)),
            (IpAddr::V6(ip), IpNet::V6(n)) => addrs6.push((ip, n)),
            _ => {}
        }
    }
    Ok(Lrp {
        key,
        net: p.network_id.clone(),
        mac,
        addrs,
        addrs6,
    })
}

/// One router's flows.
pub(crate) fn router(cx: &mut Cx, id: &str) -> Result<Vec<LFlow>, CompileError> {
    let st = cx.st;
    let Some(r) = st.routers.get(id) else {
        return Ok(vec![]);
    };
    let rdp = cx.router_dp(id)?;
    let md = format!("metadata={rdp:#x}");
    let mut v = Vec::new();
    let mut gw: Option<Lrp> = None;
    let mut internal: Vec<Ipv4Net> = Vec::new();
    let mut lrps: Vec<Lrp> = Vec::new();
    let ports: Vec<&Port> = Index::get(&cx.ix.router_ports, id)
        .iter()
        .filter_map(|q| st.ports.get(q))
        .collect();
    for p in ports {
        let l = lrp(cx, p)?;
        let k = l.key;
        let inport = format!("{}={k:#x}", reg::INPORT);
        let mac = &l.mac;
        let is_gw = p.device_owner == owner::ROUTER_GATEWAY;
        v.extend(crate::ipv6::router_port(
            &md,
            &crate::ipv6::Lrp6 {
                key: k,
                mac,
                addrs: l.addrs6.clone(),
            },
        ));
        // Admission: frames to the port's MAC or broadcast.
        v.push(LFlow::new(
            t::LR_IN_ADMISSION,
            50,
            format!("{md},{inport},dl_dst={mac}"),
            next(t::LR_IN_IP_INPUT),
        ));
        v.push(LFlow::new(
            t::LR_IN_ADMISSION,
            50,
            format!("{md},{inport},dl_dst=01:00:00:00:00:00/01:00:00:00:00:00"),
            next(t::LR_IN_IP_INPUT),
        ));
        if let Some(&(first, _)) = l.addrs.first() {
            // TTL exceeded (RFC 1812 §5.3.1), from the ingress port's
            // address; unreachable when no route matches.
            for ttl in [0, 1] {
                v.push(LFlow::new(
                    t::LR_IN_IP_INPUT,
                    90,
                    format!("{md},{inport},ip,nw_ttl={ttl}"),
                    util::userdata(&format!("cloudnet:icmp4-time-exceeded src={first}")),
                ));
            }
            v.push(LFlow::new(
                t::LR_IN_IP_ROUTING,
                1,
                format!("{md},{inport},ip"),
                util::userdata(&format!("cloudnet:icmp4-unreachable src={first} code=0")),
            ));
        }
        for &(ip, net) in &l.addrs {
            v.push(LFlow::new(
                t::LR_IN_IP_INPUT,
                100,
                format!("{md},icmp,nw_dst={ip},icmp_type=8,icmp_code=0"),
                util::userdata("cloudnet:icmp4-echo-reply"),
            ));
            v.push(LFlow::new(
                t::LR_IN_IP_INPUT,
                100,
                format!("{md},arp,arp_op=1,arp_tpa={ip}"),
                util::userdata(&format!("cloudnet:arp-reply mac={mac}")),
            ));
            if !is_gw {
                // Anything else to an interface address is not for us to
                // forward; the gateway address takes SNAT return traffic.
                v.push(LFlow::new(
                    t::LR_IN_IP_INPUT,
                    60,
                    format!("{md},ip,nw_dst={ip}"),
                    "drop",
                ));
                internal.push(net);
            }
            // Connected route: next hop is the destination itself.
            v.push(LFlow::new(
                t::LR_IN_IP_ROUTING,
                2 * net.prefix_len() as u16 + 11,
                format!("{md},ip,nw_dst={net}"),
                format!(
                    "dec_ttl,move:NXM_OF_IP_DST[]->NXM_NX_REG0[],set_field:{k:#x}->{},set_field:{mac}->eth_src,{}",
                    reg::OUTPORT,
                    next(t::LR_IN_ARP_RESOLVE)
                ),
            ));
        }
        // Delivery: router port → the switch-side port of the same Neutron
        // port, entering the switch at L2 lookup.
        let sdp = cx.net_dp(&p.network_id)?;
        let zone = cx.net_zone(&p.network_id)?;
        let sk = cx.port_key(&p.meta.id)?;
        v.push(LFlow::new(
            t::LR_OUT_DELIVERY,
            100,
            format!("{md},{}={k:#x}", reg::OUTPORT),
            format!(
                "ct_clear,set_field:{sdp:#x}->metadata,set_field:{sk:#x}->{},set_field:0->{},set_field:{zone:#x}->{},set_field:0->{},{}",
                reg::INPORT,
                reg::OUTPORT,
                reg::ZONE,
                reg::FLAGS,
                next(t::LS_IN_L2_LKP)
            ),
        ));
        if is_gw && l.has_addrs() {
            gw = Some(l);
            continue;
        }
        lrps.push(l);
    }
    v.push(LFlow::new(
        t::LR_IN_IP_INPUT,
        40,
        format!("{md},arp"),
        "drop",
    ));
    // Static routes: the port whose subnet holds the next hop. Routes out
    // of the gateway port are redirected to the gateway chassis when that
    // is another host (see `tunnel`).
    let all: Vec<&Lrp> = lrps.iter().chain(gw.as_ref()).collect();
    let gw_key = gw.as_ref().map(|l| l.key);
    // The gateway's IPv4 address: SNAT source and ARP sender.
    let gip = gw.as_ref().and_then(|l| l.addrs.first()).map(|&(ip, _)| ip);
    let gw_at = match &r.external_gateway_info {
        Some(info) => crate::tunnel::gateway(
            cx.b,
            st.networks
                .get(&info.network_id)
                .and_then(|n| n.physical_network.as_deref()),
        ),
        None => crate::tunnel::Gateway::Here,
    };
    if let (tunnel::Gateway::There(_), Some(g), Some(info)) = (gw_at, &gw, &r.external_gateway_info)
    {
        let ips: Vec<IpAddr> = (g.addrs.iter().map(|(ip, _)| IpAddr::V4(*ip)))
            .chain(g.addrs6.iter().map(|(ip, _)| IpAddr::V6(*ip)))
            .collect();
        v.extend(crate::dfip::not_resident(
            cx,
            &info.network_id,
            &g.mac,
            &ips,
        )?);
    }
    let cxr: &Cx = cx;
    if let (crate::tunnel::Gateway::There(gw_ip), Some(g)) = (gw_at, &gw) {
        // The external subnets themselves (connected through the gateway
        // port).
        let nets = g.addrs.iter().map(|(_, n)| IpNet::V4(*n));
        for n in nets.chain(g.addrs6.iter().map(|(_, n)| IpNet::V6(*n))) {
            let m = util::addr_match(&n, false);
            let prio = 2 * n.prefix_len() as u16 + 11;
            v.extend(
                lrps.iter().filter_map(|i| {
                    crate::tunnel::redirect(cxr, &md, i.key, &i.net, &m, prio, gw_ip)
                }),
            );
        }
    }
    // A route to `dest` via `nh`: the next hop goes in `reg0` (IPv4) or
    // `reg0`..`reg3` (IPv6, see `route6`), out of the port that reaches it.
    let route =
        |dest: IpNet, nh: IpAddr, prio: u16| -> Vec<LFlow> {
            let Some(l) = all.iter().find(|l| l.reaches(nh)) else {
                return vec![];
            };
            let set_nh = match nh {
                IpAddr::V4(ip) => format!("set_field:{}->{}", hex_ip(ip), reg::NEXTHOP),
                IpAddr::V6(ip) => crate::route6::set_nexthop(ip),
            };
            let mut v = Vec::new();
            if let (crate::tunnel::Gateway::There(gw_ip), true) = (gw_at, Some(l.key) == gw_key) {
                let m = util::addr_match(&dest, false);
                v.extend(lrps.iter().filter_map(|i| {
                    crate::tunnel::redirect(cxr, &md, i.key, &i.net, &m, prio, gw_ip)
                }));
            }
            v.push(LFlow::new(
                t::LR_IN_IP_ROUTING,
                prio,
                format!("{md},{}", util::addr_match(&dest, false)),
                format!(
                    "dec_ttl,{set_nh},set_field:{:#x}->{},set_field:{}->eth_src,{}",
                    l.key,
                    reg::OUTPORT,
                    l.mac,
                    next(t::LR_IN_ARP_RESOLVE)
                ),
            ));
            v
        };
    for hr in &r.routes {
        let d = util::net("router", id, &hr.destination)?;
        let nh = util::ip("router", id, &hr.nexthop)?;
        // Longest prefix first, below the connected route of the same
        // length; a family mismatch (refused by the API) routes nothing.
        if d.addr().is_ipv4() == nh.is_ipv4() {
            v.extend(route(d, nh, 2 * d.prefix_len() as u16 + 10));
        }
    }
    if let (Some(g), Some(info)) = (&gw, &r.external_gateway_info) {
        // Default routes via the external subnets' gateways, one per
        // family (Neutron: the gateway_ip of the subnet the gateway port
        // has an address on).
        let ext_gws: Vec<IpAddr> = st
            .subnets_of_network(&info.network_id)
            .filter_map(|s| s.gateway_ip.as_deref()?.parse::<IpAddr>().ok())
            .filter(|ip| g.reaches(*ip))
            .collect();
        for any in [
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        ] {
            if let Some(&nh) = ext_gws.iter().find(|ip| ip.is_ipv4() == any.is_ipv4()) {
                let default = IpNet::new(any, 0)
                    .map_err(|_| CompileError::bad("router", id, "route", &any.to_string()))?;
                v.extend(route(default, nh, 10));
            }
        }
        v.push(resolve_fallback(&md, g.key));
        v.extend(crate::route6::nd_resolution(&crate::route6::Gateway6 {
            md: &md,
            router: id,
            key: g.key,
            mac: &g.mac,
            addrs: &g.addrs6,
        }));
    }
    if let (Some(g), Some(gip), Some(info)) = (&gw, gip, &r.external_gateway_info) {
        v.extend(arp_resolution(&md, id, g, gip));
        if info.enable_snat {
            let sz = cx.snat_zone(id)?;
            v.push(LFlow::new(
                t::LR_IN_UNSNAT,
                100,
                format!("{md},ip,nw_dst={gip}"),
                format!("ct(zone={sz},nat,table={})", t::LR_IN_DNAT),
            ));
            for n in &internal {
                v.push(LFlow::new(
                    t::LR_OUT_SNAT,
                    50 + n.prefix_len() as u16,
                    format!("{md},{}={:#x},ip,nw_src={n}", reg::OUTPORT, g.key),
                    format!(
                        "ct(commit,zone={sz},nat(src={gip}),table={})",
                        t::LR_OUT_DELIVERY
                    ),
                ));
            }
        }
    }
    Ok(v)
}

/// ARP resolve for any next hop out of the gateway port that is not a
/// Neutron port (either family): `eth_dst` zeroed, then the learned
/// bindings (table MAC_BINDING) may set it, then the ARP / ND request
/// stage asks while it is still zero (see [`arp_resolution`] and
/// `route6`).
fn resolve_fallback(md: &str, gk: u32) -> LFlow {
    LFlow::new(
        t::LR_IN_ARP_RESOLVE,
        1,
        format!("{md},{}={gk:#x}", reg::OUTPORT),
        format!(
            "set_field:00:00:00:00:00:00->eth_dst,{},{}",
            next(t::MAC_BINDING),
            next(t::LR_IN_ARP_REQUEST)
        ),
    )
}

/// Next hops on the external network that are not Neutron ports (the
/// upstream router, hosts on the provider network), resolved as OVN does
/// (ovn-northd(8): `lr_in_arp_resolve` `get_arp`, `lr_in_arp_request`
/// `arp { ... }`, MAC_Binding learned by `put_arp`):
///
/// * ARP resolve falls back to the learned bindings: `eth_dst` is zeroed,
///   table MAC_BINDING (learned flows only) may set it, then ARP request.
/// * ARP request: still zero → `cloudnet:arp-request` for `reg0` from the
///   gateway port's address and MAC, entering the pipeline at delivery
///   with the packet's registers (so it leaves by the gateway port onto
///   the external network); the packet is consumed, the sender retries.
/// * Learning, in admission: ARP (replies, requests, gratuitous) arriving
///   *on the gateway port* whose sender address is on the gateway's
///   subnet installs `metadata,reg15=<gateway port>,reg0=<spa> →
///   eth_dst=<sha>` with the router's MAC-binding cookie, an idle timeout
///   and a per-router limit. Tenant ports cannot reach this port's input
///   side, and other routers' bindings differ in `metadata`, so no VM
///   poisons a binding and no tenant sees another's. ARP claiming the
///   gateway's own address is dropped, never learned.
fn arp_resolution(md: &str, router: &str, g: &Lrp, gip: Ipv4Addr) -> Vec<LFlow> {
    let gk = g.key;
    let mac = &g.mac;
    let mut v = vec![
        LFlow::new(
            t::LR_IN_ARP_REQUEST,
            100,
            format!("{md},{}={gk:#x},ip,dl_dst=00:00:00:00:00:00", reg::OUTPORT),
            util::userdata(&format!(
                "cloudnet:arp-request spa={gip} sha={mac} tpa={} table={}",
                reg::NEXTHOP,
                t::LR_OUT_DELIVERY
            )),
        ),
        LFlow::new(
            t::LR_IN_ADMISSION,
            70,
            format!("{md},{}={gk:#x},arp,arp_spa={gip}", reg::INPORT),
            "drop",
        ),
    ];
    let learn = learn_binding(router);
    for (_, net) in &g.addrs {
        for dst in [mac.as_str(), "ff:ff:ff:ff:ff:ff"] {
            v.push(LFlow::new(
                t::LR_IN_ADMISSION,
                60,
                format!(
                    "{md},{}={gk:#x},arp,dl_dst={dst},arp_spa={net}",
                    reg::INPORT
                ),
                learn.clone(),
            ));
        }
    }
    v
}

/// The admission action that learns a MAC binding from an ARP on the
/// gateway port (see [`arp_resolution`]), then goes on to IP input.
pub(crate) fn learn_binding(router: &str) -> String {
    format!(
        "learn(table={},priority=100,idle_timeout={},cookie={:#x},limit={},\
         OXM_OF_METADATA[],NXM_NX_REG15[]=NXM_NX_REG14[],NXM_OF_ETH_TYPE[]=0x800,\
         NXM_NX_REG0[]=NXM_OF_ARP_SPA[],\
         load:NXM_NX_ARP_SHA[]->NXM_OF_ETH_DST[]),{}",
        t::MAC_BINDING,
        t::mac_binding::IDLE_TIMEOUT,
        crate::flowset::mac_binding_cookie(router),
        t::mac_binding::LIMIT,
        next(t::LR_IN_IP_INPUT)
    )
}

/// A floating IP's flows: unSNAT/DNAT in, unDNAT/SNAT out, and the ARP
/// answer on the external network — on the chassis [`tunnel::fip_site`]
/// chooses: the VM's own (distributed, with the floating IP's own MAC,
/// see `dfip`), or the gateway chassis (the router's gateway MAC).
///
/// [`tunnel::fip_site`]: crate::tunnel::fip_site
pub(crate) fn fip(cx: &mut Cx, id: &str) -> Result<Vec<LFlow>, CompileError> {
    let st = cx.st;
    let Some(f) = st.floating_ips.get(id) else {
        return Ok(vec![]);
    };
    let (Some(rid), Some(fixed)) = (&f.router_id, &f.fixed_ip_address) else {
        return Ok(vec![]);
    };
    let Some(gwp) = Index::get(&cx.ix.router_ports, rid)
        .iter()
        .filter_map(|q| st.ports.get(q))
        .find(|p| p.device_owner == owner::ROUTER_GATEWAY)
    else {
        return Ok(vec![]);
    };
    let fip = util::ipv4("floatingip", id, &f.floating_ip_address)?;
    let fixed = util::ipv4("floatingip", id, fixed)?;
    let gw_mac = util::mac("port", &gwp.meta.id, &gwp.mac_address)?;
    let gk = cx.lrp_key(&gwp.meta.id)?;
    let rdp = cx.router_dp(rid)?;
    let edp = cx.net_dp(&f.floating_network_id)?;
    let sz = cx.snat_zone(rid)?;
    let dz = cx.dnat_zone(rid)?;
    let md = format!("metadata={rdp:#x}");
    let out = format!("{}={gk:#x}", reg::OUTPORT);
    let physnet = st
        .networks
        .get(&f.floating_network_id)
        .and_then(|n| n.physical_network.as_deref());
    // Without a port of its own (records from before ports held floating
    // IPs) it has no MAC of its own: the gateway serves it.
    let fport = st.ports.get(&f.floating_port_id);
    let site = match (&f.port_id, fport) {
        (Some(p), Some(fp)) => (tunnel::fip_site(cx.b, p, physnet), Some(fp)),
        _ => (tunnel::FipSite::Gateway, None),
    };
    let mut v = Vec::new();
    // Distributed: frames from the floating IP leave with its own MAC
    // (set before unDNAT, so replies and new connections both get it).
    let mut src_mac = String::new();
    match site {
        (tunnel::FipSite::Here, Some(fp)) => {
            let fmac = util::mac("port", &fp.meta.id, &fp.mac_address)?;
            src_mac = format!("set_field:{fmac}->eth_src,");
            let d = crate::dfip::Dfip {
                router: rid,
                md: &md,
                fip,
                fixed,
                mac: &fmac,
                gw_port: gwp,
            };
            v.extend(crate::dfip::flows(cx, &d)?);
        }
        (tunnel::FipSite::Elsewhere, _) => {}
        _ => {
            if tunnel::gateway(cx.b, physnet) == tunnel::Gateway::Here {
                v.push(LFlow::new(
                    t::LS_IN_ARP_ND_RSP,
                    50,
                    format!("metadata={edp:#x},arp,arp_op=1,arp_tpa={fip}"),
                    util::userdata(&format!("cloudnet:arp-reply mac={gw_mac}")),
                ));
            }
        }
    }
    // A floating IP's connections live in one of two zones: the DNAT zone
    // (`dz`) for those the internet opens, the SNAT zone (`sz`) for those
    // the VM opens; each packet also passes the other zone's `ct(nat)`,
    // which has never seen its connection. There a FIN or RST is invalid
    // (netfilter's TCP tracker picks up no connection from them), so the
    // router's invalid drop after that pass would cut every close. The
    // DNAT and SNAT flows of the floating IP rank above that drop and hand
    // the packet to the zone that owns it, whose verdict the next stage's
    // invalid drop then judges.
    let over_invalid = crate::tables::CT_INVALID + 1;
    v.extend([
        LFlow::new(
            t::LR_IN_UNSNAT,
            110,
            format!("{md},ip,nw_dst={fip}"),
            format!("ct(zone={sz},nat,table={})", t::LR_IN_DNAT),
        ),
        LFlow::new(
            t::LR_IN_DNAT,
            over_invalid,
            format!("{md},ip,nw_dst={fip}"),
            format!(
                "ct(commit,zone={dz},nat(dst={fixed}),table={})",
                t::LR_IN_IP_ROUTING
            ),
        ),
        LFlow::new(
            t::LR_OUT_UNDNAT,
            100,
            format!("{md},{out},ip,nw_src={fixed}"),
            format!("{src_mac}ct(zone={dz},nat,table={})", t::LR_OUT_SNAT),
        ),
        LFlow::new(
            t::LR_OUT_SNAT,
            over_invalid,
            format!("{md},{out},ip,nw_src={fixed}"),
            format!(
                "ct(commit,zone={sz},nat(src={fip}),table={})",
                t::LR_OUT_DELIVERY
            ),
        ),
    ]);
    Ok(v)
}
