//! ARP responder (L2 population / ARP suppression).
//!
//! Like OVN's `ls_in_arp_rsp` stage (ovn-northd(8), "ARP/ND responder"):
//! a request for an address the switch knows is answered in place, unicast
//! to the asker (RFC 826, "swap the hardware and protocol fields, put the
//! local hardware and protocol addresses in the sender fields, set the
//! opcode to reply, send to the old sender"), so it never floods.

use packet::arp::{ArpPacket, ArpRepr, OP_REPLY, OP_REQUEST, PACKET_LEN};
use packet::ethernet::EthernetFrame;
use packet::flowkey::ethertype;

use crate::frame::{need, write_eth, ETH_LEN};
use crate::{Ipv4Table, NoReply};

/// Length of every reply [`respond`] writes (no padding to 60 bytes: TAPs
/// and the switch's own ports take short frames; NICs pad on the wire).
pub const REPLY_LEN: usize = ETH_LEN + PACKET_LEN;

/// Answers an ARP request in `frame` for an address `table` knows, writing
/// the reply into `out` and returning its length.
///
/// Not answered: ARP replies and gratuitous ARP (sender = target address,
/// RFC 5227 §3 announcements), unknown targets, and a request from the
/// very MAC the table maps the target to (the owner's own probe, RFC 5227
/// §2.1.1 — OVN likewise skips the responder for the owning port). Probes
/// from others (sender address 0.0.0.0) are answered, which is how the
/// owner "defends" its address.
#[inline]
pub fn respond(frame: &[u8], table: &impl Ipv4Table, out: &mut [u8]) -> Result<usize, NoReply> {
    let eth = EthernetFrame::new_checked(frame)?;
    if eth.ethertype() != ethertype::ARP {
        return Err(NoReply::NotForUs);
    }
    let req = ArpPacket::new_checked(eth.payload())?;
    if req.operation() != OP_REQUEST {
        return Err(NoReply::Gratuitous);
    }
    let (spa, tpa, sha) = (req.spa(), req.tpa(), req.sha());
    if spa == tpa {
        return Err(NoReply::Gratuitous);
    }
    let mac = table.lookup_v4(tpa).ok_or(NoReply::UnknownTarget)?;
    if mac == sha {
        return Err(NoReply::AskerOwnsTarget);
    }
    need(out, REPLY_LEN)?;
    write_eth(out, mac, sha, ethertype::ARP)?;
    ArpRepr {
        operation: OP_REPLY,
        sha: mac,
        spa: tpa,
        tha: sha,
        tpa: spa,
    }
    .emit(&mut out[ETH_LEN..REPLY_LEN])?;
    Ok(REPLY_LEN)
}

/// Writes an ARP request "who has `tpa`? tell `spa`" from `sha` to the
/// broadcast address into `out` (RFC 826; the target hardware address is
/// zero, as Linux sends it), returning its length. A router resolving an
/// unknown next hop sends this (OVN's `arp { ... }` action in
/// `lr_in_arp_request`, ovn-northd(8)).
pub fn request(
    sha: crate::Mac,
    spa: std::net::Ipv4Addr,
    tpa: std::net::Ipv4Addr,
    out: &mut [u8],
) -> Result<usize, NoReply> {
    need(out, REPLY_LEN)?;
    write_eth(out, sha, [0xff; 6], ethertype::ARP)?;
    ArpRepr {
        operation: OP_REQUEST,
        sha,
        spa,
        tha: [0; 6],
        tpa,
    }
    .emit(&mut out[ETH_LEN..REPLY_LEN])?;
    Ok(REPLY_LEN)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn request_asks_the_broadcast_domain() {
        let mut out = [0u8; 64];
        let sha = [2, 0, 0, 0, 0, 1];
        let (spa, tpa) = (Ipv4Addr::new(203, 0, 113, 5), Ipv4Addr::new(203, 0, 113, 9));
        let n = request(sha, spa, tpa, &mut out).unwrap();
        assert_eq!(n, REPLY_LEN);
        let eth = EthernetFrame::new_checked(&out[..n]).unwrap();
        assert_eq!((eth.dst(), eth.src()), ([0xff; 6], sha));
        let a = ArpPacket::new_checked(eth.payload()).unwrap();
        assert_eq!(a.operation(), OP_REQUEST);
        assert_eq!((a.sha(), a.spa(), a.tpa()), (sha, spa, tpa));
        assert_eq!(a.tha(), [0; 6]);
        assert!(matches!(
            request(sha, spa, tpa, &mut out[..20]),
            Err(NoReply::BufferTooSmall { .. })
        ));
    }
}
