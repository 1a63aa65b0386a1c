//! DHCP on the wire: recognising client and server messages in frames and
//! wrapping a reply in Ethernet/IPv4/UDP.

use core::net::Ipv4Addr;

use packet::ethernet::EthernetFrame;
use packet::flowkey::ethertype;
use packet::ip_proto;
use packet::ipv4::{self, Ipv4Packet, Ipv4Repr};
use packet::udp::{self, UdpPacket, UdpRepr};
use packet::vlan::{self, VlanTag};

use crate::frame::{need, write_eth, ETH_LEN};
use crate::{Mac, NoReply};

/// BOOTP/DHCP server port (RFC 2131 §4.1).
pub const SERVER_PORT: u16 = 67;
/// BOOTP/DHCP client port.
pub const CLIENT_PORT: u16 = 68;
/// BOOTP `op` of a reply.
const BOOTREPLY: u8 = 2;
/// Smallest BOOTP message some clients accept (RFC 1542 §3.1.1: 300 bytes).
pub const MIN_BOOTP_LEN: usize = 300;

/// `true` when `frame` carries a DHCP server message (OFFER, ACK, NAK —
/// anything from UDP port 67 to port 68, or a BOOTREPLY to either port).
/// A VM sending one is spoofing a DHCP server; the switch drops it, as OVN's
/// port security does (`udp.src == 67 && udp.dst == 68` from a VM port).
/// Up to two VLAN tags are skipped.
pub fn is_dhcp_server_reply(frame: &[u8]) -> bool {
    let Ok(eth) = EthernetFrame::new_checked(frame) else {
        return false;
    };
    let mut ethertype = eth.ethertype();
    let mut rest = eth.payload();
    for _ in 0..2 {
        if !vlan::is_tpid(ethertype) {
            break;
        }
        let Ok(tag) = VlanTag::new_checked(rest) else {
            return false;
        };
        ethertype = tag.ethertype();
        rest = &rest[vlan::HEADER_LEN..];
    }
    if ethertype != ethertype::IPV4 {
        return false;
    }
    let Ok(ip) = Ipv4Packet::new_checked(rest) else {
        return false;
    };
    if ip.protocol() != ip_proto::UDP || ip.frag_offset() != 0 {
        return false;
    }
    // A first fragment may be short of the whole datagram: read the ports
    // and op from the bytes present.
    let l4 = ip.payload();
    if l4.len() < udp::HEADER_LEN {
        return false;
    }
    let sport = u16::from_be_bytes([l4[0], l4[1]]);
    let dport = u16::from_be_bytes([l4[2], l4[3]]);
    let op = l4.get(udp::HEADER_LEN).copied();
    (sport == SERVER_PORT && dport == CLIENT_PORT)
        || ((sport == SERVER_PORT || dport == CLIENT_PORT) && op == Some(BOOTREPLY))
}

/// A client message found in a frame.
pub(crate) struct ClientFrame<'a> {
    pub eth_src: Mac,
    pub payload: &'a [u8],
}

/// Finds a DHCP client message (IPv4/UDP to port 67) in `frame`.
pub(crate) fn client_message(frame: &[u8]) -> Result<ClientFrame<'_>, NoReply> {
    let eth = EthernetFrame::new_checked(frame)?;
    if eth.ethertype() != ethertype::IPV4 {
        return Err(NoReply::NotForUs);
    }
    let ip = Ipv4Packet::new_checked(eth.payload())?;
    if ip.protocol() != ip_proto::UDP {
        return Err(NoReply::NotForUs);
    }
    if ip.is_fragment() {
        return Err(NoReply::Fragment);
    }
    let udp = UdpPacket::new_checked(ip.payload())?;
    if udp.dst_port() != SERVER_PORT {
        return Err(NoReply::NotForUs);
    }
    if !ip.verify_checksum() {
        return Err(NoReply::BadChecksum("ipv4"));
    }
    if !udp.verify_checksum_v4(ip.src(), ip.dst()) {
        return Err(NoReply::BadChecksum("udp"));
    }
    Ok(ClientFrame {
        eth_src: eth.src(),
        // `payload` borrows from the view; rebuild the bounds on `frame`.
        payload: payload_of(frame, ip.header_len(), udp.payload().len()),
    })
}

fn payload_of(frame: &[u8], ip_hlen: usize, len: usize) -> &[u8] {
    let start = ETH_LEN + ip_hlen + udp::HEADER_LEN;
    &frame[start..start + len]
}

/// Addresses of a reply frame.
pub(crate) struct ReplyAddrs {
    pub eth_src: Mac,
    pub eth_dst: Mac,
    pub ip_src: Ipv4Addr,
    pub ip_dst: Ipv4Addr,
}

/// Writes `dhcp` (padded to [`MIN_BOOTP_LEN`]) in Ethernet/IPv4/UDP 67→68
/// with both checksums into `out`.
pub(crate) fn write_reply(
    addrs: &ReplyAddrs,
    dhcp: &[u8],
    out: &mut [u8],
) -> Result<usize, NoReply> {
    let body = dhcp.len().max(MIN_BOOTP_LEN);
    let udp_len = udp::HEADER_LEN + body;
    let ip_len = ipv4::MIN_HEADER_LEN + udp_len;
    let total = ETH_LEN + ip_len;
    if ip_len > usize::from(u16::MAX) {
        return Err(NoReply::BufferTooSmall {
            need: total,
            have: out.len(),
        });
    }
    need(out, total)?;
    write_eth(out, addrs.eth_src, addrs.eth_dst, ethertype::IPV4)?;
    let ip_out = &mut out[ETH_LEN..total];
    Ipv4Repr {
        src: addrs.ip_src,
        dst: addrs.ip_dst,
        protocol: ip_proto::UDP,
        tos: 0,
        ttl: 64,
        ident: 0,
        dont_frag: false,
        more_frags: false,
        frag_offset: 0,
        payload_len: udp_len as u16,
    }
    .emit(ip_out)?;
    let udp_out = &mut ip_out[ipv4::MIN_HEADER_LEN..];
    let payload = &mut udp_out[udp::HEADER_LEN..];
    payload[..dhcp.len()].copy_from_slice(dhcp);
    payload[dhcp.len()..].fill(0);
    UdpRepr {
        src_port: SERVER_PORT,
        dst_port: CLIENT_PORT,
        payload_len: body as u16,
    }
    .emit(udp_out)?;
    UdpPacket::new_checked(udp_out)?.fill_checksum_v4(addrs.ip_src, addrs.ip_dst);
    Ok(total)
}
