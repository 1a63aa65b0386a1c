//! A transmission rate and the bytes → nanoseconds conversion every token
//! bucket needs. Like the kernel's `psched_ratecfg_precompute()` the
//! division is done once: `ns = (bytes * mult) >> shift`, so the per-packet
//! path is a multiply and a shift. Unlike the kernel both steps round *up*:
//! a packet never costs less than its exact time, so no bucket built on
//! this ever lets more than its rate through, however many packets.

use crate::clock::Nanos;
use std::fmt;

/// Nanoseconds × bits per byte: the numerator of `bytes * 8 * 1e9 / bps`.
const NS_BITS_PER_BYTE: u128 = 8_000_000_000;

/// A rate in bits per second (never zero).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rate {
    bps: u64,
    mult: u64,
    shift: u32,
}

impl Rate {
    /// `bps` bits per second; `None` for 0 (a zero rate can send nothing
    /// and every caller treats it as "unset" instead).
    pub fn from_bps(bps: u64) -> Option<Rate> {
        if bps == 0 {
            return None;
        }
        // Largest shift (<= 32) for which the multiplier fits in 32 bits,
        // so `len (<= u32::MAX) * mult` cannot overflow a u64.
        let mut shift = 32u32;
        let mult = loop {
            let m = (NS_BITS_PER_BYTE << shift).div_ceil(u128::from(bps));
            if m <= u128::from(u32::MAX) || shift == 0 {
                break m.min(u128::from(u32::MAX)) as u64;
            }
            shift -= 1;
        };
        Some(Rate { bps, mult, shift })
    }

    /// `kbps` × 1000 bits per second (OVS `ingress_policing_rate` units).
    pub fn from_kbps(kbps: u64) -> Option<Rate> {
        Rate::from_bps(kbps.saturating_mul(1000))
    }

    /// Bits per second.
    pub fn bps(&self) -> u64 {
        self.bps
    }

    /// Bytes per second (rounded down).
    pub fn bytes_per_sec(&self) -> u64 {
        self.bps / 8
    }

    /// Time to transmit `bytes` at this rate, in nanoseconds.
    #[inline]
    pub fn time_for(&self, bytes: usize) -> Nanos {
        let len = bytes.min(u32::MAX as usize) as u64;
        if self.shift == 0 && self.mult == u64::from(u32::MAX) {
            // Rates below ~2 bit/s: precision no longer matters, avoid overflow.
            return (u128::from(len) * NS_BITS_PER_BYTE).div_ceil(u128::from(self.bps)) as u64;
        }
        // (2^32 - 1)² + 2^32 - 1 < 2^64: cannot overflow.
        (len * self.mult + ((1u64 << self.shift) - 1)) >> self.shift
    }

    /// Bytes this rate transmits in `ns` nanoseconds (rounded down).
    pub fn bytes_in(&self, ns: Nanos) -> u64 {
        ((u128::from(ns) * u128::from(self.bps)) / NS_BITS_PER_BYTE) as u64
    }
}

impl fmt::Debug for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Rate({}bit)", self.bps)
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}bit", self.bps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_for_matches_exact_division() {
        for bps in [
            1u64,
            3,
            1000,
            800_000,
            10_000_000,
            1_000_000_000,
            400_000_000_000,
        ] {
            let r = Rate::from_bps(bps).expect("non-zero");
            for len in [0usize, 1, 64, 1500, 65_535] {
                let exact = (len as u128 * NS_BITS_PER_BYTE).div_ceil(bps as u128) as i128;
                let got = r.time_for(len) as i128;
                let tol = exact / 1_000_000 + 1;
                assert!(
                    got >= exact,
                    "bps={bps} len={len}: {got} below exact {exact}"
                );
                assert!(got - exact <= tol, "bps={bps} len={len}: {got} vs {exact}");
            }
        }
    }

    #[test]
    fn zero_is_unset() {
        assert!(Rate::from_bps(0).is_none());
        assert_eq!(Rate::from_kbps(10_000).map(|r| r.bps()), Some(10_000_000));
    }

    #[test]
    fn bytes_in_inverts_time_for() {
        let r = Rate::from_bps(10_000_000).expect("non-zero");
        assert_eq!(r.bytes_in(1_000_000_000), 1_250_000);
        assert_eq!(r.time_for(1_250_000), 1_000_000_000);
    }
}
