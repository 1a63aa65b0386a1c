//! UDP (RFC 768).

use core::net::{Ipv4Addr, Ipv6Addr};

use crate::checksum;
use crate::error::Error;
use crate::field::{be16, set_be16};
use crate::ip_proto;

/// UDP header length.
pub const HEADER_LEN: usize = 8;

/// A checked view of a UDP datagram.
///
/// `new_checked` guarantees 8 <= length field <= buffer length; the payload
/// is bounded by the length field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpPacket<T> {
    buf: T,
}

impl<T: AsRef<[u8]>> UdpPacket<T> {
    /// Wraps `buf` after the checks listed on the type.
    #[inline]
    pub fn new_checked(buf: T) -> Result<Self, Error> {
        let b = buf.as_ref();
        Error::need("udp", HEADER_LEN, b.len())?;
        let len = usize::from(be16(b, 4));
        if len < HEADER_LEN {
            return Err(Error::malformed("udp", "length"));
        }
        Error::need("udp", len, b.len())?;
        Ok(Self { buf })
    }

    /// Gives the buffer back.
    pub fn into_inner(self) -> T {
        self.buf
    }

    /// Source port.
    #[inline]
    pub fn src_port(&self) -> u16 {
        be16(self.buf.as_ref(), 0)
    }

    /// Destination port.
    #[inline]
    pub fn dst_port(&self) -> u16 {
        be16(self.buf.as_ref(), 2)
    }

    /// Length field (header plus payload).
    #[inline]
    pub fn len(&self) -> u16 {
        be16(self.buf.as_ref(), 4)
    }

    /// `true` when the datagram has no payload.
    #[inline]
    pub fn is_empty(&self) -> bool {
        usize::from(self.len()) == HEADER_LEN
    }

    /// Checksum field (0 = none, IPv4 only).
    #[inline]
    pub fn checksum(&self) -> u16 {
        be16(self.buf.as_ref(), 6)
    }

    /// Payload, bounded by the length field.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buf.as_ref()[HEADER_LEN..usize::from(self.len())]
    }

    fn datagram(&self) -> &[u8] {
        &self.buf.as_ref()[..usize::from(self.len())]
    }

    /// Verifies the checksum over IPv4; an all-zero field means "not
    /// computed" and verifies (RFC 768).
    pub fn verify_checksum_v4(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        if self.checksum() == 0 {
            return true;
        }
        let pseudo = checksum::pseudo_header_v4(src, dst, ip_proto::UDP, self.len());
        checksum::add(pseudo, checksum::sum(self.datagram())) == 0xffff
    }

    /// Verifies the checksum over IPv6, where it is mandatory (RFC 8200 §8.1).
    pub fn verify_checksum_v6(&self, src: &Ipv6Addr, dst: &Ipv6Addr) -> bool {
        let pseudo = checksum::pseudo_header_v6(src, dst, ip_proto::UDP, u32::from(self.len()));
        checksum::add(pseudo, checksum::sum(self.datagram())) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> UdpPacket<T> {
    /// Sets the source port.
    #[inline]
    pub fn set_src_port(&mut self, p: u16) {
        set_be16(self.buf.as_mut(), 0, p);
    }

    /// Sets the destination port.
    #[inline]
    pub fn set_dst_port(&mut self, p: u16) {
        set_be16(self.buf.as_mut(), 2, p);
    }

    /// Sets the checksum field.
    #[inline]
    pub fn set_checksum(&mut self, c: u16) {
        set_be16(self.buf.as_mut(), 6, c);
    }

    /// Mutable payload.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = usize::from(self.len());
        &mut self.buf.as_mut()[HEADER_LEN..end]
    }

    /// Fills the checksum over IPv4; a computed 0 is sent as 0xffff (RFC 768).
    pub fn fill_checksum_v4(&mut self, src: Ipv4Addr, dst: Ipv4Addr) {
        self.set_checksum(0);
        let c = checksum::l4_ipv4(src, dst, ip_proto::UDP, self.datagram());
        self.set_checksum(if c == 0 { 0xffff } else { c });
    }

    /// Fills the checksum over IPv6.
    pub fn fill_checksum_v6(&mut self, src: &Ipv6Addr, dst: &Ipv6Addr) {
        self.set_checksum(0);
        let c = checksum::l4_ipv6(src, dst, ip_proto::UDP, self.datagram());
        self.set_checksum(if c == 0 { 0xffff } else { c });
    }
}

/// Owned UDP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UdpRepr {
    pub src_port: u16,
    pub dst_port: u16,
    /// Payload length (the length field minus 8).
    pub payload_len: u16,
}

impl UdpRepr {
    /// Reads the header from a view.
    pub fn parse<T: AsRef<[u8]>>(p: &UdpPacket<T>) -> Self {
        Self {
            src_port: p.src_port(),
            dst_port: p.dst_port(),
            payload_len: p.len() - HEADER_LEN as u16,
        }
    }

    /// Always [`HEADER_LEN`].
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header with a zero checksum into `buf`, which must hold
    /// the payload too; fill the checksum afterwards through the view (tunnel
    /// encapsulation over IPv4 may leave it zero, RFC 7348 §5).
    pub fn emit(&self, buf: &mut [u8]) -> Result<(), Error> {
        let len = HEADER_LEN + usize::from(self.payload_len);
        let len16 = u16::try_from(len).map_err(|_| Error::malformed("udp", "length"))?;
        Error::need("udp", len, buf.len())?;
        set_be16(buf, 4, len16);
        let mut p = UdpPacket::new_checked(buf)?;
        p.set_src_port(self.src_port);
        p.set_dst_port(self.dst_port);
        p.set_checksum(0);
        Ok(())
    }
}
