//! Golden byte arrays, laid out by hand from each RFC's header diagram:
//! every view must read them (deconstruct) and every repr must emit exactly
//! them (construct). etherparse reads the same bytes as an independent oracle
//! where it supports the protocol.

use std::net::{Ipv4Addr, Ipv6Addr};

use packet::arp::{ArpPacket, ArpRepr};
use packet::ethernet::{EthernetFrame, EthernetRepr};
use packet::geneve::{GeneveHeader, GeneveOption, GeneveRepr};
use packet::gre::{GrePacket, GreRepr};
use packet::icmpv4::{Icmpv4Packet, Icmpv4Repr};
use packet::icmpv6::{Icmpv6Packet, Icmpv6Repr, NdMessage, NdRepr};
use packet::ipv4::{Ipv4Packet, Ipv4Repr};
use packet::ipv6::{FragHeader, FragRepr, Ipv6Packet, Ipv6Repr};
use packet::tcp::{flags, TcpPacket, TcpRepr};
use packet::udp::{UdpPacket, UdpRepr};
use packet::vlan::{VlanRepr, VlanTag};
use packet::vxlan::{VxlanHeader, VxlanRepr};
use packet::Error;

const ETH: [u8; 14] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // dst: broadcast
    0x02, 0x00, 0x00, 0x00, 0x00, 0x0a, // src
    0x08, 0x06, // ARP
];

#[test]
fn ethernet_golden() {
    let f = EthernetFrame::new_checked(&ETH[..]).unwrap();
    assert_eq!(f.dst(), [0xff; 6]);
    assert_eq!(f.src(), [2, 0, 0, 0, 0, 0x0a]);
    assert_eq!(f.ethertype(), 0x0806);
    assert!(f.payload().is_empty());
    let mut out = [0u8; 14];
    EthernetRepr::parse(&f).emit(&mut out).unwrap();
    assert_eq!(out, ETH);
    let (ep, _) = etherparse::Ethernet2Header::from_slice(&ETH).unwrap();
    assert_eq!(
        (ep.destination, ep.source, ep.ether_type.0),
        (f.dst(), f.src(), 0x0806)
    );
    assert!(matches!(
        EthernetFrame::new_checked(&ETH[..13]),
        Err(Error::Truncated {
            need: 14,
            have: 13,
            ..
        })
    ));
}

#[test]
fn vlan_golden() {
    // TCI: PCP 5, DEI 0, VID 100; then IPv4.
    let bytes = [0xa0, 0x64, 0x08, 0x00];
    let t = VlanTag::new_checked(&bytes[..]).unwrap();
    assert_eq!(
        (t.pcp(), t.dei(), t.vid(), t.ethertype()),
        (5, false, 100, 0x0800)
    );
    let mut out = [0u8; 4];
    VlanRepr {
        tci: 0xa064,
        ethertype: 0x0800,
    }
    .emit(&mut out)
    .unwrap();
    assert_eq!(out, bytes);
    let mut t = VlanTag::new_checked(&mut out[..]).unwrap();
    t.set_vid(0xfff);
    t.set_pcp(1);
    assert_eq!(out, [0x2f, 0xff, 0x08, 0x00]);
    let (ep, _) = etherparse::SingleVlanHeader::from_slice(&bytes).unwrap();
    assert_eq!((ep.pcp.value(), ep.vlan_id.value()), (5, 100));
}

#[test]
fn arp_golden() {
    let bytes: [u8; 28] = [
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, // Ethernet, IPv4, 6, 4, request
        0x02, 0x00, 0x00, 0x00, 0x00, 0x0a, 10, 0, 0, 1, // SHA, SPA
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 10, 0, 0, 2, // THA, TPA
    ];
    let a = ArpPacket::new_checked(&bytes[..]).unwrap();
    let repr = ArpRepr::parse(&a);
    assert_eq!(repr.operation, 1);
    assert_eq!(repr.sha, [2, 0, 0, 0, 0, 0x0a]);
    assert_eq!(repr.spa, Ipv4Addr::new(10, 0, 0, 1));
    assert_eq!(repr.tpa, Ipv4Addr::new(10, 0, 0, 2));
    let mut out = [0u8; 28];
    repr.emit(&mut out).unwrap();
    assert_eq!(out, bytes);
    let mut bad = bytes;
    bad[5] = 16;
    assert!(matches!(
        ArpPacket::new_checked(&bad[..]),
        Err(Error::Malformed { .. })
    ));
}

/// The IPv4 header often used to illustrate RFC 791 checksums.
const IPV4: [u8; 20] = [
    0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01,
    0xc0, 0xa8, 0x00, 0xc7,
];

#[test]
fn ipv4_golden() {
    let mut buf = [0u8; 0x73];
    buf[..20].copy_from_slice(&IPV4);
    let p = Ipv4Packet::new_checked(&buf[..]).unwrap();
    assert_eq!(p.header_len(), 20);
    assert_eq!(p.total_len(), 0x73);
    assert!(p.dont_frag() && !p.more_frags() && !p.is_fragment());
    assert_eq!((p.ttl(), p.protocol(), p.checksum()), (64, 17, 0xb861));
    assert_eq!(p.src(), Ipv4Addr::new(192, 168, 0, 1));
    assert_eq!(p.dst(), Ipv4Addr::new(192, 168, 0, 199));
    assert!(p.verify_checksum());
    assert_eq!(p.payload().len(), 0x73 - 20);
    let mut out = vec![0u8; 0x73];
    Ipv4Repr::parse(&p).emit(&mut out).unwrap();
    assert_eq!(out[..20], IPV4);
    let (ep, _) = etherparse::Ipv4Header::from_slice(&IPV4).unwrap();
    assert_eq!(ep.header_checksum, 0xb861);
    assert_eq!(ep.calc_header_checksum(), p.checksum());
    assert_eq!(
        (ep.source, ep.destination),
        (p.src().octets(), p.dst().octets())
    );
}

#[test]
fn ipv4_options_and_fragments() {
    // IHL 6: one router-alert option (RFC 2113), MF set, offset 0.
    let mut h = [
        0x46, 0x00, 0x00, 0x18, 0xab, 0xcd, 0x20, 0x00, 0x01, 0x06, 0x00, 0x00, 10, 0, 0, 1, 10, 0,
        0, 2, 0x94, 0x04, 0x00, 0x00,
    ];
    let mut p = Ipv4Packet::new_checked(&mut h[..]).unwrap();
    p.fill_checksum();
    assert_eq!(p.header_len(), 24);
    assert_eq!(p.options(), &[0x94, 0x04, 0, 0]);
    assert!(p.is_fragment() && p.more_frags() && p.frag_offset() == 0);
    assert!(p.verify_checksum());
    p.set_frag(false, false, 185);
    assert_eq!(&h[6..8], &[0x00, 0xb9]);
    let p = Ipv4Packet::new_checked(&h[..]).unwrap();
    assert!(p.is_fragment() && !p.more_frags() && p.frag_offset() == 185);
    let (ep, _) = etherparse::Ipv4Header::from_slice(&h).unwrap();
    assert_eq!(ep.options.as_slice(), &[0x94, 0x04, 0, 0]);
    assert_eq!(ep.fragment_offset.value(), 185);
    // Malformed: IHL 4, version 5, total length shorter than the header.
    let mut bad = IPV4;
    bad[0] = 0x44;
    assert_eq!(
        Ipv4Packet::new_checked(&bad[..]),
        Err(Error::Malformed {
            layer: "ipv4",
            field: "header length"
        })
    );
    bad[0] = 0x55;
    assert!(matches!(
        Ipv4Packet::new_checked(&bad[..]),
        Err(Error::Malformed {
            field: "version",
            ..
        })
    ));
    // Total length 0x73 but only 20 bytes: truncated.
    assert!(matches!(
        Ipv4Packet::new_checked(&IPV4[..]),
        Err(Error::Truncated {
            need: 0x73,
            have: 20,
            ..
        })
    ));
}

#[test]
fn ipv6_golden() {
    let mut bytes = [0u8; 48];
    bytes[..8].copy_from_slice(&[0x60, 0x01, 0x23, 0x45, 0x00, 0x08, 0x11, 0x40]);
    bytes[8] = 0xfe;
    bytes[9] = 0x80;
    bytes[23] = 1; // fe80::1
    bytes[24] = 0xff;
    bytes[25] = 0x02;
    bytes[39] = 1; // ff02::1
    let p = Ipv6Packet::new_checked(&bytes[..]).unwrap();
    assert_eq!(
        (p.traffic_class(), p.flow_label(), p.payload_len()),
        (0, 0x12345, 8)
    );
    assert_eq!((p.next_header(), p.hop_limit()), (17, 64));
    assert_eq!(p.src(), "fe80::1".parse::<Ipv6Addr>().unwrap());
    assert_eq!(p.dst(), "ff02::1".parse::<Ipv6Addr>().unwrap());
    let mut out = [0u8; 48];
    Ipv6Repr::parse(&p).emit(&mut out).unwrap();
    assert_eq!(out[..40], bytes[..40]);
    let (ep, _) = etherparse::Ipv6Header::from_slice(&bytes).unwrap();
    assert_eq!(
        (ep.flow_label.value(), ep.hop_limit, ep.next_header.0),
        (0x12345, 64, 17)
    );
    // Fragment header: next TCP, offset 100, M set, id 0xcafe.
    let frag = [0x06, 0x00, 0x03, 0x21, 0x00, 0x00, 0xca, 0xfe];
    let f = FragHeader::new_checked(&frag[..]).unwrap();
    let repr = FragRepr::parse(&f);
    assert_eq!(
        repr,
        FragRepr {
            next_header: 6,
            frag_offset: 100,
            more_frags: true,
            ident: 0xcafe
        }
    );
    let mut out = [0u8; 8];
    repr.emit(&mut out).unwrap();
    assert_eq!(out, frag);
}

/// Reference RFC 1071 sum, the slow obvious way.
fn naive_checksum(parts: &[&[u8]]) -> u16 {
    let data: Vec<u8> = parts.concat();
    let mut sum: u32 = 0;
    for w in data.chunks(2) {
        let hi = u32::from(w[0]) << 8;
        sum += hi | w.get(1).map_or(0, |&b| u32::from(b));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[test]
fn icmpv4_golden() {
    // Echo request id 1 seq 2: checksum !(0x0800 + 1 + 2) = 0xf7fc.
    let bytes = [0x08, 0x00, 0xf7, 0xfc, 0x00, 0x01, 0x00, 0x02];
    let p = Icmpv4Packet::new_checked(&bytes[..]).unwrap();
    assert_eq!(
        (p.msg_type(), p.code(), p.echo_ident(), p.echo_seq()),
        (8, 0, 1, 2)
    );
    assert!(p.verify_checksum());
    let mut out = [0u8; 8];
    Icmpv4Repr::echo(true, 1, 2).emit(&mut out).unwrap();
    assert_eq!(out, bytes);
    let (ep, _) = etherparse::Icmpv4Header::from_slice(&bytes).unwrap();
    assert_eq!(ep.checksum, 0xf7fc);
}

fn v6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

#[test]
fn icmpv6_nd_golden() {
    let (src, dst) = (v6("fe80::1"), v6("ff02::1:ff00:2"));
    // NS for fe80::2 with SLL 02:00:00:00:00:0a; checksum left to compute.
    let mut ns = vec![135u8, 0, 0, 0, 0, 0, 0, 0];
    ns.extend_from_slice(&v6("fe80::2").octets());
    ns.extend_from_slice(&[1, 1, 2, 0, 0, 0, 0, 0x0a]);
    let pseudo = [
        &src.octets()[..],
        &dst.octets()[..],
        &[0, 0, 0, 32, 0, 0, 0, 58],
    ]
    .concat();
    let csum = naive_checksum(&[&pseudo, &ns]);
    ns[2..4].copy_from_slice(&csum.to_be_bytes());

    let icmp = Icmpv6Packet::new_checked(&ns[..]).unwrap();
    assert!(icmp.verify_checksum(&src, &dst));
    let nd = NdMessage::new_checked(&ns[..]).unwrap();
    assert!(nd.is_solicit());
    let repr = NdRepr::parse(&nd).unwrap();
    assert_eq!(
        repr,
        NdRepr::Solicit {
            target: v6("fe80::2"),
            sll: Some([2, 0, 0, 0, 0, 0x0a])
        }
    );
    let mut out = vec![0u8; repr.buffer_len()];
    repr.emit(&mut out, &src, &dst).unwrap();
    assert_eq!(out, ns);
    let (ep, _) = etherparse::Icmpv6Header::from_slice(&ns).unwrap();
    assert_eq!(ep.icmp_type.type_u8(), 135);
    assert_eq!(
        ep.icmp_type
            .calc_checksum(src.octets(), dst.octets(), &ns[8..])
            .unwrap(),
        csum
    );

    // NA, flags S|O, TLL.
    let na = NdRepr::Advert {
        flags: 0x60,
        target: v6("fe80::2"),
        tll: Some([2, 0, 0, 0, 0, 0x0b]),
    };
    let mut out = vec![0u8; na.buffer_len()];
    na.emit(&mut out, &src, &dst).unwrap();
    assert_eq!(&out[..8], &[136, 0, out[2], out[3], 0x60, 0, 0, 0]);
    assert_eq!(&out[24..], &[2, 1, 2, 0, 0, 0, 0, 0x0b]);
    let nd = NdMessage::new_checked(&out[..]).unwrap();
    assert_eq!(NdRepr::parse(&nd).unwrap(), na);
    assert!(Icmpv6Packet::new_checked(&out[..])
        .unwrap()
        .verify_checksum(&src, &dst));

    // Zero-length option: invalid (RFC 4861 §4.6).
    let mut bad = ns.clone();
    bad[25] = 0;
    let nd = NdMessage::new_checked(&bad[..]).unwrap();
    assert!(matches!(NdRepr::parse(&nd), Err(Error::Malformed { .. })));

    // Echo request header.
    let mut echo = [0u8; 8];
    Icmpv6Repr {
        msg_type: 128,
        code: 0,
        word: 0x0001_0002,
    }
    .emit(&mut echo, &src, &dst)
    .unwrap();
    let p = Icmpv6Packet::new_checked(&echo[..]).unwrap();
    assert!(p.verify_checksum(&src, &dst));
    assert_eq!(Icmpv6Repr::parse(&p).word, 0x0001_0002);
}

#[test]
fn tcp_golden() {
    let (src, dst) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
    // 1234 -> 80, seq 0x01020304, ack 0, offset 6 (one MSS option), SYN,
    // window 0xfaf0, checksum (filled below), urgent 0, MSS 1460.
    let mut seg = [
        0x04, 0xd2, 0x00, 0x50, 0x01, 0x02, 0x03, 0x04, 0, 0, 0, 0, 0x60, 0x02, 0xfa, 0xf0, 0, 0,
        0, 0, 0x02, 0x04, 0x05, 0xb4,
    ];
    let pseudo = [&src.octets()[..], &dst.octets()[..], &[0, 6, 0, 24]].concat();
    let csum = naive_checksum(&[&pseudo, &seg]);
    let mut t = TcpPacket::new_checked(&mut seg[..]).unwrap();
    t.fill_checksum_v4(src, dst);
    assert_eq!(t.checksum(), csum);
    assert!(t.verify_checksum_v4(src, dst));
    let t = TcpPacket::new_checked(&seg[..]).unwrap();
    assert_eq!(
        (t.src_port(), t.dst_port(), t.seq(), t.ack()),
        (1234, 80, 0x0102_0304, 0)
    );
    assert_eq!(
        (t.header_len(), t.flags(), t.window()),
        (24, flags::SYN, 0xfaf0)
    );
    assert_eq!(t.options(), &[2, 4, 5, 0xb4]);
    let (ep, _) = etherparse::TcpHeader::from_slice(&seg).unwrap();
    assert!(ep.syn && !ep.ack);
    assert_eq!(
        ep.calc_checksum_ipv4_raw(src.octets(), dst.octets(), &[])
            .unwrap(),
        csum
    );
    let mut out = [0u8; 20];
    TcpRepr::parse(&t).emit(&mut out).unwrap();
    assert_eq!(out[..12], seg[..12]);
    assert_eq!(out[12], 0x50);
    assert_eq!(out[13..16], seg[13..16]);
    let mut bad = seg;
    bad[12] = 0x40;
    assert!(matches!(
        TcpPacket::new_checked(&bad[..]),
        Err(Error::Malformed {
            field: "data offset",
            ..
        })
    ));
    bad[12] = 0xf0;
    assert!(matches!(
        TcpPacket::new_checked(&bad[..]),
        Err(Error::Truncated { need: 60, .. })
    ));
}

#[test]
fn udp_golden() {
    let (src, dst) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
    let mut d = [
        0x04, 0xd2, 0x00, 0x35, 0x00, 0x0c, 0, 0, b'a', b'b', b'c', b'd',
    ];
    let pseudo = [&src.octets()[..], &dst.octets()[..], &[0, 17, 0, 12]].concat();
    let csum = naive_checksum(&[&pseudo, &d]);
    let mut u = UdpPacket::new_checked(&mut d[..]).unwrap();
    u.fill_checksum_v4(src, dst);
    assert_eq!(u.checksum(), csum);
    let u = UdpPacket::new_checked(&d[..]).unwrap();
    assert!(u.verify_checksum_v4(src, dst));
    assert_eq!(
        (u.src_port(), u.dst_port(), u.len(), u.payload()),
        (1234, 53, 12, &b"abcd"[..])
    );
    let (ep, _) = etherparse::UdpHeader::from_slice(&d).unwrap();
    assert_eq!(
        ep.calc_checksum_ipv4_raw(src.octets(), dst.octets(), b"abcd")
            .unwrap(),
        csum
    );
    let mut out = [0u8; 12];
    UdpRepr::parse(&u).emit(&mut out).unwrap();
    assert_eq!(out[..6], d[..6]);
    let (s6, d6) = (v6("fd00::1"), v6("fd00::2"));
    let mut u = UdpPacket::new_checked(&mut out[..]).unwrap();
    u.fill_checksum_v6(&s6, &d6);
    assert!(u.verify_checksum_v6(&s6, &d6));
    let bad = [0, 1, 0, 2, 0, 7, 0, 0];
    assert!(matches!(
        UdpPacket::new_checked(&bad[..]),
        Err(Error::Malformed { .. })
    ));
}

#[test]
fn vxlan_golden() {
    let bytes = [0x08, 0, 0, 0, 0x00, 0x13, 0x88, 0x00];
    let h = VxlanHeader::new_checked(&bytes[..]).unwrap();
    assert_eq!(h.vni(), 5000);
    let mut out = [0u8; 8];
    VxlanRepr { vni: 5000 }.emit(&mut out).unwrap();
    assert_eq!(out, bytes);
    let no_i = [0u8; 8];
    assert!(matches!(
        VxlanHeader::new_checked(&no_i[..]),
        Err(Error::Malformed { .. })
    ));
}

#[test]
fn geneve_golden() {
    // Opt len 2 words, C set, Ethernet payload, VNI 0x4d; one critical option
    // class 0x0102 type 0x83 with 4 data bytes.
    let bytes = [
        0x02, 0x40, 0x65, 0x58, 0x00, 0x00, 0x4d, 0x00, 0x01, 0x02, 0x83, 0x01, 1, 2, 3, 4,
    ];
    let h = GeneveHeader::new_checked(&bytes[..]).unwrap();
    assert_eq!(
        (h.vni(), h.protocol(), h.critical(), h.oam()),
        (0x4d, 0x6558, true, false)
    );
    assert_eq!(h.header_len(), 16);
    let opts: Vec<_> = h.options().collect::<Result<_, _>>().unwrap();
    assert_eq!(opts.len(), 1);
    assert_eq!(
        (opts[0].class, opts[0].kind, opts[0].data),
        (0x0102, 0x83, &[1u8, 2, 3, 4][..])
    );
    assert!(opts[0].is_critical());
    let mut out = [0u8; 16];
    GeneveRepr::parse(&h).emit(&mut out).unwrap();
    GeneveOption {
        class: 0x0102,
        kind: 0x83,
        data: &[1, 2, 3, 4],
    }
    .emit(&mut out[8..])
    .unwrap();
    assert_eq!(out, bytes);
    // An option claiming more data than the option area holds.
    let mut bad = bytes;
    bad[11] = 0x02;
    let h = GeneveHeader::new_checked(&bad[..]).unwrap();
    assert!(matches!(
        h.options().next(),
        Some(Err(Error::Truncated { .. }))
    ));
    bad[0] = 0x42; // version 1
    assert!(matches!(
        GeneveHeader::new_checked(&bad[..]),
        Err(Error::Malformed { .. })
    ));
}

#[test]
fn gre_golden() {
    // C|K|S, version 0, Ethernet; checksum over header + 2-byte payload.
    let mut bytes = [
        0xb0, 0x00, 0x65, 0x58, 0, 0, 0, 0, 0x00, 0x00, 0xab, 0xcd, 0, 0, 0, 7, 0xde, 0xad,
    ];
    let csum = naive_checksum(&[&bytes]);
    bytes[4..6].copy_from_slice(&csum.to_be_bytes());
    let p = GrePacket::new_checked(&bytes[..]).unwrap();
    assert_eq!(
        (p.protocol(), p.checksum(), p.key(), p.seq()),
        (0x6558, Some(csum), Some(0xabcd), Some(7))
    );
    assert!(p.verify_checksum());
    assert_eq!(p.payload(), &[0xde, 0xad]);
    let mut out = [0u8; 18];
    out[16..].copy_from_slice(&[0xde, 0xad]);
    GreRepr::parse(&p).emit(&mut out).unwrap();
    assert_eq!(out, bytes);
    // Key only: 8 bytes.
    let key_only = [0x20, 0x00, 0x08, 0x00, 0, 0, 0, 9];
    let p = GrePacket::new_checked(&key_only[..]).unwrap();
    assert_eq!(
        (p.checksum(), p.key(), p.seq(), p.header_len()),
        (None, Some(9), None, 8)
    );
    assert!(matches!(
        GrePacket::new_checked(&key_only[..7]),
        Err(Error::Truncated { .. })
    ));
    let version1 = [0x00, 0x01, 0x08, 0x00];
    assert!(matches!(
        GrePacket::new_checked(&version1[..]),
        Err(Error::Malformed {
            field: "version",
            ..
        })
    ));
    let routing = [0x40, 0x00, 0x08, 0x00];
    assert!(matches!(
        GrePacket::new_checked(&routing[..]),
        Err(Error::Malformed { .. })
    ));
}
