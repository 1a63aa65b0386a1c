//! Decapsulation: from what a socket hands us to tunnel metadata and the
//! inner frame, without copying. Every malformed input is a typed
//! [`DecapError`] (a drop reason), never a panic.
//!
//! Three entry points for the three ways packets arrive:
//! [`decap_udp_payload`] (a UDP socket: payload plus the addresses from
//! `recvmsg`), [`decap_ipv4`] (a raw IP socket: IPv4 + GRE or + UDP),
//! [`decap_ethernet`] (AF_PACKET: a whole frame).

use core::net::Ipv4Addr;
use core::ops::Range;

use packet::ethernet::EthernetFrame;
use packet::flowkey::ethertype;
use packet::geneve::{self, GeneveHeader};
use packet::gre::{self, GrePacket};
use packet::ip_proto;
use packet::ipv4::Ipv4Packet;
use packet::udp::UdpPacket;
use packet::vlan::{self, VlanTag};
use packet::vxlan::VxlanHeader;

use crate::error::DecapError;
use crate::params::TunnelKind;

/// Tunnel flag bits as OVS keeps them in `flow_tnl.flags`
/// (ovs-fields(7), "tun_flags": only `oam` is matchable; the others are
/// the datapath's own bookkeeping, as in OVS's `FLOW_TNL_F_*`).
pub mod tun_flags {
    /// The outer IPv4 header had DF set.
    pub const DONT_FRAGMENT: u16 = 1 << 1;
    /// The packet carried a checksum (outer UDP or GRE).
    pub const CSUM: u16 = 1 << 2;
    /// The tunnel header carried a key / VNI.
    pub const KEY: u16 = 1 << 3;
    /// Geneve O bit / VXLAN-GPE OAM: a control packet (`tun_flags=+oam`).
    pub const OAM: u16 = 1 << 0;
    /// Geneve C bit: critical options are present (RFC 8926 §3.4).
    pub const CRITICAL: u16 = 1 << 4;
}

/// Which UDP ports are tunnels (`options:dst_port` of the ports).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecapConfig {
    /// VXLAN destination port (4789).
    pub vxlan_port: u16,
    /// Geneve destination port (6081).
    pub geneve_port: u16,
    /// Verify outer IPv4, UDP (when non-zero) and GRE (when present)
    /// checksums. A raw socket's kernel has checked the IPv4 header; an
    /// AF_PACKET socket's has not.
    pub verify_checksums: bool,
}

impl Default for DecapConfig {
    fn default() -> Self {
        Self {
            vxlan_port: packet::vxlan::UDP_PORT,
            geneve_port: geneve::UDP_PORT,
            verify_checksums: true,
        }
    }
}

/// Tunnel metadata of a received packet: the `tun_*` fields of
/// ovs-fields(7) ("Tunnel fields") that the flow tables match on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TunnelMeta {
    pub kind: TunnelKind,
    /// `tun_id`: the VNI (24 bits) or GRE key (0 when the GRE header had no
    /// key; [`tun_flags::KEY`] tells the two apart).
    pub tun_id: u64,
    /// `tun_src`: the outer source.
    pub tun_src: Ipv4Addr,
    /// `tun_dst`: the outer destination (our local address).
    pub tun_dst: Ipv4Addr,
    /// `tun_tos`: the outer TOS.
    pub tun_tos: u8,
    /// `tun_ttl`: the outer TTL.
    pub tun_ttl: u8,
    /// `tun_tp_src` / `tun_tp_dst`: outer UDP ports (0 for GRE).
    pub tp_src: u16,
    pub tp_dst: u16,
    /// [`tun_flags`] bits.
    pub flags: u16,
    /// GRE sequence number, if present (RFC 2890 §2.2).
    pub gre_seq: Option<u32>,
}

/// A decapsulated packet: metadata plus where the inner frame is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decapped<'a> {
    pub meta: TunnelMeta,
    /// Raw Geneve options (RFC 8926 §3.5), empty for VXLAN/GRE; iterate with
    /// [`packet::geneve::GeneveHeader::options`] or copy into a
    /// [`GeneveOptsBuf`](crate::GeneveOptsBuf).
    pub options: &'a [u8],
    /// The inner Ethernet frame.
    pub inner: &'a [u8],
    /// Where [`inner`](Self::inner) lies in the input, so a
    /// [`FrameBuf`](crate::FrameBuf) can `pull_front(range.start)` and
    /// `truncate(range.len())` to become the inner frame without a copy.
    pub inner_range: Range<usize>,
}

/// The outer addressing of a datagram read from a UDP socket (`recvmsg`
/// with `IP_PKTINFO`, `IP_RECVTOS`, `IP_RECVTTL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpOrigin {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub src_port: u16,
    pub dst_port: u16,
    pub tos: u8,
    pub ttl: u8,
}

struct Tun {
    kind: TunnelKind,
    id: u64,
    flags: u16,
    gre_seq: Option<u32>,
    options: Range<usize>,
    inner: Range<usize>,
}

/// Parses a VXLAN or Geneve header at the start of `payload` (a UDP
/// payload), as received from a UDP socket bound to the tunnel port.
pub fn decap_udp_payload<'a>(
    payload: &'a [u8],
    kind: TunnelKind,
    origin: &UdpOrigin,
) -> Result<Decapped<'a>, DecapError> {
    let tun = match kind {
        TunnelKind::Vxlan => vxlan_header(payload, 0)?,
        TunnelKind::Geneve => geneve_header(payload, 0)?,
        TunnelKind::Gre => {
            return Err(DecapError::NotTunnelProtocol {
                protocol: ip_proto::UDP,
            })
        }
    };
    Ok(finish(
        payload,
        tun,
        TunnelMeta {
            kind,
            tun_id: 0,
            tun_src: origin.src,
            tun_dst: origin.dst,
            tun_tos: origin.tos,
            tun_ttl: origin.ttl,
            tp_src: origin.src_port,
            tp_dst: origin.dst_port,
            flags: 0,
            gre_seq: None,
        },
    ))
}

/// Parses an IPv4 packet carrying GRE, or UDP to a tunnel port.
pub fn decap_ipv4<'a>(packet: &'a [u8], cfg: &DecapConfig) -> Result<Decapped<'a>, DecapError> {
    decap_ipv4_at(packet, 0, cfg)
}

/// Parses an Ethernet frame (one optional 802.1Q tag) carrying IPv4 and a
/// tunnel.
pub fn decap_ethernet<'a>(frame: &'a [u8], cfg: &DecapConfig) -> Result<Decapped<'a>, DecapError> {
    let eth = EthernetFrame::new_checked(frame)?;
    let mut et = eth.ethertype();
    let mut at = packet::ethernet::HEADER_LEN;
    if vlan::is_tpid(et) {
        let tag = VlanTag::new_checked(&frame[at..])?;
        et = tag.ethertype();
        at += vlan::HEADER_LEN;
    }
    if et != ethertype::IPV4 {
        return Err(DecapError::NotIpv4 { ethertype: et });
    }
    decap_ipv4_at(frame, at, cfg)
}

fn decap_ipv4_at<'a>(
    buf: &'a [u8],
    at: usize,
    cfg: &DecapConfig,
) -> Result<Decapped<'a>, DecapError> {
    let ip = Ipv4Packet::new_checked(&buf[at..])?;
    if ip.is_fragment() {
        return Err(DecapError::Fragment { src: ip.src() });
    }
    if cfg.verify_checksums && !ip.verify_checksum() {
        return Err(DecapError::IpChecksum);
    }
    let l4 = at + ip.header_len();
    // Bound everything by the IP total length (Ethernet padding excluded).
    let end = at + usize::from(ip.total_len());
    let l4buf = &buf[..end];
    let mut meta = TunnelMeta {
        kind: TunnelKind::Gre,
        tun_id: 0,
        tun_src: ip.src(),
        tun_dst: ip.dst(),
        tun_tos: ip.tos(),
        tun_ttl: ip.ttl(),
        tp_src: 0,
        tp_dst: 0,
        flags: if ip.dont_frag() {
            tun_flags::DONT_FRAGMENT
        } else {
            0
        },
        gre_seq: None,
    };
    let tun = match ip.protocol() {
        ip_proto::GRE => gre_header(l4buf, l4, cfg)?,
        ip_proto::UDP => {
            let udp = UdpPacket::new_checked(&l4buf[l4..])?;
            meta.tp_src = udp.src_port();
            meta.tp_dst = udp.dst_port();
            let kind = if udp.dst_port() == cfg.vxlan_port {
                TunnelKind::Vxlan
            } else if udp.dst_port() == cfg.geneve_port {
                TunnelKind::Geneve
            } else {
                return Err(DecapError::NotTunnelPort {
                    port: udp.dst_port(),
                });
            };
            if udp.checksum() != 0 {
                meta.flags |= tun_flags::CSUM;
                if cfg.verify_checksums && !udp.verify_checksum_v4(ip.src(), ip.dst()) {
                    return Err(DecapError::UdpChecksum);
                }
            }
            let udp_end = l4 + usize::from(udp.len());
            let payload = &l4buf[..udp_end];
            let hdr = l4 + packet::udp::HEADER_LEN;
            match kind {
                TunnelKind::Vxlan => vxlan_header(payload, hdr)?,
                _ => geneve_header(payload, hdr)?,
            }
        }
        protocol => return Err(DecapError::NotTunnelProtocol { protocol }),
    };
    Ok(finish(l4buf, tun, meta))
}

fn finish<'a>(buf: &'a [u8], tun: Tun, mut meta: TunnelMeta) -> Decapped<'a> {
    meta.kind = tun.kind;
    meta.tun_id = tun.id;
    meta.flags |= tun.flags;
    meta.gre_seq = tun.gre_seq;
    Decapped {
        meta,
        options: &buf[tun.options],
        inner: &buf[tun.inner.clone()],
        inner_range: tun.inner,
    }
}

fn inner_range(buf: &[u8], start: usize) -> Result<Range<usize>, DecapError> {
    let len = buf.len().saturating_sub(start);
    if len < packet::ethernet::HEADER_LEN {
        return Err(DecapError::InnerTooShort { len });
    }
    Ok(start..buf.len())
}

/// RFC 7348 §5: I flag set; reserved bits ignored on receipt.
fn vxlan_header(buf: &[u8], at: usize) -> Result<Tun, DecapError> {
    let h = VxlanHeader::new_checked(&buf[at..])?;
    Ok(Tun {
        kind: TunnelKind::Vxlan,
        id: u64::from(h.vni()),
        flags: tun_flags::KEY,
        gre_seq: None,
        options: at..at,
        inner: inner_range(buf, at + packet::vxlan::HEADER_LEN)?,
    })
}

/// RFC 8926 §3.4: version 0, protocol type 0x6558 for an Ethernet payload;
/// options must parse (§3.5). Whether critical options are understood is for
/// the switch to decide ([`tun_flags::CRITICAL`]).
fn geneve_header(buf: &[u8], at: usize) -> Result<Tun, DecapError> {
    let h = GeneveHeader::new_checked(&buf[at..])?;
    if h.protocol() != geneve::PROTO_ETHERNET {
        return Err(DecapError::NotEthernetPayload {
            protocol: h.protocol(),
        });
    }
    for opt in h.options() {
        opt.map_err(DecapError::GeneveOption)?;
    }
    let mut flags = tun_flags::KEY;
    if h.oam() {
        flags |= tun_flags::OAM;
    }
    if h.critical() {
        flags |= tun_flags::CRITICAL;
    }
    let opts = at + geneve::HEADER_LEN;
    Ok(Tun {
        kind: TunnelKind::Geneve,
        id: u64::from(h.vni()),
        flags,
        gre_seq: None,
        options: opts..opts + h.options_len(),
        inner: inner_range(buf, at + h.header_len())?,
    })
}

/// RFC 2784/2890: version 0, no routing, transparent Ethernet payload,
/// checksum verified when present.
fn gre_header(buf: &[u8], at: usize, cfg: &DecapConfig) -> Result<Tun, DecapError> {
    let g = GrePacket::new_checked(&buf[at..])?;
    if g.protocol() != gre::PROTO_ETHERNET {
        return Err(DecapError::NotEthernetPayload {
            protocol: g.protocol(),
        });
    }
    let mut flags = 0;
    if g.checksum().is_some() {
        flags |= tun_flags::CSUM;
        if cfg.verify_checksums && !g.verify_checksum() {
            return Err(DecapError::GreChecksum);
        }
    }
    let key = g.key();
    if key.is_some() {
        flags |= tun_flags::KEY;
    }
    Ok(Tun {
        kind: TunnelKind::Gre,
        id: u64::from(key.unwrap_or(0)),
        flags,
        gre_seq: g.seq(),
        options: at..at,
        inner: inner_range(buf, at + g.header_len())?,
    })
}

/// RFC 6040 §4.2 decapsulation of ECN: an outer CE mark is copied onto an
/// ECT inner IP packet (fixing the IPv4 header checksum); over a Not-ECT
/// inner packet it is an error (the packet MUST be dropped). Non-IP inner
/// frames are left alone.
pub fn propagate_ecn(outer_tos: u8, inner: &mut [u8]) -> Result<(), DecapError> {
    const CE: u8 = 0x03;
    if outer_tos & 0x03 != CE || inner.len() < packet::ethernet::HEADER_LEN + 20 {
        return Ok(());
    }
    let l3 = packet::ethernet::HEADER_LEN;
    let et = u16::from_be_bytes([inner[12], inner[13]]);
    match et {
        ethertype::IPV4 => {
            let mut ip = Ipv4Packet::new_checked(&mut inner[l3..])?;
            let tos = ip.tos();
            if tos & 0x03 == 0 {
                return Err(DecapError::EcnCeOnNotEct);
            }
            if tos & 0x03 != CE {
                let old = u16::from_be_bytes([0x40 | (ip.header_len() / 4) as u8, tos]);
                let new = u16::from_be_bytes([0x40 | (ip.header_len() / 4) as u8, tos | CE]);
                let c = packet::checksum::update16(ip.checksum(), old, new);
                ip.set_tos(tos | CE);
                ip.set_checksum(c);
            }
        }
        ethertype::IPV6 => {
            let mut ip = packet::ipv6::Ipv6Packet::new_checked(&mut inner[l3..])?;
            let tc = ip.traffic_class();
            if tc & 0x03 == 0 {
                return Err(DecapError::EcnCeOnNotEct);
            }
            ip.set_traffic_class(tc | CE);
        }
        _ => {}
    }
    Ok(())
}
