//! Receive admission: a port whose frames are over one of its own rate
//! limits has its next frames dropped before they are parsed.
//!
//! The per-port limits `other_config:ct-new-pps` and `upcall-pps`
//! ([`super::ct::CT_NEW_PPS_KEY`], [`super::ct::UPCALL_PPS_KEY`]) bound what
//! a flooding VM can commit and translate, but each refused frame has
//! already been read, parsed, looked up and (a SYN) run through the
//! pipeline's conntrack passes under the datapath lock that every other
//! tenant's frames need. At tens of thousands of frames per second that
//! per-frame cost, not the commits, is what starves the others. So once a
//! limit refuses one of a port's frames, the port is *held* for [`HOLD`]:
//! the rest of the burst and every frame read from it until the hold ends
//! is counted and dropped as [`super::stats::DropReason::PortHeld`] without
//! being parsed. After the hold, frames are looked at again (the buckets
//! have earned `rate × HOLD` tokens meanwhile), so the port still gets its
//! configured rates; a port that never exceeds them is never held.
//!
//! This is the userspace counterpart of policing before the datapath: OVS
//! drops over `ingress_policing_rate` in the kernel's ingress qdisc before
//! the datapath sees a frame (ovs-vswitchd.conf.db(5), Interface
//! `ingress_policing_rate`), and DPDK-style poll loops bound what one rx
//! queue may take per round. Here the trigger is the port's own abuse of
//! its limits rather than a byte rate, so well-behaved ports pay one
//! comparison per frame. Time comes from the datapath's injected clock.

use std::time::Duration;

use super::Datapath;

/// How long a port is held after one of its limits refused a frame: the
/// default 2,000 frames/s buckets (`agent::protect`) earn 20 tokens in
/// that time, so a flooding port has about 20 frames parsed per hold
/// instead of every frame it sends.
pub const HOLD: Duration = Duration::from_millis(10);

/// A port's admission state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Admission {
    /// While the clock reads earlier than this, frames are dropped unread.
    held_until: Duration,
    /// Holds started (a refusal while not held), for the counters.
    holds: u64,
}

impl Admission {
    /// One of the port's own limits refused a frame at `now`: hold it.
    /// A refusal during a hold (frames already past the check when it
    /// started) does not extend it, so a port cannot be held forever by
    /// frames it sent before the hold.
    #[inline]
    pub fn refused(&mut self, now: Duration) {
        if now >= self.held_until {
            self.held_until = now.saturating_add(HOLD);
            self.holds += 1;
        }
    }

    /// Whether frames read at `now` are dropped before parsing.
    #[inline]
    pub fn held(&self, now: Duration) -> bool {
        now < self.held_until
    }

    /// Holds started so far.
    pub fn holds(&self) -> u64 {
        self.holds
    }
}

/// What becomes of a frame read from a port, decided before parsing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Rx {
    /// The port is gone.
    Gone,
    /// The port is held: this frame and the rest of its burst are dropped.
    PortHeld,
    /// The frame's destination is held (per-destination limits): dropped.
    DstHeld,
    /// Parse and forward it; the entry of its destination when the port
    /// keeps per-destination limits.
    Admit(Option<usize>),
}

impl super::DpPort {
    /// Set the port's frame-rate limits from `iface`'s `other_config`
    /// (storm control, `ct-new-pps`, `upcall-pps` and the per-destination
    /// ones), keeping the buckets whose settings did not change.
    pub(super) fn apply_limits(&mut self, iface: &crate::schema::Interface, now: Duration) {
        // Validated when set (`Interface::set`); a value that still does
        // not parse (a database edited by hand) turns its limit off.
        for (slot, (rate, burst)) in [
            (
                &mut self.storm,
                (super::storm::PPS_KEY, super::storm::BURST_KEY),
            ),
            (
                &mut self.ct_new,
                (super::ct::CT_NEW_PPS_KEY, super::ct::CT_NEW_BURST_KEY),
            ),
            (
                &mut self.upcall,
                (super::ct::UPCALL_PPS_KEY, super::ct::UPCALL_BURST_KEY),
            ),
        ] {
            let want = super::pps::PpsCfg::from_other_config(&iface.other_config, rate, burst)
                .unwrap_or_else(|e| {
                    tracing::warn!("interface {}: {e}; limit off", iface.name);
                    None
                });
            super::pps::PpsBucket::update(slot, want, now);
        }
        let want =
            super::perdst::DstCfg::from_other_config(&iface.other_config).unwrap_or_else(|e| {
                tracing::warn!("interface {}: {e}; per-destination limits off", iface.name);
                None
            });
        super::perdst::DstLimits::update(&mut self.per_dst, want, now);
    }
}

impl Datapath {
    /// The port whose rates a frame processed at port `slot` is charged
    /// to, and its destination entry there: the port the frame was read
    /// from (also after crossing patch ports into a router's pipeline),
    /// or `slot` for a frame no port read (a tunnel's, a packet-out).
    #[inline]
    pub(super) fn rate_owner(&self, slot: usize) -> (usize, Option<usize>) {
        if self.cur_in == super::NO_SLOT {
            (slot, None)
        } else {
            (self.cur_in, self.cur_dst)
        }
    }

    /// Whether the frame `eth` read from port `slot` at `now` is parsed:
    /// a comparison for a port without holds, and the destination address
    /// read for a port with per-destination limits ([`super::perdst`]).
    #[inline]
    pub(super) fn admit_rx(&self, slot: usize, eth: &[u8], now: Duration) -> Rx {
        let Some(p) = self.ports.get(slot).and_then(Option::as_ref) else {
            return Rx::Gone;
        };
        if p.admit.held(now) {
            return Rx::PortHeld;
        }
        let Some(l) = &p.per_dst else {
            return Rx::Admit(None);
        };
        match super::perdst::DstLimits::entry_of(eth) {
            Some(e) if l.held(e, now) => Rx::DstHeld,
            e => Rx::Admit(e),
        }
    }

    /// Count frames of lengths `lens` (virtio header included) read from
    /// held port `slot` and dropped unparsed (see the module doc).
    pub(super) fn drop_held(&mut self, slot: usize, lens: &[usize]) {
        let Some(p) = self.ports.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        let n = lens.len() as u64;
        let bytes: usize = lens
            .iter()
            .map(|l| l.saturating_sub(super::port::HDR))
            .sum();
        p.stats.rx_packets += n;
        p.stats.rx_bytes += bytes as u64;
        p.stats.rx_dropped += n;
        if let Some(Some(b)) = self.bridges.get_mut(p.bridge) {
            b.drops.add(super::stats::DropReason::PortHeld, n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dp::pps::{PpsBucket, PpsCfg};

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_port_that_keeps_to_its_limits_is_never_held() {
        let a = Admission::default();
        for t in [0, 1, 1_000, 1_000_000] {
            assert!(!a.held(MS * t));
        }
        assert_eq!(a.holds(), 0);
    }

    #[test]
    fn a_refusal_holds_the_port_for_the_hold_time_only() {
        let mut a = Admission::default();
        let t0 = Duration::from_secs(5);
        a.refused(t0);
        assert!(a.held(t0), "the rest of the burst");
        assert!(a.held(t0 + HOLD - Duration::from_nanos(1)));
        assert!(!a.held(t0 + HOLD), "released on time");
        // Refusals during the hold (frames already past the check) do not
        // extend it.
        a.refused(t0 + MS);
        assert!(!a.held(t0 + HOLD));
        assert_eq!(a.holds(), 1);
        // A refusal after it starts a new one.
        a.refused(t0 + HOLD * 3);
        assert!(a.held(t0 + HOLD * 3 + MS));
        assert_eq!(a.holds(), 2);
    }

    /// A flood against a 2,000/s limit in simulated time: how many frames
    /// are parsed (met the bucket) and how many are dropped unread.
    fn flood(offered_pps: u64, secs: u64) -> (u64, u64, u64) {
        let cfg = PpsCfg {
            pps: 2_000,
            burst: 2_000,
        };
        let mut bucket = PpsBucket::new(cfg, Duration::ZERO);
        let mut a = Admission::default();
        let (mut parsed, mut admitted, mut unread) = (0, 0, 0);
        let gap = Duration::from_nanos(1_000_000_000 / offered_pps);
        let mut now = Duration::ZERO;
        for _ in 0..offered_pps * secs {
            now += gap;
            if a.held(now) {
                unread += 1;
                continue;
            }
            parsed += 1;
            if bucket.take(now) {
                admitted += 1;
            } else {
                a.refused(now);
            }
        }
        (parsed, admitted, unread)
    }

    #[test]
    fn a_flood_is_mostly_dropped_unread_and_the_limit_still_passes() {
        // 100,000 frames/s for 3 simulated seconds against 2,000/s.
        let (parsed, admitted, unread) = flood(100_000, 3);
        // The burst and the rate pass: 2,000 + 3 × 2,000.
        assert!((7_900..=8_100).contains(&admitted), "{admitted}");
        // Only about one frame per hold is refused after being parsed.
        let refused = parsed - admitted;
        let holds = 3 * 1_000 / HOLD.as_millis() as u64;
        assert!(refused <= holds + 1, "{refused} refused, {holds} holds");
        assert!(unread > 280_000, "{unread} of 300,000 dropped unread");
    }

    #[test]
    fn below_the_limit_every_frame_is_parsed() {
        let (parsed, admitted, unread) = flood(1_500, 2);
        assert_eq!((parsed, admitted, unread), (3_000, 3_000, 0));
    }

    /// The datapath itself, with an injected clock and dummy ports: the
    /// admission as `process_burst` applies it.
    mod datapath {
        use std::sync::{Arc, Mutex};

        use super::*;
        use crate::dp::mac::Clock;
        use crate::dp::perdst::{DstCfg, DstLimits};
        use crate::dp::port::HDR;
        use crate::dp::stats::DropReason;
        use crate::schema::{Bridge, Config};

        struct TestClock(Mutex<Duration>);

        impl Clock for TestClock {
            fn now(&self) -> Duration {
                *self.0.lock().unwrap()
            }
        }

        struct Rig {
            dp: Datapath,
            clock: Arc<TestClock>,
            n: u16,
        }

        impl Rig {
            fn new() -> Rig {
                let clock = Arc::new(TestClock(Mutex::new(Duration::from_secs(1))));
                let mut dp = Datapath::new(clock.clone()).unwrap();
                let mut cfg = Config::default();
                let br = Bridge {
                    name: "br0".into(),
                    ..Default::default()
                };
                cfg.bridges.insert("br0".into(), br);
                dp.reconcile(&cfg);
                // A rule on an exact source MAC: every source a new megaflow.
                let now = dp.now();
                let f =
                    flow::parse_flow("priority=1,dl_src=02:09:09:09:09:09 actions=drop").unwrap();
                let br = dp.bridge_mut("br0").unwrap();
                br.tables.add_flow(f.flow, now).unwrap();
                for (name, ofport) in [("vm", 1), ("uplink", 2), ("other", 3)] {
                    dp.add_dummy_port("br0", name, ofport).unwrap();
                }
                Rig { dp, clock, n: 0 }
            }

            fn at(&mut self, t: Duration) {
                *self.clock.0.lock().unwrap() = t;
            }

            /// A burst of 64 IPv4 frames at `dst` from `port`, each from a
            /// new source MAC (a new megaflow).
            fn burst(&mut self, port: &str, dst: [u8; 4]) {
                let mut rx: Vec<Vec<u8>> = (0..64)
                    .map(|_| {
                        self.n += 1;
                        let mut f = vec![0u8; HDR];
                        let (hi, lo) = ((self.n >> 8) as u8, self.n as u8);
                        f.extend_from_slice(&[2, 0, 0, 0, hi, lo]);
                        f.extend_from_slice(&[2, 1, 0, 0, hi, lo]);
                        f.extend_from_slice(&[0x08, 0x00, 0x45]);
                        f.resize(HDR + 14 + 20, 0);
                        f[HDR + 14 + 16..HDR + 14 + 20].copy_from_slice(&dst);
                        f
                    })
                    .collect();
                let lens: Vec<usize> = rx.iter().map(Vec::len).collect();
                let slot = self.dp.port_slot(port).unwrap();
                let gen = self.dp.gens[slot];
                let next = self.dp.process_burst((slot, gen, 0), &mut rx, &lens, 0, 0);
                assert_eq!(next, 64, "the whole burst is consumed");
            }

            fn drops(&self, r: DropReason) -> u64 {
                self.dp.bridge("br0").unwrap().drops.get(r)
            }

            fn port(&mut self, name: &str) -> &mut crate::dp::DpPort {
                let slot = self.dp.port_slot(name).unwrap();
                self.dp.ports[slot].as_mut().unwrap()
            }
        }

        const LIMIT: PpsCfg = PpsCfg {
            pps: 100,
            burst: 10,
        };

        #[test]
        fn a_port_over_its_upcall_rate_is_held_and_released() {
            let mut r = Rig::new();
            let t0 = Duration::from_secs(1);
            r.port("vm").upcall = Some(PpsBucket::new(LIMIT, t0));
            r.burst("vm", [10, 0, 0, 9]);
            // The burst's 10 misses are translated, the 11th refused, and
            // the rest of the burst dropped unread.
            assert_eq!(r.drops(DropReason::UpcallLimit), 1);
            assert_eq!(r.drops(DropReason::PortHeld), 53);
            assert_eq!(r.port("vm").admit.holds(), 1);
            assert_eq!(r.port("vm").stats.rx_packets, 64, "all counted as received");
            // Still held: a whole burst dropped unread.
            r.at(t0 + HOLD - MS);
            r.burst("vm", [10, 0, 0, 9]);
            assert_eq!(r.drops(DropReason::PortHeld), 53 + 64);
            assert_eq!(r.drops(DropReason::UpcallLimit), 1, "nothing parsed");
            // Another port at the same time is not affected.
            r.burst("other", [10, 0, 0, 9]);
            assert_eq!(r.drops(DropReason::PortHeld), 53 + 64);
            // After the hold: the token earned meanwhile (100/s × 11 ms)
            // passes, the next miss is refused and the port held again.
            r.at(t0 + HOLD + MS);
            r.burst("vm", [10, 0, 0, 9]);
            assert_eq!(r.drops(DropReason::UpcallLimit), 2);
            assert_eq!(r.drops(DropReason::PortHeld), 53 + 64 + 62);
            assert_eq!(r.port("vm").admit.holds(), 2);
        }

        #[test]
        fn the_uplink_holds_only_the_flooded_destination() {
            let mut r = Rig::new();
            let t0 = Duration::from_secs(1);
            let cfg = DstCfg {
                ct_new: None,
                upcall: Some(LIMIT),
            };
            r.port("uplink").per_dst = Some(DstLimits::new(cfg, t0));
            r.burst("uplink", [203, 0, 113, 10]);
            assert_eq!(r.drops(DropReason::UpcallLimit), 1);
            assert_eq!(r.drops(DropReason::PortHeld), 53);
            assert_eq!(r.port("uplink").admit.holds(), 0, "the port is not held");
            // Another address behind the same port: its own 10 misses pass.
            r.burst("uplink", [203, 0, 113, 11]);
            assert_eq!(r.drops(DropReason::UpcallLimit), 2);
            assert_eq!(r.drops(DropReason::PortHeld), 53 + 53);
            // The first address is still held; the frames to it are
            // dropped one by one without parsing.
            r.at(t0 + MS);
            r.burst("uplink", [203, 0, 113, 10]);
            assert_eq!(r.drops(DropReason::PortHeld), 53 + 53 + 64);
            assert_eq!(r.drops(DropReason::UpcallLimit), 2);
        }
    }
}
