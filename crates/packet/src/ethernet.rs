//! Ethernet II frames (IEEE 802.3 clause 3.1.1, "DIX" framing): destination,
//! source, ethertype. The FCS is not present (NICs strip it).

use crate::error::Error;
use crate::field::{array, be16, set_be16};
use crate::Mac;

/// Length of the Ethernet II header.
pub const HEADER_LEN: usize = 14;
/// Values below this in the type field are 802.3 lengths, not ethertypes.
pub const MIN_ETHERTYPE: u16 = 0x0600;

/// A checked view of an Ethernet II header and its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EthernetFrame<T> {
    buf: T,
}

impl<T: AsRef<[u8]>> EthernetFrame<T> {
    /// Wraps `buf` after checking it holds at least [`HEADER_LEN`] bytes.
    #[inline]
    pub fn new_checked(buf: T) -> Result<Self, Error> {
        Error::need("ethernet", HEADER_LEN, buf.as_ref().len())?;
        Ok(Self { buf })
    }

    /// Gives the buffer back.
    pub fn into_inner(self) -> T {
        self.buf
    }

    /// Destination MAC.
    #[inline]
    pub fn dst(&self) -> Mac {
        array(self.buf.as_ref(), 0)
    }

    /// Source MAC.
    #[inline]
    pub fn src(&self) -> Mac {
        array(self.buf.as_ref(), 6)
    }

    /// Ethertype (or 802.3 length when below [`MIN_ETHERTYPE`]).
    #[inline]
    pub fn ethertype(&self) -> u16 {
        be16(self.buf.as_ref(), 12)
    }

    /// Everything after the 14-byte header.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buf.as_ref()[HEADER_LEN..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> EthernetFrame<T> {
    /// Sets the destination MAC.
    #[inline]
    pub fn set_dst(&mut self, mac: Mac) {
        self.buf.as_mut()[0..6].copy_from_slice(&mac);
    }

    /// Sets the source MAC.
    #[inline]
    pub fn set_src(&mut self, mac: Mac) {
        self.buf.as_mut()[6..12].copy_from_slice(&mac);
    }

    /// Sets the ethertype.
    #[inline]
    pub fn set_ethertype(&mut self, ethertype: u16) {
        set_be16(self.buf.as_mut(), 12, ethertype);
    }

    /// Mutable payload.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buf.as_mut()[HEADER_LEN..]
    }
}

/// Owned Ethernet II header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EthernetRepr {
    pub dst: Mac,
    pub src: Mac,
    pub ethertype: u16,
}

impl EthernetRepr {
    /// Reads the header from a view.
    pub fn parse<T: AsRef<[u8]>>(frame: &EthernetFrame<T>) -> Self {
        Self {
            dst: frame.dst(),
            src: frame.src(),
            ethertype: frame.ethertype(),
        }
    }

    /// Header length, always [`HEADER_LEN`].
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header into the first [`HEADER_LEN`] bytes of `buf`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<(), Error> {
        let mut frame = EthernetFrame::new_checked(buf)?;
        frame.set_dst(self.dst);
        frame.set_src(self.src);
        frame.set_ethertype(self.ethertype);
        Ok(())
    }
}
