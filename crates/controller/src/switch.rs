//! Logical switch flows: the table defaults, one network's uplink and
//! broadcast flows, and one port's flows (binding, port security, ARP/ND
//! responder, DHCP, L2 lookup, egress port security, delivery).

use std::net::IpAddr;

use model::owner;

use crate::ctx::{is_vm, secured, stateful, Cx};
use crate::flowset::LFlow;
use crate::tables::{self as t, reg};
use crate::{dhcp, util, CompileError};

const MCAST: &str = "dl_dst=01:00:00:00:00:00/01:00:00:00:00:00";

fn next(table: u8) -> String {
    format!("resubmit(,{table})")
}

/// Table defaults: continue to the next stage, or drop (no flow) where a
/// packet must have been claimed by a specific flow.
pub(crate) fn global() -> Vec<LFlow> {
    let mut v = Vec::new();
    for (tbl, nxt) in [
        (t::LS_IN_PORT_SEC_IP, t::LS_IN_PORT_SEC_ND),
        (t::LS_IN_PORT_SEC_ND, t::LS_IN_PRE_ACL),
        (t::LS_IN_PRE_ACL, t::LS_IN_PRE_STATEFUL),
        (t::LS_IN_PRE_STATEFUL, t::LS_IN_ACL),
        (t::LS_IN_ACL, t::LS_IN_ARP_ND_RSP),
        (t::LS_IN_ARP_ND_RSP, t::LS_IN_DHCP),
        (t::LS_IN_DHCP, t::LS_IN_L2_LKP),
        (t::LR_IN_IP_INPUT, t::LR_IN_UNSNAT),
        (t::LR_IN_UNSNAT, t::LR_IN_DNAT),
        (t::LR_IN_DNAT, t::LR_IN_IP_ROUTING),
        (t::LR_IN_ARP_REQUEST, t::LR_OUT_UNDNAT),
        (t::LR_OUT_UNDNAT, t::LR_OUT_SNAT),
        (t::LR_OUT_SNAT, t::LR_OUT_DELIVERY),
        (t::LS_OUT_PRE_ACL, t::LS_OUT_PRE_STATEFUL),
        (t::LS_OUT_PRE_STATEFUL, t::LS_OUT_ACL),
        (t::LS_OUT_ACL, t::LS_OUT_PORT_SEC),
    ] {
        v.push(LFlow::new(tbl, 0, "", next(nxt)));
    }
    // Pre-stateful: send flagged packets through conntrack in the zone
    // of the port whose security groups apply (`reg13`, loaded at
    // physical ingress for the sender and at ls_out_pre_acl for the
    // receiver), re-entering at the ACL stage (ovn-northd(8):
    // ls_in_pre_stateful "ct_next").
    for (tbl, flag, acl) in [
        (t::LS_IN_PRE_STATEFUL, reg::FLAG_IN_CT, t::LS_IN_ACL),
        (t::LS_OUT_PRE_STATEFUL, reg::FLAG_OUT_CT, t::LS_OUT_ACL),
    ] {
        v.push(LFlow::new(
            tbl,
            100,
            format!("{}={flag:#x}/{flag:#x}", reg::FLAGS),
            format!("ct(zone={},table={acl})", reg::ZONE_FIELD),
        ));
    }
    // Router stages entered from a `ct(..., table=T)` of the router's NAT
    // zones: a packet conntrack calls invalid (a TCP segment outside any
    // window, an answer to nothing) was neither NATed nor tracked, so
    // forwarding it would put a fixed address behind a floating IP on the
    // external network; it is dropped, as OVN's routers and any Linux
    // router with `-m conntrack --ctstate INVALID -j DROP` do.
    for tbl in [
        t::LR_IN_DNAT,
        t::LR_IN_IP_ROUTING,
        t::LR_OUT_SNAT,
        t::LR_OUT_DELIVERY,
    ] {
        v.push(LFlow::new(
            tbl,
            crate::tables::CT_INVALID,
            "ct_state=+inv+trk",
            "drop",
        ));
    }
    // ACL: conntrack verdicts shared by every stateful port
    // (ovn-northd(8) ls_in_acl priority 65535 flows).
    for (tbl, nxt) in [
        (t::LS_IN_ACL, t::LS_IN_ARP_ND_RSP),
        (t::LS_OUT_ACL, t::LS_OUT_PORT_SEC),
    ] {
        let p = crate::tables::acl::CT_STATE;
        v.push(LFlow::new(tbl, p + 1, "ct_state=+inv+trk", "drop"));
        // Related traffic (ICMP errors) passes on conntrack's say-so.
        // Established traffic does not: every packet of a connection meets
        // the rules again (crate::acl, original direction on the packet's
        // fields, replies on the connection's original tuple), so a rule
        // removed cuts what it admitted at once, in both directions,
        // without deleting conntrack entries (PIPELINE.md "Security
        // groups").
        v.push(LFlow::new(tbl, p, "ct_state=-new+rel+trk", next(nxt)));
        // Neutron always lets IPv6 neighbor discovery through, whatever
        // the groups say, and a VM's DHCP requests reach the local
        // responder (ls_in_dhcp). No DHCP bypass on the way *to* a VM:
        // the responder's replies go straight out of the asking port, so
        // a DHCP reply in ls_out_acl comes from another VM (a rogue server
        // on a port without port security) and meets the receiver's groups
        // like any traffic — as in OVN, whose ls_out_acl bypass admits
        // only its own server's MAC and address (ovn-northd(8)).
        if tbl == t::LS_IN_ACL {
            v.push(LFlow::new(tbl, p - 1, "udp,tp_src=68,tp_dst=67", next(nxt)));
            v.push(LFlow::new(
                tbl,
                p - 1,
                "udp6,tp_src=546,tp_dst=547",
                next(nxt),
            ));
        }
        for ty in [133, 134, 135, 136] {
            v.push(LFlow::new(
                tbl,
                p - 1,
                format!("icmp6,icmp_type={ty}"),
                next(nxt),
            ));
        }
    }
    v
}

/// A network's own flows: uplink (localnet) binding, broadcast, and
/// unknown unicast to the uplink.
pub(crate) fn network(cx: &mut Cx, id: &str) -> Result<Vec<LFlow>, CompileError> {
    let Some(n) = cx.st.networks.get(id) else {
        return Ok(vec![]);
    };
    let dp = cx.net_dp(id)?;
    let zone = cx.net_zone(id)?;
    let mut v = Vec::new();
    let mut flood: Vec<u32> = Vec::new();
    for p in cx.ports_on(id) {
        if is_vm(p) && cx.b.ports.contains_key(&p.meta.id) {
            flood.push(cx.port_key(&p.meta.id)?);
        }
    }
    let uplink = n
        .physical_network
        .as_ref()
        .and_then(|pn| cx.b.bridge_mappings.get(pn).copied());
    if let Some(of) = uplink {
        let ln = cx.localnet_key(id)?;
        flood.push(ln);
        let load = format!(
            "set_field:{dp:#x}->metadata,set_field:{ln:#x}->{},set_field:{zone:#x}->{}",
            reg::INPORT,
            reg::ZONE
        );
        // Provider networks: flat = untagged, vlan = tagged with the
        // segmentation ID (802.1Q on the uplink).
        let (m, strip, tag) = match (n.network_type.as_str(), n.segmentation_id) {
            ("vlan", Some(seg)) => (
                format!("in_port={of},dl_vlan={seg}"),
                "strip_vlan,",
                format!("mod_vlan_vid:{seg},"),
            ),
            _ => (
                format!("in_port={of},vlan_tci=0x0000/0x1fff"),
                "",
                String::new(),
            ),
        };
        v.push(LFlow::new(
            t::PHY_IN,
            100,
            m,
            format!("{strip}{load},{}", next(t::LS_IN_ARP_ND_RSP)),
        ));
        v.push(LFlow::new(
            t::PHY_OUT,
            100,
            format!("{}={ln:#x}", reg::OUTPORT),
            format!("{tag}output:{of}"),
        ));
        v.push(LFlow::new(
            t::LS_OUT_PORT_SEC,
            50,
            format!("{}={ln:#x}", reg::OUTPORT),
            next(t::PHY_OUT),
        ));
        // Unknown unicast leaves through the uplink (OVN: localnet ports
        // have "unknown" addresses).
        v.push(LFlow::new(
            t::LS_IN_L2_LKP,
            1,
            format!("metadata={dp:#x}"),
            format!(
                "set_field:{ln:#x}->{},{}",
                reg::OUTPORT,
                next(t::LS_OUT_PRE_ACL)
            ),
        ));
    }
    // Tunnel ingress, and replication to the chassis hosting the network
    // (first: the local copies below may recirculate through conntrack).
    let (tun, mut acts) = crate::tunnel::network(cx, n, dp, zone)?;
    v.extend(tun);
    if !flood.is_empty() || !acts.is_empty() {
        acts.extend(flood.iter().map(|k| {
            format!(
                "set_field:{k:#x}->{},set_field:0->{},{}",
                reg::OUTPORT,
                reg::FLAGS,
                next(t::LS_OUT_PRE_ACL)
            )
        }));
        v.push(LFlow::new(
            t::LS_IN_L2_LKP,
            70,
            format!("metadata={dp:#x},{MCAST}"),
            acts.join(","),
        ));
    }
    Ok(v)
}

/// One port's flows.
pub(crate) fn port(cx: &mut Cx, id: &str) -> Result<Vec<LFlow>, CompileError> {
    let st = cx.st;
    let Some(p) = st.ports.get(id) else {
        return Ok(vec![]);
    };
    if p.device_owner == owner::FLOATING_IP || !st.networks.contains_key(&p.network_id) {
        return Ok(vec![]);
    }
    let mac = util::mac("port", id, &p.mac_address)?;
    let dp = cx.net_dp(&p.network_id)?;
    let k = cx.port_key(id)?;
    let addrs = cx.addrs(p)?;
    let mut v = Vec::new();
    let inport = format!("{}={k:#x}", reg::INPORT);
    let outport = format!("{}={k:#x}", reg::OUTPORT);

    // ARP/ND responder for the port's addresses (never flooded).
    let router = !is_vm(p) && p.device_owner != owner::DHCP;
    for a in &addrs {
        match a.ip {
            IpAddr::V4(ip) => {
                v.push(LFlow::new(
                    t::LS_IN_ARP_ND_RSP,
                    50,
                    format!("metadata={dp:#x},arp,arp_op=1,arp_tpa={ip}"),
                    util::userdata(&format!("cloudnet:arp-reply mac={mac}")),
                ));
                // The owner asking about itself (duplicate address
                // detection) is not answered.
                v.push(LFlow::new(
                    t::LS_IN_ARP_ND_RSP,
                    100,
                    format!("metadata={dp:#x},{inport},arp,arp_op=1,arp_tpa={ip}"),
                    next(t::LS_IN_DHCP),
                ));
            }
            IpAddr::V6(ip) => {
                let r = if router { " router=1" } else { "" };
                v.push(LFlow::new(
                    t::LS_IN_ARP_ND_RSP,
                    50,
                    format!("metadata={dp:#x},icmp6,icmp_type=135,nd_target={ip}"),
                    util::userdata(&format!("cloudnet:nd-na mac={mac}{r}")),
                ));
            }
        }
    }
    // L2 lookup by destination MAC.
    v.push(LFlow::new(
        t::LS_IN_L2_LKP,
        50,
        format!("metadata={dp:#x},dl_dst={mac}"),
        format!(
            "set_field:{k:#x}->{},{}",
            reg::OUTPORT,
            next(t::LS_OUT_PRE_ACL)
        ),
    ));
    v.extend(crate::router::resolve_entries(cx, p, &mac, &addrs)?);
    v.extend(crate::ipv6::switch_port(cx, p, &mac, dp, &addrs)?);

    if p.device_owner == owner::ROUTER_INTERFACE || p.device_owner == owner::ROUTER_GATEWAY {
        // Switch → router: enter the router datapath at admission with the
        // router-side port as inport (ovn-northd(8): the patch port pair).
        let rdp = cx.router_dp(&p.device_id)?;
        let lrp = cx.lrp_key(id)?;
        v.push(LFlow::new(
            t::LS_OUT_PORT_SEC,
            50,
            outport.clone(),
            next(t::PHY_OUT),
        ));
        v.push(LFlow::new(
            t::PHY_OUT,
            100,
            outport,
            format!(
                "ct_clear,set_field:{rdp:#x}->metadata,set_field:{lrp:#x}->{},set_field:0->{},set_field:0->{},{}",
                reg::INPORT,
                reg::OUTPORT,
                reg::FLAGS,
                next(t::LR_IN_ADMISSION)
            ),
        ));
        return Ok(v);
    }
    // The rest is the VM's own pipeline, needed only where it is bound;
    // elsewhere, the way to the chassis it is bound on.
    let Some(&of) = cx.b.ports.get(id).filter(|_| is_vm(p)) else {
        v.extend(crate::tunnel::remote_port(cx, p, k));
        return Ok(v);
    };
    // Binding: the TAP's ofport ↔ the logical port. Untagged frames only:
    // a VM's port is an access port (ovs-vswitchd.conf.db(5) Port
    // `vlan_mode`), as Neutron's br-int ports are; a tagged frame would
    // otherwise keep its tag through the router and leave a flat or VLAN
    // provider uplink on the VLAN the VM chose.
    let zone = cx.port_zone(id)?;
    {
        let load = format!(
            "set_field:{dp:#x}->metadata,set_field:{k:#x}->{},set_field:{zone:#x}->{}",
            reg::INPORT,
            reg::ZONE
        );
        v.push(LFlow::new(
            t::PHY_IN,
            100,
            format!("in_port={of},vlan_tci=0x0000/0x1000"),
            format!("{load},{}", next(t::LS_IN_PORT_SEC_L2)),
        ));
        if let Some(dscp) = crate::qos::dscp(st, p) {
            v.push(LFlow::new(
                t::PHY_IN,
                110,
                format!("in_port={of},ip,vlan_tci=0x0000/0x1000"),
                format!(
                    "mod_nw_tos:{},{load},{}",
                    dscp << 2,
                    next(t::LS_IN_PORT_SEC_L2)
                ),
            ));
        }
        v.push(LFlow::new(
            t::PHY_OUT,
            100,
            outport.clone(),
            format!("output:{of}"),
        ));
    }

    let sec = secured(p);
    // Port security, L2 (MAC) and IP/ARP anti-spoofing (Neutron's OVS
    // firewall: the port's MAC/IP plus allowed_address_pairs).
    let mut pairs: Vec<(String, ipnet::IpNet)> = addrs
        .iter()
        .map(|a| (mac.clone(), ipnet::IpNet::from(a.ip)))
        .collect();
    for ap in &p.allowed_address_pairs {
        let m = if ap.mac_address.is_empty() {
            mac.clone()
        } else {
            util::mac("port", id, &ap.mac_address)?
        };
        pairs.push((m, util::net("port", id, &ap.ip_address)?));
    }
    if sec {
        let mut macs: Vec<&String> = pairs.iter().map(|(m, _)| m).collect();
        macs.push(&mac);
        macs.sort();
        macs.dedup();
        for m in macs {
            v.push(LFlow::new(
                t::LS_IN_PORT_SEC_L2,
                90,
                format!("{inport},dl_src={m}"),
                next(t::LS_IN_PORT_SEC_IP),
            ));
            v.push(LFlow::new(
                t::LS_OUT_PORT_SEC,
                90,
                format!("{outport},dl_dst={m}"),
                next(t::PHY_OUT),
            ));
            v.push(LFlow::new(
                t::LS_IN_PORT_SEC_IP,
                90,
                format!("{inport},ipv6,dl_src={m},ipv6_src=fe80::/10"),
                next(t::LS_IN_PORT_SEC_ND),
            ));
        }
        v.push(LFlow::new(
            t::LS_OUT_PORT_SEC,
            80,
            format!("{outport},{MCAST}"),
            next(t::PHY_OUT),
        ));
        // DHCP server replies from a VM are spoofing (Neutron drops them).
        v.push(LFlow::new(
            t::LS_IN_PORT_SEC_IP,
            95,
            format!("{inport},udp,tp_src=67,tp_dst=68"),
            "drop",
        ));
        v.push(LFlow::new(
            t::LS_IN_PORT_SEC_IP,
            90,
            format!("{inport},udp,dl_src={mac},nw_src=0.0.0.0,nw_dst=255.255.255.255,tp_src=68,tp_dst=67"),
            next(t::LS_IN_PORT_SEC_ND),
        ));
        for (m, n) in &pairs {
            v.push(LFlow::new(
                t::LS_IN_PORT_SEC_IP,
                90,
                format!("{inport},dl_src={m},{}", util::addr_match(n, true)),
                next(t::LS_IN_PORT_SEC_ND),
            ));
            if let ipnet::IpNet::V4(n4) = n {
                let spa = if n4.prefix_len() == 32 {
                    n4.addr().to_string()
                } else {
                    n4.to_string()
                };
                v.push(LFlow::new(
                    t::LS_IN_PORT_SEC_ND,
                    90,
                    format!("{inport},arp,arp_sha={m},arp_spa={spa}"),
                    next(t::LS_IN_PRE_ACL),
                ));
            }
        }
        // RFC 5227 probes come from 0.0.0.0.
        v.push(LFlow::new(
            t::LS_IN_PORT_SEC_ND,
            90,
            format!("{inport},arp,arp_sha={mac},arp_spa=0.0.0.0"),
            next(t::LS_IN_PRE_ACL),
        ));
        v.push(LFlow::new(
            t::LS_IN_PORT_SEC_IP,
            80,
            format!("{inport},ip"),
            "drop",
        ));
        v.push(LFlow::new(
            t::LS_IN_PORT_SEC_IP,
            80,
            format!("{inport},ipv6"),
            "drop",
        ));
        v.push(LFlow::new(
            t::LS_IN_PORT_SEC_ND,
            80,
            format!("{inport},arp"),
            "drop",
        ));
    } else {
        v.push(LFlow::new(
            t::LS_IN_PORT_SEC_L2,
            50,
            inport.clone(),
            next(t::LS_IN_PORT_SEC_IP),
        ));
        v.push(LFlow::new(
            t::LS_OUT_PORT_SEC,
            50,
            outport.clone(),
            next(t::PHY_OUT),
        ));
    }

    // Pre-ACL: mark the port's IP traffic for conntrack; ACL default:
    // new connections not allowed by a rule are dropped.
    if stateful(cx.st, p) {
        for proto in ["ip", "ipv6"] {
            v.push(LFlow::new(
                t::LS_IN_PRE_ACL,
                100,
                format!("{inport},{proto}"),
                format!(
                    "set_field:{f:#x}/{f:#x}->{},{}",
                    reg::FLAGS,
                    next(t::LS_IN_PRE_STATEFUL),
                    f = reg::FLAG_IN_CT
                ),
            ));
            // The receiver's groups track in the receiver's zone, whatever
            // zone the packet arrived with (the sender's, a network's).
            v.push(LFlow::new(
                t::LS_OUT_PRE_ACL,
                100,
                format!("{outport},{proto}"),
                format!(
                    "set_field:{zone:#x}->{},set_field:{f:#x}/{f:#x}->{},{}",
                    reg::ZONE,
                    reg::FLAGS,
                    next(t::LS_OUT_PRE_STATEFUL),
                    f = reg::FLAG_OUT_CT
                ),
            ));
        }
        // Whatever no rule admits — new, established or a reply — is
        // dropped.
        let d = crate::tables::acl::DEFAULT_DROP;
        v.push(LFlow::new(
            t::LS_IN_ACL,
            d,
            format!("{inport},ct_state=+trk"),
            "drop",
        ));
        v.push(LFlow::new(
            t::LS_OUT_ACL,
            d,
            format!("{outport},ct_state=+trk"),
            "drop",
        ));
    } else if secured(p) {
        // Stateless groups: no conntrack; IP not allowed by a rule, in
        // either direction, is dropped (replies too). The verdict of the
        // peer's conntrack pass is cleared first, or the shared
        // `+est`/`+rel` flows would pass it.
        let d = crate::tables::acl::DEFAULT_DROP;
        for proto in ["ip", "ipv6"] {
            v.push(LFlow::new(
                t::LS_IN_PRE_ACL,
                100,
                format!("{inport},{proto}"),
                format!("ct_clear,{}", next(t::LS_IN_PRE_STATEFUL)),
            ));
            v.push(LFlow::new(
                t::LS_OUT_PRE_ACL,
                100,
                format!("{outport},{proto}"),
                format!("ct_clear,{}", next(t::LS_OUT_PRE_STATEFUL)),
            ));
            v.push(LFlow::new(
                t::LS_IN_ACL,
                d,
                format!("{inport},{proto}"),
                "drop",
            ));
            v.push(LFlow::new(
                t::LS_OUT_ACL,
                d,
                format!("{outport},{proto}"),
                "drop",
            ));
        }
    }

    v.extend(crate::ipv6::vm_port(p, &mac, &inport, &addrs, sec)?);
    // DHCP: answered in the switch for the port's IPv4 address on a subnet
    // with enable_dhcp.
    if let Some(ud) = dhcp::userdata(cx, p, &mac, &addrs)? {
        v.push(LFlow::new(
            t::LS_IN_DHCP,
            100,
            format!("{inport},udp,dl_src={mac},tp_src=68,tp_dst=67"),
            util::userdata(&ud),
        ));
    }
    Ok(v)
}
