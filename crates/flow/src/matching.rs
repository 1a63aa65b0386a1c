//! A flow's match: a `(value, mask)` pair over the flat [`Words`] layout.
//!
//! Because every field has fixed bits, two matches are equal exactly when
//! they select the same packets, which is what makes `parse(print(m)) == m`
//! a meaningful property and lets the classifier group flows by mask.

use crate::fields::{prereq_holds, Field, Prereq};
use crate::flowvec::*;
use packet::flowkey::ethertype as et;

/// A flow match (ovs-fields(7)): bits of `mask` set are compared; all other
/// bits are wildcarded. Invariant: `value & !mask == 0` in every word.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
#[repr(C)]
pub struct Match {
    pub value: Words,
    pub mask: Words,
}

impl Default for Match {
    fn default() -> Self {
        Match::catchall()
    }
}

impl std::fmt::Debug for Match {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Match({})", crate::print::format_match(self, None))
    }
}

impl Match {
    /// The match that wildcards everything.
    pub const fn catchall() -> Match {
        Match {
            value: [0; NW],
            mask: [0; NW],
        }
    }

    /// Matches exactly `value` in the bits of `mask` for `field`, keeping the
    /// other bits of the field as they were.
    pub fn set_masked(&mut self, field: Field, value: u128, mask: u128) {
        let old_v = field.get(&self.value);
        let old_m = field.get(&self.mask);
        let m = old_m | mask;
        let v = (old_v & !mask) | (value & mask);
        field.set(&mut self.mask, m);
        field.set(&mut self.value, v & m);
    }

    /// Matches the whole field exactly.
    pub fn set(&mut self, field: Field, value: u128) {
        self.set_masked(field, value, field.full_mask());
    }

    /// Stops matching the field.
    pub fn clear(&mut self, field: Field) {
        field.set(&mut self.mask, 0);
        field.set(&mut self.value, 0);
        if let Field::TunMetadata(n) = field {
            crate::tun_md::clear_present(&mut self.mask, n);
            crate::tun_md::clear_present(&mut self.value, n);
        }
    }

    /// `(value, mask)` of a field.
    pub fn get(&self, field: Field) -> (u128, u128) {
        (field.get(&self.value), field.get(&self.mask))
    }

    /// Whether the field is matched on at all.
    pub fn has(&self, field: Field) -> bool {
        match field {
            // Slots are shared: the present bit says which field it is.
            Field::TunMetadata(n) => crate::tun_md::is_present(&self.mask, n),
            _ => field.get(&self.mask) != 0,
        }
    }

    /// Whether the packet words satisfy the match.
    #[inline]
    pub fn matches(&self, w: &Words) -> bool {
        (0..NW).all(|i| w[i] & self.mask[i] == self.value[i])
    }

    /// Whether this match (a rule's) is selected by `filter` in non-strict
    /// `del-flows`/`mod-flows`/`dump-flows` (ovs-ofctl(8)): it matches at
    /// least every bit `filter` matches, with the same values there.
    pub fn is_covered_by(&self, filter: &Match) -> bool {
        (0..NW).all(|i| {
            self.mask[i] & filter.mask[i] == filter.mask[i]
                && self.value[i] & filter.mask[i] == filter.value[i]
        })
    }

    fn exact(&self, field: Field) -> Option<u128> {
        let (v, m) = self.get(field);
        (m == field.full_mask()).then_some(v)
    }

    /// Whether the match itself guarantees the prerequisite.
    pub fn satisfies(&self, p: Prereq) -> bool {
        if p == Prereq::None {
            return true;
        }
        if self.exact(Field::DlType).is_none() {
            return false;
        }
        let mut scratch = [0u64; NW];
        let needs_proto = matches!(
            p,
            Prereq::L4 | Prereq::Tcp | Prereq::Icmp | Prereq::Icmpv6 | Prereq::Nd
        );
        if needs_proto && self.exact(Field::NwProto).is_none() {
            return false;
        }
        if p == Prereq::Nd && self.exact(Field::Icmpv6Type).is_none() {
            return false;
        }
        prereq_holds(p, &self.value, &mut scratch)
    }

    /// Drops the fields whose prerequisites the match does not establish,
    /// returning a warning for each, as OVS's OpenFlow 1.0 normalization does
    /// (ovs-ofctl(8): "ovs-ofctl ... normalization changed ofp_match"; the OVS
    /// FAQ "I added a flow with nw_src=... but it matches all packets").
    pub fn normalize(&mut self) -> Vec<String> {
        let mut warnings = Vec::new();
        // (storage, what makes it meaningful, name for the warning)
        let groups: [(&[Field], &[Prereq], &str); 8] = [
            (
                &[Field::NwSrc, Field::NwDst],
                &[Prereq::Ipv4, Prereq::Arp],
                "nw_src/nw_dst",
            ),
            (&[Field::NwProto], &[Prereq::Ip, Prereq::Arp], "nw_proto"),
            (
                &[Field::NwTos, Field::NwTtl, Field::NwFrag],
                &[Prereq::Ip],
                "nw_tos/nw_ttl/nw_frag",
            ),
            (
                &[Field::Ipv6Label, Field::Ipv6Src, Field::Ipv6Dst],
                &[Prereq::Ipv6],
                "ipv6 fields",
            ),
            (
                &[Field::TpSrc, Field::TpDst],
                &[Prereq::L4, Prereq::Icmp, Prereq::Icmpv6],
                "tp_src/tp_dst",
            ),
            (&[Field::TcpFlags], &[Prereq::Tcp], "tcp_flags"),
            (
                &[Field::ArpSha, Field::ArpTha],
                &[Prereq::Arp, Prereq::Nd],
                "arp_sha/arp_tha",
            ),
            (&[Field::NdTarget], &[Prereq::Nd], "nd_target"),
        ];
        for (fields, ok, name) in groups {
            if fields.iter().all(|f| !self.has(*f)) {
                continue;
            }
            if !ok.iter().any(|p| self.satisfies(*p)) {
                for f in fields {
                    self.clear(*f);
                }
                warnings.push(format!(
                    "{name} ignored: its prerequisites (ovs-fields(7)) are not in the match, \
                     add e.g. `ip`, `arp`, `tcp`"
                ));
            }
        }
        warnings
    }

    /// Packet words for a match used as a packet description (`trace`):
    /// the values, with matched-but-unset wildcards left zero.
    pub fn as_packet_words(&self) -> Words {
        self.value
    }
}

/// The well-known dl_type/nw_proto shorthands (ovs-fields(7), "Shorthand
/// notation"), in the order OVS tries them when printing.
pub const SHORTHANDS: [(&str, u16, Option<u8>); 11] = [
    ("tcp", et::IPV4, Some(6)),
    ("udp", et::IPV4, Some(17)),
    ("sctp", et::IPV4, Some(132)),
    ("icmp", et::IPV4, Some(1)),
    ("tcp6", et::IPV6, Some(6)),
    ("udp6", et::IPV6, Some(17)),
    ("sctp6", et::IPV6, Some(132)),
    ("icmp6", et::IPV6, Some(58)),
    ("ip", et::IPV4, None),
    ("ipv6", et::IPV6, None),
    ("arp", et::ARP, None),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_drops_fields_without_prerequisites() {
        let mut m = Match::catchall();
        m.set(Field::InPort, 6);
        m.set(Field::NwSrc, 0xc0a8_6464);
        let w = m.normalize();
        assert_eq!(w.len(), 1);
        assert!(!m.has(Field::NwSrc));
        assert!(m.has(Field::InPort));

        let mut m = Match::catchall();
        m.set(Field::DlType, 0x0800);
        m.set(Field::NwSrc, 1);
        assert!(m.normalize().is_empty());
        assert!(m.has(Field::NwSrc));
    }

    #[test]
    fn covered_by_is_subsumption() {
        let mut filter = Match::catchall();
        filter.set(Field::InPort, 1);
        let mut rule = filter;
        rule.set(Field::DlType, 0x0800);
        assert!(rule.is_covered_by(&filter));
        assert!(!filter.is_covered_by(&rule));
        assert!(rule.is_covered_by(&Match::catchall()));
    }
}
