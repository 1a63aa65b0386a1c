//! TCP (RFC 9293). Options are skipped, not parsed: the data offset bounds
//! them and [`TcpPacket::options`] exposes the raw bytes.

use core::net::{Ipv4Addr, Ipv6Addr};

use crate::checksum;
use crate::error::Error;
use crate::field::{be16, be32, set_be16, set_be32};
use crate::ip_proto;

/// Length of an option-less header.
pub const MIN_HEADER_LEN: usize = 20;

/// TCP flag bits as they appear in the low 12 bits of the offset/flags word
/// (OVS `tcp_flags`, ovs-fields(7): the 3 reserved bits, NS, then CWR..FIN).
pub mod flags {
    pub const FIN: u16 = 0x001;
    pub const SYN: u16 = 0x002;
    pub const RST: u16 = 0x004;
    pub const PSH: u16 = 0x008;
    pub const ACK: u16 = 0x010;
    pub const URG: u16 = 0x020;
    pub const ECE: u16 = 0x040;
    pub const CWR: u16 = 0x080;
    pub const NS: u16 = 0x100;
    /// All 12 bits OVS matches on.
    pub const MASK: u16 = 0x0fff;
}

/// A checked view of a TCP segment.
///
/// `new_checked` guarantees 20 <= data offset * 4 <= buffer length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpPacket<T> {
    buf: T,
}

impl<T: AsRef<[u8]>> TcpPacket<T> {
    /// Wraps `buf` after the checks listed on the type.
    #[inline]
    pub fn new_checked(buf: T) -> Result<Self, Error> {
        let b = buf.as_ref();
        Error::need("tcp", MIN_HEADER_LEN, b.len())?;
        let hlen = usize::from(b[12] >> 4) * 4;
        if hlen < MIN_HEADER_LEN {
            return Err(Error::malformed("tcp", "data offset"));
        }
        Error::need("tcp", hlen, b.len())?;
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

    /// Sequence number.
    #[inline]
    pub fn seq(&self) -> u32 {
        be32(self.buf.as_ref(), 4)
    }

    /// Acknowledgement number.
    #[inline]
    pub fn ack(&self) -> u32 {
        be32(self.buf.as_ref(), 8)
    }

    /// Header length in bytes (data offset * 4).
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(self.buf.as_ref()[12] >> 4) * 4
    }

    /// The 12 flag bits (see [`flags`]).
    #[inline]
    pub fn flags(&self) -> u16 {
        be16(self.buf.as_ref(), 12) & flags::MASK
    }

    /// Window.
    #[inline]
    pub fn window(&self) -> u16 {
        be16(self.buf.as_ref(), 14)
    }

    /// Checksum field.
    #[inline]
    pub fn checksum(&self) -> u16 {
        be16(self.buf.as_ref(), 16)
    }

    /// Urgent pointer.
    #[inline]
    pub fn urgent(&self) -> u16 {
        be16(self.buf.as_ref(), 18)
    }

    /// Raw option bytes.
    #[inline]
    pub fn options(&self) -> &[u8] {
        &self.buf.as_ref()[MIN_HEADER_LEN..self.header_len()]
    }

    /// Data after the header.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buf.as_ref()[self.header_len()..]
    }

    /// Verifies the checksum over IPv4 for the whole buffer as the segment.
    pub fn verify_checksum_v4(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        let seg = self.buf.as_ref();
        let pseudo = checksum::pseudo_header_v4(src, dst, ip_proto::TCP, seg.len() as u16);
        checksum::add(pseudo, checksum::sum(seg)) == 0xffff
    }

    /// Verifies the checksum over IPv6 for the whole buffer as the segment.
    pub fn verify_checksum_v6(&self, src: &Ipv6Addr, dst: &Ipv6Addr) -> bool {
        let seg = self.buf.as_ref();
        let pseudo = checksum::pseudo_header_v6(src, dst, ip_proto::TCP, seg.len() as u32);
        checksum::add(pseudo, checksum::sum(seg)) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TcpPacket<T> {
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

    /// Sets the sequence number.
    #[inline]
    pub fn set_seq(&mut self, v: u32) {
        set_be32(self.buf.as_mut(), 4, v);
    }

    /// Sets the acknowledgement number.
    #[inline]
    pub fn set_ack(&mut self, v: u32) {
        set_be32(self.buf.as_mut(), 8, v);
    }

    /// Sets the 12 flag bits, keeping the data offset.
    #[inline]
    pub fn set_flags(&mut self, f: u16) {
        let b = self.buf.as_mut();
        let word = (be16(b, 12) & !flags::MASK) | (f & flags::MASK);
        set_be16(b, 12, word);
    }

    /// Sets the window.
    #[inline]
    pub fn set_window(&mut self, w: u16) {
        set_be16(self.buf.as_mut(), 14, w);
    }

    /// Sets the checksum field.
    #[inline]
    pub fn set_checksum(&mut self, c: u16) {
        set_be16(self.buf.as_mut(), 16, c);
    }

    /// Sets the urgent pointer.
    #[inline]
    pub fn set_urgent(&mut self, u: u16) {
        set_be16(self.buf.as_mut(), 18, u);
    }

    /// Fills the checksum over IPv4, the whole buffer being the segment.
    pub fn fill_checksum_v4(&mut self, src: Ipv4Addr, dst: Ipv4Addr) {
        self.set_checksum(0);
        let c = checksum::l4_ipv4(src, dst, ip_proto::TCP, self.buf.as_ref());
        self.set_checksum(c);
    }

    /// Fills the checksum over IPv6, the whole buffer being the segment.
    pub fn fill_checksum_v6(&mut self, src: &Ipv6Addr, dst: &Ipv6Addr) {
        self.set_checksum(0);
        let c = checksum::l4_ipv6(src, dst, ip_proto::TCP, self.buf.as_ref());
        self.set_checksum(c);
    }
}

/// Owned TCP header without options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TcpRepr {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    /// The 12 flag bits (see [`flags`]).
    pub flags: u16,
    pub window: u16,
    pub urgent: u16,
}

impl TcpRepr {
    /// Reads the header from a view (options skipped).
    pub fn parse<T: AsRef<[u8]>>(p: &TcpPacket<T>) -> Self {
        Self {
            src_port: p.src_port(),
            dst_port: p.dst_port(),
            seq: p.seq(),
            ack: p.ack(),
            flags: p.flags(),
            window: p.window(),
            urgent: p.urgent(),
        }
    }

    /// Always [`MIN_HEADER_LEN`].
    pub const fn header_len(&self) -> usize {
        MIN_HEADER_LEN
    }

    /// Writes a 20-byte header with a zero checksum into `buf`; fill the
    /// checksum through the view once the payload is in place.
    pub fn emit(&self, buf: &mut [u8]) -> Result<(), Error> {
        Error::need("tcp", MIN_HEADER_LEN, buf.len())?;
        buf[12] = 5 << 4;
        let mut p = TcpPacket::new_checked(buf)?;
        p.set_src_port(self.src_port);
        p.set_dst_port(self.dst_port);
        p.set_seq(self.seq);
        p.set_ack(self.ack);
        p.set_flags(self.flags);
        p.set_window(self.window);
        p.set_checksum(0);
        p.set_urgent(self.urgent);
        Ok(())
    }
}
