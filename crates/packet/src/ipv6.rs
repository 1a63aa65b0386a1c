//! IPv6 (RFC 8200): the fixed header, extension headers, and a walk from the
//! fixed header to the upper-layer protocol.
//!
//! The walk follows OVS (`parse_ipv6_ext_hdrs` in lib/flow.c): hop-by-hop,
//! routing, destination options, AH and fragment headers are skipped; a
//! non-first fragment stops the walk because its upper-layer header is not
//! in this packet. ESP and "no next header" end it too.

use core::net::Ipv6Addr;

use crate::error::Error;
use crate::field::{array, be16, be32, set_be16, set_be32};
use crate::ip_proto;

/// Length of the fixed header.
pub const HEADER_LEN: usize = 40;
/// Length of the fragment extension header.
pub const FRAG_HEADER_LEN: usize = 8;

/// A checked view of an IPv6 packet.
///
/// `new_checked` guarantees: version 6 and 40 + payload length <= buffer
/// length; bytes beyond (Ethernet padding) are outside [`payload`](Self::payload).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Packet<T> {
    buf: T,
}

impl<T: AsRef<[u8]>> Ipv6Packet<T> {
    /// Wraps `buf` after the checks listed on the type.
    #[inline]
    pub fn new_checked(buf: T) -> Result<Self, Error> {
        let b = buf.as_ref();
        Error::need("ipv6", HEADER_LEN, b.len())?;
        if b[0] >> 4 != 6 {
            return Err(Error::malformed("ipv6", "version"));
        }
        Error::need("ipv6", HEADER_LEN + usize::from(be16(b, 4)), b.len())?;
        Ok(Self { buf })
    }

    /// Gives the buffer back.
    pub fn into_inner(self) -> T {
        self.buf
    }

    /// Traffic class (DSCP and ECN, as IPv4's TOS byte).
    #[inline]
    pub fn traffic_class(&self) -> u8 {
        (be16(self.buf.as_ref(), 0) >> 4) as u8
    }

    /// Flow label (20 bits).
    #[inline]
    pub fn flow_label(&self) -> u32 {
        be32(self.buf.as_ref(), 0) & 0x000f_ffff
    }

    /// Payload length (extension headers included).
    #[inline]
    pub fn payload_len(&self) -> u16 {
        be16(self.buf.as_ref(), 4)
    }

    /// Next header after the fixed header.
    #[inline]
    pub fn next_header(&self) -> u8 {
        self.buf.as_ref()[6]
    }

    /// Hop limit.
    #[inline]
    pub fn hop_limit(&self) -> u8 {
        self.buf.as_ref()[7]
    }

    /// Source address.
    #[inline]
    pub fn src(&self) -> Ipv6Addr {
        Ipv6Addr::from(self.src_bytes())
    }

    /// Destination address.
    #[inline]
    pub fn dst(&self) -> Ipv6Addr {
        Ipv6Addr::from(self.dst_bytes())
    }

    /// Source address octets.
    #[inline]
    pub fn src_bytes(&self) -> [u8; 16] {
        array(self.buf.as_ref(), 8)
    }

    /// Destination address octets.
    #[inline]
    pub fn dst_bytes(&self) -> [u8; 16] {
        array(self.buf.as_ref(), 24)
    }

    /// Payload (extension headers and upper layer), bounded by the payload length.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buf.as_ref()[HEADER_LEN..HEADER_LEN + usize::from(self.payload_len())]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv6Packet<T> {
    /// Sets version 6, traffic class and flow label in the first word.
    #[inline]
    pub fn set_version_tc_label(&mut self, traffic_class: u8, flow_label: u32) {
        let word = (6u32 << 28) | (u32::from(traffic_class) << 20) | (flow_label & 0x000f_ffff);
        set_be32(self.buf.as_mut(), 0, word);
    }

    /// Sets the traffic class, keeping the flow label.
    #[inline]
    pub fn set_traffic_class(&mut self, tc: u8) {
        let label = self.flow_label();
        self.set_version_tc_label(tc, label);
    }

    /// Sets the payload length field.
    #[inline]
    pub fn set_payload_len(&mut self, len: u16) {
        set_be16(self.buf.as_mut(), 4, len);
    }

    /// Sets the next header.
    #[inline]
    pub fn set_next_header(&mut self, nh: u8) {
        self.buf.as_mut()[6] = nh;
    }

    /// Sets the hop limit.
    #[inline]
    pub fn set_hop_limit(&mut self, hl: u8) {
        self.buf.as_mut()[7] = hl;
    }

    /// Sets the source address.
    #[inline]
    pub fn set_src(&mut self, ip: Ipv6Addr) {
        self.buf.as_mut()[8..24].copy_from_slice(&ip.octets());
    }

    /// Sets the destination address.
    #[inline]
    pub fn set_dst(&mut self, ip: Ipv6Addr) {
        self.buf.as_mut()[24..40].copy_from_slice(&ip.octets());
    }
}

/// Owned fixed IPv6 header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv6Repr {
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    pub next_header: u8,
    pub traffic_class: u8,
    pub flow_label: u32,
    pub hop_limit: u8,
    pub payload_len: u16,
}

impl Ipv6Repr {
    /// Reads the fixed header from a view.
    pub fn parse<T: AsRef<[u8]>>(p: &Ipv6Packet<T>) -> Self {
        Self {
            src: p.src(),
            dst: p.dst(),
            next_header: p.next_header(),
            traffic_class: p.traffic_class(),
            flow_label: p.flow_label(),
            hop_limit: p.hop_limit(),
            payload_len: p.payload_len(),
        }
    }

    /// Always [`HEADER_LEN`].
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the fixed header into `buf`, which must also hold the payload.
    pub fn emit(&self, buf: &mut [u8]) -> Result<(), Error> {
        Error::need(
            "ipv6",
            HEADER_LEN + usize::from(self.payload_len),
            buf.len(),
        )?;
        buf[0] = 0x60;
        set_be16(buf, 4, self.payload_len);
        let mut p = Ipv6Packet::new_checked(buf)?;
        p.set_version_tc_label(self.traffic_class, self.flow_label);
        p.set_next_header(self.next_header);
        p.set_hop_limit(self.hop_limit);
        p.set_src(self.src);
        p.set_dst(self.dst);
        Ok(())
    }
}

/// `true` for the extension headers [`walk`] skips.
#[inline]
pub fn is_extension(nh: u8) -> bool {
    matches!(
        nh,
        ip_proto::HOPOPTS
            | ip_proto::ROUTING
            | ip_proto::FRAGMENT
            | ip_proto::DSTOPTS
            | ip_proto::AH
    )
}

/// A checked view of a generic extension header (hop-by-hop, routing,
/// destination options: RFC 8200 §4.3-4.6; or AH: RFC 4302 §2.2, whose
/// length field counts 4-byte words minus 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtHeader<T> {
    buf: T,
    len: usize,
}

impl<T: AsRef<[u8]>> ExtHeader<T> {
    /// Wraps `buf`, holding an extension header of kind `kind` (the next
    /// header value that announced it), after checking its declared length.
    #[inline]
    pub fn new_checked(buf: T, kind: u8) -> Result<Self, Error> {
        let b = buf.as_ref();
        Error::need("ipv6-ext", 2, b.len())?;
        let len = if kind == ip_proto::AH {
            (usize::from(b[1]) + 2) * 4
        } else if kind == ip_proto::FRAGMENT {
            FRAG_HEADER_LEN
        } else {
            (usize::from(b[1]) + 1) * 8
        };
        Error::need("ipv6-ext", len, b.len())?;
        Ok(Self { buf, len })
    }

    /// Next header after this one.
    #[inline]
    pub fn next_header(&self) -> u8 {
        self.buf.as_ref()[0]
    }

    /// Total length of this header in bytes.
    #[inline]
    pub fn header_len(&self) -> usize {
        self.len
    }

    /// Header body after the next-header and length bytes.
    #[inline]
    pub fn data(&self) -> &[u8] {
        &self.buf.as_ref()[2..self.len]
    }
}

/// A checked view of the fragment header (RFC 8200 §4.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FragHeader<T> {
    buf: T,
}

impl<T: AsRef<[u8]>> FragHeader<T> {
    /// Wraps `buf` after checking it holds 8 bytes.
    #[inline]
    pub fn new_checked(buf: T) -> Result<Self, Error> {
        Error::need("ipv6-frag", FRAG_HEADER_LEN, buf.as_ref().len())?;
        Ok(Self { buf })
    }

    /// Next header of the fragmentable part.
    #[inline]
    pub fn next_header(&self) -> u8 {
        self.buf.as_ref()[0]
    }

    /// Fragment offset in 8-byte units.
    #[inline]
    pub fn frag_offset(&self) -> u16 {
        be16(self.buf.as_ref(), 2) >> 3
    }

    /// M flag: more fragments follow.
    #[inline]
    pub fn more_frags(&self) -> bool {
        be16(self.buf.as_ref(), 2) & 1 != 0
    }

    /// Identification.
    #[inline]
    pub fn ident(&self) -> u32 {
        be32(self.buf.as_ref(), 4)
    }
}

/// Owned fragment header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FragRepr {
    pub next_header: u8,
    /// Offset in 8-byte units (13 bits).
    pub frag_offset: u16,
    pub more_frags: bool,
    pub ident: u32,
}

impl FragRepr {
    /// Reads a fragment header from a view.
    pub fn parse<T: AsRef<[u8]>>(h: &FragHeader<T>) -> Self {
        Self {
            next_header: h.next_header(),
            frag_offset: h.frag_offset(),
            more_frags: h.more_frags(),
            ident: h.ident(),
        }
    }

    /// Writes the 8-byte header into `buf`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<(), Error> {
        Error::need("ipv6-frag", FRAG_HEADER_LEN, buf.len())?;
        buf[0] = self.next_header;
        buf[1] = 0;
        set_be16(buf, 2, (self.frag_offset << 3) | u16::from(self.more_frags));
        set_be32(buf, 4, self.ident);
        Ok(())
    }
}

/// Writes a hop-by-hop / routing / destination-options header of
/// `len` bytes (a multiple of 8, at least 8) whose body is PadN padding
/// (RFC 8200 §4.2), so receivers skip it. Returns `len`.
pub fn emit_padded_ext(buf: &mut [u8], next_header: u8, len: usize) -> Result<usize, Error> {
    if len < 8 || !len.is_multiple_of(8) || len > 8 * 256 {
        return Err(Error::malformed("ipv6-ext", "length"));
    }
    Error::need("ipv6-ext", len, buf.len())?;
    buf[0] = next_header;
    buf[1] = (len / 8 - 1) as u8;
    // PadN option: type 1, data length len-4, zero data.
    buf[2] = 1;
    buf[3] = (len - 4) as u8;
    buf[4..len].fill(0);
    Ok(len)
}

/// Where the extension-header walk ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UpperLayer {
    /// Upper-layer protocol (the last next-header value seen).
    pub protocol: u8,
    /// Offset of the upper-layer header from the start of the IPv6 payload.
    pub offset: usize,
    /// The packet is a fragment (a fragment header was seen).
    pub fragment: bool,
    /// The packet is a non-first fragment: `offset` points at fragment data,
    /// not at an upper-layer header.
    pub later_fragment: bool,
}

/// Walks extension headers in `payload` (the IPv6 payload) starting from
/// `next_header`, stopping at the first non-extension header or at a
/// non-first fragment. On a truncated header the error carries no partial
/// result; callers that want one read `protocol` from the fixed header.
#[inline]
pub fn walk(mut next_header: u8, payload: &[u8]) -> Result<UpperLayer, Error> {
    let mut out = UpperLayer::default();
    let mut rest = payload;
    while is_extension(next_header) {
        if next_header == ip_proto::FRAGMENT {
            let frag = FragHeader::new_checked(rest)?;
            out.fragment = true;
            next_header = frag.next_header();
            out.offset += FRAG_HEADER_LEN;
            rest = &rest[FRAG_HEADER_LEN..];
            if frag.frag_offset() != 0 {
                out.later_fragment = true;
                break;
            }
        } else {
            let ext = ExtHeader::new_checked(rest, next_header)?;
            next_header = ext.next_header();
            out.offset += ext.header_len();
            rest = &rest[ext.header_len()..];
        }
    }
    out.protocol = next_header;
    Ok(out)
}
