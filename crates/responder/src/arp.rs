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
