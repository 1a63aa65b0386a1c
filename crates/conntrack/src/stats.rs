//! Counters: connections per zone, limits, refusals by reason.

use std::collections::BTreeMap;
use std::fmt;

/// Why a new connection was refused (the packet is marked +inv).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DropReason {
    /// The tracker-wide `max_conns` was reached.
    GlobalLimit,
    /// The zone's limit was reached (ovs-vsctl(8) zone limits,
    /// `dpctl/ct-set-limits`).
    ZoneLimit,
    /// No free translated tuple in the NAT range.
    NatExhausted,
    /// The reply tuple is already taken by another connection (e.g. a NATed
    /// one) and no NAT was asked that could move it.
    TupleClash,
}

impl DropReason {
    /// All reasons, in counter order.
    pub const ALL: [DropReason; 4] = [
        DropReason::GlobalLimit,
        DropReason::ZoneLimit,
        DropReason::NatExhausted,
        DropReason::TupleClash,
    ];

    pub(crate) fn idx(self) -> usize {
        self as usize
    }

    /// Name used in `ct-stats` output.
    pub fn name(self) -> &'static str {
        match self {
            DropReason::GlobalLimit => "global_limit",
            DropReason::ZoneLimit => "zone_limit",
            DropReason::NatExhausted => "nat_exhausted",
            DropReason::TupleClash => "tuple_clash",
        }
    }
}

/// Per-reason refusal counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Drops(pub [u64; 4]);

impl Drops {
    /// Count for `r`.
    pub fn get(&self, r: DropReason) -> u64 {
        self.0[r.idx()]
    }

    pub(crate) fn bump(&mut self, r: DropReason) {
        self.0[r.idx()] += 1;
    }

    /// Sum over all reasons.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }
}

/// Counters of one zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ZoneStats {
    /// Live connections.
    pub count: u32,
    /// Effective limit (own or default), `None` for unlimited.
    pub limit: Option<u32>,
    /// Refused new connections.
    pub drops: Drops,
}

/// Snapshot for `cloudnet ofctl ct-stats`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Stats {
    /// Live connections in all zones.
    pub total: u32,
    /// Tracker-wide limit.
    pub max_conns: u32,
    /// Refusals in all zones.
    pub drops: Drops,
    /// Packets marked +inv by state or window checks (not refusals).
    pub invalid: u64,
    /// Connections removed by expiry.
    pub expired: u64,
    /// Zones with connections, a limit, or refusals.
    pub zones: BTreeMap<u16, ZoneStats>,
}

impl fmt::Display for Stats {
    /// `total=N max=N invalid=N expired=N drops=(reason=N,…)` then one
    /// `zone=Z count=N limit=L drops=(…)` line per zone.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let drops = |d: &Drops| {
            DropReason::ALL
                .iter()
                .map(|r| format!("{}={}", r.name(), d.get(*r)))
                .collect::<Vec<_>>()
                .join(",")
        };
        writeln!(
            f,
            "total={} max={} invalid={} expired={} drops=({})",
            self.total,
            self.max_conns,
            self.invalid,
            self.expired,
            drops(&self.drops)
        )?;
        for (z, s) in &self.zones {
            let limit = s
                .limit
                .map_or_else(|| "unlimited".to_string(), |l| l.to_string());
            writeln!(
                f,
                "zone={} count={} limit={} drops=({})",
                z,
                s.count,
                limit,
                drops(&s.drops)
            )?;
        }
        Ok(())
    }
}
