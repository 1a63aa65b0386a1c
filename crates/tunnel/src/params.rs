//! Tunnel parameters: what `ovs-vsctl set Interface ... type=vxlan|geneve|gre
//! options:...` configures (ovs-vswitchd.conf.db(5), "Tunnel Options"),
//! resolved for one packet (flow-based `remote_ip=flow` / `key=flow` ports
//! fill the fields from the flow's `tun_dst` / `tun_id`).

use core::net::Ipv4Addr;

use packet::{geneve, vxlan, Mac};

use crate::error::EncapError;

/// The encapsulation protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TunnelKind {
    /// VXLAN over UDP (RFC 7348).
    Vxlan,
    /// Geneve over UDP (RFC 8926).
    Geneve,
    /// Transparent Ethernet over GRE (RFC 2784 with RFC 2890 key/seq,
    /// protocol type 0x6558), IP protocol 47.
    Gre,
}

impl TunnelKind {
    /// `true` for the UDP-based tunnels.
    pub const fn is_udp(self) -> bool {
        !matches!(self, TunnelKind::Gre)
    }

    /// IANA default UDP destination port (0 for GRE).
    pub const fn default_port(self) -> u16 {
        match self {
            TunnelKind::Vxlan => vxlan::UDP_PORT,
            TunnelKind::Geneve => geneve::UDP_PORT,
            TunnelKind::Gre => 0,
        }
    }
}

/// Outer TOS (`options:tos`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tos {
    /// Copy the inner IPv4 TOS / IPv6 traffic class (0 for non-IP).
    Inherit,
    /// This DSCP (upper six bits); the ECN bits are still copied from the
    /// inner packet, RFC 6040 §4.1 "normal mode", as Linux does.
    Fixed(u8),
}

/// Outer TTL (`options:ttl`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ttl {
    /// Copy the inner TTL / hop limit (64 for non-IP).
    Inherit,
    /// This value (OVS default 64).
    Fixed(u8),
}

/// Optional GRE fields (RFC 2890 key and sequence number, RFC 2784
/// checksum).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct GreFlags {
    /// Send the key field (`options:key` set; the value is
    /// [`TunnelParams::id`]).
    pub key: bool,
    /// Send a sequence number (`options:seq=true`), taken per packet from
    /// [`PerPacket::gre_seq`].
    pub seq: bool,
    /// Send a checksum (`options:csum=true`).
    pub csum: bool,
}

/// Where the datapath hands the encapsulated packet to the kernel, which
/// decides how much of the outer packet this crate writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layout {
    /// A UDP socket connected/sent to the remote (the kernel builds IP and
    /// UDP): only the VXLAN/Geneve header is prepended. Set DF on the socket
    /// with `IP_MTU_DISCOVER=IP_PMTUDISC_DO`; the UDP source port
    /// [`EncapInfo::src_port`] is for the datapath to pick a socket by.
    UdpPayload,
    /// A raw IPv4 socket with `IP_HDRINCL` (GRE, or UDP tunnels without a
    /// UDP socket): IPv4 + (UDP + tunnel header | GRE).
    Ipv4,
    /// AF_PACKET on the uplink: Ethernet + IPv4 + ..., the MACs resolved by
    /// the caller (next hop of the route to the remote).
    Ethernet { src: Mac, dst: Mac },
}

/// One packet's tunnel parameters. `Copy`, borrowed options: building it
/// per packet costs nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TunnelParams<'a> {
    pub kind: TunnelKind,
    /// Outer source (`options:local_ip`, or the route's preferred source).
    pub local: Ipv4Addr,
    /// Outer destination (`options:remote_ip`, or the flow's `tun_dst`).
    pub remote: Ipv4Addr,
    /// VNI (VXLAN/Geneve, 24 bits) or GRE key (32 bits): `options:key` /
    /// the flow's `tun_id`.
    pub id: u32,
    pub ttl: Ttl,
    pub tos: Tos,
    /// Outer DF (`options:df_default`, true by default as in OVS).
    pub df: bool,
    /// UDP destination port (`options:dst_port`).
    pub dst_port: u16,
    /// Fill the outer UDP checksum (`options:csum`). RFC 7348 §5 lets VXLAN
    /// over IPv4 send zero; RFC 8926 §3.3 makes it optional for Geneve.
    pub udp_csum: bool,
    /// Encoded Geneve option TLVs (RFC 8926 §3.5), e.g. from
    /// [`GeneveOptsBuf`]; checked by [`validate_geneve_options`].
    pub geneve_options: &'a [u8],
    pub gre: GreFlags,
}

impl<'a> TunnelParams<'a> {
    /// VXLAN to `remote` with `vni`, OVS defaults: port 4789, TTL 64, TOS 0,
    /// DF set, no UDP checksum.
    pub fn vxlan(local: Ipv4Addr, remote: Ipv4Addr, vni: u32) -> Self {
        Self {
            kind: TunnelKind::Vxlan,
            local,
            remote,
            id: vni,
            ttl: Ttl::Fixed(64),
            tos: Tos::Fixed(0),
            df: true,
            dst_port: vxlan::UDP_PORT,
            udp_csum: false,
            geneve_options: &[],
            gre: GreFlags::default(),
        }
    }

    /// Geneve to `remote` with `vni` and encoded `options`, port 6081.
    pub fn geneve(local: Ipv4Addr, remote: Ipv4Addr, vni: u32, options: &'a [u8]) -> Self {
        Self {
            kind: TunnelKind::Geneve,
            dst_port: geneve::UDP_PORT,
            geneve_options: options,
            ..Self::vxlan(local, remote, vni)
        }
    }

    /// GRE to `remote`, with the key field when `key` is `Some`.
    pub fn gre(local: Ipv4Addr, remote: Ipv4Addr, key: Option<u32>) -> Self {
        Self {
            kind: TunnelKind::Gre,
            id: key.unwrap_or(0),
            dst_port: 0,
            gre: GreFlags {
                key: key.is_some(),
                ..GreFlags::default()
            },
            ..Self::vxlan(local, remote, 0)
        }
    }

    /// Bytes of the tunnel header alone (VXLAN 8, Geneve 8 + options, GRE
    /// 4 + 4 per optional field).
    pub fn tunnel_header_len(&self) -> usize {
        match self.kind {
            TunnelKind::Vxlan => vxlan::HEADER_LEN,
            TunnelKind::Geneve => geneve::HEADER_LEN + self.geneve_options.len(),
            TunnelKind::Gre => {
                4 + 4
                    * (usize::from(self.gre.key)
                        + usize::from(self.gre.seq)
                        + usize::from(self.gre.csum))
            }
        }
    }

    /// Bytes of outer IPv4 + UDP (if any) + tunnel header: what the underlay
    /// MTU must hold on top of the inner frame.
    pub fn ip_overhead(&self) -> usize {
        packet::ipv4::MIN_HEADER_LEN
            + if self.kind.is_udp() {
                packet::udp::HEADER_LEN
            } else {
                0
            }
            + self.tunnel_header_len()
    }

    /// Bytes prepended for `layout`.
    pub fn header_len(&self, layout: &Layout) -> usize {
        match layout {
            Layout::UdpPayload => self.tunnel_header_len(),
            Layout::Ipv4 => self.ip_overhead(),
            Layout::Ethernet { .. } => packet::ethernet::HEADER_LEN + self.ip_overhead(),
        }
    }

    /// Checks what per-packet encapsulation relies on: a 24-bit VNI and
    /// well-formed Geneve options.
    pub fn validate(&self) -> Result<(), EncapError> {
        if self.kind != TunnelKind::Gre && self.id > 0x00ff_ffff {
            return Err(EncapError::VniOutOfRange { vni: self.id });
        }
        if self.kind == TunnelKind::Geneve {
            validate_geneve_options(self.geneve_options)?;
        }
        Ok(())
    }
}

/// Checks that `opts` is a sequence of whole Geneve TLVs (RFC 8926 §3.5)
/// fitting the 6-bit option length (at most 252 bytes).
pub fn validate_geneve_options(opts: &[u8]) -> Result<(), EncapError> {
    if opts.len() > geneve::MAX_OPTIONS_LEN {
        return Err(EncapError::BadOptions {
            reason: "longer than 252 bytes",
        });
    }
    let mut rest = opts;
    while !rest.is_empty() {
        let Some(&len_byte) = rest.get(3) else {
            return Err(EncapError::BadOptions {
                reason: "truncated option header",
            });
        };
        let len = 4 + usize::from(len_byte & 0x1f) * 4;
        if len > rest.len() {
            return Err(EncapError::BadOptions {
                reason: "option overruns the option area",
            });
        }
        rest = &rest[len..];
    }
    Ok(())
}

/// A fixed-capacity, allocation-free builder of Geneve option TLVs, e.g.
/// for the flow's `tun_metadata` fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GeneveOptsBuf {
    bytes: [u8; geneve::MAX_OPTIONS_LEN],
    len: usize,
}

impl Default for GeneveOptsBuf {
    fn default() -> Self {
        Self {
            bytes: [0; geneve::MAX_OPTIONS_LEN],
            len: 0,
        }
    }
}

impl GeneveOptsBuf {
    /// Appends one option (`data` a multiple of 4 bytes, at most 124).
    pub fn push(&mut self, class: u16, kind: u8, data: &[u8]) -> Result<(), EncapError> {
        let opt = packet::geneve::GeneveOption { class, kind, data };
        let n = opt
            .emit(&mut self.bytes[self.len..])
            .map_err(|_| EncapError::BadOptions {
                reason: "option data not a multiple of 4, over 124 bytes, or no room",
            })?;
        self.len += n;
        Ok(())
    }

    /// Copies options received by decapsulation (already validated).
    pub fn from_raw(raw: &[u8]) -> Result<Self, EncapError> {
        validate_geneve_options(raw)?;
        let mut out = Self::default();
        out.bytes[..raw.len()].copy_from_slice(raw);
        out.len = raw.len();
        Ok(out)
    }

    /// The encoded options.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// Per-packet values that are not configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PerPacket {
    /// Outer IPv4 identification. With DF set any value will do (RFC 6864
    /// §4.1); a per-port counter keeps it unique for non-DF packets.
    pub ip_ident: u16,
    /// GRE sequence number when [`GreFlags::seq`] is set (RFC 2890 §2.2),
    /// incremented by the port per packet.
    pub gre_seq: u32,
    /// Hash of the inner flow for the UDP source port (e.g. the switch's
    /// flow-key hash); `None` computes one from the inner headers.
    pub flow_hash: Option<u32>,
}

/// What encapsulation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncapInfo {
    /// Bytes prepended.
    pub header_len: usize,
    /// The UDP source port chosen (0 for GRE).
    pub src_port: u16,
    /// Outer TOS written (or to set on the socket with `IP_TOS`).
    pub tos: u8,
    /// Outer TTL written (or to set with `IP_TTL`).
    pub ttl: u8,
}
