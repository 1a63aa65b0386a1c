//! Ingress policing as OVS does it (ovs-vswitchd.conf.db(5), Interface
//! table, "Ingress Policing"): packets received faster than
//! `ingress_policing_rate` (kbps, 1000 bit/s) are *dropped*, not queued;
//! `ingress_policing_burst` (kb, 1000 bit) is the bucket size, 8000 kb when
//! left at 0; a rate of 0 disables policing. The kilobit is 1000 bits as in
//! OVS's userspace (DPDK) policer; the kernel tc path uses 1024.
//!
//! The seed's commands
//! `ovs-vsctl set Interface tap0 ingress_policing_rate=100000` and
//! `ingress_policing_burst=10000` become
//! `PolicerConfig { rate_kbps: 100_000, burst_kb: 10_000 }`.

use crate::bucket::Bucket;
use crate::clock::Nanos;
use crate::rate::Rate;

/// Burst used when `ingress_policing_burst` is 0 (ovs-vswitchd.conf.db(5)).
pub const DEFAULT_BURST_KB: u32 = 8000;

/// The two Interface columns.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PolicerConfig {
    /// `ingress_policing_rate`, kbps; 0 disables policing.
    pub rate_kbps: u32,
    /// `ingress_policing_burst`, kb; 0 means [`DEFAULT_BURST_KB`].
    pub burst_kb: u32,
}

/// What to do with a received packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Within the rate: forward it.
    Pass,
    /// Above the rate: drop it.
    Drop,
}

/// A single-rate, two-colour token bucket policer.
#[derive(Debug, Clone)]
pub struct Policer {
    bucket: Option<Bucket>,
    passed: (u64, u64),
    dropped: (u64, u64),
}

impl Policer {
    /// A policer with a full bucket at time `now`.
    pub fn new(cfg: PolicerConfig, now: Nanos) -> Self {
        let bucket = Rate::from_kbps(u64::from(cfg.rate_kbps)).map(|rate| {
            let kb = if cfg.burst_kb == 0 {
                DEFAULT_BURST_KB
            } else {
                cfg.burst_kb
            };
            Bucket::new(rate, u64::from(kb) * 1000 / 8, now)
        });
        Self {
            bucket,
            passed: (0, 0),
            dropped: (0, 0),
        }
    }

    /// True when the rate is non-zero.
    pub fn is_enabled(&self) -> bool {
        self.bucket.is_some()
    }

    /// The configured rate, if policing is on.
    pub fn rate(&self) -> Option<Rate> {
        self.bucket.as_ref().map(Bucket::rate)
    }

    /// Decides on a packet of `len` bytes received at `now`; a passing
    /// packet consumes its bytes from the bucket, a dropped one nothing.
    #[inline]
    pub fn police(&mut self, len: usize, now: Nanos) -> Verdict {
        let pass = match &mut self.bucket {
            None => true,
            Some(b) => b.try_take(len, now),
        };
        let counter = if pass {
            &mut self.passed
        } else {
            &mut self.dropped
        };
        counter.0 += 1;
        counter.1 += len as u64;
        if pass {
            Verdict::Pass
        } else {
            Verdict::Drop
        }
    }

    /// (packets, bytes) passed so far.
    pub fn passed(&self) -> (u64, u64) {
        self.passed
    }

    /// (packets, bytes) dropped so far.
    pub fn dropped(&self) -> (u64, u64) {
        self.dropped
    }
}
