//! Frame builders shared by the integration tests.
#![allow(dead_code)]

use std::net::{Ipv4Addr, Ipv6Addr};

use packet::ethernet::EthernetRepr;
use packet::ip_proto;
use packet::ipv4::Ipv4Repr;
use packet::ipv6::Ipv6Repr;
use packet::tcp::{TcpPacket, TcpRepr};
use packet::udp::{UdpPacket, UdpRepr};

pub const VM_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0a];
pub const GW_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
pub const VM_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 10);
pub const PEER_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 20);
pub const VM_IP6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 10);
pub const PEER_IP6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 20);

fn payload_byte(i: usize) -> u8 {
    (i.wrapping_mul(31) ^ (i >> 8)) as u8
}

/// Ethernet + IPv4 (DF) + TCP with `payload_len` bytes of patterned data,
/// checksums filled.
pub fn tcp4_frame(payload_len: usize, tcp_flags: u16, seq: u32) -> Vec<u8> {
    let l4_len = 20 + payload_len;
    let mut f = vec![0u8; 14 + 20 + l4_len];
    EthernetRepr {
        dst: GW_MAC,
        src: VM_MAC,
        ethertype: 0x0800,
    }
    .emit(&mut f)
    .unwrap();
    Ipv4Repr {
        src: VM_IP,
        dst: PEER_IP,
        protocol: ip_proto::TCP,
        tos: 0x10,
        ttl: 63,
        ident: 0xfffe,
        dont_frag: true,
        more_frags: false,
        frag_offset: 0,
        payload_len: l4_len as u16,
    }
    .emit(&mut f[14..])
    .unwrap();
    TcpRepr {
        src_port: 40000,
        dst_port: 5201,
        seq,
        ack: 7,
        flags: tcp_flags,
        window: 512,
        urgent: 0,
    }
    .emit(&mut f[34..])
    .unwrap();
    for (i, b) in f[54..].iter_mut().enumerate() {
        *b = payload_byte(i);
    }
    TcpPacket::new_checked(&mut f[34..])
        .unwrap()
        .fill_checksum_v4(VM_IP, PEER_IP);
    f
}

/// Ethernet + IPv6 + TCP.
pub fn tcp6_frame(payload_len: usize, tcp_flags: u16, seq: u32) -> Vec<u8> {
    let l4_len = 20 + payload_len;
    let mut f = vec![0u8; 14 + 40 + l4_len];
    EthernetRepr {
        dst: GW_MAC,
        src: VM_MAC,
        ethertype: 0x86dd,
    }
    .emit(&mut f)
    .unwrap();
    Ipv6Repr {
        src: VM_IP6,
        dst: PEER_IP6,
        next_header: ip_proto::TCP,
        traffic_class: 0,
        flow_label: 5,
        hop_limit: 64,
        payload_len: l4_len as u16,
    }
    .emit(&mut f[14..])
    .unwrap();
    TcpRepr {
        src_port: 40000,
        dst_port: 5201,
        seq,
        ack: 7,
        flags: tcp_flags,
        window: 512,
        urgent: 0,
    }
    .emit(&mut f[54..])
    .unwrap();
    for (i, b) in f[74..].iter_mut().enumerate() {
        *b = payload_byte(i);
    }
    TcpPacket::new_checked(&mut f[54..])
        .unwrap()
        .fill_checksum_v6(&VM_IP6, &PEER_IP6);
    f
}

/// Ethernet + IPv4 (DF) + UDP.
pub fn udp4_frame(payload_len: usize) -> Vec<u8> {
    let l4_len = 8 + payload_len;
    let mut f = vec![0u8; 14 + 20 + l4_len];
    EthernetRepr {
        dst: GW_MAC,
        src: VM_MAC,
        ethertype: 0x0800,
    }
    .emit(&mut f)
    .unwrap();
    Ipv4Repr {
        src: VM_IP,
        dst: PEER_IP,
        protocol: ip_proto::UDP,
        tos: 0,
        ttl: 64,
        ident: 1,
        dont_frag: true,
        more_frags: false,
        frag_offset: 0,
        payload_len: l4_len as u16,
    }
    .emit(&mut f[14..])
    .unwrap();
    UdpRepr {
        src_port: 3333,
        dst_port: 4444,
        payload_len: payload_len as u16,
    }
    .emit(&mut f[34..])
    .unwrap();
    for (i, b) in f[42..].iter_mut().enumerate() {
        *b = payload_byte(i);
    }
    UdpPacket::new_checked(&mut f[34..])
        .unwrap()
        .fill_checksum_v4(VM_IP, PEER_IP);
    f
}
