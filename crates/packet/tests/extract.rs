//! Extractor tests: every protocol, the OVS conventions of ovs-fields(7),
//! error behaviour, truncation at every byte, and etherparse as an oracle.

mod common;

use common::*;
use packet::extract::{extract, ExtractError, Offsets, DL_TYPE_NONE};
use packet::flowkey::{ethertype, FRAG_ANY, FRAG_LATER, VLAN_CFI};
use packet::icmpv6::NdRepr;
use packet::tcp::flags;
use packet::{ip_proto, Error, FlowKey};

fn key_of(frame: &[u8]) -> (FlowKey, Offsets) {
    let mut key = FlowKey::default();
    let off = extract(frame, &mut key).unwrap_or_else(|e| panic!("extract failed: {e}"));
    (key, off)
}

#[test]
fn tcp_v4() {
    let f = tcp_v4_frame();
    let (k, off) = key_of(&f);
    assert_eq!(
        (k.dl_dst, k.dl_src, k.dl_type),
        (MAC_B, MAC_A, ethertype::IPV4)
    );
    assert_eq!((k.nw_src, k.nw_dst), (u32::from(IP_A), u32::from(IP_B)));
    assert_eq!(
        (k.nw_proto, k.nw_tos, k.nw_ttl, k.nw_frag),
        (6, 0xb8, 64, 0)
    );
    assert_eq!((k.ip_dscp(), k.nw_ecn()), (46, 0));
    assert_eq!((k.tp_src, k.tp_dst), (49152, 80));
    assert_eq!(k.tcp_flags, flags::ACK | flags::PSH);
    assert_eq!((k.vlan_tci, k.dl_vlan()), (0, None));
    assert_eq!(
        off,
        Offsets {
            vlan: None,
            l3: Some(14),
            l4: Some(34),
            payload: Some(54),
            l3_end: Some(64)
        }
    );
}

#[test]
fn udp_icmp_arp() {
    let (k, off) = key_of(&udp_v4_frame());
    assert_eq!((k.nw_proto, k.tp_src, k.tp_dst), (17, 5353, 53));
    assert_eq!(off.payload, Some(42));

    let (k, off) = key_of(&icmp_v4_frame());
    assert_eq!((k.nw_proto, k.icmp_type(), k.icmp_code()), (1, 8, 0));
    assert_eq!((off.l4, off.payload), (Some(34), Some(42)));

    for op in [1u16, 2] {
        let (k, off) = key_of(&arp_frame(op));
        assert_eq!(k.dl_type, ethertype::ARP);
        assert_eq!(k.nw_proto, op as u8, "ARP opcode lives in nw_proto");
        assert_eq!((k.nw_src, k.nw_dst), (u32::from(IP_A), u32::from(IP_B)));
        assert_eq!((k.arp_sha, k.arp_tha), (MAC_A, [0; 6]));
        assert_eq!((off.l3, off.l4), (Some(14), None));
    }
    // Opcode above 255: OVS leaves every ARP field zero.
    let mut f = arp_frame(1);
    f[20] = 0x01;
    let (k, _) = key_of(&f);
    assert_eq!((k.nw_proto, k.nw_src, k.arp_sha), (0, 0, [0; 6]));
}

#[test]
fn vlan_single_and_qinq() {
    let (k, off) = key_of(&vlan_tcp_frame());
    assert_eq!(k.vlan_tci, 0xa064 | VLAN_CFI);
    assert_eq!(
        (k.dl_vlan(), k.dl_vlan_pcp(), k.vlan_tci_inner),
        (Some(100), 5, 0)
    );
    assert_eq!((k.dl_type, k.tp_dst), (ethertype::IPV4, 80));
    assert_eq!((off.vlan, off.l3, off.l4), (Some(12), Some(18), Some(38)));

    let (k, off) = key_of(&qinq_udp_frame());
    assert_eq!(k.vlan_tci, 0x00c8 | VLAN_CFI);
    assert_eq!(k.vlan_tci_inner, 0x2064 | VLAN_CFI);
    assert_eq!((k.dl_type, k.tp_src, k.tp_dst), (ethertype::IPV4, 1, 2));
    assert_eq!((off.vlan, off.l3), (Some(12), Some(22)));

    // Priority-tagged (VID 0) differs from untagged thanks to the CFI bit.
    let f = cat(&[
        &eth(ethertype::VLAN),
        &vlan_tag(0, ethertype::ARP),
        &arp_frame(1)[14..],
    ]);
    let (k, _) = key_of(&f);
    assert_eq!((k.vlan_tci, k.dl_vlan()), (VLAN_CFI, Some(0)));

    // A third tag stops parsing: dl_type is that TPID, no L3.
    let f = cat(&[
        &eth(ethertype::QINQ),
        &vlan_tag(1, ethertype::VLAN),
        &vlan_tag(2, ethertype::VLAN),
        &vlan_tag(3, ethertype::IPV4),
    ]);
    let (k, off) = key_of(&f);
    assert_eq!(
        (k.dl_type, k.nw_proto, off.l3),
        (ethertype::VLAN, 0, Some(22))
    );
}

#[test]
fn llc_and_802_3() {
    // 802.3 + LLC/SNAP carrying IPv4.
    let snap = [0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00];
    let ip = ipv4(ip_proto::UDP, &udp_datagram(7, 9, b""));
    let f = cat(&[&eth(8 + ip.len() as u16), &snap, &ip]);
    let (k, off) = key_of(&f);
    assert_eq!(
        (k.dl_type, k.tp_dst, off.l3),
        (ethertype::IPV4, 9, Some(22))
    );
    // Plain 802.3 (e.g. STP): FLOW_DL_TYPE_NONE.
    let f = cat(&[&eth(38), &[0x42, 0x42, 0x03], &[0; 35]]);
    let (k, off) = key_of(&f);
    assert_eq!((k.dl_type, off.l3), (DL_TYPE_NONE, None));
}

#[test]
fn ipv6_tcp_and_ext_chain() {
    let (k, off) = key_of(&tcp_v6_frame());
    assert_eq!(k.dl_type, ethertype::IPV6);
    assert_eq!((k.ipv6_src, k.ipv6_dst), (IP6_A.octets(), IP6_B.octets()));
    assert_eq!(
        (k.ipv6_label, k.nw_tos, k.nw_ttl, k.nw_proto),
        (0xbeef1, 0x2e, 255, 6)
    );
    assert_eq!((k.tp_src, k.tp_dst), (49152, 80));
    assert_eq!((off.l4, off.payload), (Some(54), Some(74)));

    let (k, off) = key_of(&ipv6_ext_chain_frame());
    assert_eq!(
        (k.nw_proto, k.tp_src, k.tp_dst, k.nw_frag),
        (17, 4000, 4001, 0)
    );
    // 14 + 40 + hop-by-hop 8 + routing 24 + dstopts 16 + AH 24.
    assert_eq!(off.l4, Some(14 + 40 + 8 + 24 + 16 + 24));
}

#[test]
fn fragments_v4_and_v6() {
    let first = cat(&[
        &eth(ethertype::IPV4),
        &ipv4_with(ip_proto::UDP, &udp_datagram(1, 2, &[0; 16]), true, 0, &[]),
    ]);
    let (k, off) = key_of(&first);
    assert_eq!((k.nw_frag, k.tp_src, k.tp_dst), (FRAG_ANY, 1, 2));
    assert_eq!(off.l4, Some(34));

    let later = cat(&[
        &eth(ethertype::IPV4),
        &ipv4_with(ip_proto::UDP, &[0xee; 16], false, 3, &[]),
    ]);
    let (k, off) = key_of(&later);
    assert_eq!(k.nw_frag, FRAG_ANY | FRAG_LATER);
    assert_eq!((k.nw_proto, k.tp_src, k.tp_dst, off.l4), (17, 0, 0, None));

    let later6 = ipv6_frame(
        ip_proto::FRAGMENT,
        &cat(&[&frag6(ip_proto::TCP, 100, false), &[0xdd; 24]]),
    );
    let (k, off) = key_of(&later6);
    assert_eq!(
        (k.nw_frag, k.nw_proto, k.tp_src, off.l4),
        (FRAG_ANY | FRAG_LATER, 6, 0, None)
    );

    let seg = tcp_segment(IP_A, IP_B, b"");
    let first6 = ipv6_frame(
        ip_proto::FRAGMENT,
        &cat(&[&frag6(ip_proto::TCP, 0, true), &seg]),
    );
    let (k, off) = key_of(&first6);
    assert_eq!(
        (k.nw_frag, k.nw_proto, k.tp_dst, off.l4),
        (FRAG_ANY, 6, 80, Some(62))
    );
}

#[test]
fn ipv4_options_skipped() {
    let f = cat(&[
        &eth(ethertype::IPV4),
        &ipv4_with(
            ip_proto::TCP,
            &tcp_segment(IP_A, IP_B, b""),
            false,
            0,
            &[0x94, 4, 0, 0],
        ),
    ]);
    let (k, off) = key_of(&f);
    assert_eq!((k.tp_dst, off.l4), (80, Some(38)));
}

#[test]
fn neighbor_discovery() {
    let (k, _) = key_of(&ns_frame());
    assert_eq!((k.nw_proto, k.icmp_type(), k.icmp_code()), (58, 135, 0));
    assert_eq!(
        (k.nd_target, k.arp_sha, k.arp_tha),
        (IP6_B.octets(), MAC_A, [0; 6])
    );

    let (k, _) = key_of(&na_frame());
    assert_eq!(k.icmp_type(), 136);
    assert_eq!(
        (k.nd_target, k.arp_sha, k.arp_tha),
        (IP6_B.octets(), [0; 6], MAC_B)
    );

    // NS without options.
    let (k, _) = key_of(&nd_frame(NdRepr::Solicit {
        target: IP6_A,
        sll: None,
    }));
    assert_eq!((k.nd_target, k.arp_sha), (IP6_A.octets(), [0; 6]));

    // Duplicate SLL: invalid, ND fields cleared, type/code kept.
    let mut f = ns_frame();
    f.extend_from_slice(&[1, 1, 2, 0, 0, 0, 0, 0x0c]);
    let plen = u16::from_be_bytes([f[18], f[19]]) + 8;
    f[18..20].copy_from_slice(&plen.to_be_bytes());
    let mut k = FlowKey::default();
    let err = extract(&f, &mut k).unwrap_err();
    assert!(
        matches!(err, ExtractError::Nd(Error::Malformed { .. })),
        "{err:?}"
    );
    assert_eq!(err.reason(), "nd_malformed");
    assert_eq!(
        (k.icmp_type(), k.nd_target, k.arp_sha),
        (135, [0; 16], [0; 6])
    );
    assert_eq!(k.ipv6_src, IP6_A.octets());

    // Echo request: not ND, no ND fields.
    let mut echo = vec![0u8; 8];
    packet::icmpv6::Icmpv6Repr {
        msg_type: 128,
        code: 0,
        word: 1,
    }
    .emit(&mut echo, &IP6_A, &IP6_B)
    .unwrap();
    let (k, _) = key_of(&ipv6_frame(ip_proto::ICMPV6, &echo));
    assert_eq!((k.icmp_type(), k.nd_target), (128, [0; 16]));
}

#[test]
fn tunnels_outer_then_inner() {
    let inner = tcp_v4_frame();
    for (frame, port, hdr) in [
        (vxlan_frame(5000, &inner), 4789, 8usize),
        (geneve_frame(77, &inner), 6081, 16),
    ] {
        let (outer, off) = key_of(&frame);
        assert_eq!((outer.nw_proto, outer.tp_dst), (17, port));
        let start = off.payload.unwrap() as usize + hdr;
        let (ik, _) = key_of(&frame[start..]);
        let (expect, _) = key_of(&inner);
        assert_eq!(ik, expect);
    }
    let frame = gre_frame(&inner);
    let (outer, off) = key_of(&frame);
    assert_eq!((outer.nw_proto, off.payload, off.l4), (47, None, None));
    let (ik, _) = key_of(&frame[off.l3.unwrap() as usize + 20 + 16..]);
    assert_eq!(ik.tp_dst, 80);
}

#[test]
fn errors_keep_outer_fields() {
    let f = tcp_v4_frame();
    // IP says 50 bytes, but cut the TCP header to 10 bytes: IPv4 truncated.
    let mut k = FlowKey::default();
    let err = extract(&f[..44], &mut k).unwrap_err();
    assert_eq!(err.reason(), "ipv4_truncated");
    assert_eq!((k.dl_src, k.dl_type, k.nw_src), (MAC_A, ethertype::IPV4, 0));

    // Shrink the IP total length so TCP is cut inside a consistent IP packet.
    let mut short = f.clone();
    short[16..18].copy_from_slice(&30u16.to_be_bytes());
    let err = extract(&short, &mut k).unwrap_err();
    assert!(matches!(
        err,
        ExtractError::Tcp(Error::Truncated {
            need: 20,
            have: 10,
            ..
        })
    ));
    assert_eq!((k.nw_src, k.nw_proto, k.tp_src), (u32::from(IP_A), 6, 0));

    // Bad TCP data offset.
    let mut bad = f.clone();
    bad[46] = 0x30;
    assert_eq!(extract(&bad, &mut k).unwrap_err().reason(), "tcp_malformed");

    // Bad IPv4 version.
    let mut bad = f.clone();
    bad[14] = 0x55;
    assert_eq!(
        extract(&bad, &mut k).unwrap_err().reason(),
        "ipv4_malformed"
    );

    // Runt frame.
    assert_eq!(
        extract(&f[..13], &mut k).unwrap_err().reason(),
        "ethernet_truncated"
    );
    // Truncated IPv6 extension chain keeps the addresses.
    let f6 = ipv6_ext_chain_frame();
    let mut cut = f6.clone();
    cut[18..20].copy_from_slice(&20u16.to_be_bytes());
    let err = extract(&cut, &mut k).unwrap_err();
    assert_eq!(err.reason(), "ipv6_ext_truncated");
    assert_eq!((k.ipv6_src, k.nw_proto), (IP6_A.octets(), 0));
}

#[test]
fn ethernet_padding_is_excluded() {
    // A 60-byte minimum frame carrying a 28-byte IPv4/UDP packet.
    let d = udp_datagram(1, 2, b"");
    let mut f = cat(&[&eth(ethertype::IPV4), &ipv4(ip_proto::UDP, &d)]);
    f.resize(60, 0);
    let (k, off) = key_of(&f);
    assert_eq!((k.tp_dst, off.l3_end), (2, Some(42)));
}

#[test]
fn reused_key_is_reset() {
    let mut k = FlowKey::default();
    extract(&ns_frame(), &mut k).unwrap();
    extract(&arp_frame(1), &mut k).unwrap();
    let (fresh, _) = key_of(&arp_frame(1));
    assert_eq!(k, fresh);
}

#[test]
fn truncation_at_every_offset_never_panics() {
    for (name, frame) in samples() {
        let (full, _) = key_of(&frame);
        for cut in 0..frame.len() {
            let mut k = FlowKey::default();
            match extract(&frame[..cut], &mut k) {
                // Only frames whose IP packet ends before the cut (or with no
                // IP) can succeed; then what was parsed must agree.
                Ok(off) => {
                    assert!(
                        off.l3_end.is_none_or(|e| e as usize <= cut),
                        "{name} @ {cut}"
                    );
                    assert_eq!(k.dl_src, full.dl_src, "{name} @ {cut}");
                }
                Err(e) => {
                    assert!(!e.reason().is_empty());
                    if cut >= 14 {
                        assert_eq!(k.dl_src, full.dl_src, "{name} @ {cut}: L2 lost");
                    }
                }
            }
        }
    }
}

/// etherparse parses the same frames; the fields both understand must agree.
#[test]
fn etherparse_oracle() {
    use etherparse::{NetHeaders, PacketHeaders, TransportHeader, VlanHeader};
    for (name, frame) in samples() {
        if name.contains("later_frag") || name.starts_with("arp") {
            continue; // etherparse does not expose these the same way
        }
        let (k, _) = key_of(&frame);
        let h =
            PacketHeaders::from_ethernet_slice(&frame).unwrap_or_else(|e| panic!("{name}: {e}"));
        let link = h.link.unwrap().ethernet2().unwrap();
        assert_eq!(
            (link.source, link.destination),
            (k.dl_src, k.dl_dst),
            "{name}"
        );
        let tci = |v: &etherparse::SingleVlanHeader| {
            let b = v.to_bytes();
            u16::from_be_bytes([b[0], b[1]]) | 0x1000
        };
        match &h.vlan {
            Some(VlanHeader::Single(v)) => assert_eq!(tci(v), k.vlan_tci, "{name}"),
            Some(VlanHeader::Double(v)) => {
                assert_eq!(
                    (tci(&v.outer), tci(&v.inner)),
                    (k.vlan_tci, k.vlan_tci_inner)
                )
            }
            None => assert_eq!(k.vlan_tci, 0, "{name}"),
        }
        match &h.net {
            Some(NetHeaders::Ipv4(ip, _)) => {
                assert_eq!(u32::from_be_bytes(ip.source), k.nw_src, "{name}");
                assert_eq!(u32::from_be_bytes(ip.destination), k.nw_dst, "{name}");
                assert_eq!(
                    (ip.protocol.0, ip.time_to_live),
                    (k.nw_proto, k.nw_ttl),
                    "{name}"
                );
            }
            Some(NetHeaders::Ipv6(ip, _)) => {
                assert_eq!(
                    (ip.source, ip.destination),
                    (k.ipv6_src, k.ipv6_dst),
                    "{name}"
                );
                assert_eq!(ip.flow_label.value(), k.ipv6_label, "{name}");
                assert_eq!(ip.traffic_class, k.nw_tos, "{name}");
            }
            None => panic!("{name}: etherparse found no IP"),
        }
        match &h.transport {
            Some(TransportHeader::Tcp(t)) => {
                assert_eq!(
                    (t.source_port, t.destination_port),
                    (k.tp_src, k.tp_dst),
                    "{name}"
                );
                assert_eq!(
                    (t.ack, t.psh, t.syn),
                    (
                        k.tcp_flags & 0x10 != 0,
                        k.tcp_flags & 8 != 0,
                        k.tcp_flags & 2 != 0
                    )
                );
            }
            Some(TransportHeader::Udp(u)) => {
                assert_eq!(
                    (u.source_port, u.destination_port),
                    (k.tp_src, k.tp_dst),
                    "{name}"
                );
            }
            Some(TransportHeader::Icmpv4(i)) => {
                assert_eq!(
                    &i.to_bytes()[..2],
                    &[k.icmp_type(), k.icmp_code()],
                    "{name}"
                );
            }
            Some(TransportHeader::Icmpv6(i)) => {
                assert_eq!(
                    (i.icmp_type.type_u8(), i.icmp_type.code_u8()),
                    (k.icmp_type(), k.icmp_code())
                );
            }
            None => {}
        }
    }
}

#[test]
fn icmp_only_parsed_over_matching_ip_version() {
    // ICMPv4 (protocol 1) inside IPv6: OVS leaves it opaque.
    let mut m = vec![0u8; 8];
    packet::icmpv4::Icmpv4Repr::echo(true, 1, 1)
        .emit(&mut m)
        .unwrap();
    let (k, off) = key_of(&ipv6_frame(ip_proto::ICMP, &m));
    assert_eq!((k.nw_proto, k.tp_src, off.l4), (1, 0, None));
    // ICMPv6 (58) inside IPv4: likewise.
    let f = cat(&[
        &eth(ethertype::IPV4),
        &ipv4(ip_proto::ICMPV6, &[135, 0, 0, 0]),
    ]);
    let (k, off) = key_of(&f);
    assert_eq!((k.nw_proto, k.tp_src, off.l4), (58, 0, None));
}

#[test]
fn geneve_inner_through_views() {
    use packet::geneve::GeneveHeader;
    let inner = tcp_v6_frame();
    let frame = geneve_frame(77, &inner);
    let (_, off) = key_of(&frame);
    let g = GeneveHeader::new_checked(&frame[off.payload.unwrap() as usize..]).unwrap();
    assert_eq!((g.vni(), g.options().count()), (77, 1));
    let (ik, _) = key_of(g.payload());
    assert_eq!((ik.dl_type, ik.tp_dst), (ethertype::IPV6, 80));
}
