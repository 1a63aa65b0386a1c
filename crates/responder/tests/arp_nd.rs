//! ARP and Neighbor Discovery responder: structural golden tests.

mod common;

use std::net::{Ipv4Addr, Ipv6Addr};

use common::*;
use packet::arp::{ArpPacket, ArpRepr, OP_REPLY, OP_REQUEST};
use packet::ethernet::EthernetFrame;
use packet::icmpv6::{na_flags, Icmpv6Packet, NdMessage, NdRepr};
use packet::ipv6::Ipv6Packet;
use responder::nd::{self, NdConfig};
use responder::{arp, NoReply};

fn table(ip: Ipv4Addr) -> Option<packet::Mac> {
    (ip == ROUTER_IP).then_some(ROUTER_MAC)
}

#[test]
fn arp_request_for_known_address_is_answered_unicast() {
    let req = arp(OP_REQUEST, VM_MAC, VM_IP, [0; 6], ROUTER_IP);
    let mut out = [0u8; 128];
    let len = arp::respond(&req, &table, &mut out).unwrap();
    assert_eq!(len, arp::REPLY_LEN);
    let eth = EthernetFrame::new_checked(&out[..len]).unwrap();
    assert_eq!(eth.dst(), VM_MAC);
    assert_eq!(eth.src(), ROUTER_MAC);
    assert_eq!(eth.ethertype(), 0x0806);
    let reply = ArpRepr::parse(&ArpPacket::new_checked(eth.payload()).unwrap());
    assert_eq!(
        reply,
        ArpRepr {
            operation: OP_REPLY,
            sha: ROUTER_MAC,
            spa: ROUTER_IP,
            tha: VM_MAC,
            tpa: VM_IP
        }
    );
}

#[test]
fn arp_probe_from_another_host_is_answered() {
    let req = arp(OP_REQUEST, VM_MAC, Ipv4Addr::UNSPECIFIED, [0; 6], ROUTER_IP);
    let mut out = [0u8; 64];
    let len = arp::respond(&req, &table, &mut out).unwrap();
    let reply = ArpRepr::parse(&ArpPacket::new_checked(&out[14..len]).unwrap());
    assert_eq!(reply.tpa, Ipv4Addr::UNSPECIFIED);
    assert_eq!(reply.sha, ROUTER_MAC);
}

#[test]
fn arp_cases_without_reply() {
    let mut out = [0u8; 64];
    let unknown = arp(
        OP_REQUEST,
        VM_MAC,
        VM_IP,
        [0; 6],
        Ipv4Addr::new(10, 0, 0, 99),
    );
    assert_eq!(
        arp::respond(&unknown, &table, &mut out),
        Err(NoReply::UnknownTarget)
    );
    let gratuitous = arp(OP_REQUEST, ROUTER_MAC, ROUTER_IP, [0; 6], ROUTER_IP);
    assert_eq!(
        arp::respond(&gratuitous, &table, &mut out),
        Err(NoReply::Gratuitous)
    );
    let reply = arp(OP_REPLY, VM_MAC, VM_IP, ROUTER_MAC, ROUTER_IP);
    assert_eq!(
        arp::respond(&reply, &table, &mut out),
        Err(NoReply::Gratuitous)
    );
    let own_probe = arp(
        OP_REQUEST,
        ROUTER_MAC,
        Ipv4Addr::UNSPECIFIED,
        [0; 6],
        ROUTER_IP,
    );
    assert_eq!(
        arp::respond(&own_probe, &table, &mut out),
        Err(NoReply::AskerOwnsTarget)
    );
    let req = arp(OP_REQUEST, VM_MAC, VM_IP, [0; 6], ROUTER_IP);
    assert!(matches!(
        arp::respond(&req[..30], &table, &mut out),
        Err(NoReply::Malformed(_))
    ));
    assert_eq!(
        arp::respond(&req, &table, &mut out[..41]),
        Err(NoReply::BufferTooSmall { need: 42, have: 41 })
    );
    let ipv4 = ping_v4(VM_IP, ROUTER_IP, b"x");
    assert_eq!(
        arp::respond(&ipv4, &table, &mut out),
        Err(NoReply::NotForUs)
    );
}

const VM6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 5);
const RTR6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1);

fn solicited_node(ip: Ipv6Addr) -> Ipv6Addr {
    let o = ip.octets();
    Ipv6Addr::new(
        0xff02,
        0,
        0,
        0,
        0,
        1,
        0xff00 | u16::from(o[13]),
        u16::from_be_bytes([o[14], o[15]]),
    )
}

fn table6(ip: Ipv6Addr) -> Option<packet::Mac> {
    (ip == RTR6).then_some(ROUTER_MAC)
}

fn parse_na(frame: &[u8]) -> (EthernetFrame<&[u8]>, Ipv6Addr, Ipv6Addr, u8, NdRepr) {
    let eth = EthernetFrame::new_checked(frame).unwrap();
    let ip = Ipv6Packet::new_checked(&frame[14..]).unwrap();
    let (src, dst, hop) = (ip.src(), ip.dst(), ip.hop_limit());
    let icmp = Icmpv6Packet::new_checked(ip.payload()).unwrap();
    assert!(icmp.verify_checksum(&src, &dst), "NA checksum");
    let na = NdRepr::parse(&NdMessage::new_checked(ip.payload()).unwrap()).unwrap();
    (eth, src, dst, hop, na)
}

#[test]
fn neighbor_solicitation_gets_advertisement_with_tll() {
    let req = ns(VM6, solicited_node(RTR6), RTR6, Some(VM_MAC), VM_MAC);
    let mut out = [0u8; 128];
    let len = nd::respond(&req, &table6, NdConfig { router: true }, &mut out).unwrap();
    assert_eq!(len, nd::REPLY_LEN);
    let (eth, src, dst, hop, na) = parse_na(&out[..len]);
    assert_eq!((eth.src(), eth.dst()), (ROUTER_MAC, VM_MAC));
    assert_eq!((src, dst, hop), (RTR6, VM6, 255));
    assert_eq!(
        na,
        NdRepr::Advert {
            flags: na_flags::ROUTER | na_flags::SOLICITED | na_flags::OVERRIDE,
            target: RTR6,
            tll: Some(ROUTER_MAC)
        }
    );
    let len = nd::respond(&req, &table6, NdConfig::default(), &mut out).unwrap();
    let (.., na) = parse_na(&out[..len]);
    assert!(matches!(na, NdRepr::Advert { flags, .. } if flags & na_flags::ROUTER == 0));
}

#[test]
fn dad_solicitation_is_answered_to_all_nodes() {
    let req = ns(
        Ipv6Addr::UNSPECIFIED,
        solicited_node(RTR6),
        RTR6,
        None,
        VM_MAC,
    );
    let mut out = [0u8; 128];
    let len = nd::respond(&req, &table6, NdConfig::default(), &mut out).unwrap();
    let (eth, _, dst, _, na) = parse_na(&out[..len]);
    assert_eq!(dst, "ff02::1".parse::<Ipv6Addr>().unwrap());
    assert_eq!(eth.dst(), [0x33, 0x33, 0, 0, 0, 1]);
    assert!(matches!(na, NdRepr::Advert { flags, .. } if flags & na_flags::SOLICITED == 0));
}

#[test]
fn nd_cases_without_reply() {
    let mut out = [0u8; 128];
    let unknown = ns(
        VM6,
        solicited_node(VM6),
        "fd00::99".parse().unwrap(),
        Some(VM_MAC),
        VM_MAC,
    );
    assert_eq!(
        nd::respond(&unknown, &table6, NdConfig::default(), &mut out),
        Err(NoReply::UnknownTarget)
    );
    let mut bad_sum = ns(VM6, solicited_node(RTR6), RTR6, Some(VM_MAC), VM_MAC);
    let last = bad_sum.len() - 1;
    bad_sum[last] ^= 0xff;
    assert_eq!(
        nd::respond(&bad_sum, &table6, NdConfig::default(), &mut out),
        Err(NoReply::BadChecksum("icmpv6"))
    );
    let mut low_hop = ns(VM6, solicited_node(RTR6), RTR6, Some(VM_MAC), VM_MAC);
    low_hop[14 + 7] = 64;
    assert!(matches!(
        nd::respond(&low_hop, &table6, NdConfig::default(), &mut out),
        Err(NoReply::Malformed(_))
    ));
    let owner = ns(
        VM6,
        solicited_node(RTR6),
        RTR6,
        Some(ROUTER_MAC),
        ROUTER_MAC,
    );
    assert_eq!(
        nd::respond(&owner, &table6, NdConfig::default(), &mut out),
        Err(NoReply::AskerOwnsTarget)
    );
}
