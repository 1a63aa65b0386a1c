//! Router Advertisements and DHCPv6: what a host configuring itself gets.

mod common;

use std::net::Ipv6Addr;

use common::*;
use dhcproto::v6::{DhcpOption, IAAddr, Message, MessageType, OptionCode, Status, IANA, ORO};
use dhcproto::{Decodable, Encodable};
use packet::ethernet::EthernetFrame;
use packet::icmpv6::Icmpv6Packet;
use packet::ipv6::Ipv6Packet;
use packet::udp::UdpPacket;
use responder::dhcp6::{self, Dhcp6Config};
use responder::nd::link_local;
use responder::ra::{self, RaConfig, RaMode};
use responder::NoReply;

fn vm_lla() -> Ipv6Addr {
    link_local(VM_MAC)
}

fn cfg(mode: RaMode, mtu: Option<u32>) -> RaConfig {
    RaConfig {
        mac: ROUTER_MAC,
        prefix: "2001:db8:1::/64".parse().unwrap(),
        mode,
        mtu,
        lifetime: ra::defaults::ROUTER_LIFETIME,
    }
}

/// (ip src, ip dst, eth dst, ICMPv6 message) of a reply, checksum checked.
fn parse_ra(frame: &[u8]) -> (Ipv6Addr, Ipv6Addr, packet::Mac, Vec<u8>) {
    let eth = EthernetFrame::new_checked(frame).unwrap();
    assert_eq!(eth.src(), ROUTER_MAC);
    let ip = Ipv6Packet::new_checked(eth.payload()).unwrap();
    assert_eq!(ip.hop_limit(), 255, "RFC 4861 §6.1.2");
    let icmp = Icmpv6Packet::new_checked(ip.payload()).unwrap();
    assert!(icmp.verify_checksum(&ip.src(), &ip.dst()));
    (ip.src(), ip.dst(), eth.dst(), ip.payload().to_vec())
}

/// Finds option `kind` in an RA's options.
fn option(m: &[u8], kind: u8) -> Option<&[u8]> {
    let mut rest = &m[16..];
    while rest.len() >= 8 {
        let len = usize::from(rest[1]) * 8;
        if rest[0] == kind {
            return Some(&rest[..len]);
        }
        rest = &rest[len..];
    }
    None
}

#[test]
fn link_local_is_modified_eui64() {
    // RFC 4291 appendix A: 02:00:00:00:00:05 → 0000:00ff:fe00:0005.
    assert_eq!(vm_lla(), "fe80::ff:fe00:5".parse::<Ipv6Addr>().unwrap());
    let m = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];
    assert_eq!(
        link_local(m),
        "fe80::5054:ff:fe12:3456".parse::<Ipv6Addr>().unwrap()
    );
}

#[test]
fn solicitation_gets_advertisement_with_mode_flags() {
    for (mode, m_o, a) in [
        (RaMode::Slaac, 0x00, true),
        (RaMode::Dhcpv6Stateful, 0xc0, false),
        (RaMode::Dhcpv6Stateless, 0x40, true),
    ] {
        let c = cfg(mode, Some(1442));
        let mut out = [0u8; 256];
        let len = ra::respond(&rs(vm_lla(), Some(VM_MAC), VM_MAC, 255), &c, &mut out).unwrap();
        assert_eq!(len, ra::reply_len(&c));
        let (src, dst, eth_dst, m) = parse_ra(&out[..len]);
        assert_eq!(src, link_local(ROUTER_MAC), "from the router's link-local");
        assert_eq!(
            (dst, eth_dst),
            (vm_lla(), VM_MAC),
            "unicast to the solicitor"
        );
        assert_eq!(m[0], 134);
        assert_eq!(m[5], m_o, "{mode:?} M/O flags");
        assert_eq!(u16::from_be_bytes([m[6], m[7]]), 1800);
        assert_eq!(&option(&m, 1).unwrap()[2..8], &ROUTER_MAC);
        assert_eq!(&option(&m, 5).unwrap()[4..8], &1442u32.to_be_bytes());
        let p = option(&m, 3).unwrap();
        assert_eq!(p[2], 64);
        assert_eq!(p[3] & 0x80, 0x80, "on-link");
        assert_eq!(p[3] & 0x40 != 0, a, "{mode:?} autonomous flag");
        assert_eq!(
            &p[16..32],
            &"2001:db8:1::".parse::<Ipv6Addr>().unwrap().octets()
        );
    }
}

#[test]
fn solicitation_from_unspecified_is_answered_to_all_nodes() {
    let c = cfg(RaMode::Slaac, None);
    let mut out = [0u8; 256];
    let len = ra::respond(&rs(Ipv6Addr::UNSPECIFIED, None, VM_MAC, 255), &c, &mut out).unwrap();
    let (_, dst, eth_dst, m) = parse_ra(&out[..len]);
    assert_eq!(dst, "ff02::1".parse::<Ipv6Addr>().unwrap());
    assert_eq!(eth_dst, [0x33, 0x33, 0, 0, 0, 1]);
    assert!(option(&m, 5).is_none(), "no MTU option without an MTU");
}

#[test]
fn invalid_solicitations_get_nothing() {
    let c = cfg(RaMode::Slaac, None);
    let mut out = [0u8; 256];
    // Routed from elsewhere (hop limit not 255), RFC 4861 §6.1.1.
    let routed = rs(vm_lla(), None, VM_MAC, 64);
    assert!(matches!(
        ra::respond(&routed, &c, &mut out),
        Err(NoReply::Malformed(_))
    ));
    // SLL option from the unspecified address.
    let bad = rs(Ipv6Addr::UNSPECIFIED, Some(VM_MAC), VM_MAC, 255);
    assert!(matches!(
        ra::respond(&bad, &c, &mut out),
        Err(NoReply::Malformed(_))
    ));
    // Corrupted checksum.
    let mut f = rs(vm_lla(), None, VM_MAC, 255);
    let last = f.len() - 1;
    f[last] ^= 0xff;
    assert_eq!(
        ra::respond(&f, &c, &mut out),
        Err(NoReply::BadChecksum("icmpv6"))
    );
    // A neighbor solicitation is not for this responder.
    let ns = ns(
        vm_lla(),
        "ff02::1:ff00:1".parse().unwrap(),
        link_local(ROUTER_MAC),
        Some(VM_MAC),
        VM_MAC,
    );
    assert_eq!(ra::respond(&ns, &c, &mut out), Err(NoReply::NotForUs));
    // Too small a buffer is an error, not a panic.
    let ok = rs(vm_lla(), None, VM_MAC, 255);
    assert!(matches!(
        ra::respond(&ok, &c, &mut out[..40]),
        Err(NoReply::BufferTooSmall { .. })
    ));
}

const SERVER_MAC: packet::Mac = [0x02, 0xaa, 0, 0, 0, 1];
const ADDR: &str = "2001:db8:1::5";

fn stateful() -> Dhcp6Config {
    Dhcp6Config {
        server_mac: SERVER_MAC,
        addr: Some(ADDR.parse().unwrap()),
        dns: vec!["2001:db8::53".parse().unwrap()],
    }
}

fn client_msg(ty: MessageType, server: Option<Vec<u8>>, iaid: Option<u32>) -> Message {
    let mut m = Message::new_with_id(ty, [1, 2, 3]);
    let o = m.opts_mut();
    o.insert(DhcpOption::ClientId(vec![0, 3, 0, 1, 2, 0, 0, 0, 0, 5]));
    if let Some(s) = server {
        o.insert(DhcpOption::ServerId(s));
    }
    if let Some(id) = iaid {
        o.insert(DhcpOption::IANA(IANA {
            id,
            t1: 0,
            t2: 0,
            opts: Default::default(),
        }));
    }
    o.insert(DhcpOption::ORO(ORO {
        opts: vec![OptionCode::DomainNameServers],
    }));
    m
}

fn exchange(cfg: &Dhcp6Config, m: &Message) -> Result<Message, NoReply> {
    let frame = udp_v6(
        vm_lla(),
        "ff02::1:2".parse().unwrap(),
        546,
        547,
        &m.to_vec().unwrap(),
    );
    let mut out = [0u8; 1514];
    let len = dhcp6::respond(&frame, cfg, &mut out)?;
    let eth = EthernetFrame::new_checked(&out[..len]).unwrap();
    assert_eq!((eth.src(), eth.dst()), (SERVER_MAC, VM_MAC));
    let ip = Ipv6Packet::new_checked(eth.payload()).unwrap();
    assert_eq!((ip.src(), ip.dst()), (link_local(SERVER_MAC), vm_lla()));
    let udp = UdpPacket::new_checked(ip.payload()).unwrap();
    assert!(udp.verify_checksum_v6(&ip.src(), &ip.dst()));
    assert_eq!((udp.src_port(), udp.dst_port()), (547, 546));
    let reply = Message::from_bytes(udp.payload()).unwrap();
    assert_eq!(reply.xid(), [1, 2, 3]);
    Ok(reply)
}

fn ia_addr(m: &Message) -> Option<IAAddr> {
    let Some(DhcpOption::IANA(ia)) = m.opts().get(OptionCode::IANA) else {
        return None;
    };
    match ia.opts.get(OptionCode::IAAddr) {
        Some(DhcpOption::IAAddr(a)) => Some(a.clone()),
        _ => None,
    }
}

#[test]
fn stateful_solicit_request_renew() {
    let c = stateful();
    let adv = exchange(&c, &client_msg(MessageType::Solicit, None, Some(7))).unwrap();
    assert_eq!(adv.msg_type(), MessageType::Advertise);
    assert_eq!(
        ia_addr(&adv).unwrap().addr,
        ADDR.parse::<Ipv6Addr>().unwrap()
    );
    let Some(DhcpOption::IANA(ia)) = adv.opts().get(OptionCode::IANA) else {
        panic!()
    };
    assert_eq!(ia.id, 7, "the client's IAID");
    assert!(ia.t1 < ia.t2 && ia.t2 < ia_addr(&adv).unwrap().preferred_life);
    let Some(DhcpOption::ServerId(sid)) = adv.opts().get(OptionCode::ServerId) else {
        panic!()
    };
    assert_eq!(sid, &c.duid());
    assert_eq!(
        adv.opts().get(OptionCode::DomainNameServers),
        Some(&DhcpOption::DomainNameServers(c.dns.clone()))
    );
    for ty in [MessageType::Request, MessageType::Renew] {
        let r = exchange(&c, &client_msg(ty, Some(c.duid()), Some(7))).unwrap();
        assert_eq!(r.msg_type(), MessageType::Reply);
        assert_eq!(ia_addr(&r).unwrap().addr, ADDR.parse::<Ipv6Addr>().unwrap());
    }
    // A Request for another server is not ours.
    let other = client_msg(
        MessageType::Request,
        Some(vec![0, 3, 0, 1, 9, 9, 9, 9, 9, 9]),
        Some(7),
    );
    assert_eq!(exchange(&c, &other).unwrap_err(), NoReply::OtherServer);
    // Rapid commit: a Solicit answered by a Reply.
    let mut rapid = client_msg(MessageType::Solicit, None, Some(7));
    rapid.opts_mut().insert(DhcpOption::RapidCommit);
    let r = exchange(&c, &rapid).unwrap();
    assert_eq!(r.msg_type(), MessageType::Reply);
    assert!(r.opts().get(OptionCode::RapidCommit).is_some());
}

#[test]
fn stateless_gives_dns_and_no_address() {
    let c = Dhcp6Config {
        addr: None,
        ..stateful()
    };
    let r = exchange(&c, &client_msg(MessageType::InformationRequest, None, None)).unwrap();
    assert_eq!(r.msg_type(), MessageType::Reply);
    assert!(r.opts().get(OptionCode::IANA).is_none());
    assert_eq!(
        r.opts().get(OptionCode::DomainNameServers),
        Some(&DhcpOption::DomainNameServers(c.dns.clone()))
    );
    let adv = exchange(&c, &client_msg(MessageType::Solicit, None, Some(1))).unwrap();
    match adv.opts().get(OptionCode::StatusCode) {
        Some(DhcpOption::StatusCode(s)) => assert_eq!(s.status, Status::NoAddrsAvail),
        o => panic!("expected NoAddrsAvail, got {o:?}"),
    }
}

#[test]
fn confirm_release_and_discards() {
    let c = stateful();
    let mut confirm = client_msg(MessageType::Confirm, None, None);
    let mut ia = IANA {
        id: 7,
        t1: 0,
        t2: 0,
        opts: Default::default(),
    };
    ia.opts.insert(DhcpOption::IAAddr(IAAddr {
        addr: "2001:db8:99::5".parse().unwrap(),
        preferred_life: 0,
        valid_life: 0,
        opts: Default::default(),
    }));
    confirm.opts_mut().insert(DhcpOption::IANA(ia));
    let r = exchange(&c, &confirm).unwrap();
    match r.opts().get(OptionCode::StatusCode) {
        Some(DhcpOption::StatusCode(s)) => assert_eq!(s.status, Status::NotOnLink),
        o => panic!("expected NotOnLink, got {o:?}"),
    }
    let rel = exchange(
        &c,
        &client_msg(MessageType::Release, Some(c.duid()), Some(7)),
    )
    .unwrap();
    assert_eq!(rel.msg_type(), MessageType::Reply);
    // No client identifier: discarded (RFC 8415 §16).
    let mut anon = Message::new_with_id(MessageType::Solicit, [1, 2, 3]);
    anon.opts_mut().insert(DhcpOption::ElapsedTime(0));
    assert_eq!(exchange(&c, &anon).unwrap_err(), NoReply::NotForUs);
    // Garbage payload: a decode error, no panic.
    let frame = udp_v6(vm_lla(), "ff02::1:2".parse().unwrap(), 546, 547, &[1, 0, 0]);
    let mut out = [0u8; 1514];
    assert!(dhcp6::respond(&frame, &c, &mut out).is_err());
}
