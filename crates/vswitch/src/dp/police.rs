//! Ingress policing: the Interface columns `ingress_policing_rate` (kbit/s)
//! and `ingress_policing_burst` (kbit; 0 means the default of 8000 kbit),
//! ovs-vswitchd.conf.db(5). A token bucket per port; frames that find too
//! few tokens are dropped, as the kernel policer OVS installs does. Time
//! comes from the datapath's injected clock.

use std::time::Duration;

/// Burst used when `ingress_policing_burst` is 0 (kbit), as in OVS.
pub const DEFAULT_BURST_KBIT: u64 = 8000;

/// A token bucket counted in bits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policer {
    rate_kbps: u64,
    burst_bits: u64,
    tokens: u64,
    last: Duration,
}

impl Policer {
    /// A full bucket for `rate_kbps` and `burst_kbit` (0: default).
    pub fn new(rate_kbps: u64, burst_kbit: u64, now: Duration) -> Policer {
        let burst = if burst_kbit == 0 {
            DEFAULT_BURST_KBIT
        } else {
            burst_kbit
        };
        let burst_bits = burst.saturating_mul(1000);
        Policer {
            rate_kbps,
            burst_bits,
            tokens: burst_bits,
            last: now,
        }
    }

    /// The settings this policer was made with.
    pub fn settings(&self) -> (u64, u64) {
        (self.rate_kbps, self.burst_bits / 1000)
    }

    /// Whether a frame of `bytes` may pass at `now` (takes its tokens).
    pub fn admit(&mut self, bytes: usize, now: Duration) -> bool {
        let dt = now.saturating_sub(self.last);
        self.last = now;
        // kbit/s × ns / 1e6 = bits.
        let add = (self.rate_kbps as u128 * dt.as_nanos() / 1_000_000) as u64;
        self.tokens = self.tokens.saturating_add(add).min(self.burst_bits);
        let need = bytes as u64 * 8;
        if need <= self.tokens {
            self.tokens -= need;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_and_burst_hold_in_simulated_time() {
        let ms = Duration::from_millis;
        // 1000 kbit/s, 80 kbit burst = 10 000 bytes.
        let mut p = Policer::new(1000, 80, ms(0));
        let mut passed = 0;
        while p.admit(1000, ms(0)) {
            passed += 1;
        }
        assert_eq!(passed, 10, "burst");
        // 1000 kbit/s refills 125 bytes per ms: one 1000-byte frame per 8 ms.
        assert!(!p.admit(1000, ms(7)));
        assert!(p.admit(1000, ms(8)));
        // Offered 2400 kbit/s for one simulated second, about rate × 1 s
        // (125 000 bytes) passes.
        let mut bytes = 0;
        for t in 9..1009 {
            if p.admit(300, ms(t)) {
                bytes += 300;
            }
        }
        assert!((120_000..=130_000).contains(&bytes), "{bytes}");
        assert_eq!(Policer::new(5, 0, ms(0)).settings(), (5, 8000));
    }
}
