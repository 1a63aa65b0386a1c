//! A single token bucket kept in *time* rather than bytes, as the kernel's
//! TBF, HTB and police action do: the bucket holds up to `depth` ns of
//! transmission at `rate`, a packet of `len` bytes costs `rate.time_for(len)`.
//! No division on the per-packet path.

use crate::clock::Nanos;
use crate::rate::Rate;

#[derive(Debug, Clone)]
pub(crate) struct Bucket {
    rate: Rate,
    /// Capacity in ns of transmission at `rate`.
    depth: i64,
    /// Current fill in ns; starts full.
    tokens: i64,
    /// Time of the last refill.
    t_c: Nanos,
}

impl Bucket {
    /// A full bucket of `burst_bytes` at `rate`.
    pub(crate) fn new(rate: Rate, burst_bytes: u64, now: Nanos) -> Self {
        let depth = clamp_i64(rate.time_for(burst_bytes.min(u32::MAX as u64) as usize));
        Self {
            rate,
            depth,
            tokens: depth,
            t_c: now,
        }
    }

    pub(crate) fn rate(&self) -> Rate {
        self.rate
    }

    fn refill(&mut self, now: Nanos) {
        let diff = clamp_i64(now.saturating_sub(self.t_c));
        self.tokens = self.tokens.saturating_add(diff).min(self.depth);
        self.t_c = self.t_c.max(now);
    }

    /// Takes the tokens for `len` bytes if the bucket holds them.
    #[inline]
    pub(crate) fn try_take(&mut self, len: usize, now: Nanos) -> bool {
        self.refill(now);
        let cost = clamp_i64(self.rate.time_for(len));
        if self.tokens >= cost {
            self.tokens -= cost;
            true
        } else {
            false
        }
    }

    /// When `len` bytes' worth of tokens will be there (`<= now`: now).
    pub(crate) fn ready_at(&mut self, len: usize, now: Nanos) -> Nanos {
        self.refill(now);
        let cost = clamp_i64(self.rate.time_for(len));
        let missing = cost.saturating_sub(self.tokens);
        if missing <= 0 {
            now
        } else {
            now.saturating_add(missing as u64)
        }
    }

    /// True when a packet of `len` bytes can ever fit in the bucket.
    pub(crate) fn fits(&self, len: usize) -> bool {
        clamp_i64(self.rate.time_for(len)) <= self.depth
    }
}

pub(crate) fn clamp_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_full_then_refills_at_rate() {
        let r = Rate::from_bps(8_000).expect("non-zero"); // 1000 bytes/s
        let mut b = Bucket::new(r, 2000, 0);
        assert!(b.try_take(1000, 0));
        assert!(b.try_take(1000, 0));
        assert!(!b.try_take(1, 0));
        assert_eq!(b.ready_at(500, 0), 500_000_000);
        assert!(!b.try_take(500, 499_000_000));
        assert!(b.try_take(500, 500_000_000));
        // Never more than the depth, however long it idles.
        assert!(!b.try_take(2001, 100_000_000_000));
        assert!(b.try_take(2000, 100_000_000_000));
        assert!(b.fits(2000) && !b.fits(2001));
    }
}
