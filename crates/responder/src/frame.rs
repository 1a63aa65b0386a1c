//! Small helpers shared by the responders: output-buffer checks and
//! Ethernet header writing.

use packet::ethernet::{EthernetFrame, EthernetRepr, HEADER_LEN};

use crate::{Mac, NoReply};

/// Link-layer addresses of a generated reply. Echo replies and ND/ARP
/// answers derive them from the request; ICMP errors take them from the
/// caller when the frame came from elsewhere than its source's link (e.g.
/// routed through the switch) and otherwise swap the received frame's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum L2Addrs {
    /// Reply to the frame's Ethernet source from its Ethernet destination.
    Swap,
    /// Use these addresses.
    Given {
        /// Ethernet source of the reply (the router port's MAC).
        src: Mac,
        /// Ethernet destination of the reply.
        dst: Mac,
    },
}

impl L2Addrs {
    /// `(src, dst)` of the reply to `frame`.
    #[inline]
    pub(crate) fn resolve<T: AsRef<[u8]>>(self, frame: &EthernetFrame<T>) -> (Mac, Mac) {
        match self {
            L2Addrs::Swap => (frame.dst(), frame.src()),
            L2Addrs::Given { src, dst } => (src, dst),
        }
    }
}

/// Fails with [`NoReply::BufferTooSmall`] unless `out` holds `need` bytes.
#[inline]
pub(crate) fn need(out: &[u8], need: usize) -> Result<(), NoReply> {
    if out.len() >= need {
        Ok(())
    } else {
        Err(NoReply::BufferTooSmall {
            need,
            have: out.len(),
        })
    }
}

/// Writes an Ethernet header at the start of `out` (length checked by the
/// caller with [`need`]).
#[inline]
pub(crate) fn write_eth(out: &mut [u8], src: Mac, dst: Mac, ethertype: u16) -> Result<(), NoReply> {
    EthernetRepr {
        dst,
        src,
        ethertype,
    }
    .emit(out)?;
    Ok(())
}

/// `true` for a multicast (group) MAC, broadcast included.
#[inline]
pub(crate) fn is_group_mac(mac: &Mac) -> bool {
    mac[0] & 1 == 1
}

pub(crate) const ETH_LEN: usize = HEADER_LEN;
