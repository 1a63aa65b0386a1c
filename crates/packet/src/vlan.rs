//! IEEE 802.1Q VLAN tags, single and stacked (802.1ad "QinQ").
//!
//! A tag sits where the ethertype was: TPID (0x8100 for C-tags, 0x88a8 for
//! S-tags), then the TCI (PCP:3 | DEI:1 | VID:12). This view starts at the
//! TCI, i.e. *after* the TPID the previous header's type field holds, so that
//! a tag chains like any other header: its [`VlanTag::ethertype`] names what
//! follows.

use crate::error::Error;
use crate::field::{be16, set_be16};

/// Bytes a tag occupies after the TPID: TCI and encapsulated ethertype.
pub const HEADER_LEN: usize = 4;

/// `true` for the TPIDs that introduce a tag (ovs-fields(7), "VLAN fields":
/// OVS parses 0x8100 and 0x88a8, up to two deep).
#[inline]
pub fn is_tpid(ethertype: u16) -> bool {
    ethertype == crate::flowkey::ethertype::VLAN || ethertype == crate::flowkey::ethertype::QINQ
}

/// A checked view of one VLAN tag (TCI + inner ethertype) and what follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VlanTag<T> {
    buf: T,
}

impl<T: AsRef<[u8]>> VlanTag<T> {
    /// Wraps `buf` after checking it holds the 4 tag bytes.
    #[inline]
    pub fn new_checked(buf: T) -> Result<Self, Error> {
        Error::need("vlan", HEADER_LEN, buf.as_ref().len())?;
        Ok(Self { buf })
    }

    /// Gives the buffer back.
    pub fn into_inner(self) -> T {
        self.buf
    }

    /// The whole tag control information.
    #[inline]
    pub fn tci(&self) -> u16 {
        be16(self.buf.as_ref(), 0)
    }

    /// Priority code point (3 bits).
    #[inline]
    pub fn pcp(&self) -> u8 {
        (self.tci() >> 13) as u8
    }

    /// Drop eligible indicator (formerly CFI).
    #[inline]
    pub fn dei(&self) -> bool {
        self.tci() & 0x1000 != 0
    }

    /// VLAN identifier (12 bits).
    #[inline]
    pub fn vid(&self) -> u16 {
        self.tci() & 0x0fff
    }

    /// Ethertype of what follows the tag (maybe another TPID).
    #[inline]
    pub fn ethertype(&self) -> u16 {
        be16(self.buf.as_ref(), 2)
    }

    /// Bytes after the tag.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buf.as_ref()[HEADER_LEN..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> VlanTag<T> {
    /// Sets the whole TCI.
    #[inline]
    pub fn set_tci(&mut self, tci: u16) {
        set_be16(self.buf.as_mut(), 0, tci);
    }

    /// Sets the VID, keeping PCP and DEI.
    #[inline]
    pub fn set_vid(&mut self, vid: u16) {
        let tci = (self.tci() & 0xf000) | (vid & 0x0fff);
        self.set_tci(tci);
    }

    /// Sets the PCP, keeping DEI and VID.
    #[inline]
    pub fn set_pcp(&mut self, pcp: u8) {
        let tci = (self.tci() & 0x1fff) | (u16::from(pcp & 7) << 13);
        self.set_tci(tci);
    }

    /// Sets the inner ethertype.
    #[inline]
    pub fn set_ethertype(&mut self, ethertype: u16) {
        set_be16(self.buf.as_mut(), 2, ethertype);
    }
}

/// Owned VLAN tag (after its TPID).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VlanRepr {
    /// PCP | DEI | VID exactly as on the wire.
    pub tci: u16,
    /// Ethertype following the tag.
    pub ethertype: u16,
}

impl VlanRepr {
    /// Reads a tag from a view.
    pub fn parse<T: AsRef<[u8]>>(tag: &VlanTag<T>) -> Self {
        Self {
            tci: tag.tci(),
            ethertype: tag.ethertype(),
        }
    }

    /// Always [`HEADER_LEN`].
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes TCI and ethertype into the first 4 bytes of `buf`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<(), Error> {
        let mut tag = VlanTag::new_checked(buf)?;
        tag.set_tci(self.tci);
        tag.set_ethertype(self.ethertype);
        Ok(())
    }
}
