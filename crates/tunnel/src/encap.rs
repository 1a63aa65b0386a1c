//! Encapsulation: prepend outer headers to an inner Ethernet frame held in a
//! [`FrameBuf`], in place (the inner frame never moves).
//!
//! Outer header fields follow the RFCs: VXLAN I flag and 24-bit VNI
//! (RFC 7348 §5), Geneve version 0 / protocol 0x6558 / option length in
//! words (RFC 8926 §3.4), GRE protocol 0x6558 with the RFC 2890 key and
//! sequence number; outer UDP source port from the inner flow hash in
//! 49152-65535 (RFC 7348 §5); outer DF as configured (OVS sets it by
//! default, `options:df_default=true`).

use packet::ethernet::EthernetRepr;
use packet::flowkey::ethertype;
use packet::geneve::{self, GeneveRepr};
use packet::gre::{self, GreRepr};
use packet::ipv4::Ipv4Repr;
use packet::udp::{UdpPacket, UdpRepr};
use packet::vxlan::VxlanRepr;
use packet::{ethernet, ip_proto};

use crate::buf::FrameBuf;
use crate::error::EncapError;
use crate::inner;
use crate::params::{EncapInfo, Layout, PerPacket, Tos, Ttl, TunnelKind, TunnelParams};

/// Prepends the outer headers for `params` in `layout` to the inner frame in
/// `buf`.
///
/// Cost: a look at the inner headers (for the hash and TOS/TTL inheritance),
/// ~50 bytes of header writes, and a pass over the packet only when a UDP or
/// GRE checksum is asked for. Call [`TunnelParams::validate`] once when the
/// parameters are configured; this function re-checks the cheap invariants
/// and never panics.
pub fn encap<B: AsRef<[u8]> + AsMut<[u8]>>(
    buf: &mut FrameBuf<B>,
    params: &TunnelParams<'_>,
    layout: &Layout,
    per_packet: PerPacket,
) -> Result<EncapInfo, EncapError> {
    let inner_len = buf.len();
    if inner_len < ethernet::HEADER_LEN {
        return Err(EncapError::InnerTooShort { len: inner_len });
    }
    if params.kind == TunnelKind::Gre && *layout == Layout::UdpPayload {
        return Err(EncapError::GreNeedsIpLayout);
    }
    if params.kind != TunnelKind::Gre && params.id > 0x00ff_ffff {
        return Err(EncapError::VniOutOfRange { vni: params.id });
    }
    if params.kind == TunnelKind::Geneve
        && (params.geneve_options.len() > geneve::MAX_OPTIONS_LEN
            || !params.geneve_options.len().is_multiple_of(4))
    {
        return Err(EncapError::BadOptions {
            reason: "length not a multiple of 4 or over 252 bytes",
        });
    }

    let info = inner::inspect(buf.data());
    let hash = per_packet.flow_hash.unwrap_or(info.hash);
    let src_port = if params.kind.is_udp() {
        inner::src_port(hash)
    } else {
        0
    };
    let tos = match params.tos {
        Tos::Inherit => info.tos,
        Tos::Fixed(dscp) => (dscp & 0xfc) | (info.tos & 0x03),
    };
    let ttl = match params.ttl {
        Ttl::Inherit => info.ttl.unwrap_or(64),
        Ttl::Fixed(t) => t,
    };

    let hdr_len = params.header_len(layout);
    let eth_len = match layout {
        Layout::Ethernet { .. } => ethernet::HEADER_LEN,
        _ => 0,
    };
    let ip_total = hdr_len - eth_len + inner_len;
    if *layout != Layout::UdpPayload && ip_total > usize::from(u16::MAX) {
        return Err(EncapError::TooBig { len: ip_total });
    }
    let pkt = buf.push_front(hdr_len)?;

    if let Layout::Ethernet { src, dst } = layout {
        EthernetRepr {
            dst: *dst,
            src: *src,
            ethertype: ethertype::IPV4,
        }
        .emit(pkt)?;
    }
    let mut at = eth_len;
    if *layout != Layout::UdpPayload {
        let payload_len = (ip_total - packet::ipv4::MIN_HEADER_LEN) as u16;
        Ipv4Repr {
            src: params.local,
            dst: params.remote,
            protocol: if params.kind.is_udp() {
                ip_proto::UDP
            } else {
                ip_proto::GRE
            },
            tos,
            ttl,
            ident: per_packet.ip_ident,
            dont_frag: params.df,
            more_frags: false,
            frag_offset: 0,
            payload_len,
        }
        .emit(&mut pkt[at..])?;
        at += packet::ipv4::MIN_HEADER_LEN;
        if params.kind.is_udp() {
            let udp_len = payload_len;
            UdpRepr {
                src_port,
                dst_port: params.dst_port,
                payload_len: udp_len - packet::udp::HEADER_LEN as u16,
            }
            .emit(&mut pkt[at..])?;
        }
    }
    let udp_at = at;
    if params.kind.is_udp() && *layout != Layout::UdpPayload {
        at += packet::udp::HEADER_LEN;
    }

    match params.kind {
        TunnelKind::Vxlan => VxlanRepr { vni: params.id }.emit(&mut pkt[at..])?,
        TunnelKind::Geneve => {
            let opts = params.geneve_options;
            GeneveRepr {
                vni: params.id,
                protocol: geneve::PROTO_ETHERNET,
                oam: false,
                critical: opts_have_critical(opts),
                options_len: opts.len(),
            }
            .emit(&mut pkt[at..])?;
            let o = at + geneve::HEADER_LEN;
            pkt[o..o + opts.len()].copy_from_slice(opts);
        }
        TunnelKind::Gre => GreRepr {
            protocol: gre::PROTO_ETHERNET,
            checksum: params.gre.csum,
            key: params.gre.key.then_some(params.id),
            seq: params.gre.seq.then_some(per_packet.gre_seq),
        }
        .emit(&mut pkt[at..])?,
    }

    if params.kind.is_udp() && params.udp_csum && *layout != Layout::UdpPayload {
        let mut udp = UdpPacket::new_checked(&mut pkt[udp_at..])?;
        udp.fill_checksum_v4(params.local, params.remote);
    }

    Ok(EncapInfo {
        header_len: hdr_len,
        src_port,
        tos,
        ttl,
    })
}

/// RFC 8926 §3.4: the C bit is set when any option has its critical bit
/// (the high bit of the type) set.
fn opts_have_critical(mut rest: &[u8]) -> bool {
    while rest.len() >= 4 {
        if rest[2] & 0x80 != 0 {
            return true;
        }
        let len = 4 + usize::from(rest[3] & 0x1f) * 4;
        rest = rest.get(len..).unwrap_or(&[]);
    }
    false
}
