//! Per-destination rate limits on a port many projects share: the uplink.
//!
//! A VM port's `ct-new-pps` / `upcall-pps` ([`super::ct`]) charge one
//! tenant for its own frames. The uplink carries every project's internet
//! traffic, so a per-port limit there would let a flood at one floating IP
//! use up everyone's allowance, and no limit lets it take the datapath's
//! time (each SYN DNATed, committed, delivered and answered). The uplink's
//! limits are therefore kept per destination address of the received
//! frame (a floating IP, a router's gateway address):
//!
//! * `other_config:ct-new-pps-per-dst` (burst `ct-new-burst-per-dst`):
//!   new connections per second committed for frames to one address;
//!   past it, dropped as `ct_new_rate`;
//! * `other_config:upcall-pps-per-dst` (burst `upcall-burst-per-dst`):
//!   flow-cache misses per second for frames to one address; past it,
//!   dropped untranslated as `upcall_limit`;
//!
//! and a refusal holds that address alone ([`super::admit`]): its next
//! frames are dropped as `port_held` after reading only the destination
//! address, while frames to every other address go on.
//!
//! The state is a fixed table of [`SLOTS`] entries indexed by a hash of
//! the destination, allocated when the setting is applied: nothing per
//! frame, and memory bounded whatever addresses a flood uses. Two
//! addresses in one entry share its buckets (with a few dozen floating
//! IPs per uplink, rare; the worst case is a neighbour limited with the
//! address under attack, never a flood let through).

use std::collections::BTreeMap;
use std::time::Duration;

use super::admit::Admission;
use super::pps::{PpsBucket, PpsCfg, PpsCfgError};

/// `other_config` key: new connections per second per destination.
pub const CT_NEW_PPS_PER_DST_KEY: &str = "ct-new-pps-per-dst";
/// `other_config` key: their burst (default one second's worth).
pub const CT_NEW_BURST_PER_DST_KEY: &str = "ct-new-burst-per-dst";
/// `other_config` key: flow-cache misses per second per destination.
pub const UPCALL_PPS_PER_DST_KEY: &str = "upcall-pps-per-dst";
/// `other_config` key: their burst (default one second's worth).
pub const UPCALL_BURST_PER_DST_KEY: &str = "upcall-burst-per-dst";

/// Entries of the table (a power of two).
pub const SLOTS: usize = 1024;

/// The settings: either limit may be off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DstCfg {
    /// New connections per destination.
    pub ct_new: Option<PpsCfg>,
    /// Flow-cache misses per destination.
    pub upcall: Option<PpsCfg>,
}

impl DstCfg {
    /// What an Interface's `other_config` asks for; `None` when neither
    /// limit is set.
    pub fn from_other_config(m: &BTreeMap<String, String>) -> Result<Option<DstCfg>, PpsCfgError> {
        let ct_new =
            PpsCfg::from_other_config(m, CT_NEW_PPS_PER_DST_KEY, CT_NEW_BURST_PER_DST_KEY)?;
        let upcall =
            PpsCfg::from_other_config(m, UPCALL_PPS_PER_DST_KEY, UPCALL_BURST_PER_DST_KEY)?;
        Ok((ct_new.is_some() || upcall.is_some()).then_some(DstCfg { ct_new, upcall }))
    }
}

/// One entry: the buckets and hold of the destinations hashed to it.
#[derive(Clone, Debug)]
struct Entry {
    ct_new: Option<PpsBucket>,
    upcall: Option<PpsBucket>,
    admit: Admission,
}

/// A port's per-destination limits.
#[derive(Clone, Debug)]
pub struct DstLimits {
    cfg: DstCfg,
    entries: Box<[Entry]>,
}

/// Ethertypes the destination is read from (after at most one VLAN tag).
const IPV4: u16 = 0x0800;
const IPV6: u16 = 0x86dd;
const VLAN: [u16; 2] = [0x8100, 0x88a8];

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    let w = b.get(at..at + 4)?;
    Some(u32::from_be_bytes([w[0], w[1], w[2], w[3]]))
}

/// Fibonacci hashing of a 32-bit word to an entry.
fn spread(w: u32) -> usize {
    (w.wrapping_mul(0x9e37_79b1) >> (32 - SLOTS.trailing_zeros())) as usize
}

impl DstLimits {
    /// Full buckets for `cfg` at `now`.
    pub fn new(cfg: DstCfg, now: Duration) -> DstLimits {
        let e = Entry {
            ct_new: cfg.ct_new.map(|c| PpsBucket::new(c, now)),
            upcall: cfg.upcall.map(|c| PpsBucket::new(c, now)),
            admit: Admission::default(),
        };
        DstLimits {
            cfg,
            entries: vec![e; SLOTS].into_boxed_slice(),
        }
    }

    /// Bring `slot` in line with `want` (new buckets only when the
    /// settings changed, so a reconcile does not refill them).
    pub fn update(slot: &mut Option<DstLimits>, want: Option<DstCfg>, now: Duration) {
        if slot.as_ref().map(|l| l.cfg) != want {
            *slot = want.map(|c| DstLimits::new(c, now));
        }
    }

    /// The entry of an Ethernet frame's IP destination (IPv4 or IPv6,
    /// untagged or behind one VLAN tag); `None` for anything else (ARP,
    /// truncated headers), which no per-destination limit applies to.
    /// Reads a dozen bytes at fixed offsets; parses nothing else.
    #[inline]
    pub fn entry_of(eth: &[u8]) -> Option<usize> {
        let mut at = 12;
        let mut ty = be16(eth, at)?;
        if VLAN.contains(&ty) {
            at += 4;
            ty = be16(eth, at)?;
        }
        let l3 = at + 2;
        match ty {
            // IPv4 destination: bytes 16..20 of the header (RFC 791).
            IPV4 => Some(spread(be32(eth, l3 + 16)?)),
            // IPv6 destination: bytes 24..40 (RFC 8200), folded.
            IPV6 => {
                let mut w = 0u32;
                for k in 0..4 {
                    w ^= be32(eth, l3 + 24 + 4 * k)?.rotate_left(8 * k as u32);
                }
                Some(spread(w))
            }
            _ => None,
        }
    }

    /// Whether frames to entry `e` are dropped unread at `now`.
    #[inline]
    pub fn held(&self, e: usize, now: Duration) -> bool {
        self.entries.get(e).is_some_and(|x| x.admit.held(now))
    }

    /// Take a new connection's token of entry `e`; a refusal holds it.
    pub fn take_ct_new(&mut self, e: usize, now: Duration) -> bool {
        let Some(x) = self.entries.get_mut(e) else {
            return true;
        };
        Self::take(&mut x.ct_new, &mut x.admit, now)
    }

    /// Take a flow-cache miss's token of entry `e`; a refusal holds it.
    pub fn take_upcall(&mut self, e: usize, now: Duration) -> bool {
        let Some(x) = self.entries.get_mut(e) else {
            return true;
        };
        Self::take(&mut x.upcall, &mut x.admit, now)
    }

    fn take(b: &mut Option<PpsBucket>, admit: &mut Admission, now: Duration) -> bool {
        let ok = b.as_mut().is_none_or(|b| b.take(now));
        if !ok {
            admit.refused(now);
        }
        ok
    }
}

#[cfg(test)]
mod tests {
    use super::super::pps::cfg;
    use super::*;
    use crate::dp::admit::HOLD;

    fn ipv4_frame(dst: [u8; 4], tagged: bool) -> Vec<u8> {
        let mut f = vec![0u8; 12];
        if tagged {
            f.extend_from_slice(&[0x81, 0x00, 0x00, 0x05]);
        }
        f.extend_from_slice(&[0x08, 0x00]);
        let mut ip = [0u8; 20];
        ip[0] = 0x45;
        ip[16..20].copy_from_slice(&dst);
        f.extend_from_slice(&ip);
        f
    }

    #[test]
    fn settings_parse_and_name_the_bad_key() {
        assert_eq!(DstCfg::from_other_config(&cfg(&[])), Ok(None));
        let c = DstCfg::from_other_config(&cfg(&[(UPCALL_PPS_PER_DST_KEY, "50")]))
            .unwrap()
            .unwrap();
        assert_eq!(c.ct_new, None);
        assert_eq!(c.upcall, Some(PpsCfg { pps: 50, burst: 50 }));
        let e = DstCfg::from_other_config(&cfg(&[(CT_NEW_PPS_PER_DST_KEY, "x")])).unwrap_err();
        assert_eq!(e.key, CT_NEW_PPS_PER_DST_KEY);
    }

    #[test]
    fn the_destination_is_found_with_or_without_a_tag() {
        let a = DstLimits::entry_of(&ipv4_frame([203, 0, 113, 10], false));
        assert!(a.is_some_and(|e| e < SLOTS));
        assert_eq!(a, DstLimits::entry_of(&ipv4_frame([203, 0, 113, 10], true)));
        // ARP, and a truncated IPv4 header, have none.
        let mut arp = ipv4_frame([203, 0, 113, 10], false);
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        assert_eq!(DstLimits::entry_of(&arp), None);
        assert_eq!(
            DstLimits::entry_of(&ipv4_frame([1, 2, 3, 4], false)[..30]),
            None
        );
        assert_eq!(DstLimits::entry_of(&[]), None);
        // IPv6: the destination decides.
        let v6 = |last: u8| {
            let mut f = vec![0u8; 12];
            f.extend_from_slice(&[0x86, 0xdd]);
            let mut ip = [0u8; 40];
            ip[0] = 0x60;
            ip[24] = 0x20;
            ip[39] = last;
            f.extend_from_slice(&ip);
            f
        };
        assert!(DstLimits::entry_of(&v6(1)).is_some());
        assert_ne!(DstLimits::entry_of(&v6(1)), DstLimits::entry_of(&v6(2)));
    }

    #[test]
    fn consecutive_addresses_spread_over_the_table() {
        let mut used = vec![false; SLOTS];
        for i in 0..256u32 {
            let ip = (u32::from_be_bytes([203, 0, 113, 0]) + i).to_be_bytes();
            used[DstLimits::entry_of(&ipv4_frame(ip, false)).unwrap()] = true;
        }
        assert_eq!(used.iter().filter(|u| **u).count(), 256, "no collisions");
    }

    #[test]
    fn a_flood_at_one_address_holds_that_address_only() {
        let ms = Duration::from_millis;
        let c = DstCfg {
            ct_new: Some(PpsCfg {
                pps: 100,
                burst: 10,
            }),
            upcall: None,
        };
        let mut l = DstLimits::new(c, ms(0));
        let at = DstLimits::entry_of(&ipv4_frame([203, 0, 113, 10], false)).unwrap();
        let other = DstLimits::entry_of(&ipv4_frame([203, 0, 113, 11], false)).unwrap();
        assert_eq!((0..10).filter(|_| l.take_ct_new(at, ms(1))).count(), 10);
        assert!(!l.held(at, ms(1)));
        assert!(!l.take_ct_new(at, ms(1)), "over the burst");
        assert!(l.held(at, ms(1)) && l.held(at, ms(1) + HOLD - ms(1)));
        assert!(!l.held(at, ms(1) + HOLD), "the hold ends");
        // The other address keeps its own bucket, and is never held.
        assert!(!l.held(other, ms(2)));
        assert_eq!((0..10).filter(|_| l.take_ct_new(other, ms(2))).count(), 10);
        // No upcall limit set: every miss passes.
        assert!((0..1000).all(|_| l.take_upcall(at, ms(3))));
        // Same settings keep the buckets; none removes them.
        let mut slot = Some(l);
        DstLimits::update(&mut slot, Some(c), ms(4));
        assert!(
            !slot.as_mut().unwrap().take_ct_new(at, ms(4)),
            "not refilled"
        );
        DstLimits::update(&mut slot, None, ms(4));
        assert!(slot.is_none());
    }
}
