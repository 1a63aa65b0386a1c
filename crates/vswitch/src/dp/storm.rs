//! Storm control: a per-port limit on the broadcast and multicast frames a
//! port may send into its bridge, so that one VM flooding broadcasts (an ARP
//! storm, a looping bridge inside a guest) cannot make the switch copy every
//! frame to every port of the segment and starve the others.
//!
//! OVS has no storm control of its own (operators police a port with
//! `ingress_policing_rate`, which limits all traffic alike); physical
//! switches do (Cisco `storm-control broadcast level pps`). cloudnet follows
//! the latter and takes its settings from the Interface `other_config`
//! column, where ovs-vswitchd.conf.db(5) puts implementation-specific
//! knobs:
//!
//! * `other_config:storm-control-pps`: broadcast + multicast frames per
//!   second the port may send (absent or 0: no limit);
//! * `other_config:storm-control-burst`: frames allowed back to back (absent
//!   or 0: one second's worth, `storm-control-pps`).
//!
//! Frames over the limit are dropped at input, before the flow tables, and
//! counted as [`DropReason::StormControl`](super::stats::DropReason) on the
//! bridge and in the port's `rx_dropped`. Unicast frames never touch the
//! bucket. Time comes from the datapath's injected clock.

use std::collections::BTreeMap;
use std::time::Duration;

/// `other_config` key of the rate (frames per second).
pub const PPS_KEY: &str = "storm-control-pps";
/// `other_config` key of the burst (frames).
pub const BURST_KEY: &str = "storm-control-burst";

/// One frame, in the bucket's unit (nano-frames: the rate in frames per
/// second times elapsed nanoseconds needs no division).
const FRAME: u64 = 1_000_000_000;

/// Storm-control settings of one port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StormCfg {
    /// Broadcast + multicast frames per second.
    pub pps: u64,
    /// Bucket depth in frames.
    pub burst: u64,
}

/// Why an `other_config` storm-control value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("other_config:{key}={value}: {why}")]
pub struct StormCfgError {
    /// The offending key.
    pub key: &'static str,
    /// Its value.
    pub value: String,
    /// What is wrong with it.
    pub why: &'static str,
}

/// Largest rate or burst accepted (frames): keeps the bucket arithmetic in
/// `u64` (10⁷ frames × 10⁹ nano-frames < 2⁶⁴).
pub const MAX_FRAMES: u64 = 10_000_000;

fn number(m: &BTreeMap<String, String>, key: &'static str) -> Result<u64, StormCfgError> {
    let Some(v) = m.get(key) else { return Ok(0) };
    let n: u64 = v.trim_matches('"').parse().map_err(|_| StormCfgError {
        key,
        value: v.clone(),
        why: "not a non-negative integer",
    })?;
    if n > MAX_FRAMES {
        return Err(StormCfgError {
            key,
            value: v.clone(),
            why: "above 10000000 frames",
        });
    }
    Ok(n)
}

impl StormCfg {
    /// The settings an Interface's `other_config` asks for; `None` when
    /// storm control is off.
    pub fn from_other_config(
        m: &BTreeMap<String, String>,
    ) -> Result<Option<StormCfg>, StormCfgError> {
        let pps = number(m, PPS_KEY)?;
        let burst = number(m, BURST_KEY)?;
        Ok((pps > 0).then_some(StormCfg {
            pps,
            burst: if burst == 0 { pps } else { burst },
        }))
    }
}

/// A token bucket counting broadcast and multicast frames.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StormControl {
    cfg: StormCfg,
    tokens: u64,
    last: Duration,
}

impl StormControl {
    /// A full bucket for `cfg` at `now`.
    pub fn new(cfg: StormCfg, now: Duration) -> StormControl {
        StormControl {
            cfg,
            tokens: cfg.burst.saturating_mul(FRAME),
            last: now,
        }
    }

    /// The settings this bucket was made with.
    pub fn cfg(&self) -> StormCfg {
        self.cfg
    }

    /// Whether `eth` (an Ethernet frame) may enter the bridge at `now`: a
    /// unicast frame always may; a broadcast or multicast one (group bit
    /// of the destination MAC set, IEEE 802-2014 §8.2) takes a token.
    #[inline]
    pub fn admit(&mut self, eth: &[u8], now: Duration) -> bool {
        match eth.first() {
            Some(b) if b & 1 == 1 => self.take(now),
            _ => true,
        }
    }

    fn take(&mut self, now: Duration) -> bool {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    const BCAST: [u8; 14] = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 8, 6];
    const MCAST: [u8; 14] = [0x01, 0x00, 0x5e, 0, 0, 1, 2, 0, 0, 0, 0, 1, 8, 0];
    const UCAST: [u8; 14] = [0x02, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 8, 0];

    fn cfg(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn settings_parse_with_defaults_and_name_the_bad_key() {
        assert_eq!(StormCfg::from_other_config(&cfg(&[])), Ok(None));
        assert_eq!(
            StormCfg::from_other_config(&cfg(&[(PPS_KEY, "0")])),
            Ok(None)
        );
        assert_eq!(
            StormCfg::from_other_config(&cfg(&[(PPS_KEY, "100")])),
            Ok(Some(StormCfg {
                pps: 100,
                burst: 100
            }))
        );
        assert_eq!(
            StormCfg::from_other_config(&cfg(&[(PPS_KEY, "\"100\""), (BURST_KEY, "5")])),
            Ok(Some(StormCfg { pps: 100, burst: 5 }))
        );
        let e = StormCfg::from_other_config(&cfg(&[(BURST_KEY, "-1")])).unwrap_err();
        assert_eq!(e.key, BURST_KEY);
        assert!(e.to_string().contains("storm-control-burst=-1"), "{e}");
        let e = StormCfg::from_other_config(&cfg(&[(PPS_KEY, "10000001")])).unwrap_err();
        assert_eq!(e.key, PPS_KEY);
    }

    #[test]
    fn broadcast_and_multicast_are_limited_unicast_is_not() {
        let ms = Duration::from_millis;
        let mut s = StormControl::new(
            StormCfg {
                pps: 100,
                burst: 10,
            },
            ms(0),
        );
        let passed = (0..50).filter(|_| s.admit(&BCAST, ms(0))).count();
        assert_eq!(passed, 10, "the burst, then nothing");
        assert!(
            (0..1000).all(|_| s.admit(&UCAST, ms(0))),
            "unicast untouched"
        );
        assert!(!s.admit(&MCAST, ms(0)), "multicast shares the bucket");
        // 100 frames/s: one token per 10 ms.
        assert!(!s.admit(&MCAST, ms(9)));
        assert!(s.admit(&MCAST, ms(10)));
        // Offered 1,000 frames/s for one simulated second: about the rate
        // passes (the bucket was empty).
        let passed = (11..1011).filter(|&t| s.admit(&BCAST, ms(t))).count();
        assert!((99..=101).contains(&passed), "{passed}");
        // A long pause refills to the burst, no more.
        let later = Duration::from_secs(1_000_000);
        let passed = (0..50).filter(|_| s.admit(&BCAST, later)).count();
        assert_eq!(passed, 10);
        assert!(s.admit(&[], later), "an empty frame is not a broadcast");
    }
}
