//! IPv4 headers (RFC 791), options included (kept opaque), fragments
//! recognised (flags and offset exposed; reassembly is not this crate's job).

use core::net::Ipv4Addr;

use crate::checksum;
use crate::error::Error;
use crate::field::{array, be16, set_be16};

/// Length of an option-less header.
pub const MIN_HEADER_LEN: usize = 20;
/// "Don't fragment" flag in the flags/offset word.
pub const FLAG_DF: u16 = 0x4000;
/// "More fragments" flag in the flags/offset word.
pub const FLAG_MF: u16 = 0x2000;
const OFFSET_MASK: u16 = 0x1fff;

/// A checked view of an IPv4 packet.
///
/// `new_checked` guarantees: version 4, 20 <= IHL*4 <= total length <=
/// buffer length. Bytes past the total length (Ethernet padding) are excluded
/// from [`payload`](Self::payload).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Packet<T> {
    buf: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// Wraps `buf` after the checks listed on the type.
    #[inline]
    pub fn new_checked(buf: T) -> Result<Self, Error> {
        let b = buf.as_ref();
        Error::need("ipv4", MIN_HEADER_LEN, b.len())?;
        if b[0] >> 4 != 4 {
            return Err(Error::malformed("ipv4", "version"));
        }
        let hlen = usize::from(b[0] & 0x0f) * 4;
        if hlen < MIN_HEADER_LEN {
            return Err(Error::malformed("ipv4", "header length"));
        }
        Error::need("ipv4", hlen, b.len())?;
        let total = usize::from(be16(b, 2));
        if total < hlen {
            return Err(Error::malformed("ipv4", "total length"));
        }
        Error::need("ipv4", total, b.len())?;
        Ok(Self { buf })
    }

    /// Gives the buffer back.
    pub fn into_inner(self) -> T {
        self.buf
    }

    /// Header length in bytes (IHL * 4), options included.
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(self.buf.as_ref()[0] & 0x0f) * 4
    }

    /// The TOS byte: DSCP (upper 6 bits) and ECN (lower 2), RFC 2474/3168.
    #[inline]
    pub fn tos(&self) -> u8 {
        self.buf.as_ref()[1]
    }

    /// Total length field (header plus payload).
    #[inline]
    pub fn total_len(&self) -> u16 {
        be16(self.buf.as_ref(), 2)
    }

    /// Identification.
    #[inline]
    pub fn ident(&self) -> u16 {
        be16(self.buf.as_ref(), 4)
    }

    /// DF flag.
    #[inline]
    pub fn dont_frag(&self) -> bool {
        be16(self.buf.as_ref(), 6) & FLAG_DF != 0
    }

    /// MF flag.
    #[inline]
    pub fn more_frags(&self) -> bool {
        be16(self.buf.as_ref(), 6) & FLAG_MF != 0
    }

    /// Fragment offset in 8-byte units.
    #[inline]
    pub fn frag_offset(&self) -> u16 {
        be16(self.buf.as_ref(), 6) & OFFSET_MASK
    }

    /// `true` for any fragment (MF set or non-zero offset).
    #[inline]
    pub fn is_fragment(&self) -> bool {
        be16(self.buf.as_ref(), 6) & (FLAG_MF | OFFSET_MASK) != 0
    }

    /// Time to live.
    #[inline]
    pub fn ttl(&self) -> u8 {
        self.buf.as_ref()[8]
    }

    /// Protocol of the payload.
    #[inline]
    pub fn protocol(&self) -> u8 {
        self.buf.as_ref()[9]
    }

    /// Header checksum field.
    #[inline]
    pub fn checksum(&self) -> u16 {
        be16(self.buf.as_ref(), 10)
    }

    /// Source address.
    #[inline]
    pub fn src(&self) -> Ipv4Addr {
        Ipv4Addr::from(array::<4>(self.buf.as_ref(), 12))
    }

    /// Destination address.
    #[inline]
    pub fn dst(&self) -> Ipv4Addr {
        Ipv4Addr::from(array::<4>(self.buf.as_ref(), 16))
    }

    /// Raw option bytes (between the fixed header and IHL*4).
    #[inline]
    pub fn options(&self) -> &[u8] {
        &self.buf.as_ref()[MIN_HEADER_LEN..self.header_len()]
    }

    /// `true` when the header checksum verifies (RFC 1071: the sum over the
    /// header including the field is 0xffff).
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        checksum::sum(&self.buf.as_ref()[..self.header_len()]) == 0xffff
    }

    /// Payload, bounded by the total length.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buf.as_ref()[self.header_len()..usize::from(self.total_len())]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    /// Sets the TOS byte.
    #[inline]
    pub fn set_tos(&mut self, tos: u8) {
        self.buf.as_mut()[1] = tos;
    }

    /// Sets the identification.
    #[inline]
    pub fn set_ident(&mut self, ident: u16) {
        set_be16(self.buf.as_mut(), 4, ident);
    }

    /// Sets DF, MF and the fragment offset (8-byte units, 13 bits).
    #[inline]
    pub fn set_frag(&mut self, dont_frag: bool, more_frags: bool, offset: u16) {
        let mut word = offset & OFFSET_MASK;
        if dont_frag {
            word |= FLAG_DF;
        }
        if more_frags {
            word |= FLAG_MF;
        }
        set_be16(self.buf.as_mut(), 6, word);
    }

    /// Sets the TTL without touching the checksum; see
    /// [`checksum::update16`] for the RFC 1624 update the switch performs.
    #[inline]
    pub fn set_ttl(&mut self, ttl: u8) {
        self.buf.as_mut()[8] = ttl;
    }

    /// Sets the protocol.
    #[inline]
    pub fn set_protocol(&mut self, proto: u8) {
        self.buf.as_mut()[9] = proto;
    }

    /// Sets the checksum field.
    #[inline]
    pub fn set_checksum(&mut self, csum: u16) {
        set_be16(self.buf.as_mut(), 10, csum);
    }

    /// Sets the source address (checksum untouched).
    #[inline]
    pub fn set_src(&mut self, ip: Ipv4Addr) {
        self.buf.as_mut()[12..16].copy_from_slice(&ip.octets());
    }

    /// Sets the destination address (checksum untouched).
    #[inline]
    pub fn set_dst(&mut self, ip: Ipv4Addr) {
        self.buf.as_mut()[16..20].copy_from_slice(&ip.octets());
    }

    /// Recomputes the header checksum from scratch.
    #[inline]
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let hlen = self.header_len();
        let csum = checksum::ipv4_header(&self.buf.as_ref()[..hlen]);
        self.set_checksum(csum);
    }

    /// Sets the TTL and patches the header checksum incrementally
    /// (RFC 1624 eqn. 3 over the TTL/protocol word) — the switch's
    /// `dec_ttl` path, which must not re-sum the header per packet.
    #[inline]
    pub fn set_ttl_update_checksum(&mut self, ttl: u8) {
        let proto = self.protocol();
        let old = u16::from_be_bytes([self.ttl(), proto]);
        let new = u16::from_be_bytes([ttl, proto]);
        self.set_ttl(ttl);
        let c = checksum::update16(self.checksum(), old, new);
        self.set_checksum(c);
    }

    /// Sets the TOS byte (DSCP/ECN rewrite) and patches the checksum
    /// incrementally over the version/IHL/TOS word.
    #[inline]
    pub fn set_tos_update_checksum(&mut self, tos: u8) {
        let vihl = self.buf.as_ref()[0];
        let old = u16::from_be_bytes([vihl, self.tos()]);
        let new = u16::from_be_bytes([vihl, tos]);
        self.set_tos(tos);
        let c = checksum::update16(self.checksum(), old, new);
        self.set_checksum(c);
    }

    /// Sets the source address and patches the *header* checksum (RFC 1624).
    /// A NAT must also patch the TCP/UDP checksum, whose pseudo-header covers
    /// the address: [`checksum::update32`] with the same old/new values.
    #[inline]
    pub fn set_src_update_checksum(&mut self, ip: Ipv4Addr) {
        let old = u32::from(self.src());
        self.set_src(ip);
        let c = checksum::update32(self.checksum(), old, u32::from(ip));
        self.set_checksum(c);
    }

    /// Sets the destination address and patches the header checksum; see
    /// [`set_src_update_checksum`](Self::set_src_update_checksum).
    #[inline]
    pub fn set_dst_update_checksum(&mut self, ip: Ipv4Addr) {
        let old = u32::from(self.dst());
        self.set_dst(ip);
        let c = checksum::update32(self.checksum(), old, u32::from(ip));
        self.set_checksum(c);
    }

    /// Mutable payload, bounded by the total length.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let (start, end) = (self.header_len(), usize::from(self.total_len()));
        &mut self.buf.as_mut()[start..end]
    }
}

/// Owned IPv4 header without options (options are rare in the overlay and
/// would make the repr allocate; [`Ipv4Repr::emit_with_options`] covers
/// building one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Repr {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: u8,
    pub tos: u8,
    pub ttl: u8,
    pub ident: u16,
    pub dont_frag: bool,
    pub more_frags: bool,
    /// Fragment offset in 8-byte units.
    pub frag_offset: u16,
    /// Payload length (total length minus header length).
    pub payload_len: u16,
}

impl Ipv4Repr {
    /// Reads the header from a view (options are skipped).
    pub fn parse<T: AsRef<[u8]>>(p: &Ipv4Packet<T>) -> Self {
        Self {
            src: p.src(),
            dst: p.dst(),
            protocol: p.protocol(),
            tos: p.tos(),
            ttl: p.ttl(),
            ident: p.ident(),
            dont_frag: p.dont_frag(),
            more_frags: p.more_frags(),
            frag_offset: p.frag_offset(),
            payload_len: p.total_len() - p.header_len() as u16,
        }
    }

    /// Always [`MIN_HEADER_LEN`].
    pub const fn header_len(&self) -> usize {
        MIN_HEADER_LEN
    }

    /// Writes a 20-byte header with a valid checksum into `buf`, which must
    /// also hold the payload (the total length is checked against it).
    pub fn emit(&self, buf: &mut [u8]) -> Result<(), Error> {
        self.emit_with_options(buf, &[])
    }

    /// Like [`emit`](Self::emit) with `options` (a multiple of 4 bytes, at
    /// most 40) after the fixed header.
    pub fn emit_with_options(&self, buf: &mut [u8], options: &[u8]) -> Result<(), Error> {
        if !options.len().is_multiple_of(4) || options.len() > 40 {
            return Err(Error::malformed("ipv4", "options length"));
        }
        let hlen = MIN_HEADER_LEN + options.len();
        let total = hlen + usize::from(self.payload_len);
        let total16 = u16::try_from(total).map_err(|_| Error::malformed("ipv4", "total length"))?;
        Error::need("ipv4", total, buf.len())?;
        buf[0] = 0x40 | (hlen / 4) as u8;
        set_be16(buf, 2, total16);
        buf[MIN_HEADER_LEN..hlen].copy_from_slice(options);
        let mut p = Ipv4Packet::new_checked(buf)?;
        p.set_tos(self.tos);
        p.set_ident(self.ident);
        p.set_frag(self.dont_frag, self.more_frags, self.frag_offset);
        p.set_ttl(self.ttl);
        p.set_protocol(self.protocol);
        p.set_src(self.src);
        p.set_dst(self.dst);
        p.fill_checksum();
        Ok(())
    }
}
