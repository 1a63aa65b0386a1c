//! ICMP for IPv4 (RFC 792): type, code, checksum and the 4-byte
//! "rest of header" (echo identifier/sequence, MTU for frag-needed, ...).

use crate::checksum;
use crate::error::Error;
use crate::field::{be16, be32, set_be16, set_be32};

/// Type, code, checksum and the 4-byte rest of header.
pub const HEADER_LEN: usize = 8;

/// Common message types.
pub mod msg_type {
    pub const ECHO_REPLY: u8 = 0;
    pub const DEST_UNREACHABLE: u8 = 3;
    pub const ECHO_REQUEST: u8 = 8;
    pub const TIME_EXCEEDED: u8 = 11;
}

/// A checked view of an ICMPv4 message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Icmpv4Packet<T> {
    buf: T,
}

impl<T: AsRef<[u8]>> Icmpv4Packet<T> {
    /// Wraps `buf` after checking it holds the 8-byte header.
    #[inline]
    pub fn new_checked(buf: T) -> Result<Self, Error> {
        Error::need("icmpv4", HEADER_LEN, buf.as_ref().len())?;
        Ok(Self { buf })
    }

    /// Gives the buffer back.
    pub fn into_inner(self) -> T {
        self.buf
    }

    /// Message type.
    #[inline]
    pub fn msg_type(&self) -> u8 {
        self.buf.as_ref()[0]
    }

    /// Message code.
    #[inline]
    pub fn code(&self) -> u8 {
        self.buf.as_ref()[1]
    }

    /// Checksum field.
    #[inline]
    pub fn checksum(&self) -> u16 {
        be16(self.buf.as_ref(), 2)
    }

    /// The 4-byte type-specific word.
    #[inline]
    pub fn rest_of_header(&self) -> u32 {
        be32(self.buf.as_ref(), 4)
    }

    /// Echo identifier (upper half of the rest of header).
    #[inline]
    pub fn echo_ident(&self) -> u16 {
        be16(self.buf.as_ref(), 4)
    }

    /// Echo sequence number (lower half of the rest of header).
    #[inline]
    pub fn echo_seq(&self) -> u16 {
        be16(self.buf.as_ref(), 6)
    }

    /// Data after the header.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buf.as_ref()[HEADER_LEN..]
    }

    /// `true` when the checksum over the whole buffer verifies.
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        checksum::sum(self.buf.as_ref()) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Icmpv4Packet<T> {
    /// Sets the type.
    #[inline]
    pub fn set_msg_type(&mut self, t: u8) {
        self.buf.as_mut()[0] = t;
    }

    /// Sets the code.
    #[inline]
    pub fn set_code(&mut self, c: u8) {
        self.buf.as_mut()[1] = c;
    }

    /// Sets the checksum field.
    #[inline]
    pub fn set_checksum(&mut self, c: u16) {
        set_be16(self.buf.as_mut(), 2, c);
    }

    /// Sets the type-specific word.
    #[inline]
    pub fn set_rest_of_header(&mut self, v: u32) {
        set_be32(self.buf.as_mut(), 4, v);
    }

    /// Mutable data after the header.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buf.as_mut()[HEADER_LEN..]
    }

    /// Recomputes the checksum over the whole buffer (RFC 792).
    #[inline]
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = checksum::icmpv4(self.buf.as_ref());
        self.set_checksum(c);
    }
}

/// Owned ICMPv4 header (the data after it stays in the caller's buffer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Icmpv4Repr {
    pub msg_type: u8,
    pub code: u8,
    pub rest_of_header: u32,
}

impl Icmpv4Repr {
    /// An echo request or reply header.
    pub fn echo(request: bool, ident: u16, seq: u16) -> Self {
        Self {
            msg_type: if request {
                msg_type::ECHO_REQUEST
            } else {
                msg_type::ECHO_REPLY
            },
            code: 0,
            rest_of_header: (u32::from(ident) << 16) | u32::from(seq),
        }
    }

    /// Reads the header from a view.
    pub fn parse<T: AsRef<[u8]>>(p: &Icmpv4Packet<T>) -> Self {
        Self {
            msg_type: p.msg_type(),
            code: p.code(),
            rest_of_header: p.rest_of_header(),
        }
    }

    /// Writes the header into `buf` (whose tail is the message data already
    /// in place) and fills the checksum over all of `buf`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<(), Error> {
        let mut p = Icmpv4Packet::new_checked(buf)?;
        p.set_msg_type(self.msg_type);
        p.set_code(self.code);
        p.set_rest_of_header(self.rest_of_header);
        p.fill_checksum();
        Ok(())
    }
}
