//! VXLAN (RFC 7348 §5): an 8-byte header after UDP port 4789 carrying a
//! 24-bit VNI; the inner Ethernet frame follows.

use crate::error::Error;
use crate::field::{be32, set_be32};

/// VXLAN header length.
pub const HEADER_LEN: usize = 8;
/// IANA-assigned UDP destination port.
pub const UDP_PORT: u16 = 4789;
/// The I flag: the VNI is valid. RFC 7348 requires it set.
pub const FLAG_I: u8 = 0x08;

/// A checked view of a VXLAN header and the inner frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VxlanHeader<T> {
    buf: T,
}

impl<T: AsRef<[u8]>> VxlanHeader<T> {
    /// Checks length and that the I flag is set (RFC 7348 §5: the flag
    /// "MUST be set to 1 for a valid VXLAN Network ID"). Reserved bits are
    /// ignored on receipt, as the RFC says.
    #[inline]
    pub fn new_checked(buf: T) -> Result<Self, Error> {
        let b = buf.as_ref();
        Error::need("vxlan", HEADER_LEN, b.len())?;
        if b[0] & FLAG_I == 0 {
            return Err(Error::malformed("vxlan", "I flag"));
        }
        Ok(Self { buf })
    }

    /// Gives the buffer back.
    pub fn into_inner(self) -> T {
        self.buf
    }

    /// Flags byte.
    #[inline]
    pub fn flags(&self) -> u8 {
        self.buf.as_ref()[0]
    }

    /// VXLAN network identifier (24 bits).
    #[inline]
    pub fn vni(&self) -> u32 {
        be32(self.buf.as_ref(), 4) >> 8
    }

    /// The inner Ethernet frame.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buf.as_ref()[HEADER_LEN..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> VxlanHeader<T> {
    /// Sets the VNI (24 bits), keeping the reserved low byte zero.
    #[inline]
    pub fn set_vni(&mut self, vni: u32) {
        set_be32(self.buf.as_mut(), 4, (vni & 0x00ff_ffff) << 8);
    }

    /// Mutable inner frame.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buf.as_mut()[HEADER_LEN..]
    }
}

/// Owned VXLAN header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VxlanRepr {
    /// 24-bit VNI.
    pub vni: u32,
}

impl VxlanRepr {
    /// Reads the header from a view.
    pub fn parse<T: AsRef<[u8]>>(h: &VxlanHeader<T>) -> Self {
        Self { vni: h.vni() }
    }

    /// Always [`HEADER_LEN`].
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header (I flag set, reserved fields zero) into `buf`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<(), Error> {
        Error::need("vxlan", HEADER_LEN, buf.len())?;
        set_be32(buf, 0, u32::from(FLAG_I) << 24);
        let mut h = VxlanHeader::new_checked(buf)?;
        h.set_vni(self.vni);
        Ok(())
    }
}
