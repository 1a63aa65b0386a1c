//! Property round-trips: any repr emits bytes that its view parses back to
//! the same repr.

use std::net::{Ipv4Addr, Ipv6Addr};

use packet::arp::{ArpPacket, ArpRepr};
use packet::ethernet::{EthernetFrame, EthernetRepr};
use packet::geneve::{GeneveHeader, GeneveRepr};
use packet::gre::{GrePacket, GreRepr};
use packet::icmpv4::{Icmpv4Packet, Icmpv4Repr};
use packet::icmpv6::{NdMessage, NdRepr};
use packet::ipv4::{Ipv4Packet, Ipv4Repr};
use packet::ipv6::{FragHeader, FragRepr, Ipv6Packet, Ipv6Repr};
use packet::tcp::{TcpPacket, TcpRepr};
use packet::udp::{UdpPacket, UdpRepr};
use packet::vlan::{VlanRepr, VlanTag};
use packet::vxlan::{VxlanHeader, VxlanRepr};
use proptest::prelude::*;

fn v4() -> impl Strategy<Value = Ipv4Addr> {
    any::<u32>().prop_map(Ipv4Addr::from)
}

fn v6() -> impl Strategy<Value = Ipv6Addr> {
    any::<u128>().prop_map(Ipv6Addr::from)
}

proptest! {
    #[test]
    fn ethernet(dst in any::<[u8; 6]>(), src in any::<[u8; 6]>(), ethertype in any::<u16>()) {
        let repr = EthernetRepr { dst, src, ethertype };
        let mut buf = [0u8; 14];
        repr.emit(&mut buf).unwrap();
        prop_assert_eq!(EthernetRepr::parse(&EthernetFrame::new_checked(&buf[..]).unwrap()), repr);
    }

    #[test]
    fn vlan(tci in any::<u16>(), ethertype in any::<u16>()) {
        let repr = VlanRepr { tci, ethertype };
        let mut buf = [0u8; 4];
        repr.emit(&mut buf).unwrap();
        prop_assert_eq!(VlanRepr::parse(&VlanTag::new_checked(&buf[..]).unwrap()), repr);
    }

    #[test]
    fn arp(operation in any::<u16>(), sha in any::<[u8; 6]>(), tha in any::<[u8; 6]>(), spa in v4(), tpa in v4()) {
        let repr = ArpRepr { operation, sha, spa, tha, tpa };
        let mut buf = [0u8; 28];
        repr.emit(&mut buf).unwrap();
        prop_assert_eq!(ArpRepr::parse(&ArpPacket::new_checked(&buf[..]).unwrap()), repr);
    }

    #[test]
    fn ipv4(
        src in v4(), dst in v4(), protocol in any::<u8>(), tos in any::<u8>(), ttl in any::<u8>(),
        ident in any::<u16>(), dont_frag in any::<bool>(), more_frags in any::<bool>(),
        frag_offset in 0u16..0x2000, payload_len in 0u16..100, opt_words in 0usize..=10,
    ) {
        let repr = Ipv4Repr { src, dst, protocol, tos, ttl, ident, dont_frag, more_frags, frag_offset, payload_len };
        let options = vec![1u8; opt_words * 4]; // NOPs
        let mut buf = vec![0u8; 20 + options.len() + usize::from(payload_len)];
        repr.emit_with_options(&mut buf, &options).unwrap();
        let p = Ipv4Packet::new_checked(&buf[..]).unwrap();
        prop_assert!(p.verify_checksum());
        prop_assert_eq!(p.options(), &options[..]);
        prop_assert_eq!(Ipv4Repr::parse(&p), repr);
    }

    #[test]
    fn ipv6(src in v6(), dst in v6(), next_header in any::<u8>(), traffic_class in any::<u8>(),
            flow_label in 0u32..0x10_0000, hop_limit in any::<u8>(), payload_len in 0u16..64) {
        let repr = Ipv6Repr { src, dst, next_header, traffic_class, flow_label, hop_limit, payload_len };
        let mut buf = vec![0u8; 40 + usize::from(payload_len)];
        repr.emit(&mut buf).unwrap();
        prop_assert_eq!(Ipv6Repr::parse(&Ipv6Packet::new_checked(&buf[..]).unwrap()), repr);
    }

    #[test]
    fn ipv6_frag(next_header in any::<u8>(), frag_offset in 0u16..0x2000, more_frags in any::<bool>(), ident in any::<u32>()) {
        let repr = FragRepr { next_header, frag_offset, more_frags, ident };
        let mut buf = [0u8; 8];
        repr.emit(&mut buf).unwrap();
        prop_assert_eq!(FragRepr::parse(&FragHeader::new_checked(&buf[..]).unwrap()), repr);
    }

    #[test]
    fn tcp(src_port in any::<u16>(), dst_port in any::<u16>(), seq in any::<u32>(), ack in any::<u32>(),
           flags in 0u16..0x1000, window in any::<u16>(), urgent in any::<u16>(), s in v4(), d in v4()) {
        let repr = TcpRepr { src_port, dst_port, seq, ack, flags, window, urgent };
        let mut buf = [0u8; 25];
        repr.emit(&mut buf).unwrap();
        let mut p = TcpPacket::new_checked(&mut buf[..]).unwrap();
        p.fill_checksum_v4(s, d);
        prop_assert!(p.verify_checksum_v4(s, d));
        prop_assert_eq!(TcpRepr::parse(&p), repr);
    }

    #[test]
    fn udp(src_port in any::<u16>(), dst_port in any::<u16>(), payload_len in 0u16..64, s in v6(), d in v6()) {
        let repr = UdpRepr { src_port, dst_port, payload_len };
        let mut buf = vec![0u8; 8 + usize::from(payload_len)];
        repr.emit(&mut buf).unwrap();
        let mut p = UdpPacket::new_checked(&mut buf[..]).unwrap();
        p.fill_checksum_v6(&s, &d);
        prop_assert!(p.verify_checksum_v6(&s, &d));
        prop_assert_eq!(UdpRepr::parse(&p), repr);
    }

    #[test]
    fn icmpv4(msg_type in any::<u8>(), code in any::<u8>(), rest_of_header in any::<u32>(), data in proptest::collection::vec(any::<u8>(), 0..40)) {
        let repr = Icmpv4Repr { msg_type, code, rest_of_header };
        let mut buf = [vec![0u8; 8], data].concat();
        repr.emit(&mut buf).unwrap();
        let p = Icmpv4Packet::new_checked(&buf[..]).unwrap();
        prop_assert!(p.verify_checksum());
        prop_assert_eq!(Icmpv4Repr::parse(&p), repr);
    }

    #[test]
    fn nd(solicit in any::<bool>(), flags in any::<u8>(), target in v6(), lla in proptest::option::of(any::<[u8; 6]>()), s in v6(), d in v6()) {
        let repr = if solicit {
            NdRepr::Solicit { target, sll: lla }
        } else {
            NdRepr::Advert { flags, target, tll: lla }
        };
        let mut buf = vec![0u8; repr.buffer_len()];
        repr.emit(&mut buf, &s, &d).unwrap();
        let m = NdMessage::new_checked(&buf[..]).unwrap();
        prop_assert_eq!(NdRepr::parse(&m).unwrap(), repr);
        prop_assert!(packet::icmpv6::Icmpv6Packet::new_checked(&buf[..]).unwrap().verify_checksum(&s, &d));
    }

    #[test]
    fn vxlan(vni in 0u32..0x100_0000) {
        let repr = VxlanRepr { vni };
        let mut buf = [0u8; 8];
        repr.emit(&mut buf).unwrap();
        prop_assert_eq!(VxlanRepr::parse(&VxlanHeader::new_checked(&buf[..]).unwrap()), repr);
    }

    #[test]
    fn geneve(vni in 0u32..0x100_0000, protocol in any::<u16>(), oam in any::<bool>(), critical in any::<bool>(), words in 0usize..64) {
        let repr = GeneveRepr { vni, protocol, oam, critical, options_len: words * 4 };
        let mut buf = vec![0u8; repr.header_len()];
        repr.emit(&mut buf).unwrap();
        prop_assert_eq!(GeneveRepr::parse(&GeneveHeader::new_checked(&buf[..]).unwrap()), repr);
    }

    #[test]
    fn gre(protocol in any::<u16>(), checksum in any::<bool>(), key in proptest::option::of(any::<u32>()),
           seq in proptest::option::of(any::<u32>()), payload in proptest::collection::vec(any::<u8>(), 0..40)) {
        let repr = GreRepr { protocol, checksum, key, seq };
        let mut buf = [vec![0u8; repr.header_len()], payload].concat();
        repr.emit(&mut buf).unwrap();
        let p = GrePacket::new_checked(&buf[..]).unwrap();
        prop_assert!(p.verify_checksum());
        prop_assert_eq!(GreRepr::parse(&p), repr);
    }

    /// Any bytes at all: extraction returns, never panics.
    #[test]
    fn extract_arbitrary_bytes(data in proptest::collection::vec(any::<u8>(), 0..200)) {
        packet::fuzzing::extract_target(&data);
        packet::fuzzing::tunnel_target(&data);
    }
}
