//! Frame builders for the responder tests, written with the packet crate's
//! emitters so that the tests exercise real wire formats.
#![allow(dead_code)]

use std::net::{Ipv4Addr, Ipv6Addr};

use packet::arp::ArpRepr;
use packet::ethernet::EthernetRepr;
use packet::flowkey::ethertype;
use packet::icmpv4::{Icmpv4Packet, Icmpv4Repr};
use packet::icmpv6::{Icmpv6Repr, NdRepr};
use packet::ip_proto;
use packet::ipv4::Ipv4Repr;
use packet::ipv6::Ipv6Repr;
use packet::udp::{UdpPacket, UdpRepr};
use packet::Mac;

pub const VM_MAC: Mac = [0x02, 0, 0, 0, 0, 0x05];
pub const ROUTER_MAC: Mac = [0x02, 0, 0, 0, 0, 0x01];
pub const VM_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 5);
pub const ROUTER_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);

pub fn eth(dst: Mac, src: Mac, ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; 14 + payload.len()];
    EthernetRepr {
        dst,
        src,
        ethertype,
    }
    .emit(&mut f)
    .unwrap();
    f[14..].copy_from_slice(payload);
    f
}

pub fn arp(op: u16, sha: Mac, spa: Ipv4Addr, tha: Mac, tpa: Ipv4Addr) -> Vec<u8> {
    let mut p = [0u8; 28];
    ArpRepr {
        operation: op,
        sha,
        spa,
        tha,
        tpa,
    }
    .emit(&mut p)
    .unwrap();
    eth([0xff; 6], sha, ethertype::ARP, &p)
}

pub fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, ttl: u8, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0u8; 20 + payload.len()];
    p[20..].copy_from_slice(payload);
    Ipv4Repr {
        src,
        dst,
        protocol: proto,
        tos: 0,
        ttl,
        ident: 0x1234,
        dont_frag: true,
        more_frags: false,
        frag_offset: 0,
        payload_len: payload.len() as u16,
    }
    .emit(&mut p)
    .unwrap();
    p
}

pub fn ipv6(src: Ipv6Addr, dst: Ipv6Addr, nh: u8, hop: u8, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0u8; 40 + payload.len()];
    p[40..].copy_from_slice(payload);
    Ipv6Repr {
        src,
        dst,
        next_header: nh,
        traffic_class: 0,
        flow_label: 0,
        hop_limit: hop,
        payload_len: payload.len() as u16,
    }
    .emit(&mut p)
    .unwrap();
    p
}

pub fn icmpv4_echo_request(ident: u16, seq: u16, data: &[u8]) -> Vec<u8> {
    let mut m = vec![0u8; 8 + data.len()];
    m[8..].copy_from_slice(data);
    Icmpv4Repr::echo(true, ident, seq).emit(&mut m).unwrap();
    m
}

pub fn ping_v4(src: Ipv4Addr, dst: Ipv4Addr, data: &[u8]) -> Vec<u8> {
    let ip = ipv4(
        src,
        dst,
        ip_proto::ICMP,
        64,
        &icmpv4_echo_request(7, 9, data),
    );
    eth(ROUTER_MAC, VM_MAC, ethertype::IPV4, &ip)
}

pub fn ping_v6(src: Ipv6Addr, dst: Ipv6Addr, data: &[u8]) -> Vec<u8> {
    let mut m = vec![0u8; 8 + data.len()];
    m[8..].copy_from_slice(data);
    Icmpv6Repr {
        msg_type: 128,
        code: 0,
        word: (7 << 16) | 9,
    }
    .emit(&mut m, &src, &dst)
    .unwrap();
    let ip = ipv6(src, dst, ip_proto::ICMPV6, 64, &m);
    eth(ROUTER_MAC, VM_MAC, ethertype::IPV6, &ip)
}

pub fn udp_v4(src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16, data: &[u8]) -> Vec<u8> {
    let mut u = vec![0u8; 8 + data.len()];
    u[8..].copy_from_slice(data);
    UdpRepr {
        src_port: sport,
        dst_port: dport,
        payload_len: data.len() as u16,
    }
    .emit(&mut u)
    .unwrap();
    UdpPacket::new_checked(&mut u[..])
        .unwrap()
        .fill_checksum_v4(src, dst);
    ipv4(src, dst, ip_proto::UDP, 64, &u)
}

pub fn ns(
    src: Ipv6Addr,
    dst: Ipv6Addr,
    target: Ipv6Addr,
    sll: Option<Mac>,
    eth_src: Mac,
) -> Vec<u8> {
    let nd = NdRepr::Solicit { target, sll };
    let mut m = vec![0u8; nd.buffer_len()];
    nd.emit(&mut m, &src, &dst).unwrap();
    let ip = ipv6(src, dst, ip_proto::ICMPV6, 255, &m);
    let o = dst.octets();
    eth(
        [0x33, 0x33, o[12], o[13], o[14], o[15]],
        eth_src,
        ethertype::IPV6,
        &ip,
    )
}

/// `true` when the ICMPv4 message's checksum verifies (packet crate).
pub fn icmpv4_ok(msg: &[u8]) -> bool {
    Icmpv4Packet::new_checked(msg).unwrap().verify_checksum()
}

/// A Router Solicitation (RFC 4861 §4.1) to all-routers, with an SLL
/// option when given.
pub fn rs(src: Ipv6Addr, sll: Option<Mac>, eth_src: Mac, hop: u8) -> Vec<u8> {
    let dst: Ipv6Addr = "ff02::2".parse().unwrap();
    let mut m = vec![0u8; 8 + if sll.is_some() { 8 } else { 0 }];
    m[0] = 133;
    if let Some(mac) = sll {
        m[8] = 1;
        m[9] = 1;
        m[10..16].copy_from_slice(&mac);
    }
    packet::icmpv6::Icmpv6Packet::new_checked(&mut m[..])
        .unwrap()
        .fill_checksum(&src, &dst);
    let ip = ipv6(src, dst, ip_proto::ICMPV6, hop, &m);
    eth([0x33, 0x33, 0, 0, 0, 2], eth_src, ethertype::IPV6, &ip)
}

/// A UDP datagram over IPv6 in an Ethernet frame to `dst`'s multicast MAC.
pub fn udp_v6(src: Ipv6Addr, dst: Ipv6Addr, sport: u16, dport: u16, data: &[u8]) -> Vec<u8> {
    let mut u = vec![0u8; 8 + data.len()];
    u[8..].copy_from_slice(data);
    UdpRepr {
        src_port: sport,
        dst_port: dport,
        payload_len: data.len() as u16,
    }
    .emit(&mut u)
    .unwrap();
    UdpPacket::new_checked(&mut u[..])
        .unwrap()
        .fill_checksum_v6(&src, &dst);
    let ip = ipv6(src, dst, ip_proto::UDP, 1, &u);
    let o = dst.octets();
    eth(
        [0x33, 0x33, o[12], o[13], o[14], o[15]],
        VM_MAC,
        ethertype::IPV6,
        &ip,
    )
}
