//! The MAC learning table of the NORMAL action: (VLAN, MAC) → port, with
//! aging. Time comes from an injected [`Clock`] so aging is testable.
//!
//! Behaviour follows ovs-vswitchd.conf.db(5), Bridge `other_config`:
//! `mac-aging-time` (default 300 s) and `mac-table-size` (default 2048;
//! when full, new addresses are not learned until entries age out).

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// A monotonic clock.
pub trait Clock: Send + Sync {
    /// Time since an arbitrary fixed origin.
    fn now(&self) -> Duration;
}

/// The system's monotonic clock.
#[derive(Debug)]
pub struct SystemClock(Instant);

impl Default for SystemClock {
    fn default() -> Self {
        SystemClock(Instant::now())
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Duration {
        self.0.elapsed()
    }
}

/// Default table size (OVS's default `mac-table-size`).
pub const DEFAULT_MAC_TABLE_SIZE: usize = 2048;

#[derive(Clone, Copy, Debug)]
struct Entry {
    port: usize,
    seen: Duration,
}

/// The learning table of one bridge. Ports are datapath slot numbers.
#[derive(Debug)]
pub struct MacTable {
    map: HashMap<(u16, [u8; 6]), Entry>,
    aging: Duration,
    max: usize,
}

impl MacTable {
    /// An empty table with the given aging time and capacity.
    pub fn new(aging: Duration, max: usize) -> MacTable {
        MacTable {
            map: HashMap::with_capacity(max.min(4096)),
            aging,
            max,
        }
    }

    /// Change the aging time.
    pub fn set_aging(&mut self, aging: Duration) {
        self.aging = aging;
    }

    /// Learn that `mac` in `vlan` lives behind `port`. Multicast sources
    /// are never learned.
    pub fn learn(&mut self, vlan: u16, mac: [u8; 6], port: usize, now: Duration) {
        if mac[0] & 1 != 0 {
            return;
        }
        let key = (vlan, mac);
        if let Some(e) = self.map.get_mut(&key) {
            e.port = port;
            e.seen = now;
            return;
        }
        if self.map.len() >= self.max {
            return;
        }
        self.map.insert(key, Entry { port, seen: now });
    }

    /// Port of `mac` in `vlan`, unless unknown or aged out.
    pub fn lookup(&self, vlan: u16, mac: [u8; 6], now: Duration) -> Option<usize> {
        let e = self.map.get(&(vlan, mac))?;
        (now.saturating_sub(e.seen) < self.aging).then_some(e.port)
    }

    /// Remove aged entries.
    pub fn expire(&mut self, now: Duration) {
        let aging = self.aging;
        self.map.retain(|_, e| now.saturating_sub(e.seen) < aging);
    }

    /// Forget everything learned on `port` (port deleted).
    pub fn flush_port(&mut self, port: usize) {
        self.map.retain(|_, e| e.port != port);
    }

    /// Number of entries (aged ones included until [`Self::expire`]).
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: [u8; 6] = [2, 0, 0, 0, 0, 1];

    #[test]
    fn learns_moves_and_ages() {
        let mut t = MacTable::new(Duration::from_secs(300), 10);
        let s = Duration::from_secs;
        t.learn(10, A, 1, s(0));
        assert_eq!(t.lookup(10, A, s(1)), Some(1));
        assert_eq!(t.lookup(20, A, s(1)), None, "VLANs are separate tables");
        t.learn(10, A, 2, s(100));
        assert_eq!(t.lookup(10, A, s(399)), Some(2));
        assert_eq!(t.lookup(10, A, s(400)), None);
        t.expire(s(400));
        assert!(t.is_empty());
    }

    #[test]
    fn multicast_not_learned_and_capacity_bounded() {
        let mut t = MacTable::new(Duration::from_secs(300), 2);
        t.learn(0, [1, 0, 0x5e, 0, 0, 1], 1, Duration::ZERO);
        assert!(t.is_empty());
        for i in 0..5u8 {
            t.learn(0, [2, 0, 0, 0, 0, i], 1, Duration::ZERO);
        }
        assert_eq!(t.len(), 2);
        t.flush_port(1);
        assert!(t.is_empty());
    }
}
