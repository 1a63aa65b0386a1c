//! The tracker: lookup, state update, commit, NAT binding, expiry.

use std::time::Duration;

use ahash::RandomState;
use rand::rngs::SmallRng;
use rand::{RngCore, SeedableRng};

use crate::action::{CtAction, CtResult, InnerRewrite, Rewrite};
use crate::clock::Clock;
use crate::config::{Config, TimeoutClass, Timeouts, TIMEOUT_CLASSES};
use crate::conn::{Conn, ProtoState, ST_ASSURED, ST_DNAT, ST_SEEN_REPLY, ST_SNAT};
use crate::dump::ConnEntry;
use crate::filter::CtFilter;
use crate::input::{echo_types, CtPacket, L4};
use crate::nat::{find_tuple, NatSpec, Search};
use crate::state::CtState;
use crate::stats::{DropReason, Drops, Stats, ZoneStats};
use crate::table::Table;
use crate::tcp::{Dir, TcpConn, TcpVerdict};
use crate::tuple::{Addr, Family, Tuple};

/// Extra expired entries looked at when a limit is hit, before refusing.
const SWEEP_ON_LIMIT: usize = 64;
/// Packets between two per-packet sweep steps.
const SWEEP_EVERY: u32 = 16;
/// Bound on NAT candidates examined for one new connection.
const NAT_MAX_PROBES: u32 = 1 << 17;

#[derive(Debug, Clone, Copy, Default)]
struct ZoneCounters {
    count: u32,
    limit: Option<u32>,
    drops: Drops,
}

/// Connection tracker with NAT, generic over its [`Clock`].
///
/// One instance serves all zones. It is `&mut self` throughout: the switch
/// runs it from its single datapath thread (or shards by zone behind
/// locks); NAT uniqueness needs one view of all tuples of a zone.
pub struct Conntrack<C: Clock> {
    cfg: Config,
    clock: C,
    table: Table,
    rng: Box<dyn RngCore + Send>,
    zones: std::collections::HashMap<u16, ZoneCounters>,
    drops: Drops,
    invalid: u64,
    expired: u64,
    sweep_cursor: usize,
    sweep_tick: u32,
}

enum Update {
    Done(CtResult),
    /// Remove the entry and treat the packet as new.
    Restart,
}

#[inline]
fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

fn initial_class(p: &ProtoState) -> TimeoutClass {
    match p {
        ProtoState::Tcp(t) => t.state().timeout_class(),
        ProtoState::Udp => TimeoutClass::UdpUnreplied,
        ProtoState::Icmp => TimeoutClass::Icmp,
        ProtoState::Other => TimeoutClass::Generic,
    }
}

/// ICMPv6 neighbour discovery and MLD (RFC 4861, RFC 3810) are link-local
/// control traffic that netfilter leaves untracked.
fn icmpv6_untracked(ty: u8) -> bool {
    matches!(ty, 130..=137 | 143)
}

impl<C: Clock> Conntrack<C> {
    /// A tracker with random hash seeds and random NAT offsets.
    pub fn new(cfg: Config, clock: C) -> Self {
        Self::build(
            cfg,
            clock,
            RandomState::new(),
            Box::new(SmallRng::from_entropy()),
        )
    }

    /// A reproducible tracker: hash keys and NAT randomness derive from
    /// `seed` (tests and benchmarks).
    pub fn with_seed(cfg: Config, clock: C, seed: u64) -> Self {
        let hasher = RandomState::with_seeds(
            seed,
            seed.rotate_left(17) ^ 0x9e37_79b9_7f4a_7c15,
            seed.rotate_left(31) ^ 0xc2b2_ae3d_27d4_eb4f,
            seed.rotate_left(47) ^ 0x1656_67b1_9e37_79f9,
        );
        Self::build(cfg, clock, hasher, Box::new(SmallRng::seed_from_u64(seed)))
    }

    /// Replaces the random source used by `random` NAT port selection.
    pub fn set_rng(&mut self, rng: Box<dyn RngCore + Send>) {
        self.rng = rng;
    }

    fn build(cfg: Config, clock: C, hasher: RandomState, rng: Box<dyn RngCore + Send>) -> Self {
        Conntrack {
            cfg,
            clock,
            table: Table::new(hasher),
            rng,
            zones: std::collections::HashMap::new(),
            drops: Drops::default(),
            invalid: 0,
            expired: 0,
            sweep_cursor: 0,
            sweep_tick: 0,
        }
    }

    /// Current configuration.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Replaces the timeouts. Entries pick up the new values when next
    /// refreshed; until then they keep the expiry they had.
    pub fn set_timeouts(&mut self, t: Timeouts) {
        self.cfg.timeouts = t;
    }

    /// Sets the tracker-wide limit. Existing connections are kept even when
    /// above it; only new ones are refused.
    pub fn set_max_conns(&mut self, max: u32) {
        self.cfg.max_conns = max;
    }

    /// Sets (`Some`) or clears (`None`: back to the default) a zone's limit.
    pub fn set_zone_limit(&mut self, zone: u16, limit: Option<u32>) {
        self.zones.entry(zone).or_default().limit = limit;
    }

    /// Sets the limit of zones without their own.
    pub fn set_default_zone_limit(&mut self, limit: Option<u32>) {
        self.cfg.default_zone_limit = limit;
    }

    /// Pre-allocates room for `n` connections (no reallocation on commit
    /// until then).
    pub fn reserve(&mut self, n: usize) {
        self.table.reserve(n);
    }

    /// Live (not yet swept) connections.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// True when no connection is stored.
    pub fn is_empty(&self) -> bool {
        self.table.len() == 0
    }

    /// Heap bytes held by the table (entries and index, by capacity).
    pub fn memory_bytes(&self) -> usize {
        self.table.heap_bytes()
    }

    /// Runs one `ct` action on one packet (ovs-actions(7) `ct`): looks the
    /// packet up in `act.zone`, updates the connection's state, commits a
    /// new one when asked, and reports the translation for `nat`.
    ///
    /// Allocates nothing for packets of existing connections; committing may
    /// grow the table (see [`Conntrack::reserve`]) and the first packet of a
    /// zone adds its counters.
    pub fn process(&mut self, pkt: &CtPacket, act: &CtAction<'_>) -> CtResult {
        let now = nanos(self.clock.now());
        self.sweep_one_class(now);
        let zone = act.zone;
        if let L4::IcmpError { inner, .. } = pkt.l4 {
            return self.related(pkt, &inner, act, now);
        }
        let Some(tuple) = pkt.tuple() else {
            return self.invalid(zone);
        };
        if let L4::Icmp { ty, .. } = pkt.l4 {
            let v6 = tuple.family == Family::V6;
            let (req, rep) = echo_types(v6);
            if ty != req && ty != rep {
                if v6 && icmpv6_untracked(ty) {
                    return CtResult::bare(CtState::TRK, zone);
                }
                return self.invalid(zone);
            }
        }
        if let Some((idx, dir)) = self.lookup(zone, &tuple, now) {
            match self.update(idx, dir, pkt, act, now) {
                Update::Done(r) => return r,
                Update::Restart => self.remove(idx),
            }
        }
        self.create(tuple, pkt, act, now)
    }

    fn invalid(&mut self, zone: u16) -> CtResult {
        self.invalid += 1;
        CtResult::bare(CtState::TRK | CtState::INV, zone)
    }

    /// Finds a live entry, dropping it if it has expired.
    fn lookup(&mut self, zone: u16, t: &Tuple, now: u64) -> Option<(u32, Dir)> {
        let (idx, dir) = self.table.find(zone, t)?;
        let expired = self.table.get(idx).is_none_or(|c| c.expires <= now);
        if expired {
            self.remove(idx);
            self.expired += 1;
            return None;
        }
        Some((idx, dir))
    }

    fn remove(&mut self, idx: u32) {
        if let Some(c) = self.table.remove(idx) {
            if let Some(z) = self.zones.get_mut(&c.zone) {
                z.count = z.count.saturating_sub(1);
            }
        }
    }

    fn update(
        &mut self,
        idx: u32,
        dir: Dir,
        pkt: &CtPacket,
        act: &CtAction<'_>,
        now: u64,
    ) -> Update {
        if act.force && act.commit && dir == Dir::Reply {
            return Update::Restart;
        }
        let be_liberal = self.cfg.tcp_be_liberal;
        let Some(c) = self.table.get_mut(idx) else {
            return Update::Restart;
        };
        let mut refresh = true;
        let class = match (&mut c.proto, pkt.l4) {
            (ProtoState::Tcp(tc), L4::Tcp(info)) => match tc.packet(dir, &info, be_liberal) {
                TcpVerdict::Ok { assured } => {
                    if assured {
                        c.status |= ST_ASSURED;
                    }
                    tc.state().timeout_class()
                }
                TcpVerdict::Ignored => {
                    refresh = false;
                    c.class
                }
                TcpVerdict::Reopen => return Update::Restart,
                TcpVerdict::Invalid => return Update::Done(self.invalid(act.zone)),
            },
            (ProtoState::Udp, L4::Udp { .. }) => {
                if dir == Dir::Reply || c.has(ST_SEEN_REPLY) {
                    c.status |= ST_ASSURED;
                    TimeoutClass::UdpReplied
                } else {
                    TimeoutClass::UdpUnreplied
                }
            }
            (ProtoState::Icmp, L4::Icmp { ty, .. }) => {
                let (req, rep) = echo_types(c.tuples[0].family == Family::V6);
                let want = if dir == Dir::Original { req } else { rep };
                if ty != want {
                    return Update::Done(self.invalid(act.zone));
                }
                TimeoutClass::Icmp
            }
            (ProtoState::Other, _) => TimeoutClass::Generic,
            _ => return Update::Done(self.invalid(act.zone)),
        };
        if dir == Dir::Reply {
            c.status |= ST_SEEN_REPLY;
        }
        let mut state = CtState::TRK;
        if dir == Dir::Reply {
            state |= CtState::RPL | CtState::EST;
        } else if c.has(ST_SEEN_REPLY) {
            state |= CtState::EST;
        } else {
            state |= CtState::NEW;
        }
        if act.commit {
            if let Some(m) = act.set_mark {
                c.mark = m.apply(c.mark);
            }
            if let Some(l) = act.set_label {
                c.label = l.apply(c.label);
            }
        }
        if refresh {
            let exp = now.saturating_add(nanos(self.cfg.timeouts.get(class)));
            self.table.refresh(idx, class, exp);
        }
        Update::Done(self.result(idx, dir, state, act.nat.is_some()))
    }

    /// Builds the result for a packet of connection `idx` in `dir`.
    fn result(&self, idx: u32, dir: Dir, mut state: CtState, nat: bool) -> CtResult {
        let Some(c) = self.table.get(idx) else {
            return CtResult::bare(state, 0);
        };
        let mut rewrite = None;
        if nat && c.status & (ST_SNAT | ST_DNAT) != 0 {
            let have = c.tuple(dir);
            let want = c.tuple(dir.flip()).inverse();
            let f = have.family;
            let mut rw = Rewrite::default();
            if want.src != have.src {
                rw.src = Some(want.src.to_ip(f));
                state |= CtState::SNAT;
            }
            if want.dst != have.dst {
                rw.dst = Some(want.dst.to_ip(f));
                state |= CtState::DNAT;
            }
            if have.is_icmp() {
                if want.sport != have.sport {
                    rw.icmp_id = Some(want.sport);
                    state |= if dir == Dir::Original {
                        CtState::SNAT
                    } else {
                        CtState::DNAT
                    };
                }
            } else {
                if want.sport != have.sport {
                    rw.sport = Some(want.sport);
                    state |= CtState::SNAT;
                }
                if want.dport != have.dport {
                    rw.dport = Some(want.dport);
                    state |= CtState::DNAT;
                }
            }
            rewrite = Some(rw);
        }
        CtResult {
            state,
            zone: c.zone,
            mark: c.mark,
            label: c.label,
            orig: Some(c.tuples[0]),
            rewrite,
            refused: None,
        }
    }

    fn create(&mut self, tuple: Tuple, pkt: &CtPacket, act: &CtAction<'_>, now: u64) -> CtResult {
        let zone = act.zone;
        let proto = match pkt.l4 {
            L4::Tcp(info) => match TcpConn::new(&info, self.cfg.tcp_loose) {
                Some(t) => ProtoState::Tcp(t),
                None => return self.invalid(zone),
            },
            L4::Udp { .. } => ProtoState::Udp,
            L4::Icmp { ty, .. } => {
                if ty != echo_types(tuple.family == Family::V6).0 {
                    return self.invalid(zone);
                }
                ProtoState::Icmp
            }
            L4::Other => ProtoState::Other,
            L4::IcmpError { .. } => return self.invalid(zone),
        };
        let new_state = CtState::TRK | CtState::NEW;
        if !act.commit {
            let mut r = CtResult::bare(new_state, zone);
            r.orig = Some(tuple);
            return r;
        }
        if let Err(reason) = self.admit(zone, now) {
            return self.refuse(zone, reason);
        }
        let binding = act.nat.filter(|s| s.binds());
        let (reply, status) = match binding {
            Some(spec) => {
                match self.nat_tuple(zone, &tuple, spec) {
                    Some(nt) => {
                        let mut st = 0;
                        if nt.src != tuple.src || (nt.sport != tuple.sport && spec.src.is_some()) {
                            st |= ST_SNAT;
                        }
                        if nt.dst != tuple.dst || (nt.dport != tuple.dport && spec.dst.is_some()) {
                            st |= ST_DNAT;
                        }
                        (nt.inverse(), st)
                    }
                    None => {
                        let n = self.drops.get(DropReason::NatExhausted);
                        if n.is_power_of_two() || n == 0 {
                            log::warn!("conntrack: NAT range exhausted in zone {zone} for {tuple} ({} so far)", n + 1);
                        }
                        return self.refuse(zone, DropReason::NatExhausted);
                    }
                }
            }
            None => {
                let r = tuple.inverse();
                if r == tuple || self.table.find(zone, &r).is_some() {
                    return self.refuse(zone, DropReason::TupleClash);
                }
                (r, 0)
            }
        };
        let class = initial_class(&proto);
        let mut conn = Conn {
            tuples: [tuple, reply],
            label: 0,
            expires: now.saturating_add(nanos(self.cfg.timeouts.get(class))),
            listed: 0,
            mark: 0,
            prev: 0,
            next: 0,
            zone,
            class,
            status,
            proto,
        };
        if let Some(m) = act.set_mark {
            conn.mark = m.apply(0);
        }
        if let Some(l) = act.set_label {
            conn.label = l.apply(0);
        }
        let idx = self.table.insert(conn);
        self.zones.entry(zone).or_default().count += 1;
        self.result(idx, Dir::Original, new_state, act.nat.is_some())
    }

    fn zone_limit(&self, zone: u16) -> Option<u32> {
        self.zones
            .get(&zone)
            .and_then(|z| z.limit)
            .or(self.cfg.default_zone_limit)
    }

    /// Checks the global and zone limits, sweeping a little first if
    /// either is reached (expired entries must not hold a slot).
    fn admit(&mut self, zone: u16, now: u64) -> Result<(), DropReason> {
        let check = |s: &Self| {
            if s.table.len() >= s.cfg.max_conns as usize {
                return Err(DropReason::GlobalLimit);
            }
            let count = s.zones.get(&zone).map_or(0, |z| z.count);
            match s.zone_limit(zone) {
                Some(l) if count >= l => Err(DropReason::ZoneLimit),
                _ => Ok(()),
            }
        };
        if check(self).is_ok() {
            return Ok(());
        }
        self.sweep_at(now, SWEEP_ON_LIMIT);
        check(self)
    }

    fn refuse(&mut self, zone: u16, reason: DropReason) -> CtResult {
        self.drops.bump(reason);
        self.zones.entry(zone).or_default().drops.bump(reason);
        let mut r = CtResult::bare(CtState::TRK | CtState::INV, zone);
        r.refused = Some(reason);
        r
    }

    fn nat_tuple(&mut self, zone: u16, orig: &Tuple, spec: &NatSpec) -> Option<Tuple> {
        let mut addr_key = *orig;
        addr_key.sport = 0;
        addr_key.dport = 0;
        if spec.persistent {
            addr_key.dst = Addr::default();
        }
        let random = self.rng.next_u64();
        let search = Search {
            orig,
            spec,
            addr_hash: self.table.hash(zone, &addr_key),
            tuple_hash: self.table.hash(zone, orig),
            random,
            max_probes: NAT_MAX_PROBES,
        };
        let table = &self.table;
        find_tuple(&search, |r| table.find(zone, r).is_some())
    }

    /// An ICMP error: +rel when it quotes a tracked connection.
    fn related(&mut self, pkt: &CtPacket, inner: &Tuple, act: &CtAction<'_>, now: u64) -> CtResult {
        let zone = act.zone;
        let Some(outer) = pkt.tuple() else {
            return self.invalid(zone);
        };
        if outer.family != inner.family {
            return self.invalid(zone);
        }
        // The quoted packet travelled the other way: its inverse is what
        // a packet in the error's own direction carries.
        let Some((idx, dd)) = self.lookup(zone, &inner.inverse(), now) else {
            return self.invalid(zone);
        };
        let mut state = CtState::TRK | CtState::REL;
        if dd == Dir::Reply {
            state |= CtState::RPL;
        }
        let Some(c) = self.table.get(idx) else {
            return self.invalid(zone);
        };
        let mut rewrite = None;
        if act.nat.is_some() && c.status & (ST_SNAT | ST_DNAT) != 0 {
            let other = c.tuple(dd.flip());
            let snat = c.has(ST_SNAT);
            let dnat = c.has(ST_DNAT);
            let f = outer.family;
            let mut rw = Rewrite::default();
            let src_manip = (dd == Dir::Original && snat) || (dd == Dir::Reply && dnat);
            let dst_manip = (dd == Dir::Original && dnat) || (dd == Dir::Reply && snat);
            if src_manip && outer.src != other.dst {
                rw.src = Some(other.dst.to_ip(f));
                state |= CtState::SNAT;
            }
            if dst_manip && outer.dst != other.src {
                rw.dst = Some(other.src.to_ip(f));
                state |= CtState::DNAT;
            }
            if other != inner {
                rw.inner = Some(InnerRewrite {
                    src: other.src.to_ip(f),
                    dst: other.dst.to_ip(f),
                    sport: other.sport,
                    dport: other.dport,
                });
            }
            rewrite = Some(rw);
        }
        CtResult {
            state,
            zone,
            mark: c.mark,
            label: c.label,
            orig: Some(c.tuples[0]),
            rewrite,
            refused: None,
        }
    }

    /// Removes up to `budget` expired connections, oldest first in each
    /// timeout class. Cost is proportional to what is removed plus the
    /// number of classes: the table is never scanned.
    pub fn sweep(&mut self, budget: usize) -> usize {
        let now = nanos(self.clock.now());
        self.sweep_at(now, budget)
    }

    fn sweep_at(&mut self, now: u64, budget: usize) -> usize {
        let mut removed = 0;
        for class in TimeoutClass::ALL {
            removed += self.sweep_class(class, now, budget - removed);
            if removed >= budget {
                break;
            }
        }
        removed
    }

    /// Per-packet share of the sweeping: every [`SWEEP_EVERY`] packets, one
    /// class, up to `SWEEP_EVERY × sweep_per_packet` entries. Batching keeps
    /// the list heads (likely cache misses) off most packets' path.
    fn sweep_one_class(&mut self, now: u64) {
        self.sweep_tick = self.sweep_tick.wrapping_add(1);
        if !self.sweep_tick.is_multiple_of(SWEEP_EVERY) {
            return;
        }
        let class = TimeoutClass::ALL[self.sweep_cursor];
        self.sweep_cursor = (self.sweep_cursor + 1) % TIMEOUT_CLASSES;
        let budget = (SWEEP_EVERY * self.cfg.sweep_per_packet) as usize;
        self.sweep_class(class, now, budget);
    }

    fn sweep_class(&mut self, class: TimeoutClass, now: u64, budget: usize) -> usize {
        let mut removed = 0;
        // Requeues are bounded too, so one call does bounded work.
        let mut requeued = 0;
        while removed < budget && requeued < budget {
            let Some(idx) = self.table.head(class) else {
                break;
            };
            let Some((expires, listed)) = self.table.get(idx).map(|c| (c.expires, c.listed)) else {
                break;
            };
            if expires <= now {
                self.remove(idx);
                self.expired += 1;
                removed += 1;
            } else if listed <= now {
                // Refreshed since it was queued: its place is further back.
                self.table.requeue(idx, class, class);
                requeued += 1;
            } else {
                break;
            }
        }
        removed
    }

    /// Snapshot of live connections, optionally of one zone, sorted by zone
    /// then original tuple (for `ofctl dump-conntrack [zone=N]`).
    pub fn dump(&self, zone: Option<u16>) -> Vec<ConnEntry> {
        let now = nanos(self.clock.now());
        let mut v: Vec<ConnEntry> = self
            .table
            .iter()
            .filter(|(_, c)| zone.is_none_or(|z| z == c.zone) && c.expires > now)
            .map(|(_, c)| ConnEntry {
                orig: c.tuples[0],
                reply: c.tuples[1],
                zone: c.zone,
                mark: c.mark,
                label: c.label,
                tcp_state: match c.proto {
                    ProtoState::Tcp(t) => Some(t.state()),
                    _ => None,
                },
                timeout: Duration::from_nanos(c.expires - now),
                seen_reply: c.has(ST_SEEN_REPLY),
                assured: c.has(ST_ASSURED),
            })
            .collect();
        v.sort_by_key(|a| (a.zone, a.orig));
        v
    }

    /// Deletes all connections, or those of one zone (`flush-conntrack`).
    /// Returns how many were removed.
    pub fn flush(&mut self, zone: Option<u16>) -> usize {
        self.flush_matching(&CtFilter {
            zone,
            ..CtFilter::default()
        })
    }

    /// Deletes the connections `filter` names (`dpctl/flush-conntrack
    /// [zone=N] ct-tuple` with wildcards, see [`CtFilter`]); returns how
    /// many were removed. A scan of the table: control path only.
    pub fn flush_matching(&mut self, filter: &CtFilter) -> usize {
        let victims: Vec<u32> = self
            .table
            .iter()
            .filter(|(_, c)| filter.matches(c.zone, &c.tuples[0]))
            .map(|(i, _)| i)
            .collect();
        for &i in &victims {
            self.remove(i);
        }
        victims.len()
    }

    /// Deletes the connection that `tuple` (either direction) belongs to in
    /// `zone` (ovs-ofctl(8) `flush-conntrack [zone] ct-orig-tuple`).
    pub fn delete(&mut self, zone: u16, tuple: &Tuple) -> bool {
        match self.table.find(zone, tuple) {
            Some((idx, _)) => {
                self.remove(idx);
                true
            }
            None => false,
        }
    }

    /// Counters for `ct-stats`.
    pub fn stats(&self) -> Stats {
        let mut zones = std::collections::BTreeMap::new();
        for (z, c) in &self.zones {
            let limit = c.limit.or(self.cfg.default_zone_limit);
            if c.count > 0 || c.limit.is_some() || c.drops.total() > 0 {
                zones.insert(
                    *z,
                    ZoneStats {
                        count: c.count,
                        limit,
                        drops: c.drops,
                    },
                );
            }
        }
        Stats {
            total: u32::try_from(self.table.len()).unwrap_or(u32::MAX),
            max_conns: self.cfg.max_conns,
            drops: self.drops,
            invalid: self.invalid,
            expired: self.expired,
            zones,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{ManualClock, MonotonicClock};

    #[test]
    fn tracker_can_move_to_the_datapath_thread() {
        fn send<T: Send>() {}
        send::<Conntrack<MonotonicClock>>();
        send::<Conntrack<ManualClock>>();
    }

    #[test]
    fn entry_stays_within_the_256_byte_budget() {
        assert!(
            std::mem::size_of::<Option<Conn>>() <= 200,
            "{}",
            std::mem::size_of::<Option<Conn>>()
        );
    }
}
