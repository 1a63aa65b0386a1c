//! One-pass flow-key extraction, after OVS's `miniflow_extract`
//! (lib/flow.c) and the field definitions in ovs-fields(7).
//!
//! [`extract`] zeroes the key, then fills it layer by layer. When a layer is
//! truncated or malformed it stops and returns the error; the key keeps what
//! the outer layers yielded, as OVS does (a frame with a cut-short TCP header
//! still matches on its L2/L3 fields). Nothing here allocates or panics.

use crate::arp::ArpPacket;
use crate::error::Error;
use crate::ethernet::{self, EthernetFrame};
use crate::field::be16;
use crate::flowkey::{ethertype, FlowKey, FRAG_ANY, FRAG_LATER, VLAN_CFI};
use crate::icmpv4::Icmpv4Packet;
use crate::icmpv6::{self, Icmpv6Packet, NdMessage};
use crate::ip_proto;
use crate::ipv4::Ipv4Packet;
use crate::ipv6::{self, Ipv6Packet};
use crate::tcp::TcpPacket;
use crate::vlan::{self, VlanTag};

/// `dl_type` OVS reports for 802.3 frames without a SNAP ethertype
/// (`FLOW_DL_TYPE_NONE`, ovs-fields(7) "Ethernet type").
pub const DL_TYPE_NONE: u16 = 0x05ff;
/// Bytes of an 802.2 LLC + SNAP header.
const LLC_SNAP_LEN: usize = 8;
const UDP_HEADER_LEN: usize = 8;
/// SCTP common header (RFC 9260 §3.1); OVS extracts its ports.
const SCTP_HEADER_LEN: usize = 12;

/// Where the headers of an extracted frame start, so the switch can rewrite
/// them without parsing again. Offsets are from the start of the frame;
/// `None` means the frame has no such header (or extraction stopped before).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Offsets {
    /// The outer VLAN tag's TPID (always 12) when the frame is tagged.
    pub vlan: Option<u32>,
    /// The L3 header (IPv4, IPv6, ARP, or whatever `dl_type` names).
    pub l3: Option<u32>,
    /// The L4 header (TCP, UDP, SCTP, ICMP, ICMPv6) — for IPv6 after the
    /// extension headers. `None` for non-first fragments.
    pub l4: Option<u32>,
    /// The L4 payload: after the TCP header (options included), the UDP or
    /// SCTP header, or the 8-byte ICMPv4 header.
    pub payload: Option<u32>,
    /// End of the IP packet by its length field; bytes after it up to the
    /// frame's end are Ethernet padding.
    pub l3_end: Option<u32>,
}

/// Why extraction stopped. Each variant names the layer; the inner
/// [`Error`] says whether it was truncated or malformed and where.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ExtractError {
    #[error("ethernet: {0}")]
    Ethernet(Error),
    #[error("vlan: {0}")]
    Vlan(Error),
    #[error("arp: {0}")]
    Arp(Error),
    #[error("ipv4: {0}")]
    Ipv4(Error),
    #[error("ipv6: {0}")]
    Ipv6(Error),
    #[error("ipv6 extension header: {0}")]
    Ipv6Ext(Error),
    #[error("tcp: {0}")]
    Tcp(Error),
    #[error("udp: {0}")]
    Udp(Error),
    #[error("sctp: {0}")]
    Sctp(Error),
    #[error("icmpv4: {0}")]
    Icmpv4(Error),
    #[error("icmpv6: {0}")]
    Icmpv6(Error),
    #[error("neighbor discovery: {0}")]
    Nd(Error),
}

impl ExtractError {
    /// The view error behind this one.
    pub fn cause(&self) -> Error {
        match *self {
            ExtractError::Ethernet(e)
            | ExtractError::Vlan(e)
            | ExtractError::Arp(e)
            | ExtractError::Ipv4(e)
            | ExtractError::Ipv6(e)
            | ExtractError::Ipv6Ext(e)
            | ExtractError::Tcp(e)
            | ExtractError::Udp(e)
            | ExtractError::Sctp(e)
            | ExtractError::Icmpv4(e)
            | ExtractError::Icmpv6(e)
            | ExtractError::Nd(e) => e,
        }
    }

    /// A stable snake_case drop reason for counters and logs, e.g.
    /// `"ipv4_truncated"` or `"tcp_malformed"`.
    pub fn reason(&self) -> &'static str {
        let truncated = matches!(self.cause(), Error::Truncated { .. });
        macro_rules! pick {
            ($t:literal, $m:literal) => {
                if truncated {
                    $t
                } else {
                    $m
                }
            };
        }
        match self {
            ExtractError::Ethernet(_) => pick!("ethernet_truncated", "ethernet_malformed"),
            ExtractError::Vlan(_) => pick!("vlan_truncated", "vlan_malformed"),
            ExtractError::Arp(_) => pick!("arp_truncated", "arp_malformed"),
            ExtractError::Ipv4(_) => pick!("ipv4_truncated", "ipv4_malformed"),
            ExtractError::Ipv6(_) => pick!("ipv6_truncated", "ipv6_malformed"),
            ExtractError::Ipv6Ext(_) => pick!("ipv6_ext_truncated", "ipv6_ext_malformed"),
            ExtractError::Tcp(_) => pick!("tcp_truncated", "tcp_malformed"),
            ExtractError::Udp(_) => pick!("udp_truncated", "udp_malformed"),
            ExtractError::Sctp(_) => pick!("sctp_truncated", "sctp_malformed"),
            ExtractError::Icmpv4(_) => pick!("icmpv4_truncated", "icmpv4_malformed"),
            ExtractError::Icmpv6(_) => pick!("icmpv6_truncated", "icmpv6_malformed"),
            ExtractError::Nd(_) => pick!("nd_truncated", "nd_malformed"),
        }
    }
}

// The layer helpers below are `#[inline(always)]`: folded into `extract`,
// `Offsets` stays in registers and is stored once into the return slot.
// Outlined, each helper wrote its fields to memory and the caller copied
// the struct back with wide loads, stalling on store forwarding (measured:
// about twice as slow per frame in `benches/extract.rs`).

/// Fills `key` from `frame` in one pass and returns the header offsets.
///
/// `key` is zeroed first, so a caller may reuse one key for every packet.
/// On error `key` holds the fields of the layers parsed before the bad one
/// (see the module docs). Conventions (ovs-fields(7)): ARP opcode/SPA/TPA go
/// to `nw_proto`/`nw_src`/`nw_dst`; ICMP type/code to `tp_src`/`tp_dst`; ND
/// SLL/TLL to `arp_sha`/`arp_tha`; VLAN TCIs carry [`VLAN_CFI`]; non-first
/// fragments get `FRAG_ANY | FRAG_LATER` and no L4 fields.
#[inline]
pub fn extract(frame: &[u8], key: &mut FlowKey) -> Result<Offsets, ExtractError> {
    *key = FlowKey::ZERO;
    let mut off = Offsets::default();
    let eth = EthernetFrame::new_checked(frame).map_err(ExtractError::Ethernet)?;
    key.dl_dst = eth.dst();
    key.dl_src = eth.src();
    let mut ether_type = eth.ethertype();
    let mut at = ethernet::HEADER_LEN;

    // Up to two tags, outer first (OVS parses at most two: a third TPID
    // stays in dl_type and nothing beyond it is parsed).
    if vlan::is_tpid(ether_type) {
        off.vlan = Some(12);
        let tag = VlanTag::new_checked(&frame[at..]).map_err(ExtractError::Vlan)?;
        key.vlan_tci = tag.tci() | VLAN_CFI;
        ether_type = tag.ethertype();
        at += vlan::HEADER_LEN;
        if vlan::is_tpid(ether_type) {
            let tag = VlanTag::new_checked(&frame[at..]).map_err(ExtractError::Vlan)?;
            key.vlan_tci_inner = tag.tci() | VLAN_CFI;
            ether_type = tag.ethertype();
            at += vlan::HEADER_LEN;
        }
    }

    if ether_type < ethernet::MIN_ETHERTYPE {
        match llc_snap_type(&frame[at..]) {
            Some(t) => {
                ether_type = t;
                at += LLC_SNAP_LEN;
            }
            None => ether_type = DL_TYPE_NONE,
        }
    }
    key.dl_type = ether_type;
    match ether_type {
        ethertype::IPV4 => extract_ipv4(frame, at, key, off),
        ethertype::IPV6 => extract_ipv6(frame, at, key, off),
        ethertype::ARP => extract_arp(frame, at, key, off),
        _ => {
            if ether_type != DL_TYPE_NONE {
                off.l3 = Some(at as u32);
            }
            Ok(off)
        }
    }
}

/// The ethertype of an 802.2 LLC/SNAP header with OUI 0 (RFC 1042), as OVS
/// reads it; `None` for any other 802.3 payload.
#[inline(always)]
fn llc_snap_type(b: &[u8]) -> Option<u16> {
    if b.len() < LLC_SNAP_LEN || b[..6] != [0xaa, 0xaa, 0x03, 0, 0, 0] {
        return None;
    }
    let t = be16(b, 6);
    (t >= ethernet::MIN_ETHERTYPE).then_some(t)
}

#[inline(always)]
fn extract_arp(
    frame: &[u8],
    at: usize,
    key: &mut FlowKey,
    mut off: Offsets,
) -> Result<Offsets, ExtractError> {
    off.l3 = Some(at as u32);
    match ArpPacket::new_checked(&frame[at..]) {
        Ok(arp) => {
            // OVS matches the low byte of the opcode only and leaves all
            // ARP fields zero for opcodes above 255 (lib/flow.c).
            let op = arp.operation();
            if op <= 0xff {
                key.nw_proto = op as u8;
                key.nw_src = u32::from(arp.spa());
                key.nw_dst = u32::from(arp.tpa());
                key.arp_sha = arp.sha();
                key.arp_tha = arp.tha();
            }
            Ok(off)
        }
        // Non-Ethernet/IPv4 ARP is valid, just not matchable beyond L2.
        Err(Error::Malformed { .. }) => Ok(off),
        Err(e) => Err(ExtractError::Arp(e)),
    }
}

#[inline(always)]
fn extract_ipv4(
    frame: &[u8],
    at: usize,
    key: &mut FlowKey,
    mut off: Offsets,
) -> Result<Offsets, ExtractError> {
    off.l3 = Some(at as u32);
    let ip = Ipv4Packet::new_checked(&frame[at..]).map_err(ExtractError::Ipv4)?;
    key.nw_src = u32::from(ip.src());
    key.nw_dst = u32::from(ip.dst());
    key.nw_proto = ip.protocol();
    key.nw_tos = ip.tos();
    key.nw_ttl = ip.ttl();
    let end = at + usize::from(ip.total_len());
    off.l3_end = Some(end as u32);
    if ip.is_fragment() {
        key.nw_frag = FRAG_ANY;
        if ip.frag_offset() != 0 {
            key.nw_frag |= FRAG_LATER;
            return Ok(off);
        }
    }
    let l4_at = at + ip.header_len();
    extract_l4(&frame[l4_at..end], l4_at, ip.protocol(), false, key, off)
}

#[inline(always)]
fn extract_ipv6(
    frame: &[u8],
    at: usize,
    key: &mut FlowKey,
    mut off: Offsets,
) -> Result<Offsets, ExtractError> {
    off.l3 = Some(at as u32);
    let ip = Ipv6Packet::new_checked(&frame[at..]).map_err(ExtractError::Ipv6)?;
    key.ipv6_src = ip.src_bytes();
    key.ipv6_dst = ip.dst_bytes();
    key.ipv6_label = ip.flow_label();
    key.nw_tos = ip.traffic_class();
    key.nw_ttl = ip.hop_limit();
    let payload = ip.payload();
    off.l3_end = Some((at + ipv6::HEADER_LEN + payload.len()) as u32);
    let upper = ipv6::walk(ip.next_header(), payload).map_err(ExtractError::Ipv6Ext)?;
    key.nw_proto = upper.protocol;
    if upper.fragment {
        key.nw_frag = FRAG_ANY;
        if upper.later_fragment {
            key.nw_frag |= FRAG_LATER;
            return Ok(off);
        }
    }
    let l4_at = at + ipv6::HEADER_LEN + upper.offset;
    extract_l4(
        &payload[upper.offset..],
        l4_at,
        upper.protocol,
        true,
        key,
        off,
    )
}

/// L4 fields from `l4` (bounded by the IP length), which starts at `l4_at`
/// in the frame. As in OVS, ICMP is only parsed over IPv4 and ICMPv6 only
/// over IPv6; the other pairing is left as an opaque protocol.
#[inline(always)]
fn extract_l4(
    l4: &[u8],
    l4_at: usize,
    proto: u8,
    is_v6: bool,
    key: &mut FlowKey,
    mut off: Offsets,
) -> Result<Offsets, ExtractError> {
    let hlen = match proto {
        ip_proto::TCP => {
            off.l4 = Some(l4_at as u32);
            let tcp = TcpPacket::new_checked(l4).map_err(ExtractError::Tcp)?;
            key.tp_src = tcp.src_port();
            key.tp_dst = tcp.dst_port();
            key.tcp_flags = tcp.flags();
            tcp.header_len()
        }
        // UDP and SCTP: only the ports are read, so only their bytes are
        // required — like OVS, a bad UDP length field does not hide ports.
        ip_proto::UDP => {
            off.l4 = Some(l4_at as u32);
            ports(l4, UDP_HEADER_LEN, "udp", key).map_err(ExtractError::Udp)?
        }
        ip_proto::SCTP => {
            off.l4 = Some(l4_at as u32);
            ports(l4, SCTP_HEADER_LEN, "sctp", key).map_err(ExtractError::Sctp)?
        }
        ip_proto::ICMP if !is_v6 => {
            off.l4 = Some(l4_at as u32);
            let icmp = Icmpv4Packet::new_checked(l4).map_err(ExtractError::Icmpv4)?;
            key.tp_src = u16::from(icmp.msg_type());
            key.tp_dst = u16::from(icmp.code());
            crate::icmpv4::HEADER_LEN
        }
        ip_proto::ICMPV6 if is_v6 => {
            off.l4 = Some(l4_at as u32);
            extract_icmpv6(l4, key)?;
            return Ok(off);
        }
        _ => return Ok(off),
    };
    off.payload = Some((l4_at + hlen) as u32);
    Ok(off)
}

#[inline(always)]
fn ports(l4: &[u8], hlen: usize, layer: &'static str, key: &mut FlowKey) -> Result<usize, Error> {
    Error::need(layer, hlen, l4.len())?;
    key.tp_src = be16(l4, 0);
    key.tp_dst = be16(l4, 2);
    Ok(hlen)
}

/// ICMPv6 type/code, and for NS/NA the target and link-layer addresses
/// (OVS `parse_icmpv6`): an SLL or TLL option of length 1 fills
/// `arp_sha`/`arp_tha`; a second one of the same kind, a zero-length or an
/// overrunning option makes the message invalid, and then all three ND
/// fields are cleared.
#[inline(always)]
fn extract_icmpv6(l4: &[u8], key: &mut FlowKey) -> Result<(), ExtractError> {
    let icmp = Icmpv6Packet::new_checked(l4).map_err(ExtractError::Icmpv6)?;
    let (kind, code) = (icmp.msg_type(), icmp.code());
    key.tp_src = u16::from(kind);
    key.tp_dst = u16::from(code);
    let is_nd = matches!(
        kind,
        icmpv6::msg_type::NEIGHBOR_SOLICIT | icmpv6::msg_type::NEIGHBOR_ADVERT
    );
    if !is_nd || code != 0 {
        return Ok(());
    }
    let nd = NdMessage::new_checked(l4).map_err(ExtractError::Nd)?;
    key.nd_target = nd.target_bytes();
    for opt in nd.options() {
        let result = opt.and_then(|opt| {
            let Some(mac) = opt.ll_addr() else {
                return Ok(());
            };
            let slot = if opt.kind == icmpv6::nd_opt::SOURCE_LL_ADDR {
                &mut key.arp_sha
            } else {
                &mut key.arp_tha
            };
            if *slot != [0; 6] {
                return Err(Error::malformed(
                    "nd-option",
                    "duplicate link-layer address",
                ));
            }
            *slot = mac;
            Ok(())
        });
        if let Err(e) = result {
            key.nd_target = [0; 16];
            key.arp_sha = [0; 6];
            key.arp_tha = [0; 6];
            return Err(ExtractError::Nd(e));
        }
    }
    Ok(())
}
