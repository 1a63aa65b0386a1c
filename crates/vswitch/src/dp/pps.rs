//! Per-port frame-rate limits set in the Interface `other_config` column
//! (where ovs-vswitchd.conf.db(5) puts implementation-specific knobs): a
//! token bucket counted in frames, shared by storm control
//! ([`super::storm`]) and the new-connection rate
//! (`other_config:ct-new-pps`, checked at `ct(commit)` in `ct.rs`).
//! Time comes from the datapath's injected clock.

use std::collections::BTreeMap;
use std::time::Duration;

/// One frame, in the bucket's unit (nano-frames: the rate in frames per
/// second times elapsed nanoseconds needs no division).
const FRAME: u64 = 1_000_000_000;

/// Largest rate or burst accepted (frames): keeps the bucket arithmetic in
/// `u64` (10⁷ frames × 10⁹ nano-frames < 2⁶⁴).
pub const MAX_FRAMES: u64 = 10_000_000;

/// A rate limit: frames per second and a bucket depth in frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PpsCfg {
    /// Frames per second.
    pub pps: u64,
    /// Bucket depth in frames.
    pub burst: u64,
}

/// Why an `other_config` rate value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("other_config:{key}={value}: {why}")]
pub struct PpsCfgError {
    /// The offending key.
    pub key: &'static str,
    /// Its value.
    pub value: String,
    /// What is wrong with it.
    pub why: &'static str,
}

fn number(m: &BTreeMap<String, String>, key: &'static str) -> Result<u64, PpsCfgError> {
    let Some(v) = m.get(key) else { return Ok(0) };
    let n: u64 = v.trim_matches('"').parse().map_err(|_| PpsCfgError {
        key,
        value: v.clone(),
        why: "not a non-negative integer",
    })?;
    if n > MAX_FRAMES {
        return Err(PpsCfgError {
            key,
            value: v.clone(),
            why: "above 10000000 frames",
        });
    }
    Ok(n)
}

impl PpsCfg {
    /// The limit `rate_key` / `burst_key` of an `other_config` ask for;
    /// `None` when the rate is absent or 0 (no limit). A burst absent or 0
    /// is one second's worth.
    pub fn from_other_config(
        m: &BTreeMap<String, String>,
        rate_key: &'static str,
        burst_key: &'static str,
    ) -> Result<Option<PpsCfg>, PpsCfgError> {
        let pps = number(m, rate_key)?;
        let burst = number(m, burst_key)?;
        Ok((pps > 0).then_some(PpsCfg {
            pps,
            burst: if burst == 0 { pps } else { burst },
        }))
    }
}

/// A token bucket counting frames.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PpsBucket {
    cfg: PpsCfg,
    tokens: u64,
    last: Duration,
}

impl PpsBucket {
    /// A full bucket for `cfg` at `now`.
    pub fn new(cfg: PpsCfg, now: Duration) -> PpsBucket {
        PpsBucket {
            cfg,
            tokens: cfg.burst.saturating_mul(FRAME),
            last: now,
        }
    }

    /// The settings this bucket was made with.
    pub fn cfg(&self) -> PpsCfg {
        self.cfg
    }

    /// Take one frame's token at `now`; false when the bucket is empty.
    #[inline]
    pub fn take(&mut self, now: Duration) -> bool {
        let dt = now.saturating_sub(self.last);
        self.last = now;
        let cap = self.cfg.burst.saturating_mul(FRAME);
        // Past a full bucket's refill time the bucket is full anyway;
        // clamping dt keeps the product in range.
        let dt_ns = dt.as_nanos().min(u128::from(u64::MAX)) as u64;
        let add = self.cfg.pps.saturating_mul(dt_ns);
        self.tokens = self.tokens.saturating_add(add).min(cap);
        if self.tokens >= FRAME {
            self.tokens -= FRAME;
            true
        } else {
            false
        }
    }

    /// Bring `slot` in line with `want` (a new bucket only when the
    /// settings changed, so a reconcile does not refill it).
    pub fn update(slot: &mut Option<PpsBucket>, want: Option<PpsCfg>, now: Duration) {
        if slot.as_ref().map(PpsBucket::cfg) != want {
            *slot = want.map(|c| PpsBucket::new(c, now));
        }
    }
}

/// An `other_config` map from `pairs`, for the tests of the limits that
/// read one.
#[cfg(test)]
pub(super) fn cfg(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_parse_with_defaults_and_name_the_bad_key() {
        let p = |m| PpsCfg::from_other_config(&m, "r", "b");
        assert_eq!(p(cfg(&[])), Ok(None));
        assert_eq!(p(cfg(&[("r", "0")])), Ok(None));
        assert_eq!(
            p(cfg(&[("r", "100")])),
            Ok(Some(PpsCfg {
                pps: 100,
                burst: 100
            }))
        );
        assert_eq!(
            p(cfg(&[("r", "\"100\""), ("b", "5")])),
            Ok(Some(PpsCfg { pps: 100, burst: 5 }))
        );
        let e = p(cfg(&[("b", "-1")])).unwrap_err();
        assert_eq!(e.key, "b");
        assert!(e.to_string().contains("b=-1"), "{e}");
        assert_eq!(p(cfg(&[("r", "10000001")])).unwrap_err().key, "r");
    }

    #[test]
    fn rate_and_burst_hold_in_simulated_time() {
        let ms = Duration::from_millis;
        let mut b = PpsBucket::new(
            PpsCfg {
                pps: 100,
                burst: 10,
            },
            ms(0),
        );
        assert_eq!((0..50).filter(|_| b.take(ms(0))).count(), 10, "the burst");
        // 100 frames/s: one token per 10 ms.
        assert!(!b.take(ms(9)));
        assert!(b.take(ms(10)));
        // Offered 1,000 frames/s for one simulated second: the rate passes.
        let passed = (11..1011).filter(|&t| b.take(ms(t))).count();
        assert!((99..=101).contains(&passed), "{passed}");
        // A long pause refills to the burst, no more.
        let later = Duration::from_secs(1_000_000);
        assert_eq!((0..50).filter(|_| b.take(later)).count(), 10);
        // Same settings keep the bucket; new ones replace it.
        let mut slot = Some(b);
        PpsBucket::update(
            &mut slot,
            Some(PpsCfg {
                pps: 100,
                burst: 10,
            }),
            later,
        );
        assert!(!slot.as_mut().unwrap().take(later), "not refilled");
        PpsBucket::update(&mut slot, Some(PpsCfg { pps: 5, burst: 1 }), later);
        assert!(slot.as_mut().unwrap().take(later), "a new, full bucket");
        PpsBucket::update(&mut slot, None, later);
        assert!(slot.is_none());
    }
}
