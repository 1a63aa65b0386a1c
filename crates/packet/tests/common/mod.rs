//! Frame builders shared by the integration tests, the corpus seeding test
//! and (by copy) the benchmark. Built with the crate's own emitters; the
//! golden tests check those emitters byte by byte against hand-laid RFC
//! layouts and against etherparse.
#![allow(dead_code)]

use std::net::{Ipv4Addr, Ipv6Addr};

use packet::ethernet::EthernetRepr;
use packet::flowkey::ethertype;
use packet::geneve::{GeneveOption, GeneveRepr};
use packet::gre::GreRepr;
use packet::icmpv4::{Icmpv4Packet, Icmpv4Repr};
use packet::icmpv6::NdRepr;
use packet::ip_proto;
use packet::ipv4::Ipv4Repr;
use packet::ipv6::{FragRepr, Ipv6Repr};
use packet::tcp::{flags, TcpPacket, TcpRepr};
use packet::udp::{UdpPacket, UdpRepr};
use packet::vlan::VlanRepr;
use packet::vxlan::VxlanRepr;

pub const MAC_A: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0a];
pub const MAC_B: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0b];
pub const IP_A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
pub const IP_B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
pub const IP6_A: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1);
pub const IP6_B: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2);

pub fn eth(ethertype: u16) -> Vec<u8> {
    let mut f = vec![0u8; 14];
    EthernetRepr {
        dst: MAC_B,
        src: MAC_A,
        ethertype,
    }
    .emit(&mut f)
    .unwrap();
    f
}

pub fn tcp_segment(src: Ipv4Addr, dst: Ipv4Addr, payload: &[u8]) -> Vec<u8> {
    let mut seg = vec![0u8; 20 + payload.len()];
    TcpRepr {
        src_port: 49152,
        dst_port: 80,
        seq: 1000,
        ack: 2000,
        flags: flags::ACK | flags::PSH,
        window: 65535,
        urgent: 0,
    }
    .emit(&mut seg)
    .unwrap();
    seg[20..].copy_from_slice(payload);
    TcpPacket::new_checked(&mut seg[..])
        .unwrap()
        .fill_checksum_v4(src, dst);
    seg
}

pub fn ipv4(proto: u8, l4: &[u8]) -> Vec<u8> {
    ipv4_with(proto, l4, false, 0, &[])
}

pub fn ipv4_with(proto: u8, l4: &[u8], more_frags: bool, offset: u16, options: &[u8]) -> Vec<u8> {
    let hlen = 20 + options.len();
    let mut p = vec![0u8; hlen + l4.len()];
    Ipv4Repr {
        src: IP_A,
        dst: IP_B,
        protocol: proto,
        tos: 0xb8,
        ttl: 64,
        ident: 0x1234,
        dont_frag: !more_frags && offset == 0,
        more_frags,
        frag_offset: offset,
        payload_len: l4.len() as u16,
    }
    .emit_with_options(&mut p, options)
    .unwrap();
    p[hlen..].copy_from_slice(l4);
    p
}

pub fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// 64-byte Ethernet/IPv4/TCP frame (10 bytes of payload).
pub fn tcp_v4_frame() -> Vec<u8> {
    let seg = tcp_segment(IP_A, IP_B, b"0123456789");
    let f = cat(&[&eth(ethertype::IPV4), &ipv4(ip_proto::TCP, &seg)]);
    assert_eq!(f.len(), 64);
    f
}

pub fn udp_datagram(src_port: u16, dst_port: u16, payload: &[u8]) -> Vec<u8> {
    let mut d = vec![0u8; 8 + payload.len()];
    UdpRepr {
        src_port,
        dst_port,
        payload_len: payload.len() as u16,
    }
    .emit(&mut d)
    .unwrap();
    d[8..].copy_from_slice(payload);
    UdpPacket::new_checked(&mut d[..])
        .unwrap()
        .fill_checksum_v4(IP_A, IP_B);
    d
}

pub fn udp_v4_frame() -> Vec<u8> {
    let d = udp_datagram(5353, 53, b"query");
    cat(&[&eth(ethertype::IPV4), &ipv4(ip_proto::UDP, &d)])
}

pub fn icmp_v4_frame() -> Vec<u8> {
    let mut m = vec![0u8; 8 + 4];
    m[8..].copy_from_slice(b"ping");
    Icmpv4Repr::echo(true, 0x42, 7).emit(&mut m).unwrap();
    assert!(Icmpv4Packet::new_checked(&m[..]).unwrap().verify_checksum());
    cat(&[&eth(ethertype::IPV4), &ipv4(ip_proto::ICMP, &m)])
}

pub fn arp_frame(op: u16) -> Vec<u8> {
    let mut a = vec![0u8; 28];
    packet::arp::ArpRepr {
        operation: op,
        sha: MAC_A,
        spa: IP_A,
        tha: [0; 6],
        tpa: IP_B,
    }
    .emit(&mut a)
    .unwrap();
    cat(&[&eth(ethertype::ARP), &a])
}

pub fn vlan_tag(tci: u16, inner: u16) -> Vec<u8> {
    let mut t = vec![0u8; 4];
    VlanRepr {
        tci,
        ethertype: inner,
    }
    .emit(&mut t)
    .unwrap();
    t
}

/// 802.1Q-tagged TCP frame (VID 100, PCP 5).
pub fn vlan_tcp_frame() -> Vec<u8> {
    let seg = tcp_segment(IP_A, IP_B, b"x");
    cat(&[
        &eth(ethertype::VLAN),
        &vlan_tag(0xa064, ethertype::IPV4),
        &ipv4(ip_proto::TCP, &seg),
    ])
}

/// 802.1ad QinQ frame: S-tag VID 200, C-tag VID 100, UDP inside.
pub fn qinq_udp_frame() -> Vec<u8> {
    let d = udp_datagram(1, 2, b"qq");
    cat(&[
        &eth(ethertype::QINQ),
        &vlan_tag(0x00c8, ethertype::VLAN),
        &vlan_tag(0x2064, ethertype::IPV4),
        &ipv4(ip_proto::UDP, &d),
    ])
}

pub fn ipv6_header(next_header: u8, payload_len: usize) -> Vec<u8> {
    let mut h = vec![0u8; 40 + payload_len];
    Ipv6Repr {
        src: IP6_A,
        dst: IP6_B,
        next_header,
        traffic_class: 0x2e,
        flow_label: 0xbeef1,
        hop_limit: 255,
        payload_len: payload_len as u16,
    }
    .emit(&mut h)
    .unwrap();
    h.truncate(40);
    h
}

pub fn ipv6_frame(next_header: u8, payload: &[u8]) -> Vec<u8> {
    cat(&[
        &eth(ethertype::IPV6),
        &ipv6_header(next_header, payload.len()),
        payload,
    ])
}

pub fn tcp_v6_frame() -> Vec<u8> {
    let mut seg = tcp_segment(IP_A, IP_B, b"v6");
    TcpPacket::new_checked(&mut seg[..])
        .unwrap()
        .fill_checksum_v6(&IP6_A, &IP6_B);
    ipv6_frame(ip_proto::TCP, &seg)
}

/// Generic extension header of `len` bytes announcing `next`.
pub fn ext(next: u8, len: usize) -> Vec<u8> {
    let mut e = vec![0u8; len];
    packet::ipv6::emit_padded_ext(&mut e, next, len).unwrap();
    e
}

/// AH (RFC 4302) with a 12-byte ICV: length field (24/4)-2 = 4.
pub fn ah(next: u8) -> Vec<u8> {
    let mut a = vec![0u8; 24];
    a[0] = next;
    a[1] = 4;
    a[4..8].copy_from_slice(&0x100u32.to_be_bytes());
    a
}

pub fn frag6(next: u8, offset: u16, more: bool) -> Vec<u8> {
    let mut f = vec![0u8; 8];
    FragRepr {
        next_header: next,
        frag_offset: offset,
        more_frags: more,
        ident: 0xcafe,
    }
    .emit(&mut f)
    .unwrap();
    f
}

/// IPv6 UDP behind hop-by-hop, routing, destination options and AH.
pub fn ipv6_ext_chain_frame() -> Vec<u8> {
    let d = udp_datagram(4000, 4001, b"ext");
    let payload = cat(&[
        &ext(ip_proto::ROUTING, 8),
        &ext(ip_proto::DSTOPTS, 24),
        &ext(ip_proto::AH, 16),
        &ah(ip_proto::UDP),
        &d,
    ]);
    ipv6_frame(ip_proto::HOPOPTS, &payload)
}

pub fn nd_frame(repr: NdRepr) -> Vec<u8> {
    let mut m = vec![0u8; repr.buffer_len()];
    repr.emit(&mut m, &IP6_A, &IP6_B).unwrap();
    ipv6_frame(ip_proto::ICMPV6, &m)
}

pub fn ns_frame() -> Vec<u8> {
    nd_frame(NdRepr::Solicit {
        target: IP6_B,
        sll: Some(MAC_A),
    })
}

pub fn na_frame() -> Vec<u8> {
    nd_frame(NdRepr::Advert {
        flags: 0x60,
        target: IP6_B,
        tll: Some(MAC_B),
    })
}

/// Outer Ethernet/IPv4/UDP(4789)/VXLAN(vni) around `inner`.
pub fn vxlan_frame(vni: u32, inner: &[u8]) -> Vec<u8> {
    let mut v = vec![0u8; 8];
    VxlanRepr { vni }.emit(&mut v).unwrap();
    let d = udp_datagram(54321, packet::vxlan::UDP_PORT, &cat(&[&v, inner]));
    cat(&[&eth(ethertype::IPV4), &ipv4(ip_proto::UDP, &d)])
}

/// Outer Ethernet/IPv4/UDP(6081)/Geneve with one 8-byte option around `inner`.
pub fn geneve_frame(vni: u32, inner: &[u8]) -> Vec<u8> {
    let mut g = vec![0u8; 16];
    GeneveRepr {
        vni,
        protocol: packet::geneve::PROTO_ETHERNET,
        oam: false,
        critical: false,
        options_len: 8,
    }
    .emit(&mut g)
    .unwrap();
    GeneveOption {
        class: 0x0102,
        kind: 0x03,
        data: &[1, 2, 3, 4],
    }
    .emit(&mut g[8..])
    .unwrap();
    let d = udp_datagram(54321, packet::geneve::UDP_PORT, &cat(&[&g, inner]));
    cat(&[&eth(ethertype::IPV4), &ipv4(ip_proto::UDP, &d)])
}

/// Outer Ethernet/IPv4/GRE(key, seq, checksum) around `inner`.
pub fn gre_frame(inner: &[u8]) -> Vec<u8> {
    let repr = GreRepr {
        protocol: packet::gre::PROTO_ETHERNET,
        checksum: true,
        key: Some(0xabcd),
        seq: Some(7),
    };
    let mut g = vec![0u8; repr.header_len()];
    g.extend_from_slice(inner);
    repr.emit(&mut g).unwrap();
    cat(&[&eth(ethertype::IPV4), &ipv4(ip_proto::GRE, &g)])
}

/// Every sample frame with a name, for corpus seeding and truncation tests.
pub fn samples() -> Vec<(&'static str, Vec<u8>)> {
    let inner = tcp_v4_frame();
    vec![
        ("tcp_v4", tcp_v4_frame()),
        ("udp_v4", udp_v4_frame()),
        ("icmp_v4", icmp_v4_frame()),
        ("arp_request", arp_frame(1)),
        ("vlan_tcp", vlan_tcp_frame()),
        ("qinq_udp", qinq_udp_frame()),
        ("tcp_v6", tcp_v6_frame()),
        ("ipv6_ext_chain", ipv6_ext_chain_frame()),
        ("nd_ns", ns_frame()),
        ("nd_na", na_frame()),
        (
            "ipv4_first_frag",
            cat(&[
                &eth(ethertype::IPV4),
                &ipv4_with(ip_proto::UDP, &udp_datagram(1, 2, &[0; 16]), true, 0, &[]),
            ]),
        ),
        (
            "ipv4_later_frag",
            cat(&[
                &eth(ethertype::IPV4),
                &ipv4_with(ip_proto::UDP, &[0xee; 16], false, 3, &[]),
            ]),
        ),
        (
            "ipv4_options",
            cat(&[
                &eth(ethertype::IPV4),
                &ipv4_with(
                    ip_proto::TCP,
                    &tcp_segment(IP_A, IP_B, b""),
                    false,
                    0,
                    &[0x94, 0x04, 0, 0],
                ),
            ]),
        ),
        (
            "ipv6_later_frag",
            ipv6_frame(
                ip_proto::FRAGMENT,
                &cat(&[&frag6(ip_proto::TCP, 100, false), &[0xdd; 8]]),
            ),
        ),
        ("vxlan_tcp", vxlan_frame(5000, &inner)),
        ("geneve_tcp", geneve_frame(77, &inner)),
        ("gre_tcp", gre_frame(&inner)),
    ]
}
