//! GRE (RFC 2784) with the key and sequence number extensions (RFC 2890).
//!
//! Layout: C, reserved (with K at bit 2 and S at bit 3 per RFC 2890), version
//! (3 bits), protocol type; then, each present only when its flag is set and
//! in this order, checksum + reserved1 (4 bytes), key (4), sequence (4).

use crate::checksum;
use crate::error::Error;
use crate::field::{be16, be32, set_be16, set_be32};

/// Header length without optional fields.
pub const MIN_HEADER_LEN: usize = 4;
/// Protocol type for a bridged Ethernet payload (used by NVGRE / OVS gretap).
pub const PROTO_ETHERNET: u16 = 0x6558;
const FLAG_C: u16 = 0x8000;
const FLAG_R: u16 = 0x4000;
const FLAG_K: u16 = 0x2000;
const FLAG_S: u16 = 0x1000;
/// Reserved0 bits 4-12 (after C, R, K, S).
const RESERVED0: u16 = 0x0ff8;
const VERSION: u16 = 0x0007;

/// Header length implied by a flags word.
#[inline]
fn len_for(flags: u16) -> usize {
    let mut len = MIN_HEADER_LEN;
    if flags & FLAG_C != 0 {
        len += 4;
    }
    if flags & FLAG_K != 0 {
        len += 4;
    }
    if flags & FLAG_S != 0 {
        len += 4;
    }
    len
}

/// A checked view of a GRE header and its payload.
///
/// `new_checked` guarantees version 0, the routing bit and reserved bits
/// clear, and the optional fields inside the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GrePacket<T> {
    buf: T,
}

impl<T: AsRef<[u8]>> GrePacket<T> {
    /// Wraps `buf` after the checks listed on the type. RFC 2784 §2.3: a
    /// receiver not implementing RFC 1701 MUST discard a packet with
    /// reserved0 bits 1-5 set (K and S, bits 2-3, are RFC 2890's); §2.3.1:
    /// version MUST be 0.
    #[inline]
    pub fn new_checked(buf: T) -> Result<Self, Error> {
        let b = buf.as_ref();
        Error::need("gre", MIN_HEADER_LEN, b.len())?;
        let flags = be16(b, 0);
        if flags & VERSION != 0 {
            return Err(Error::malformed("gre", "version"));
        }
        if flags & (FLAG_R | RESERVED0) != 0 {
            return Err(Error::malformed("gre", "reserved0"));
        }
        Error::need("gre", len_for(flags), b.len())?;
        Ok(Self { buf })
    }

    /// Gives the buffer back.
    pub fn into_inner(self) -> T {
        self.buf
    }

    fn flags(&self) -> u16 {
        be16(self.buf.as_ref(), 0)
    }

    /// Header length including present optional fields.
    #[inline]
    pub fn header_len(&self) -> usize {
        len_for(self.flags())
    }

    /// Protocol type (an ethertype) of the payload.
    #[inline]
    pub fn protocol(&self) -> u16 {
        be16(self.buf.as_ref(), 2)
    }

    /// The checksum field, if the C bit is set.
    #[inline]
    pub fn checksum(&self) -> Option<u16> {
        (self.flags() & FLAG_C != 0).then(|| be16(self.buf.as_ref(), 4))
    }

    /// The key, if the K bit is set.
    #[inline]
    pub fn key(&self) -> Option<u32> {
        let flags = self.flags();
        let at = MIN_HEADER_LEN + if flags & FLAG_C != 0 { 4 } else { 0 };
        (flags & FLAG_K != 0).then(|| be32(self.buf.as_ref(), at))
    }

    /// The sequence number, if the S bit is set.
    #[inline]
    pub fn seq(&self) -> Option<u32> {
        let flags = self.flags();
        let at = len_for(flags) - 4;
        (flags & FLAG_S != 0).then(|| be32(self.buf.as_ref(), at))
    }

    /// `true` when there is no checksum or it verifies over header and
    /// payload (RFC 2784 §2.5).
    pub fn verify_checksum(&self) -> bool {
        self.checksum().is_none() || checksum::sum(self.buf.as_ref()) == 0xffff
    }

    /// Payload after the header.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buf.as_ref()[self.header_len()..]
    }
}

/// Owned GRE header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GreRepr {
    pub protocol: u16,
    /// Emit (and compute) a checksum.
    pub checksum: bool,
    pub key: Option<u32>,
    pub seq: Option<u32>,
}

impl GreRepr {
    /// Reads the header from a view.
    pub fn parse<T: AsRef<[u8]>>(p: &GrePacket<T>) -> Self {
        Self {
            protocol: p.protocol(),
            checksum: p.checksum().is_some(),
            key: p.key(),
            seq: p.seq(),
        }
    }

    fn flags(&self) -> u16 {
        let mut f = 0;
        if self.checksum {
            f |= FLAG_C;
        }
        if self.key.is_some() {
            f |= FLAG_K;
        }
        if self.seq.is_some() {
            f |= FLAG_S;
        }
        f
    }

    /// Header length with the optional fields this repr sets.
    pub fn header_len(&self) -> usize {
        len_for(self.flags())
    }

    /// Writes the header into `buf`, whose remainder must already hold the
    /// payload when `checksum` is set: the checksum covers all of `buf`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<(), Error> {
        let len = self.header_len();
        Error::need("gre", len, buf.len())?;
        set_be16(buf, 0, self.flags());
        set_be16(buf, 2, self.protocol);
        let mut at = MIN_HEADER_LEN;
        if self.checksum {
            set_be32(buf, at, 0);
            at += 4;
        }
        if let Some(key) = self.key {
            set_be32(buf, at, key);
            at += 4;
        }
        if let Some(seq) = self.seq {
            set_be32(buf, at, seq);
        }
        if self.checksum {
            let c = checksum::checksum(buf);
            set_be16(buf, 4, c);
        }
        Ok(())
    }
}
