//! A DHCP exchange driven by dhcproto-built client messages.

mod common;

use std::net::Ipv4Addr;
use std::sync::Arc;

use common::*;
use dhcproto::v4::{DhcpOption, Flags, Message, MessageType, Opcode, OptionCode};
use dhcproto::{Decodable, Encodable};
use packet::ethernet::EthernetFrame;
use packet::flowkey::ethertype;
use packet::ipv4::Ipv4Packet;
use packet::udp::UdpPacket;
use responder::dhcp::{
    is_dhcp_server_reply, Binding, ConfigError, DhcpServer, SubnetOptions, MAX_REPLY_LEN,
};
use responder::{Counters, NoReply, NoReplyKind};

const SERVER_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const SERVER_MAC: packet::Mac = [0x02, 0, 0, 0, 0, 0x02];

fn subnet() -> Arc<SubnetOptions> {
    let mut s = SubnetOptions::new(SERVER_IP, SERVER_MAC, 24);
    s.router = Some(ROUTER_IP);
    s.dns_servers = vec![Ipv4Addr::new(10, 0, 0, 53), Ipv4Addr::new(10, 0, 0, 54)];
    s.domain_name = Some("openstacklocal".into());
    s.mtu = Some(1450);
    s.routes = vec![(
        "192.168.7.0/24".parse().unwrap(),
        Ipv4Addr::new(10, 0, 0, 9),
    )];
    s.lease_time = 3600;
    Arc::new(s)
}

fn server() -> DhcpServer {
    let mut s = DhcpServer::new();
    s.insert(
        VM_MAC,
        Binding {
            ip: VM_IP,
            subnet: subnet(),
        },
    )
    .unwrap();
    s
}

fn client_msg(kind: MessageType, ciaddr: Ipv4Addr, mac: packet::Mac) -> Message {
    let mut m = Message::new_with_id(
        0xdead_beef,
        ciaddr,
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::UNSPECIFIED,
        &mac,
    );
    m.opts_mut().insert(DhcpOption::MessageType(kind));
    m.opts_mut().insert(DhcpOption::ParameterRequestList(vec![
        OptionCode::SubnetMask,
        OptionCode::Router,
        OptionCode::DomainNameServer,
    ]));
    m
}

/// Wraps a client message as a VM would send it.
fn client_frame(m: &Message, src: Ipv4Addr, dst: Ipv4Addr, mac: packet::Mac) -> Vec<u8> {
    let bytes = m.to_vec().unwrap();
    let eth_dst = if dst.is_broadcast() {
        [0xff; 6]
    } else {
        SERVER_MAC
    };
    eth(
        eth_dst,
        mac,
        ethertype::IPV4,
        &udp_v4(src, dst, 68, 67, &bytes),
    )
}

struct Reply {
    eth_dst: packet::Mac,
    ip_dst: Ipv4Addr,
    msg: Message,
}

/// Parses and checks a reply frame: addresses, checksums, ports.
fn parse_reply(frame: &[u8]) -> Reply {
    let eth = EthernetFrame::new_checked(frame).unwrap();
    assert_eq!(eth.src(), SERVER_MAC);
    let ip = Ipv4Packet::new_checked(eth.payload()).unwrap();
    assert!(ip.verify_checksum(), "IPv4 header checksum");
    assert_eq!(ip.src(), SERVER_IP);
    let udp = UdpPacket::new_checked(ip.payload()).unwrap();
    assert_ne!(udp.checksum(), 0, "UDP checksum filled");
    assert!(udp.verify_checksum_v4(ip.src(), ip.dst()), "UDP checksum");
    assert_eq!((udp.src_port(), udp.dst_port()), (67, 68));
    assert!(udp.payload().len() >= 300, "BOOTP minimum size");
    assert!(is_dhcp_server_reply(frame));
    Reply {
        eth_dst: eth.dst(),
        ip_dst: ip.dst(),
        msg: Message::from_bytes(udp.payload()).unwrap(),
    }
}

fn respond(server: &DhcpServer, frame: &[u8]) -> Result<Reply, NoReply> {
    let mut out = [0u8; MAX_REPLY_LEN];
    let len = server.respond(frame, &mut out)?;
    Ok(parse_reply(&out[..len]))
}

fn check_config_options(m: &Message) {
    let o = m.opts();
    assert_eq!(
        o.get(OptionCode::SubnetMask),
        Some(&DhcpOption::SubnetMask(Ipv4Addr::new(255, 255, 255, 0)))
    );
    assert_eq!(
        o.get(OptionCode::Router),
        Some(&DhcpOption::Router(vec![ROUTER_IP]))
    );
    assert_eq!(
        o.get(OptionCode::DomainNameServer),
        Some(&DhcpOption::DomainNameServer(vec![
            Ipv4Addr::new(10, 0, 0, 53),
            Ipv4Addr::new(10, 0, 0, 54)
        ]))
    );
    assert_eq!(
        o.get(OptionCode::DomainName),
        Some(&DhcpOption::DomainName("openstacklocal".into()))
    );
    assert_eq!(
        o.get(OptionCode::InterfaceMtu),
        Some(&DhcpOption::InterfaceMtu(1450))
    );
    assert_eq!(
        o.get(OptionCode::ClasslessStaticRoute),
        Some(&DhcpOption::ClasslessStaticRoute(vec![
            ("0.0.0.0/0".parse().unwrap(), ROUTER_IP),
            (
                "192.168.7.0/24".parse().unwrap(),
                Ipv4Addr::new(10, 0, 0, 9)
            ),
        ]))
    );
    assert_eq!(
        o.get(OptionCode::ServerIdentifier),
        Some(&DhcpOption::ServerIdentifier(SERVER_IP))
    );
}

#[test]
fn discover_offer_request_ack() {
    let server = server();
    let mut counters = Counters::default();
    let discover = client_msg(MessageType::Discover, Ipv4Addr::UNSPECIFIED, VM_MAC);
    let frame = client_frame(
        &discover,
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::BROADCAST,
        VM_MAC,
    );
    let mut out = [0u8; MAX_REPLY_LEN];
    let len = counters.record(server.respond(&frame, &mut out)).unwrap();
    let offer = parse_reply(&out[..len]);
    // No broadcast flag, no ciaddr: unicast to yiaddr at chaddr (§4.1).
    assert_eq!((offer.eth_dst, offer.ip_dst), (VM_MAC, VM_IP));
    assert_eq!(offer.msg.opcode(), Opcode::BootReply);
    assert_eq!(offer.msg.xid(), 0xdead_beef);
    assert_eq!(offer.msg.yiaddr(), VM_IP);
    assert_eq!(&offer.msg.chaddr()[..6], &VM_MAC);
    assert_eq!(offer.msg.opts().msg_type(), Some(MessageType::Offer));
    assert_eq!(
        offer.msg.opts().get(OptionCode::AddressLeaseTime),
        Some(&DhcpOption::AddressLeaseTime(3600))
    );
    assert_eq!(
        offer.msg.opts().get(OptionCode::Renewal),
        Some(&DhcpOption::Renewal(1800))
    );
    assert_eq!(
        offer.msg.opts().get(OptionCode::Rebinding),
        Some(&DhcpOption::Rebinding(3150))
    );
    check_config_options(&offer.msg);

    let mut request = client_msg(MessageType::Request, Ipv4Addr::UNSPECIFIED, VM_MAC);
    request.set_flags(Flags::default().set_broadcast());
    request
        .opts_mut()
        .insert(DhcpOption::ServerIdentifier(SERVER_IP));
    request
        .opts_mut()
        .insert(DhcpOption::RequestedIpAddress(VM_IP));
    let frame = client_frame(&request, Ipv4Addr::UNSPECIFIED, Ipv4Addr::BROADCAST, VM_MAC);
    let ack = respond(&server, &frame).unwrap();
    // Broadcast flag set: broadcast reply.
    assert_eq!((ack.eth_dst, ack.ip_dst), ([0xff; 6], Ipv4Addr::BROADCAST));
    assert_eq!(ack.msg.opts().msg_type(), Some(MessageType::Ack));
    assert_eq!(ack.msg.yiaddr(), VM_IP);
    assert!(ack.msg.flags().broadcast());
    check_config_options(&ack.msg);

    // Renewing: unicast from ciaddr, answered unicast to ciaddr.
    let renew = client_msg(MessageType::Request, VM_IP, VM_MAC);
    let frame = client_frame(&renew, VM_IP, SERVER_IP, VM_MAC);
    let ack = respond(&server, &frame).unwrap();
    assert_eq!((ack.eth_dst, ack.ip_dst), (VM_MAC, VM_IP));
    assert_eq!(ack.msg.ciaddr(), VM_IP);
    assert_eq!(ack.msg.opts().msg_type(), Some(MessageType::Ack));
    assert_eq!(counters.replies, 1);
}

#[test]
fn request_for_another_address_is_naked() {
    let server = server();
    let mut init_reboot = client_msg(MessageType::Request, Ipv4Addr::UNSPECIFIED, VM_MAC);
    init_reboot
        .opts_mut()
        .insert(DhcpOption::RequestedIpAddress(Ipv4Addr::new(10, 0, 0, 77)));
    let frame = client_frame(
        &init_reboot,
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::BROADCAST,
        VM_MAC,
    );
    let nak = respond(&server, &frame).unwrap();
    assert_eq!(nak.msg.opts().msg_type(), Some(MessageType::Nak));
    assert_eq!(
        (nak.eth_dst, nak.ip_dst),
        ([0xff; 6], Ipv4Addr::BROADCAST),
        "NAKs are broadcast"
    );
    assert_eq!(nak.msg.yiaddr(), Ipv4Addr::UNSPECIFIED);
    assert!(nak.msg.opts().get(OptionCode::AddressLeaseTime).is_none());

    let mut selecting = client_msg(MessageType::Request, Ipv4Addr::UNSPECIFIED, VM_MAC);
    selecting
        .opts_mut()
        .insert(DhcpOption::ServerIdentifier(SERVER_IP));
    selecting
        .opts_mut()
        .insert(DhcpOption::RequestedIpAddress(Ipv4Addr::new(10, 0, 0, 78)));
    let frame = client_frame(
        &selecting,
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::BROADCAST,
        VM_MAC,
    );
    assert_eq!(
        respond(&server, &frame).unwrap().msg.opts().msg_type(),
        Some(MessageType::Nak)
    );

    let mut other = client_msg(MessageType::Request, Ipv4Addr::UNSPECIFIED, VM_MAC);
    other
        .opts_mut()
        .insert(DhcpOption::ServerIdentifier(Ipv4Addr::new(10, 0, 0, 3)));
    other
        .opts_mut()
        .insert(DhcpOption::RequestedIpAddress(VM_IP));
    let frame = client_frame(&other, Ipv4Addr::UNSPECIFIED, Ipv4Addr::BROADCAST, VM_MAC);
    assert!(matches!(
        respond(&server, &frame),
        Err(NoReply::OtherServer)
    ));
}

#[test]
fn inform_gets_ack_without_lease() {
    let server = server();
    let inform = client_msg(MessageType::Inform, VM_IP, VM_MAC);
    let frame = client_frame(&inform, VM_IP, SERVER_IP, VM_MAC);
    let ack = respond(&server, &frame).unwrap();
    assert_eq!(ack.msg.opts().msg_type(), Some(MessageType::Ack));
    assert_eq!(ack.msg.yiaddr(), Ipv4Addr::UNSPECIFIED);
    assert_eq!(ack.ip_dst, VM_IP, "sent to ciaddr");
    assert!(ack.msg.opts().get(OptionCode::AddressLeaseTime).is_none());
    check_config_options(&ack.msg);
}

#[test]
fn release_decline_unknown_and_spoofed_get_nothing() {
    let server = server();
    let mut counters = Counters::default();
    let mut out = [0u8; MAX_REPLY_LEN];
    for kind in [MessageType::Release, MessageType::Decline] {
        let m = client_msg(kind, VM_IP, VM_MAC);
        let frame = client_frame(&m, VM_IP, SERVER_IP, VM_MAC);
        assert_eq!(
            counters.record(server.respond(&frame, &mut out)),
            Err(NoReply::NoReplyNeeded)
        );
    }
    let stranger = [0x02, 0, 0, 0, 0, 0x66];
    let m = client_msg(MessageType::Discover, Ipv4Addr::UNSPECIFIED, stranger);
    let frame = client_frame(&m, Ipv4Addr::UNSPECIFIED, Ipv4Addr::BROADCAST, stranger);
    assert_eq!(
        counters.record(server.respond(&frame, &mut out)),
        Err(NoReply::UnknownMac)
    );
    assert_eq!(counters.no_reply(NoReplyKind::UnknownMac), 1);
    assert_eq!(counters.no_reply(NoReplyKind::NoReplyNeeded), 2);
    assert_eq!(counters.replies, 0);

    // A port asking for another port's lease by forging chaddr.
    let m = client_msg(MessageType::Discover, Ipv4Addr::UNSPECIFIED, VM_MAC);
    let frame = client_frame(&m, Ipv4Addr::UNSPECIFIED, Ipv4Addr::BROADCAST, stranger);
    assert_eq!(
        server.respond(&frame, &mut out),
        Err(NoReply::ChaddrMismatch)
    );

    // A corrupted UDP checksum.
    let mut frame = client_frame(&m, Ipv4Addr::UNSPECIFIED, Ipv4Addr::BROADCAST, VM_MAC);
    let last = frame.len() - 1;
    frame[last] ^= 0x5a;
    assert_eq!(
        server.respond(&frame, &mut out),
        Err(NoReply::BadChecksum("udp"))
    );

    // Client messages are not server replies.
    assert!(!is_dhcp_server_reply(&frame));
}

#[test]
fn server_replies_from_a_vm_are_recognised() {
    let mut offer = client_msg(MessageType::Offer, Ipv4Addr::UNSPECIFIED, VM_MAC);
    offer.set_opcode(Opcode::BootReply);
    let bytes = offer.to_vec().unwrap();
    let frame = eth(
        [0xff; 6],
        VM_MAC,
        ethertype::IPV4,
        &udp_v4(VM_IP, Ipv4Addr::BROADCAST, 67, 68, &bytes),
    );
    assert!(is_dhcp_server_reply(&frame));
    // Behind a VLAN tag too.
    let mut tagged = frame[..12].to_vec();
    tagged.extend_from_slice(&[0x81, 0x00, 0x00, 0x05]);
    tagged.extend_from_slice(&frame[12..]);
    assert!(is_dhcp_server_reply(&tagged));
    // A BOOTREPLY sent to the client port from elsewhere.
    let frame = eth(
        [0xff; 6],
        VM_MAC,
        ethertype::IPV4,
        &udp_v4(VM_IP, Ipv4Addr::BROADCAST, 5000, 68, &bytes),
    );
    assert!(is_dhcp_server_reply(&frame));
    // DNS is not.
    let dns = eth(
        ROUTER_MAC,
        VM_MAC,
        ethertype::IPV4,
        &udp_v4(VM_IP, ROUTER_IP, 5000, 53, b"q"),
    );
    assert!(!is_dhcp_server_reply(&dns));
}

#[test]
fn bad_configuration_is_refused_with_the_offending_value() {
    let mut s = DhcpServer::new();
    let err = s
        .insert(
            VM_MAC,
            Binding {
                ip: Ipv4Addr::new(10, 9, 0, 5),
                subnet: subnet(),
            },
        )
        .unwrap_err();
    assert!(
        matches!(err, ConfigError::OutsideSubnet { ip, .. } if ip == Ipv4Addr::new(10, 9, 0, 5))
    );
    assert!(err.to_string().contains("10.9.0.5"), "{err}");
    let mut bad = (*subnet()).clone();
    bad.prefix_len = 40;
    let err = s
        .insert(
            VM_MAC,
            Binding {
                ip: VM_IP,
                subnet: Arc::new(bad),
            },
        )
        .unwrap_err();
    assert_eq!(err, ConfigError::PrefixLen(40));
    let err = s
        .insert(
            [0xff; 6],
            Binding {
                ip: VM_IP,
                subnet: subnet(),
            },
        )
        .unwrap_err();
    assert!(err.to_string().contains("ff:ff:ff:ff:ff:ff"), "{err}");
    assert!(s.is_empty());
}
