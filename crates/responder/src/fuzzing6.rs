//! Body of the `ipv6` cargo-fuzz target (`fuzz/`): the Router
//! Advertisement and DHCPv6 responders, kept in the crate so the corpus
//! replay test (`tests/fuzz_corpus.rs`) runs exactly what the fuzzer runs.
//! It panics when an invariant breaks — the fuzzer's signal, never
//! reachable from production callers.
//!
//! Input layout: byte 0 is a selector, the rest the message.
//!
//! | selector bits 0-1 | the rest is |
//! |---|---|
//! | 0 | a whole Ethernet frame, as a VM would send it |
//! | 1 | a DHCPv6 message in a valid UDP/IPv6 546→547 frame, stateful port |
//! | 2 | the same, stateless port (no address) |
//! | 3 | an ICMPv6 message (a Router Solicitation) in a valid IPv6 frame, hop limit 255 |
//!
//! Bits 2-7 size the output buffer: 0 gives 1514 bytes, `n` gives `n * 8`.

use core::net::Ipv6Addr;

use dhcproto::v6::{Message, MessageType};
use dhcproto::Decodable;
use packet::ethernet::EthernetFrame;
use packet::icmpv6::Icmpv6Packet;
use packet::ipv6::{Ipv6Packet, Ipv6Repr};
use packet::udp::{UdpPacket, UdpRepr};

use crate::dhcp6::{self, Dhcp6Config};
use crate::nd::link_local;
use crate::ra::{self, RaConfig, RaMode};
use crate::Mac;

/// The asking VM.
pub const VM_MAC: Mac = [0x02, 0xaa, 0, 0, 0, 0x05];
const SERVER_MAC: Mac = [0x02, 0xaa, 0, 0, 0, 0x01];
const ROUTER_MAC: Mac = [0x02, 0xaa, 0, 0, 0, 0x02];

fn ra_config() -> RaConfig {
    RaConfig {
        mac: ROUTER_MAC,
        prefix: ipnet::Ipv6Net::new(Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0), 64)
            .unwrap_or_default(),
        mode: RaMode::Dhcpv6Stateless,
        mtu: Some(1450),
        lifetime: ra::defaults::ROUTER_LIFETIME,
    }
}

fn dhcp6_config(stateful: bool) -> Dhcp6Config {
    Dhcp6Config {
        server_mac: SERVER_MAC,
        addr: stateful.then(|| Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 5)),
        dns: vec![Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x53)],
    }
}

/// An Ethernet/IPv6 frame from [`VM_MAC`]'s link-local address to `dst`
/// carrying `payload` as `next_header`, hop limit `hops`, with the
/// upper-layer checksum filled for UDP (546→547) or ICMPv6.
pub fn vm_frame(dst: Ipv6Addr, next_header: u8, hops: u8, payload: &[u8]) -> Option<Vec<u8>> {
    let src = link_local(VM_MAC);
    let udp = next_header == packet::ip_proto::UDP;
    let l4_len = payload.len() + if udp { 8 } else { 0 };
    let mut f = vec![0u8; 14 + 40 + l4_len];
    let o = dst.octets();
    f[0..6].copy_from_slice(&[0x33, 0x33, o[12], o[13], o[14], o[15]]);
    f[6..12].copy_from_slice(&VM_MAC);
    f[12..14].copy_from_slice(&0x86ddu16.to_be_bytes());
    Ipv6Repr {
        src,
        dst,
        next_header,
        traffic_class: 0,
        flow_label: 0,
        hop_limit: hops,
        payload_len: u16::try_from(l4_len).ok()?,
    }
    .emit(&mut f[14..])
    .ok()?;
    let l4 = &mut f[54..];
    if udp {
        l4[8..].copy_from_slice(payload);
        UdpRepr {
            src_port: dhcp6::CLIENT_PORT,
            dst_port: dhcp6::SERVER_PORT,
            payload_len: payload.len() as u16,
        }
        .emit(l4)
        .ok()?;
        UdpPacket::new_checked(l4)
            .ok()?
            .fill_checksum_v6(&src, &dst);
    } else {
        l4.copy_from_slice(payload);
        Icmpv6Packet::new_checked(l4)
            .ok()?
            .fill_checksum(&src, &dst);
    }
    Some(f)
}

/// Target `ipv6`: neither responder panics, both are deterministic, and
/// every reply is well formed (checksums; an RA from the router's
/// link-local; a DHCPv6 Advertise/Reply from the server echoing `xid`).
pub fn ipv6_target(data: &[u8]) {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let all_dhcp = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 1, 2);
    let all_routers = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 2);
    let frame = match sel & 3 {
        0 => Some(rest.to_vec()),
        1 | 2 => vm_frame(all_dhcp, packet::ip_proto::UDP, 1, rest),
        _ => vm_frame(all_routers, packet::ip_proto::ICMPV6, 255, rest),
    };
    let Some(frame) = frame else {
        return;
    };
    let size = match usize::from(sel >> 2) {
        0 => 1514,
        n => n * 8,
    };
    let cfg6 = dhcp6_config(sel & 3 != 2);
    let mut out = vec![0u8; size];
    let mut again = vec![0u8; size];
    let first = dhcp6::respond(&frame, &cfg6, &mut out);
    assert_eq!(
        first,
        dhcp6::respond(&frame, &cfg6, &mut again),
        "dhcp6 not deterministic"
    );
    if let Ok(len) = first {
        check_dhcp6(&frame, &out[..len]);
    }
    let rac = ra_config();
    let first = ra::respond(&frame, &rac, &mut out);
    assert_eq!(
        first,
        ra::respond(&frame, &rac, &mut again),
        "ra not deterministic"
    );
    if let Ok(len) = first {
        assert_eq!(len, ra::reply_len(&rac));
        let (ip, _) = ipv6_of(&out[..len], ROUTER_MAC);
        assert_eq!(
            ip.src(),
            link_local(ROUTER_MAC),
            "RA not from the link-local"
        );
        let icmp = Icmpv6Packet::new_checked(ip.payload()).expect("RA ICMPv6 header");
        assert!(icmp.verify_checksum(&ip.src(), &ip.dst()), "RA checksum");
        assert_eq!(icmp.msg_type(), 134);
    }
}

fn ipv6_of(reply: &[u8], src_mac: Mac) -> (Ipv6Packet<&[u8]>, Mac) {
    let eth = EthernetFrame::new_checked(reply).expect("reply Ethernet header");
    assert_eq!(eth.src(), src_mac, "reply from the wrong MAC");
    let dst = eth.dst();
    let ip = Ipv6Packet::new_checked(&reply[14..]).expect("reply IPv6 header");
    (ip, dst)
}

fn check_dhcp6(request: &[u8], reply: &[u8]) {
    let (ip, dst) = ipv6_of(reply, SERVER_MAC);
    assert_eq!(dst, request[6..12], "reply to a MAC that did not ask");
    let udp = UdpPacket::new_checked(ip.payload()).expect("reply UDP header");
    assert!(
        udp.verify_checksum_v6(&ip.src(), &ip.dst()),
        "reply UDP checksum"
    );
    let msg = Message::from_bytes(udp.payload()).expect("reply decodes");
    let req_udp = &request[14 + 40 + 8..];
    let req = Message::from_bytes(req_udp).expect("answered request decodes");
    assert_eq!(msg.xid(), req.xid(), "xid not echoed");
    assert!(
        matches!(msg.msg_type(), MessageType::Advertise | MessageType::Reply),
        "reply type {:?}",
        msg.msg_type()
    );
}
