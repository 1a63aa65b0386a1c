//! Why a frame got no reply, and counters of those reasons.

/// Why a responder wrote no reply. The switch counts these (see
/// [`Counters`]) and then handles the frame as it would any other (flood,
/// forward or drop, as its flows say).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoReply {
    /// A header is truncated or holds a forbidden value.
    #[error("malformed frame: {0}")]
    Malformed(#[from] packet::Error),
    /// The frame is not of the kind this responder handles (another
    /// ethertype, protocol, port or message type).
    #[error("not handled by this responder")]
    NotForUs,
    /// A checksum in the frame is wrong; RFC 1122 §3.2.2 / §4.1.3.4: such
    /// packets are silently discarded.
    #[error("bad {0} checksum")]
    BadChecksum(&'static str),
    /// ARP/ND target or echo destination is not in the table.
    #[error("target address unknown")]
    UnknownTarget,
    /// The asker owns the address it asks about (its own probe, RFC 5227
    /// §2.1.1): answering would make it think the address is taken.
    #[error("asker owns the target address")]
    AskerOwnsTarget,
    /// A gratuitous ARP or an ARP reply: announcements are not answered
    /// (RFC 5227 §3).
    #[error("gratuitous ARP or ARP reply")]
    Gratuitous,
    /// RFC 1122 §3.2.2 / RFC 1812 §4.3.2.7 / RFC 4443 §2.4(e): no ICMP error
    /// about an ICMP error, a non-first fragment, or a packet whose source
    /// is not a unicast host.
    #[error("ICMP error suppressed: {0}")]
    ErrorSuppressed(&'static str),
    /// A fragmented echo request (the switch does not reassemble).
    #[error("fragmented packet")]
    Fragment,
    /// DHCP from a MAC with no binding: unknown ports get no address
    /// (Neutron: DHCP only for known ports).
    #[error("no DHCP binding for this MAC")]
    UnknownMac,
    /// The DHCP payload could not be decoded.
    #[error("DHCP decode: {0}")]
    DhcpDecode(String),
    /// A DHCPREQUEST whose server identifier names another server: the
    /// client declined our offer (RFC 2131 §4.3.2), nothing to send.
    #[error("DHCPREQUEST for another server")]
    OtherServer,
    /// A message that needs no reply (DHCPRELEASE, DHCPDECLINE, RFC 2131
    /// §4.3.3-4.3.4).
    #[error("message needs no reply")]
    NoReplyNeeded,
    /// The client hardware address differs from the frame's source MAC: a
    /// port asking for another port's address.
    #[error("chaddr differs from the Ethernet source")]
    ChaddrMismatch,
    /// The output buffer cannot hold the reply.
    #[error("output buffer too small: need {need} bytes, have {have}")]
    BufferTooSmall {
        /// Bytes the reply needs.
        need: usize,
        /// Bytes the caller gave.
        have: usize,
    },
}

/// Field-less twin of [`NoReply`], usable as a counter index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum NoReplyKind {
    Malformed,
    NotForUs,
    BadChecksum,
    UnknownTarget,
    AskerOwnsTarget,
    Gratuitous,
    ErrorSuppressed,
    Fragment,
    UnknownMac,
    DhcpDecode,
    OtherServer,
    NoReplyNeeded,
    ChaddrMismatch,
    BufferTooSmall,
}

impl NoReplyKind {
    /// Every kind, in index order.
    pub const ALL: [NoReplyKind; 14] = [
        NoReplyKind::Malformed,
        NoReplyKind::NotForUs,
        NoReplyKind::BadChecksum,
        NoReplyKind::UnknownTarget,
        NoReplyKind::AskerOwnsTarget,
        NoReplyKind::Gratuitous,
        NoReplyKind::ErrorSuppressed,
        NoReplyKind::Fragment,
        NoReplyKind::UnknownMac,
        NoReplyKind::DhcpDecode,
        NoReplyKind::OtherServer,
        NoReplyKind::NoReplyNeeded,
        NoReplyKind::ChaddrMismatch,
        NoReplyKind::BufferTooSmall,
    ];

    /// A short snake_case name for stats output.
    pub fn name(self) -> &'static str {
        match self {
            NoReplyKind::Malformed => "malformed",
            NoReplyKind::NotForUs => "not_for_us",
            NoReplyKind::BadChecksum => "bad_checksum",
            NoReplyKind::UnknownTarget => "unknown_target",
            NoReplyKind::AskerOwnsTarget => "asker_owns_target",
            NoReplyKind::Gratuitous => "gratuitous",
            NoReplyKind::ErrorSuppressed => "error_suppressed",
            NoReplyKind::Fragment => "fragment",
            NoReplyKind::UnknownMac => "unknown_mac",
            NoReplyKind::DhcpDecode => "dhcp_decode",
            NoReplyKind::OtherServer => "other_server",
            NoReplyKind::NoReplyNeeded => "no_reply_needed",
            NoReplyKind::ChaddrMismatch => "chaddr_mismatch",
            NoReplyKind::BufferTooSmall => "buffer_too_small",
        }
    }
}

impl NoReply {
    /// The counter this reason goes to.
    pub fn kind(&self) -> NoReplyKind {
        match self {
            NoReply::Malformed(_) => NoReplyKind::Malformed,
            NoReply::NotForUs => NoReplyKind::NotForUs,
            NoReply::BadChecksum(_) => NoReplyKind::BadChecksum,
            NoReply::UnknownTarget => NoReplyKind::UnknownTarget,
            NoReply::AskerOwnsTarget => NoReplyKind::AskerOwnsTarget,
            NoReply::Gratuitous => NoReplyKind::Gratuitous,
            NoReply::ErrorSuppressed(_) => NoReplyKind::ErrorSuppressed,
            NoReply::Fragment => NoReplyKind::Fragment,
            NoReply::UnknownMac => NoReplyKind::UnknownMac,
            NoReply::DhcpDecode(_) => NoReplyKind::DhcpDecode,
            NoReply::OtherServer => NoReplyKind::OtherServer,
            NoReply::NoReplyNeeded => NoReplyKind::NoReplyNeeded,
            NoReply::ChaddrMismatch => NoReplyKind::ChaddrMismatch,
            NoReply::BufferTooSmall { .. } => NoReplyKind::BufferTooSmall,
        }
    }
}

/// Replies sent and frames left unanswered, per reason. Plain `u64`s: each
/// switch thread keeps its own and sums them for stats.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    /// Replies written.
    pub replies: u64,
    no_reply: [u64; NoReplyKind::ALL.len()],
}

impl Counters {
    /// Counts the outcome of one responder call and passes it through.
    #[inline]
    pub fn record<T>(&mut self, outcome: Result<T, NoReply>) -> Result<T, NoReply> {
        match &outcome {
            Ok(_) => self.replies += 1,
            Err(e) => self.no_reply[e.kind() as usize] += 1,
        }
        outcome
    }

    /// Frames left unanswered for `kind`.
    pub fn no_reply(&self, kind: NoReplyKind) -> u64 {
        self.no_reply[kind as usize]
    }

    /// `(name, count)` for every reason, zero counts included.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        NoReplyKind::ALL
            .iter()
            .map(|k| (k.name(), self.no_reply[*k as usize]))
    }

    /// Adds another thread's counters into these.
    pub fn merge(&mut self, other: &Counters) {
        self.replies += other.replies;
        for (a, b) in self.no_reply.iter_mut().zip(other.no_reply.iter()) {
            *a += b;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_record_merge_and_name_every_kind() {
        let mut a = Counters::default();
        assert_eq!(a.record(Ok::<usize, NoReply>(42)), Ok(42));
        let _ = a.record::<usize>(Err(NoReply::UnknownMac));
        let _ = a.record::<usize>(Err(NoReply::BufferTooSmall { need: 2, have: 1 }));
        let mut b = Counters::default();
        let _ = b.record::<usize>(Err(NoReply::UnknownMac));
        a.merge(&b);
        assert_eq!(a.replies, 1);
        assert_eq!(a.no_reply(NoReplyKind::UnknownMac), 2);
        assert_eq!(a.no_reply(NoReplyKind::BufferTooSmall), 1);
        assert_eq!(a.no_reply(NoReplyKind::Gratuitous), 0);
        let named: Vec<_> = a.iter().filter(|(_, n)| *n > 0).collect();
        assert_eq!(named, vec![("unknown_mac", 2), ("buffer_too_small", 1)]);
        // Indices and names are distinct for every kind.
        for (i, k) in NoReplyKind::ALL.iter().enumerate() {
            assert_eq!(*k as usize, i);
        }
        let mut names: Vec<_> = NoReplyKind::ALL.iter().map(|k| k.name()).collect();
        names.dedup();
        assert_eq!(names.len(), NoReplyKind::ALL.len());
    }
}
