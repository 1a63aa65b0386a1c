//! What the agent announces by packet-out (see `controller::announce` for
//! what and where): periodic unsolicited Router Advertisements and
//! gratuitous ARPs of floating IPs that moved here.
//!
//! **Router Advertisements** follow RFC 4861 §6.2.4 and OVN's
//! `ipv6_ra_configs` (ovn-nb(5)): each advertisement is sent at a random
//! interval uniformly in `[MinRtrAdvInterval, MaxRtrAdvInterval]`
//! (`--ra-min-interval`, `--ra-max-interval`; defaults OVN's: max 600 s,
//! min 0.33 × max), the first one as soon as a router interface has VM
//! ports bound here, and the intervals before the first
//! [`MAX_INITIAL_RTR_ADVERTISEMENTS`] advertisements at most
//! [`MAX_INITIAL_RTR_ADVERT_INTERVAL`] (16 s). A VM port newly bound on the
//! network starts that initial burst again, so a VM that does not solicit
//! (router_solicitations=0) configures itself within seconds. Neutron has
//! no API field for these intervals (its l3 agent takes them from its
//! configuration file, `min_rtr_adv_interval` / `max_rtr_adv_interval`), so
//! they are agent options here too. The limits are RFC 4861 §6.2.1's:
//! max in [4, 1800] s, min in [3 s, 0.75 × max].
//!
//! **Gratuitous ARP** (RFC 5227 §3 ARP announcement: an ARP request with
//! sender and target protocol address the floating IP, sender hardware
//! address the MAC it is served with, to broadcast) is sent out of the
//! uplink when this host starts serving a floating IP or serves it with
//! another MAC, [`ANNOUNCE_NUM`] times [`ANNOUNCE_INTERVAL`] apart.
//!
//! Time is a [`Duration`] since an epoch the caller chooses, passed in;
//! randomness comes through [`Jitter`]. The schedules are tested in
//! simulated time.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::time::Duration;

use controller::announce::{FipAnnounce, RaAdvert};
use ipnet::Ipv6Net;

use crate::AgentError;

/// RFC 4861 §10: initial advertisements whose interval is capped.
pub const MAX_INITIAL_RTR_ADVERTISEMENTS: u32 = 3;
/// RFC 4861 §10: the cap of those intervals.
pub const MAX_INITIAL_RTR_ADVERT_INTERVAL: Duration = Duration::from_secs(16);
/// RFC 5227 §1.1: announcements sent per address.
pub const ANNOUNCE_NUM: u32 = 2;
/// RFC 5227 §1.1: time between them.
pub const ANNOUNCE_INTERVAL: Duration = Duration::from_secs(2);

/// MinRtrAdvInterval and MaxRtrAdvInterval (RFC 4861 §6.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RaIntervals {
    pub min: Duration,
    pub max: Duration,
}

impl Default for RaIntervals {
    /// OVN's defaults: max_interval 600 s, min_interval 0.33 × max.
    fn default() -> Self {
        RaIntervals::new(None, 600).unwrap_or(RaIntervals {
            min: Duration::from_secs(198),
            max: Duration::from_secs(600),
        })
    }
}

impl RaIntervals {
    /// `max` seconds in [4, 1800]; `min` seconds (default 0.33 × max) in
    /// [3, 0.75 × max].
    pub fn new(min: Option<u64>, max: u64) -> Result<RaIntervals, AgentError> {
        if !(4..=1800).contains(&max) {
            return Err(AgentError::BadRaInterval(format!(
                "max interval {max} s: must be 4 to 1800 s (RFC 4861 §6.2.1)"
            )));
        }
        let max_ms = max * 1000;
        let min_ms = match min {
            Some(m) => m * 1000,
            None => (max_ms * 33 / 100).max(3000),
        };
        if min_ms < 3000 || min_ms * 4 > max_ms * 3 {
            return Err(AgentError::BadRaInterval(format!(
                "min interval {} s: must be 3 s to 0.75 × max ({} s) (RFC 4861 §6.2.1)",
                min_ms / 1000,
                max_ms * 3 / 4000
            )));
        }
        Ok(RaIntervals {
            min: Duration::from_millis(min_ms),
            max: Duration::from_millis(max_ms),
        })
    }
}

/// A source of uniformly random intervals.
pub trait Jitter: Send {
    /// A duration uniformly in `[lo, hi]`.
    fn pick(&mut self, lo: Duration, hi: Duration) -> Duration;
}

/// [`Jitter`] from the thread's random generator.
#[derive(Debug, Default)]
pub struct RandomJitter;

impl Jitter for RandomJitter {
    fn pick(&mut self, lo: Duration, hi: Duration) -> Duration {
        use rand::Rng;
        if hi <= lo {
            return lo;
        }
        rand::thread_rng().gen_range(lo..=hi)
    }
}

struct RaEntry {
    advert: RaAdvert,
    next: Duration,
    sent: u32,
}

/// When each periodic Router Advertisement is due.
pub struct RaSchedule {
    iv: RaIntervals,
    jitter: Box<dyn Jitter>,
    entries: BTreeMap<(String, Ipv6Net), RaEntry>,
}

impl RaSchedule {
    pub fn new(iv: RaIntervals, jitter: Box<dyn Jitter>) -> RaSchedule {
        RaSchedule {
            iv,
            jitter,
            entries: BTreeMap::new(),
        }
    }

    /// The intervals in use.
    pub fn intervals(&self) -> RaIntervals {
        self.iv
    }

    /// Replace the advertisements: new ones (and ones that gained a VM
    /// port) are due at `now` with their initial burst ahead; gone ones
    /// stop.
    pub fn update(&mut self, adverts: Vec<RaAdvert>, now: Duration) {
        let mut keep = BTreeMap::new();
        for a in adverts {
            let key = (a.router_port.clone(), a.prefix);
            let e = match self.entries.remove(&key) {
                Some(mut e) => {
                    let old: BTreeSet<&String> = e.advert.targets.iter().collect();
                    if a.targets.iter().any(|t| !old.contains(t)) {
                        e.next = now;
                        e.sent = 0;
                    }
                    e.advert = a;
                    e
                }
                None => RaEntry {
                    advert: a,
                    next: now,
                    sent: 0,
                },
            };
            keep.insert(key, e);
        }
        self.entries = keep;
    }

    /// The advertisements due at `now`; each is rescheduled.
    pub fn due(&mut self, now: Duration) -> Vec<RaAdvert> {
        let mut out = Vec::new();
        for e in self.entries.values_mut() {
            if e.next > now {
                continue;
            }
            out.push(e.advert.clone());
            e.sent = e.sent.saturating_add(1);
            let mut iv = self.jitter.pick(self.iv.min, self.iv.max);
            // The intervals before the 2nd and 3rd advertisements.
            if e.sent < MAX_INITIAL_RTR_ADVERTISEMENTS {
                iv = iv.min(MAX_INITIAL_RTR_ADVERT_INTERVAL);
            }
            e.next = now + iv;
        }
        out
    }

    /// When the next advertisement is due, if any is scheduled.
    pub fn next_due(&self) -> Option<Duration> {
        self.entries.values().map(|e| e.next).min()
    }
}

/// Gratuitous ARPs owed for floating IPs served here.
#[derive(Debug, Default)]
pub struct GarpSchedule {
    /// What was last seen served here: floating IP → MAC.
    served: BTreeMap<Ipv4Addr, String>,
    /// Announcements to send: when, and what.
    pending: Vec<(Duration, FipAnnounce)>,
}

impl GarpSchedule {
    /// Compare with what is served now; a floating IP newly served here,
    /// or served with another MAC, is announced [`ANNOUNCE_NUM`] times
    /// from `now`.
    pub fn update(&mut self, served: Vec<FipAnnounce>, now: Duration) {
        let mut next = BTreeMap::new();
        for a in served {
            if self.served.get(&a.ip) != Some(&a.mac) {
                self.pending.retain(|(_, p)| p.ip != a.ip);
                for i in 0..ANNOUNCE_NUM {
                    self.pending.push((now + ANNOUNCE_INTERVAL * i, a.clone()));
                }
            }
            next.insert(a.ip, a.mac);
        }
        // No longer served here: nothing more to announce for it.
        self.pending
            .retain(|(_, p)| next.get(&p.ip) == Some(&p.mac));
        self.served = next;
    }

    /// The announcements due at `now`, removed from the schedule.
    pub fn due(&mut self, now: Duration) -> Vec<FipAnnounce> {
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|(t, _)| *t <= now);
        self.pending = later;
        due.into_iter().map(|(_, a)| a).collect()
    }
}

/// A MAC in `aa:bb:cc:dd:ee:ff` form.
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let (v, _) = flow::parse::parse_field_value(flow::Field::DlSrc, s).ok()?;
    let b = v.to_be_bytes();
    b[10..16].try_into().ok()
}

/// The frame of advertisement `a` (RFC 4861 §4.2, as the solicited one).
pub fn ra_frame(a: &RaAdvert) -> Option<Vec<u8>> {
    let cfg = responder::ra::RaConfig {
        mac: parse_mac(&a.mac)?,
        prefix: a.prefix,
        mode: responder::ra::RaMode::from_neutron(&a.mode)?,
        mtu: a.mtu,
        lifetime: responder::ra::defaults::ROUTER_LIFETIME,
    };
    let mut buf = vec![0u8; responder::ra::reply_len(&cfg)];
    let n = responder::ra::advertise(&cfg, &mut buf).ok()?;
    buf.truncate(n);
    Some(buf)
}

/// The ARP announcement of `a` (RFC 5227 §3).
pub fn garp_frame(a: &FipAnnounce) -> Option<Vec<u8>> {
    let mut buf = [0u8; 64];
    let n = responder::arp::request(parse_mac(&a.mac)?, a.ip, a.ip, &mut buf).ok()?;
    Some(buf[..n].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Always the largest interval allowed.
    struct Max;
    impl Jitter for Max {
        fn pick(&mut self, _lo: Duration, hi: Duration) -> Duration {
            hi
        }
    }

    /// Each value in turn, as a fraction of the range.
    struct Seq(Vec<f64>, usize);
    impl Jitter for Seq {
        fn pick(&mut self, lo: Duration, hi: Duration) -> Duration {
            let f = self.0[self.1 % self.0.len()];
            self.1 += 1;
            lo + (hi - lo).mul_f64(f)
        }
    }

    fn advert(targets: &[&str]) -> RaAdvert {
        RaAdvert {
            router_port: "rp".into(),
            mac: "fa:16:3e:00:00:01".into(),
            prefix: "2001:db8:1::/64".parse().unwrap(),
            mode: "slaac".into(),
            mtu: Some(1500),
            targets: targets.iter().map(|s| s.to_string()).collect(),
            actions: "resubmit(,40)".into(),
        }
    }

    /// Sends at each second up to `end`; the times they were sent.
    fn run(s: &mut RaSchedule, from: u64, end: u64) -> Vec<u64> {
        (from..=end)
            .filter(|&t| !s.due(Duration::from_secs(t)).is_empty())
            .collect()
    }

    #[test]
    fn intervals_follow_rfc_4861_limits_and_ovn_defaults() {
        let d = RaIntervals::default();
        assert_eq!(d.max, Duration::from_secs(600));
        assert_eq!(d.min, Duration::from_secs(198));
        assert_eq!(
            RaIntervals::new(None, 4).unwrap().min,
            Duration::from_secs(3)
        );
        assert!(RaIntervals::new(None, 3).is_err());
        assert!(RaIntervals::new(None, 1801).is_err());
        assert!(RaIntervals::new(Some(2), 10).is_err());
        assert!(RaIntervals::new(Some(8), 10).is_err());
        assert_eq!(
            RaIntervals::new(Some(7), 10).unwrap().min,
            Duration::from_secs(7)
        );
    }

    #[test]
    fn first_three_come_within_16_s_then_the_configured_interval() {
        let mut s = RaSchedule::new(RaIntervals::default(), Box::new(Max));
        s.update(vec![advert(&["vm1"])], Duration::ZERO);
        // At once, then 16 s apart (600 s capped) for the 2nd and 3rd,
        // then 600 s.
        assert_eq!(run(&mut s, 0, 1300), vec![0, 16, 32, 632, 1232]);
    }

    #[test]
    fn intervals_are_random_within_min_and_max() {
        let iv = RaIntervals::new(Some(100), 200).unwrap();
        let mut s = RaSchedule::new(iv, Box::new(Seq(vec![0.0, 1.0, 0.5, 0.25], 0)));
        s.update(vec![advert(&["vm1"])], Duration::ZERO);
        let sent = run(&mut s, 0, 700);
        // 0; +16 (0 → 100, capped); +16 (1 → 200, capped); then
        // 0.5 → 150 and 0.25 → 125, then 0.0 → 100 and 1.0 → 200.
        assert_eq!(sent, vec![0, 16, 32, 182, 307, 407, 607]);
        let gaps: Vec<u64> = sent.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(
            gaps[2..].iter().all(|g| (100..=200).contains(g)),
            "{gaps:?}"
        );
    }

    #[test]
    fn a_new_vm_port_restarts_the_burst_and_a_gone_advert_stops() {
        let mut s = RaSchedule::new(RaIntervals::default(), Box::new(Max));
        s.update(vec![advert(&["vm1"])], Duration::ZERO);
        assert_eq!(run(&mut s, 0, 100), vec![0, 16, 32]);
        // Same targets: nothing changes.
        s.update(vec![advert(&["vm1"])], Duration::from_secs(101));
        assert_eq!(s.next_due(), Some(Duration::from_secs(632)));
        // vm2 bound: due at once, with a new initial burst.
        s.update(vec![advert(&["vm1", "vm2"])], Duration::from_secs(200));
        assert_eq!(run(&mut s, 200, 300), vec![200, 216, 232]);
        // Losing a target is no reason to hurry.
        s.update(vec![advert(&["vm2"])], Duration::from_secs(301));
        assert_eq!(s.next_due(), Some(Duration::from_secs(832)));
        s.update(vec![], Duration::from_secs(302));
        assert_eq!(s.next_due(), None);
        assert!(run(&mut s, 302, 2000).is_empty());
    }

    fn fip(ip: &str, mac: &str) -> FipAnnounce {
        FipAnnounce {
            ip: ip.parse().unwrap(),
            mac: mac.into(),
            actions: "output:1".into(),
        }
    }

    #[test]
    fn a_floating_ip_that_arrives_or_changes_mac_is_announced_twice() {
        let mut g = GarpSchedule::default();
        let t = Duration::from_secs;
        g.update(vec![fip("203.0.113.10", "fa:16:3e:00:00:0a")], t(0));
        assert_eq!(g.due(t(0)).len(), 1);
        assert!(g.due(t(1)).is_empty());
        assert_eq!(g.due(t(2)).len(), 1);
        assert!(g.due(t(10)).is_empty());
        // Unchanged: nothing.
        g.update(vec![fip("203.0.113.10", "fa:16:3e:00:00:0a")], t(20));
        assert!(g.due(t(30)).is_empty());
        // Served with the gateway's MAC now (moved back): announced.
        g.update(vec![fip("203.0.113.10", "fa:16:3e:00:00:01")], t(40));
        let d = g.due(t(40));
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].mac, "fa:16:3e:00:00:01");
        // Gone before the second: not sent.
        g.update(vec![], t(41));
        assert!(g.due(t(50)).is_empty());
    }

    #[test]
    fn frames_are_an_ra_to_all_nodes_and_an_arp_announcement() {
        let ra = ra_frame(&advert(&["vm1"])).expect("ra");
        assert_eq!(&ra[0..6], &[0x33, 0x33, 0, 0, 0, 1]);
        assert_eq!(&ra[6..12], &[0xfa, 0x16, 0x3e, 0, 0, 1]);
        let a = fip("203.0.113.10", "fa:16:3e:00:00:0a");
        let g = garp_frame(&a).expect("garp");
        assert_eq!(&g[0..6], &[0xff; 6]);
        // spa (28..32) == tpa (38..42) == the floating IP.
        assert_eq!(&g[28..32], &[203, 0, 113, 10]);
        assert_eq!(&g[38..42], &[203, 0, 113, 10]);
        assert_eq!(&g[22..28], &[0xfa, 0x16, 0x3e, 0, 0, 0x0a]);
        assert_eq!(parse_mac("zz"), None);
    }
}
