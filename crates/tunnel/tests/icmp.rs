//! ICMP "too big" replies: addressed back to the sender with the MACs
//! swapped, quoting as much as RFC 1812 / RFC 4443 allow, checksums valid
//! (checked with the packet crate and parsed by etherparse).

mod common;

use common::*;
use etherparse::icmpv4::DestUnreachableHeader;
use etherparse::{Icmpv4Type, Icmpv6Type, SlicedPacket, TransportSlice};
use packet::icmpv4::Icmpv4Packet;
use packet::icmpv6::Icmpv6Packet;
use packet::ipv4::Ipv4Packet;
use packet::ipv6::Ipv6Packet;
use packet::tcp::flags;
use tunnel::icmp::{frag_needed_v4, packet_too_big_v6, too_big_reply};
use tunnel::IcmpError;

#[test]
fn frag_needed_quotes_548_bytes_and_verifies() {
    let orig = tcp4_frame(1460, flags::ACK, 1);
    assert_eq!(orig.len(), 1514);
    let mut out = [0u8; 1600];
    let n = too_big_reply(&orig, 1450, &mut out).unwrap();
    let reply = &out[..n];
    assert_eq!(
        n,
        14 + 576,
        "RFC 1812: the ICMP datagram is at most 576 bytes"
    );
    assert_eq!(&reply[0..6], &VM_MAC);
    assert_eq!(&reply[6..12], &GW_MAC);
    let ip = Ipv4Packet::new_checked(&reply[14..]).unwrap();
    assert!(ip.verify_checksum());
    assert_eq!(ip.src(), PEER_IP);
    assert_eq!(ip.dst(), VM_IP);
    assert_eq!(ip.protocol(), 1);
    let icmp = Icmpv4Packet::new_checked(ip.payload()).unwrap();
    assert!(icmp.verify_checksum());
    assert_eq!((icmp.msg_type(), icmp.code()), (3, 4));
    assert_eq!(icmp.rest_of_header(), 1450);
    assert_eq!(icmp.payload(), &orig[14..14 + 548]);

    let sliced = SlicedPacket::from_ethernet(reply).unwrap();
    let Some(TransportSlice::Icmpv4(e)) = sliced.transport else {
        panic!("etherparse sees no ICMPv4")
    };
    assert_eq!(
        e.icmp_type(),
        Icmpv4Type::DestinationUnreachable(DestUnreachableHeader::FragmentationNeeded {
            next_hop_mtu: 1450
        })
    );
    assert_eq!(e.icmp_type().calc_checksum(e.payload()), e.checksum());
}

#[test]
fn short_originals_are_quoted_whole_and_vlan_tags_kept() {
    let plain = tcp4_frame(40, flags::ACK, 1);
    let mut tagged = plain[..12].to_vec();
    tagged.extend_from_slice(&[0x81, 0x00, 0x00, 0x64]);
    tagged.extend_from_slice(&plain[12..]);
    let mut out = [0u8; 600];
    let src = std::net::Ipv4Addr::new(10, 0, 0, 1);
    let n = frag_needed_v4(&tagged, 1400, Some(src), &mut out).unwrap();
    assert_eq!(n, 18 + 20 + 8 + (plain.len() - 14));
    assert_eq!(&out[12..16], &[0x81, 0x00, 0x00, 0x64]);
    let ip = Ipv4Packet::new_checked(&out[18..n]).unwrap();
    assert_eq!(ip.src(), src);
    assert!(Icmpv4Packet::new_checked(ip.payload())
        .unwrap()
        .verify_checksum());
}

#[test]
fn frag_needed_refusals() {
    let mut out = [0u8; 600];
    let mut no_df = tcp4_frame(1460, flags::ACK, 1);
    no_df[20] = 0; // flags/offset word high byte: DF cleared
    assert_eq!(
        frag_needed_v4(&no_df, 1400, None, &mut out),
        Err(IcmpError::DfNotSet)
    );

    let mut bcast = tcp4_frame(100, flags::ACK, 1);
    bcast[0..6].copy_from_slice(&[0xff; 6]);
    assert_eq!(
        frag_needed_v4(&bcast, 1400, None, &mut out),
        Err(IcmpError::LinkBroadcast)
    );

    // An ICMP error about an ICMP error is never sent.
    let first = tcp4_frame(1460, flags::ACK, 1);
    let mut big = [0u8; 1600];
    let n = frag_needed_v4(&first, 1400, None, &mut big).unwrap();
    let mut again = big[..n].to_vec();
    again[20] |= 0x40; // set DF on the reply to make only the ICMP rule apply
    assert_eq!(
        frag_needed_v4(&again, 1400, None, &mut out),
        Err(IcmpError::AboutIcmpError)
    );

    let mut tiny = [0u8; 100];
    assert!(matches!(
        frag_needed_v4(&first, 1400, None, &mut tiny),
        Err(IcmpError::BufferTooSmall {
            need: 590,
            have: 100
        })
    ));
}

#[test]
fn packet_too_big_quotes_up_to_1280_and_verifies() {
    let orig = tcp6_frame(1440, flags::ACK, 1);
    let mut out = [0u8; 1600];
    let n = too_big_reply(&orig, 1430, &mut out).unwrap();
    assert_eq!(
        n,
        14 + 1280,
        "RFC 4443: the ICMPv6 packet is at most 1280 bytes"
    );
    assert_eq!(&out[0..6], &VM_MAC);
    assert_eq!(&out[6..12], &GW_MAC);
    let ip = Ipv6Packet::new_checked(&out[14..n]).unwrap();
    assert_eq!(ip.src(), PEER_IP6);
    assert_eq!(ip.dst(), VM_IP6);
    let icmp = Icmpv6Packet::new_checked(ip.payload()).unwrap();
    assert!(icmp.verify_checksum(&PEER_IP6, &VM_IP6));
    assert_eq!((icmp.msg_type(), icmp.code()), (2, 0));
    assert_eq!(&icmp.body()[..4], &1430u32.to_be_bytes());
    assert_eq!(&icmp.body()[4..], &orig[14..14 + 1232]);

    let sliced = SlicedPacket::from_ethernet(&out[..n]).unwrap();
    let Some(TransportSlice::Icmpv6(e)) = sliced.transport else {
        panic!("etherparse sees no ICMPv6")
    };
    assert_eq!(e.icmp_type(), Icmpv6Type::PacketTooBig { mtu: 1430 });

    // Multicast destination: allowed (RFC 4443 §2.4(e.3)) but needs a source.
    let mut mcast = orig.clone();
    mcast[38] = 0xff;
    assert_eq!(
        packet_too_big_v6(&mcast, 1430, None, &mut out),
        Err(IcmpError::NoSource)
    );
    let me = std::net::Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1);
    assert!(packet_too_big_v6(&mcast, 1430, Some(me), &mut out).is_ok());
}
