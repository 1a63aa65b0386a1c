//! Typed errors. Every decapsulation error maps to a short, stable drop
//! reason ([`DecapError::drop_reason`]) the switch can count per port.

use core::net::Ipv4Addr;

/// Not enough room in a [`FrameBuf`](crate::FrameBuf).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BufError {
    /// Prepending needs more headroom than the buffer has.
    #[error("frame buffer: need {need} bytes of headroom, have {have}")]
    NoHeadroom { need: usize, have: usize },
    /// The packet or the storage is too short for the operation.
    #[error("frame buffer: need {need} bytes, have {have}")]
    NoRoom { need: usize, have: usize },
}

/// Why a frame could not be encapsulated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EncapError {
    /// The inner frame is shorter than an Ethernet header.
    #[error("inner frame of {len} bytes is shorter than an Ethernet header")]
    InnerTooShort { len: usize },
    /// The VNI does not fit 24 bits (RFC 7348 §5, RFC 8926 §3.4).
    #[error("VNI {vni} does not fit 24 bits")]
    VniOutOfRange { vni: u32 },
    /// Geneve options are not a well-formed TLV list of at most 252 bytes.
    #[error("geneve options: {reason}")]
    BadOptions { reason: &'static str },
    /// GRE has no UDP socket layout: the datapath builds the IP header.
    #[error("GRE cannot be sent as a UDP payload; use the IPv4 or Ethernet layout")]
    GreNeedsIpLayout,
    /// The outer IPv4 packet would exceed 65535 bytes.
    #[error("outer packet of {len} bytes exceeds the IPv4 maximum")]
    TooBig { len: usize },
    /// The buffer has too little headroom.
    #[error(transparent)]
    Buf(#[from] BufError),
    /// A header emitter refused its input (should not happen with valid
    /// parameters; reported rather than panicking).
    #[error("emit: {0}")]
    Emit(#[from] packet::Error),
}

/// Why a received packet is not a valid tunnel packet: each variant is a
/// drop reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecapError {
    /// A header is truncated or malformed (the inner error names which).
    #[error(transparent)]
    Header(#[from] packet::Error),
    /// The outer frame is not IPv4.
    #[error("outer ethertype {ethertype:#06x} is not IPv4")]
    NotIpv4 { ethertype: u16 },
    /// The outer IPv4 protocol is neither UDP nor GRE.
    #[error("outer IP protocol {protocol} carries no tunnel")]
    NotTunnelProtocol { protocol: u8 },
    /// UDP to a port no tunnel listens on.
    #[error("UDP destination port {port} is not a tunnel port")]
    NotTunnelPort { port: u16 },
    /// The outer packet is an IP fragment; reassembly is not done here.
    #[error("outer packet from {src} is an IP fragment")]
    Fragment { src: Ipv4Addr },
    /// Outer IPv4 header checksum is wrong.
    #[error("outer IPv4 header checksum is wrong")]
    IpChecksum,
    /// Outer UDP checksum is wrong.
    #[error("outer UDP checksum is wrong")]
    UdpChecksum,
    /// GRE checksum is wrong (RFC 2784 §2.5).
    #[error("GRE checksum is wrong")]
    GreChecksum,
    /// Geneve/GRE payload is not an Ethernet frame (protocol type 0x6558).
    #[error("tunnel payload protocol {protocol:#06x} is not Ethernet (0x6558)")]
    NotEthernetPayload { protocol: u16 },
    /// A Geneve option overruns the option area (RFC 8926 §3.5).
    #[error("geneve option: {0}")]
    GeneveOption(packet::Error),
    /// The inner frame is shorter than an Ethernet header.
    #[error("inner frame of {len} bytes is shorter than an Ethernet header")]
    InnerTooShort { len: usize },
    /// RFC 6040 §4.2: outer CE over a Not-ECT inner packet MUST be dropped.
    #[error("outer CE mark over a Not-ECT inner packet (RFC 6040)")]
    EcnCeOnNotEct,
}

impl DecapError {
    /// A short stable name for counters and logs (`ovs-appctl
    /// coverage/show` style): one per variant.
    pub fn drop_reason(&self) -> &'static str {
        match self {
            DecapError::Header(packet::Error::Truncated { .. }) => "tunnel_truncated",
            DecapError::Header(packet::Error::Malformed { .. }) => "tunnel_malformed",
            DecapError::NotIpv4 { .. } => "tunnel_not_ipv4",
            DecapError::NotTunnelProtocol { .. } => "tunnel_bad_protocol",
            DecapError::NotTunnelPort { .. } => "tunnel_bad_port",
            DecapError::Fragment { .. } => "tunnel_fragment",
            DecapError::IpChecksum => "tunnel_ip_csum",
            DecapError::UdpChecksum => "tunnel_udp_csum",
            DecapError::GreChecksum => "tunnel_gre_csum",
            DecapError::NotEthernetPayload { .. } => "tunnel_not_ethernet",
            DecapError::GeneveOption(_) => "tunnel_geneve_option",
            DecapError::InnerTooShort { .. } => "tunnel_inner_short",
            DecapError::EcnCeOnNotEct => "tunnel_ecn_ce_not_ect",
        }
    }
}

/// Why software segmentation or checksum completion failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum GsoError {
    /// A header of the super-frame is truncated or malformed.
    #[error(transparent)]
    Header(#[from] packet::Error),
    /// The frame is neither IPv4 nor IPv6.
    #[error("ethertype {ethertype:#06x} is not IP")]
    NotIp { ethertype: u16 },
    /// The L4 protocol does not match the GSO type.
    #[error("GSO type expects protocol {expected}, frame has {found}")]
    WrongProtocol { expected: u8, found: u8 },
    /// The IP version does not match the GSO type (TCPv4 on IPv6 ...).
    #[error("GSO type does not match the frame's IP version")]
    WrongIpVersion,
    /// IPv6 extension headers before TCP/UDP are not segmented here.
    #[error("IPv6 next header {next_header} before the L4 header is not supported")]
    Ipv6Extension { next_header: u8 },
    /// `gso_size` is zero.
    #[error("gso_size is zero")]
    ZeroGsoSize,
    /// Legacy UFO (IP fragmentation) is not implemented.
    #[error("GSO type {0:?} is not supported")]
    Unsupported(netio::vnet::GsoType),
    /// The super-frame is an IP fragment.
    #[error("super-frame is an IP fragment")]
    Fragment,
    /// The output buffer cannot hold the segment.
    #[error("segment of {need} bytes does not fit a {have}-byte buffer")]
    BufferTooSmall { need: usize, have: usize },
    /// `csum_start`/`csum_offset` point outside the frame.
    #[error("checksum at {start}+{offset} is outside the {len}-byte frame")]
    CsumOutOfRange {
        start: usize,
        offset: usize,
        len: usize,
    },
}

/// Why no ICMP "too big" reply could be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IcmpError {
    /// A header of the original frame is truncated or malformed.
    #[error(transparent)]
    Header(#[from] packet::Error),
    /// The original frame is neither IPv4 nor IPv6.
    #[error("ethertype {ethertype:#06x} is not IP")]
    NotIp { ethertype: u16 },
    /// The original IPv4 packet does not have DF set: it may be fragmented
    /// instead (RFC 1191 §1).
    #[error("original packet does not have DF set")]
    DfNotSet,
    /// No ICMP error is sent about an ICMP error (RFC 1812 §4.3.2.7,
    /// RFC 4443 §2.4(e.1)).
    #[error("original packet is itself an ICMP error")]
    AboutIcmpError,
    /// No ICMP error is sent about a non-first fragment (RFC 1812 §4.3.2.7).
    #[error("original packet is a non-first fragment")]
    LaterFragment,
    /// The original source is not a unicast host address (RFC 1812
    /// §4.3.2.7, RFC 4443 §2.4(e)).
    #[error("original source is not a unicast address")]
    SourceNotUnicast,
    /// The original frame was sent to an Ethernet broadcast or multicast
    /// address (RFC 1812 §4.3.2.7: no ICMP error about link-layer
    /// broadcasts).
    #[error("original frame went to a link-layer broadcast/multicast address")]
    LinkBroadcast,
    /// The reply needs a source address and the original destination cannot
    /// serve (multicast); pass one explicitly.
    #[error("no unicast source address for the reply")]
    NoSource,
    /// The output buffer is too small.
    #[error("reply of {need} bytes does not fit a {have}-byte buffer")]
    BufferTooSmall { need: usize, have: usize },
}
