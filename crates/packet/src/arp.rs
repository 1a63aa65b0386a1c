//! ARP for IPv4 over Ethernet (RFC 826). Other hardware/protocol pairs are
//! rejected as malformed: OVS only extracts `arp_*` fields for this pair
//! (ovs-fields(7), "ARP fields"), and nothing in cloudnet speaks another.

use core::net::Ipv4Addr;

use crate::error::Error;
use crate::field::{array, be16, set_be16};
use crate::Mac;

/// Length of an Ethernet/IPv4 ARP packet.
pub const PACKET_LEN: usize = 28;
/// `ar$hrd` for Ethernet.
pub const HTYPE_ETHERNET: u16 = 1;
/// `ar$op` request.
pub const OP_REQUEST: u16 = 1;
/// `ar$op` reply.
pub const OP_REPLY: u16 = 2;

/// A checked view of an Ethernet/IPv4 ARP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArpPacket<T> {
    buf: T,
}

impl<T: AsRef<[u8]>> ArpPacket<T> {
    /// Checks length (28 bytes) and that htype/ptype/hlen/plen describe
    /// Ethernet and IPv4.
    #[inline]
    pub fn new_checked(buf: T) -> Result<Self, Error> {
        let b = buf.as_ref();
        Error::need("arp", PACKET_LEN, b.len())?;
        if be16(b, 0) != HTYPE_ETHERNET {
            return Err(Error::malformed("arp", "hardware type"));
        }
        if be16(b, 2) != crate::flowkey::ethertype::IPV4 {
            return Err(Error::malformed("arp", "protocol type"));
        }
        if b[4] != 6 || b[5] != 4 {
            return Err(Error::malformed("arp", "address length"));
        }
        Ok(Self { buf })
    }

    /// Gives the buffer back.
    pub fn into_inner(self) -> T {
        self.buf
    }

    /// Operation (1 request, 2 reply).
    #[inline]
    pub fn operation(&self) -> u16 {
        be16(self.buf.as_ref(), 6)
    }

    /// Sender hardware address.
    #[inline]
    pub fn sha(&self) -> Mac {
        array(self.buf.as_ref(), 8)
    }

    /// Sender protocol address.
    #[inline]
    pub fn spa(&self) -> Ipv4Addr {
        Ipv4Addr::from(array::<4>(self.buf.as_ref(), 14))
    }

    /// Target hardware address.
    #[inline]
    pub fn tha(&self) -> Mac {
        array(self.buf.as_ref(), 18)
    }

    /// Target protocol address.
    #[inline]
    pub fn tpa(&self) -> Ipv4Addr {
        Ipv4Addr::from(array::<4>(self.buf.as_ref(), 24))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> ArpPacket<T> {
    /// Sets the operation.
    #[inline]
    pub fn set_operation(&mut self, op: u16) {
        set_be16(self.buf.as_mut(), 6, op);
    }

    /// Sets the sender hardware address.
    #[inline]
    pub fn set_sha(&mut self, mac: Mac) {
        self.buf.as_mut()[8..14].copy_from_slice(&mac);
    }

    /// Sets the sender protocol address.
    #[inline]
    pub fn set_spa(&mut self, ip: Ipv4Addr) {
        self.buf.as_mut()[14..18].copy_from_slice(&ip.octets());
    }

    /// Sets the target hardware address.
    #[inline]
    pub fn set_tha(&mut self, mac: Mac) {
        self.buf.as_mut()[18..24].copy_from_slice(&mac);
    }

    /// Sets the target protocol address.
    #[inline]
    pub fn set_tpa(&mut self, ip: Ipv4Addr) {
        self.buf.as_mut()[24..28].copy_from_slice(&ip.octets());
    }
}

/// Owned Ethernet/IPv4 ARP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ArpRepr {
    pub operation: u16,
    pub sha: Mac,
    pub spa: Ipv4Addr,
    pub tha: Mac,
    pub tpa: Ipv4Addr,
}

impl ArpRepr {
    /// Reads the packet from a view.
    pub fn parse<T: AsRef<[u8]>>(p: &ArpPacket<T>) -> Self {
        Self {
            operation: p.operation(),
            sha: p.sha(),
            spa: p.spa(),
            tha: p.tha(),
            tpa: p.tpa(),
        }
    }

    /// Always [`PACKET_LEN`].
    pub const fn buffer_len(&self) -> usize {
        PACKET_LEN
    }

    /// Writes the 28-byte packet into `buf`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<(), Error> {
        Error::need("arp", PACKET_LEN, buf.len())?;
        set_be16(buf, 0, HTYPE_ETHERNET);
        set_be16(buf, 2, crate::flowkey::ethertype::IPV4);
        buf[4] = 6;
        buf[5] = 4;
        let mut p = ArpPacket::new_checked(buf)?;
        p.set_operation(self.operation);
        p.set_sha(self.sha);
        p.set_spa(self.spa);
        p.set_tha(self.tha);
        p.set_tpa(self.tpa);
        Ok(())
    }
}
