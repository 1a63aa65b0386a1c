//! Body of the `dhcp` cargo-fuzz target (`fuzz/`), kept in the crate so the
//! corpus replay test (`tests/fuzz_corpus.rs`) runs exactly what the fuzzer
//! runs. It panics when an invariant breaks — the fuzzer's signal, never
//! reachable from production callers.
//!
//! Input layout: byte 0 is a selector, the rest the message.
//!
//! | selector bits 0-1 | the rest is |
//! |---|---|
//! | 0 | a whole Ethernet frame, as a VM would send it |
//! | 1 | a BOOTP/DHCP message, wrapped in a valid Ethernet/IPv4/UDP 68→67 frame from bound MAC [`MAC_FULL`], `chaddr` set to it |
//! | 2 | the same from bound MAC [`MAC_MINIMAL`] |
//! | 3 | the same from an unbound MAC, `chaddr` as given |
//!
//! Bits 2-7 size the output buffer: 0 gives [`MAX_REPLY_LEN`], `n` gives
//! `n * 24` bytes, so replies that do not fit are exercised too. Wrapping
//! with correct checksums lets the fuzzer spend its time in the DHCP
//! decoder and the RFC 2131 §4.3 decisions rather than in checksums.

use core::net::Ipv4Addr;
use std::sync::{Arc, OnceLock};

use dhcproto::v4::{DhcpOption, Message, MessageType, Opcode, OptionCode};
use dhcproto::Decodable;
use packet::ethernet::EthernetFrame;
use packet::ipv4::{Ipv4Packet, Ipv4Repr};
use packet::udp::{UdpPacket, UdpRepr};

use crate::dhcp::{
    is_dhcp_server_reply, Binding, DhcpServer, SubnetOptions, CLIENT_PORT, MAX_REPLY_LEN,
    MIN_BOOTP_LEN, SERVER_PORT,
};
use crate::Mac;

/// Bound to a subnet that sends every option (routes, DNS, domain, MTU).
pub const MAC_FULL: Mac = [0x02, 0xaa, 0, 0, 0, 0x01];
/// Bound to a subnet with only the required options and an infinite lease.
pub const MAC_MINIMAL: Mac = [0x02, 0xaa, 0, 0, 0, 0x02];
const MAC_UNBOUND: Mac = [0x02, 0xbb, 0, 0, 0, 0x03];
const IP_FULL: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 5);
const IP_MINIMAL: Ipv4Addr = Ipv4Addr::new(192, 168, 9, 2);

/// Offset of `chaddr` in a BOOTP message (RFC 2131 §2, figure 1).
const CHADDR_OFFSET: usize = 28;
const ETH_IP_UDP: usize = 14 + 20 + 8;

/// The server the target runs against: [`MAC_FULL`] and [`MAC_MINIMAL`]
/// bound, built once.
pub fn server() -> &'static DhcpServer {
    static SERVER: OnceLock<DhcpServer> = OnceLock::new();
    SERVER.get_or_init(|| {
        let mut full = SubnetOptions::new(Ipv4Addr::new(10, 0, 0, 2), [2, 0, 0, 0, 0, 2], 24);
        full.router = Some(Ipv4Addr::new(10, 0, 0, 1));
        full.dns_servers = vec![Ipv4Addr::new(10, 0, 0, 53), Ipv4Addr::new(10, 0, 0, 54)];
        full.domain_name = Some("openstacklocal".into());
        full.mtu = Some(1450);
        full.routes = (0..20u8)
            .map(|i| {
                let net = format!("172.16.{i}.0/24").parse().expect("literal prefix");
                (net, Ipv4Addr::new(10, 0, 0, 9))
            })
            .collect();
        full.lease_time = 3600;
        let mut minimal = SubnetOptions::new(Ipv4Addr::new(192, 168, 9, 1), [2, 0, 0, 0, 0, 3], 30);
        minimal.lease_time = u32::MAX;
        let mut s = DhcpServer::new();
        for (mac, ip, subnet) in [
            (MAC_FULL, IP_FULL, full),
            (MAC_MINIMAL, IP_MINIMAL, minimal),
        ] {
            let binding = Binding {
                ip,
                subnet: Arc::new(subnet),
            };
            s.insert(mac, binding).expect("valid fuzz binding");
        }
        s
    })
}

/// An Ethernet/IPv4/UDP 68→67 broadcast frame from `src` carrying `dhcp`,
/// both checksums filled.
pub fn client_frame(src: Mac, dhcp: &[u8]) -> Option<Vec<u8>> {
    let udp_len = u16::try_from(8 + dhcp.len()).ok()?;
    let ip_len = 20 + usize::from(udp_len);
    u16::try_from(ip_len).ok()?;
    let mut f = vec![0u8; 14 + ip_len];
    f[0..6].copy_from_slice(&[0xff; 6]);
    f[6..12].copy_from_slice(&src);
    f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    let (src_ip, dst_ip) = (Ipv4Addr::UNSPECIFIED, Ipv4Addr::BROADCAST);
    Ipv4Repr {
        src: src_ip,
        dst: dst_ip,
        protocol: packet::ip_proto::UDP,
        tos: 0,
        ttl: 64,
        ident: 0,
        dont_frag: false,
        more_frags: false,
        frag_offset: 0,
        payload_len: udp_len,
    }
    .emit(&mut f[14..])
    .ok()?;
    let udp = &mut f[34..];
    udp[8..].copy_from_slice(dhcp);
    UdpRepr {
        src_port: CLIENT_PORT,
        dst_port: SERVER_PORT,
        payload_len: dhcp.len() as u16,
    }
    .emit(udp)
    .ok()?;
    UdpPacket::new_checked(udp)
        .ok()?
        .fill_checksum_v4(src_ip, dst_ip);
    Some(f)
}

/// Target `dhcp`: the server never panics, is deterministic, and every
/// reply it writes fits the buffer and is a well-formed DHCP server reply
/// (checksums, BOOTREPLY, same `xid` and `chaddr`, the bound address or
/// none) to a bound client.
pub fn dhcp_target(data: &[u8]) {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let src = match sel & 3 {
        0 => None,
        1 => Some(MAC_FULL),
        2 => Some(MAC_MINIMAL),
        _ => Some(MAC_UNBOUND),
    };
    let frame = match src {
        None => rest.to_vec(),
        Some(mac) => {
            let mut msg = rest.to_vec();
            if mac != MAC_UNBOUND && msg.len() >= CHADDR_OFFSET + 6 {
                msg[CHADDR_OFFSET..CHADDR_OFFSET + 6].copy_from_slice(&mac);
            }
            match client_frame(mac, &msg) {
                Some(f) => f,
                None => return,
            }
        }
    };
    let size = match usize::from(sel >> 2) {
        0 => MAX_REPLY_LEN,
        n => n * 24,
    };
    let mut out = vec![0u8; size];
    let first = server().respond(&frame, &mut out);
    let mut again = vec![0u8; size];
    let second = server().respond(&frame, &mut again);
    assert_eq!(first, second, "the server is not deterministic");
    if let Ok(len) = first {
        assert_eq!(out[..len], again[..len], "replies differ");
        check_reply(&frame, &out[..len]);
    }
}

fn check_reply(request: &[u8], reply: &[u8]) {
    assert!(
        reply.len() >= ETH_IP_UDP + MIN_BOOTP_LEN,
        "reply shorter than a BOOTP message: {} bytes",
        reply.len()
    );
    assert!(is_dhcp_server_reply(reply), "reply not recognised as one");
    let eth = EthernetFrame::new_checked(reply).expect("reply Ethernet header");
    let ip = Ipv4Packet::new_checked(eth.payload()).expect("reply IPv4 header");
    assert!(ip.verify_checksum(), "reply IPv4 checksum");
    let udp = UdpPacket::new_checked(ip.payload()).expect("reply UDP header");
    assert!(
        udp.verify_checksum_v4(ip.src(), ip.dst()),
        "reply UDP checksum"
    );
    let msg = Message::from_bytes(udp.payload()).expect("reply decodes");
    let req = Message::from_bytes(&request[ETH_IP_UDP..]).expect("answered request decodes");
    assert_eq!(msg.opcode(), Opcode::BootReply);
    assert_eq!(msg.xid(), req.xid(), "xid not echoed");
    let chaddr: Mac = msg.chaddr()[..6].try_into().expect("6-byte chaddr");
    let binding = server().get(&chaddr).expect("reply only to a bound MAC");
    assert_eq!(chaddr, request[6..12], "reply to a MAC that did not ask");
    assert_eq!(eth.src(), binding.subnet.server_mac);
    assert_eq!(ip.src(), binding.subnet.server_ip);
    assert!(
        msg.yiaddr() == binding.ip || msg.yiaddr().is_unspecified(),
        "offered {} to a MAC bound to {}",
        msg.yiaddr(),
        binding.ip
    );
    let kind = msg.opts().msg_type();
    assert!(
        matches!(
            kind,
            Some(MessageType::Offer | MessageType::Ack | MessageType::Nak)
        ),
        "reply type {kind:?}"
    );
    assert!(
        matches!(msg.opts().get(OptionCode::ServerIdentifier),
            Some(DhcpOption::ServerIdentifier(id)) if *id == binding.subnet.server_ip),
        "server identifier missing or wrong"
    );
}
