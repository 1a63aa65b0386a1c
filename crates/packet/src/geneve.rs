//! Geneve (RFC 8926 §3): an 8-byte base header after UDP port 6081,
//! variable-length TLV options, then the payload named by the protocol type
//! (0x6558 for an Ethernet frame).

use crate::error::Error;
use crate::field::{be16, be32, set_be16, set_be32};

/// Base header length (without options).
pub const HEADER_LEN: usize = 8;
/// IANA-assigned UDP destination port.
pub const UDP_PORT: u16 = 6081;
/// Protocol type for an Ethernet payload ("Transparent Ethernet Bridging").
pub const PROTO_ETHERNET: u16 = 0x6558;
/// Longest option area: the 6-bit length counts 4-byte words.
pub const MAX_OPTIONS_LEN: usize = 63 * 4;
const FLAG_OAM: u8 = 0x80;
const FLAG_CRITICAL: u8 = 0x40;

/// A checked view of a Geneve header, its options and payload.
///
/// `new_checked` guarantees version 0 and that the options fit the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GeneveHeader<T> {
    buf: T,
}

impl<T: AsRef<[u8]>> GeneveHeader<T> {
    /// Wraps `buf` after the checks listed on the type (RFC 8926 §3.4: a
    /// packet with an unknown version MUST be dropped).
    #[inline]
    pub fn new_checked(buf: T) -> Result<Self, Error> {
        let b = buf.as_ref();
        Error::need("geneve", HEADER_LEN, b.len())?;
        if b[0] >> 6 != 0 {
            return Err(Error::malformed("geneve", "version"));
        }
        Error::need("geneve", HEADER_LEN + usize::from(b[0] & 0x3f) * 4, b.len())?;
        Ok(Self { buf })
    }

    /// Gives the buffer back.
    pub fn into_inner(self) -> T {
        self.buf
    }

    /// Length of the options in bytes.
    #[inline]
    pub fn options_len(&self) -> usize {
        usize::from(self.buf.as_ref()[0] & 0x3f) * 4
    }

    /// Base header plus options.
    #[inline]
    pub fn header_len(&self) -> usize {
        HEADER_LEN + self.options_len()
    }

    /// O bit: an OAM (control) packet.
    #[inline]
    pub fn oam(&self) -> bool {
        self.buf.as_ref()[1] & FLAG_OAM != 0
    }

    /// C bit: critical options are present.
    #[inline]
    pub fn critical(&self) -> bool {
        self.buf.as_ref()[1] & FLAG_CRITICAL != 0
    }

    /// Protocol type of the payload.
    #[inline]
    pub fn protocol(&self) -> u16 {
        be16(self.buf.as_ref(), 2)
    }

    /// Virtual network identifier (24 bits).
    #[inline]
    pub fn vni(&self) -> u32 {
        be32(self.buf.as_ref(), 4) >> 8
    }

    /// Raw option bytes.
    #[inline]
    pub fn options_raw(&self) -> &[u8] {
        &self.buf.as_ref()[HEADER_LEN..self.header_len()]
    }

    /// Iterator over the TLV options.
    #[inline]
    pub fn options(&self) -> GeneveOptions<'_> {
        GeneveOptions {
            rest: self.options_raw(),
        }
    }

    /// Payload after the options.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buf.as_ref()[self.header_len()..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> GeneveHeader<T> {
    /// Sets the O and C bits.
    #[inline]
    pub fn set_flags(&mut self, oam: bool, critical: bool) {
        let mut f = 0;
        if oam {
            f |= FLAG_OAM;
        }
        if critical {
            f |= FLAG_CRITICAL;
        }
        self.buf.as_mut()[1] = f;
    }

    /// Sets the protocol type.
    #[inline]
    pub fn set_protocol(&mut self, p: u16) {
        set_be16(self.buf.as_mut(), 2, p);
    }

    /// Sets the VNI (24 bits), reserved byte zero.
    #[inline]
    pub fn set_vni(&mut self, vni: u32) {
        set_be32(self.buf.as_mut(), 4, (vni & 0x00ff_ffff) << 8);
    }

    /// Mutable payload.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let start = self.header_len();
        &mut self.buf.as_mut()[start..]
    }
}

/// One Geneve option (RFC 8926 §3.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GeneveOption<'a> {
    /// Option class (namespace owner).
    pub class: u16,
    /// Type; its high bit marks a critical option.
    pub kind: u8,
    /// Option data (a multiple of 4 bytes, at most 124).
    pub data: &'a [u8],
}

impl GeneveOption<'_> {
    /// `true` when the receiver must drop the packet if it does not
    /// understand this option (RFC 8926 §3.5).
    #[inline]
    pub fn is_critical(&self) -> bool {
        self.kind & 0x80 != 0
    }

    /// Bytes the option occupies on the wire.
    #[inline]
    pub fn wire_len(&self) -> usize {
        4 + self.data.len()
    }

    /// Writes the option into `buf`, returning the bytes used.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, Error> {
        if !self.data.len().is_multiple_of(4) || self.data.len() > 31 * 4 {
            return Err(Error::malformed("geneve-option", "length"));
        }
        let len = self.wire_len();
        Error::need("geneve-option", len, buf.len())?;
        set_be16(buf, 0, self.class);
        buf[2] = self.kind;
        buf[3] = (self.data.len() / 4) as u8;
        buf[4..len].copy_from_slice(self.data);
        Ok(len)
    }
}

/// Iterator over Geneve options; yields an error and stops when an option
/// overruns the option area.
#[derive(Debug, Clone)]
pub struct GeneveOptions<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for GeneveOptions<'a> {
    type Item = Result<GeneveOption<'a>, Error>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.rest;
        if rest.is_empty() {
            return None;
        }
        // The option area is a multiple of 4, so 4 header bytes are there.
        let need = 4 + usize::from(rest.get(3)? & 0x1f) * 4;
        if need > rest.len() {
            self.rest = &[];
            return Some(Err(Error::Truncated {
                layer: "geneve-option",
                need,
                have: rest.len(),
            }));
        }
        self.rest = &rest[need..];
        Some(Ok(GeneveOption {
            class: be16(rest, 0),
            kind: rest[2],
            data: &rest[4..need],
        }))
    }
}

/// Owned Geneve base header; options are emitted separately with
/// [`GeneveOption::emit`] so that this stays `Copy` and allocation-free.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GeneveRepr {
    pub vni: u32,
    pub protocol: u16,
    pub oam: bool,
    pub critical: bool,
    /// Length of the options that follow the base header, in bytes (a
    /// multiple of 4, at most [`MAX_OPTIONS_LEN`]).
    pub options_len: usize,
}

impl GeneveRepr {
    /// Reads the base header from a view.
    pub fn parse<T: AsRef<[u8]>>(h: &GeneveHeader<T>) -> Self {
        Self {
            vni: h.vni(),
            protocol: h.protocol(),
            oam: h.oam(),
            critical: h.critical(),
            options_len: h.options_len(),
        }
    }

    /// Base header plus options.
    pub fn header_len(&self) -> usize {
        HEADER_LEN + self.options_len
    }

    /// Writes the base header into `buf`; the caller writes the options
    /// at `buf[8..]` (e.g. with [`GeneveOption::emit`]).
    pub fn emit(&self, buf: &mut [u8]) -> Result<(), Error> {
        if !self.options_len.is_multiple_of(4) || self.options_len > MAX_OPTIONS_LEN {
            return Err(Error::malformed("geneve", "options length"));
        }
        Error::need("geneve", self.header_len(), buf.len())?;
        buf[0] = (self.options_len / 4) as u8;
        let mut h = GeneveHeader::new_checked(buf)?;
        h.set_flags(self.oam, self.critical);
        h.set_protocol(self.protocol);
        h.set_vni(self.vni);
        Ok(())
    }
}
