//! ICMP echo replies and ICMP errors: structural golden tests.

mod common;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use common::*;
use packet::ethernet::EthernetFrame;
use packet::flowkey::ethertype;
use packet::icmpv4::Icmpv4Packet;
use packet::icmpv6::Icmpv6Packet;
use packet::ip_proto;
use packet::ipv4::Ipv4Packet;
use packet::ipv6::Ipv6Packet;
use responder::echo;
use responder::icmp_error::{
    icmpv4_error, icmpv6_error, ErrorSource, Icmpv4Error, Icmpv6Error, Quote,
};
use responder::{L2Addrs, NoReply};

const VM6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 5);
const RTR6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1);

fn is_router(ip: IpAddr) -> bool {
    ip == IpAddr::V4(ROUTER_IP) || ip == IpAddr::V6(RTR6)
}

#[test]
fn echo_v4_reply_swaps_addresses_and_keeps_data() {
    let data: Vec<u8> = (0..56u8).collect();
    let req = ping_v4(VM_IP, ROUTER_IP, &data);
    let mut out = [0u8; 1514];
    let len = echo::respond(&req, is_router, &mut out).unwrap();
    assert_eq!(len, req.len());
    let eth = EthernetFrame::new_checked(&out[..len]).unwrap();
    assert_eq!((eth.src(), eth.dst()), (ROUTER_MAC, VM_MAC));
    let ip = Ipv4Packet::new_checked(eth.payload()).unwrap();
    assert!(ip.verify_checksum());
    assert_eq!((ip.src(), ip.dst(), ip.ttl()), (ROUTER_IP, VM_IP, 64));
    let icmp = Icmpv4Packet::new_checked(ip.payload()).unwrap();
    assert!(
        icmp.verify_checksum(),
        "incrementally updated checksum verifies"
    );
    assert_eq!((icmp.msg_type(), icmp.code()), (0, 0));
    assert_eq!((icmp.echo_ident(), icmp.echo_seq()), (7, 9));
    assert_eq!(icmp.payload(), &data[..]);
}

#[test]
fn echo_v6_reply() {
    let req = ping_v6(VM6, RTR6, b"hello router");
    let mut out = [0u8; 1514];
    let len = echo::respond(&req, is_router, &mut out).unwrap();
    let eth = EthernetFrame::new_checked(&out[..len]).unwrap();
    assert_eq!(eth.dst(), VM_MAC);
    let ip = Ipv6Packet::new_checked(eth.payload()).unwrap();
    assert_eq!((ip.src(), ip.dst(), ip.hop_limit()), (RTR6, VM6, 64));
    let icmp = Icmpv6Packet::new_checked(ip.payload()).unwrap();
    assert!(icmp.verify_checksum(&RTR6, &VM6));
    assert_eq!(icmp.msg_type(), 129);
    assert_eq!(&icmp.body()[4..], b"hello router");
}

#[test]
fn echo_not_answered() {
    let mut out = [0u8; 1514];
    let other = ping_v4(VM_IP, Ipv4Addr::new(10, 0, 0, 77), b"x");
    assert_eq!(
        echo::respond(&other, is_router, &mut out),
        Err(NoReply::UnknownTarget)
    );
    let mut bad = ping_v4(VM_IP, ROUTER_IP, b"xyz");
    let last = bad.len() - 1;
    bad[last] ^= 1;
    assert_eq!(
        echo::respond(&bad, is_router, &mut out),
        Err(NoReply::BadChecksum("icmp"))
    );
    let big = ping_v4(VM_IP, ROUTER_IP, &[0u8; 1000]);
    assert!(matches!(
        echo::respond(&big, is_router, &mut out[..100]),
        Err(NoReply::BufferTooSmall { .. })
    ));
}

/// A UDP datagram from the VM to the internet with `ttl`, and `len` data bytes.
fn udp_frame(ttl: u8, len: usize) -> Vec<u8> {
    let dst = Ipv4Addr::new(198, 51, 100, 7);
    let mut ip = udp_v4(VM_IP, dst, 40000, 33434, &vec![0xab; len]);
    ip[8] = ttl;
    let mut p = Ipv4Packet::new_checked(&mut ip[..]).unwrap();
    p.fill_checksum();
    eth(ROUTER_MAC, VM_MAC, ethertype::IPV4, &ip)
}

fn v4_from() -> ErrorSource<Ipv4Addr> {
    ErrorSource {
        addr: ROUTER_IP,
        l2: L2Addrs::Swap,
        ttl: 64,
    }
}

#[test]
fn time_exceeded_quotes_header_and_8_bytes_rfc792() {
    let frame = udp_frame(1, 100);
    let mut out = [0u8; 1514];
    let len = icmpv4_error(
        &frame,
        Icmpv4Error::TimeExceeded,
        &v4_from(),
        Quote::Rfc792,
        &mut out,
    )
    .unwrap();
    assert_eq!(len, 14 + 20 + 8 + 28);
    let eth = EthernetFrame::new_checked(&out[..len]).unwrap();
    assert_eq!((eth.src(), eth.dst()), (ROUTER_MAC, VM_MAC));
    let ip = Ipv4Packet::new_checked(eth.payload()).unwrap();
    assert!(ip.verify_checksum());
    assert_eq!(
        (ip.src(), ip.dst(), ip.protocol()),
        (ROUTER_IP, VM_IP, ip_proto::ICMP)
    );
    let icmp = Icmpv4Packet::new_checked(ip.payload()).unwrap();
    assert!(icmp.verify_checksum());
    assert_eq!((icmp.msg_type(), icmp.code()), (11, 0));
    assert_eq!(
        icmp.payload(),
        &frame[14..14 + 28],
        "quotes IP header + 8 bytes"
    );
}

#[test]
fn unreachable_quotes_up_to_576_rfc1812() {
    let frame = udp_frame(64, 1000);
    let given = L2Addrs::Given {
        src: [2, 0, 0, 0, 0, 0xaa],
        dst: [2, 0, 0, 0, 0, 0xbb],
    };
    let from = ErrorSource {
        l2: given,
        ..v4_from()
    };
    let mut out = [0u8; 1514];
    let len = icmpv4_error(
        &frame,
        Icmpv4Error::AdminProhibited,
        &from,
        Quote::Rfc1812,
        &mut out,
    )
    .unwrap();
    assert_eq!(len - 14, 576, "error datagram capped at 576 bytes");
    let eth = EthernetFrame::new_checked(&out[..len]).unwrap();
    assert_eq!(
        (eth.src(), eth.dst()),
        ([2, 0, 0, 0, 0, 0xaa], [2, 0, 0, 0, 0, 0xbb])
    );
    let ip = Ipv4Packet::new_checked(eth.payload()).unwrap();
    let icmp = Icmpv4Packet::new_checked(ip.payload()).unwrap();
    assert!(icmp.verify_checksum());
    assert_eq!((icmp.msg_type(), icmp.code()), (3, 13));
    assert_eq!(icmp.payload(), &frame[14..14 + 548]);

    let small = udp_frame(64, 10);
    let len = icmpv4_error(
        &small,
        Icmpv4Error::FragmentationNeeded { mtu: 1400 },
        &v4_from(),
        Quote::Rfc1812,
        &mut out,
    )
    .unwrap();
    let icmp = Icmpv4Packet::new_checked(&out[34..len]).unwrap();
    assert_eq!((icmp.code(), icmp.rest_of_header()), (4, 1400));
    assert_eq!(icmp.payload(), &small[14..], "whole short datagram quoted");
}

#[test]
fn icmpv4_errors_are_suppressed_per_rfc1122() {
    let mut out = [0u8; 1514];
    let f = v4_from();
    // An ICMP error about an ICMP error.
    let mut inner = vec![3u8, 3, 0, 0, 0, 0, 0, 0];
    let c = packet::checksum::icmpv4(&inner);
    inner[2..4].copy_from_slice(&c.to_be_bytes());
    let err = eth(
        ROUTER_MAC,
        VM_MAC,
        ethertype::IPV4,
        &ipv4(VM_IP, ROUTER_IP, ip_proto::ICMP, 1, &inner),
    );
    assert!(matches!(
        icmpv4_error(&err, Icmpv4Error::TimeExceeded, &f, Quote::Rfc792, &mut out),
        Err(NoReply::ErrorSuppressed(_))
    ));
    // But an echo request (a query) does get one: traceroute -I.
    let ping = ping_v4(VM_IP, Ipv4Addr::new(198, 51, 100, 7), b"x");
    assert!(icmpv4_error(
        &ping,
        Icmpv4Error::TimeExceeded,
        &f,
        Quote::Rfc792,
        &mut out
    )
    .is_ok());
    // Broadcast destination.
    let bcast = eth(
        [0xff; 6],
        VM_MAC,
        ethertype::IPV4,
        &udp_v4(VM_IP, Ipv4Addr::BROADCAST, 1, 2, b""),
    );
    assert!(matches!(
        icmpv4_error(
            &bcast,
            Icmpv4Error::PortUnreachable,
            &f,
            Quote::Rfc792,
            &mut out
        ),
        Err(NoReply::ErrorSuppressed(_))
    ));
    // Source 0.0.0.0.
    let unspec = eth(
        ROUTER_MAC,
        VM_MAC,
        ethertype::IPV4,
        &udp_v4(Ipv4Addr::UNSPECIFIED, ROUTER_IP, 1, 2, b""),
    );
    assert!(matches!(
        icmpv4_error(
            &unspec,
            Icmpv4Error::PortUnreachable,
            &f,
            Quote::Rfc792,
            &mut out
        ),
        Err(NoReply::ErrorSuppressed(_))
    ));
    // Non-first fragment.
    let mut frag = udp_frame(1, 8);
    {
        let mut p = Ipv4Packet::new_checked(&mut frag[14..]).unwrap();
        p.set_frag(false, false, 10);
        p.fill_checksum();
    }
    assert_eq!(
        icmpv4_error(
            &frag,
            Icmpv4Error::TimeExceeded,
            &f,
            Quote::Rfc792,
            &mut out
        ),
        Err(NoReply::ErrorSuppressed("non-first fragment"))
    );
}

fn udp6_frame(len: usize) -> Vec<u8> {
    let dst: Ipv6Addr = "2001:db8::7".parse().unwrap();
    let mut u = vec![0u8; 8 + len];
    packet::udp::UdpRepr {
        src_port: 1,
        dst_port: 2,
        payload_len: len as u16,
    }
    .emit(&mut u)
    .unwrap();
    packet::udp::UdpPacket::new_checked(&mut u[..])
        .unwrap()
        .fill_checksum_v6(&VM6, &dst);
    eth(
        ROUTER_MAC,
        VM_MAC,
        ethertype::IPV6,
        &ipv6(VM6, dst, ip_proto::UDP, 1, &u),
    )
}

#[test]
fn icmpv6_time_exceeded_quotes_up_to_1280() {
    let from = ErrorSource {
        addr: RTR6,
        l2: L2Addrs::Swap,
        ttl: 64,
    };
    let mut out = [0u8; 2000];
    let big = udp6_frame(1400);
    let len = icmpv6_error(&big, Icmpv6Error::TimeExceeded, &from, &mut out).unwrap();
    assert_eq!(
        len - 14,
        1280,
        "error packet capped at the IPv6 minimum MTU"
    );
    let ip = Ipv6Packet::new_checked(&out[14..len]).unwrap();
    assert_eq!((ip.src(), ip.dst()), (RTR6, VM6));
    let icmp = Icmpv6Packet::new_checked(ip.payload()).unwrap();
    assert!(icmp.verify_checksum(&RTR6, &VM6));
    assert_eq!((icmp.msg_type(), icmp.code()), (3, 0));
    assert_eq!(&icmp.body()[4..], &big[14..14 + 1232]);

    let small = udp6_frame(4);
    let len = icmpv6_error(
        &small,
        Icmpv6Error::PacketTooBig { mtu: 1450 },
        &from,
        &mut out,
    )
    .unwrap();
    let icmp = Icmpv6Packet::new_checked(&out[54..len]).unwrap();
    assert_eq!(icmp.msg_type(), 2);
    assert_eq!(&icmp.body()[..4], &1450u32.to_be_bytes());
    assert_eq!(&icmp.body()[4..], &small[14..]);

    // No error about an ICMPv6 error.
    let mut m = vec![1u8, 4, 0, 0, 0, 0, 0, 0];
    let c = packet::checksum::l4_ipv6(&VM6, &RTR6, ip_proto::ICMPV6, &m);
    m[2..4].copy_from_slice(&c.to_be_bytes());
    let err = eth(
        ROUTER_MAC,
        VM_MAC,
        ethertype::IPV6,
        &ipv6(VM6, RTR6, ip_proto::ICMPV6, 1, &m),
    );
    assert!(matches!(
        icmpv6_error(&err, Icmpv6Error::TimeExceeded, &from, &mut out),
        Err(NoReply::ErrorSuppressed(_))
    ));
}
