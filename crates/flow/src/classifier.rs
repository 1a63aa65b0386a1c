//! The flow tables: up to 255 OpenFlow tables, each a tuple-space-search
//! classifier ([`Table`]: one hash table per distinct mask, subtables
//! visited in order of their highest priority with early exit, staged
//! lookup, prefix tries — OVS's lib/classifier.c design).
//!
//! **Priority semantics.** The highest-priority matching flow wins. When
//! several flows of the *same* priority match a packet, OpenFlow leaves the
//! choice undefined (OpenFlow 1.3 §6.4); this classifier picks the one added
//! first (lowest sequence number), deterministically, whichever subtable it
//! lives in. `check_overlap` rejects such overlaps at insertion.
//!
//! **Atomic updates.** All tables live behind one `RwLock`; a translation
//! holds the read lock for the whole packet, and a batch ([`FlowTables::transaction`])
//! holds the write lock for the whole batch, so a packet sees either the old
//! set of flows or the new one, never a mix. A failed batch is rolled back.
//! Every change bumps [`FlowTables::generation`], which invalidates caches.
//!
//! **Time** is injected: every call that depends on it takes `now` (a
//! [`Duration`] since an arbitrary epoch, from a [`crate::Clock`]).

use crate::actions::{Action, FlowMod};
use crate::error::TableError;
use crate::fields::Field;
use crate::print::FlowStats;
pub use crate::table::Table;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

/// Number of OpenFlow tables (0..=254; 255 means "all" in requests).
pub const N_TABLES: usize = 255;

/// A flow installed in a table, with its counters.
///
/// Laid out in declaration order (`repr(C)`) and cache-line aligned so that
/// what a lookup and a translation read of a matched flow — priority,
/// `conj`, table, slot, `seq`, the action list's header and the first match
/// words (Ethernet and IPv4 addresses, [`FlowMod`]'s layout) — is one cache
/// line instead of several spread over the 800-byte struct: the miss path
/// is bound by memory latency, one dependent load after another. The
/// alignment also keeps the `Arc`'s reference counts, which the control
/// path changes, out of that line, and the counters sit at the end.
#[derive(Debug)]
#[repr(C, align(64))]
pub struct Rule {
    /// `flow.priority`, next to the fields a lookup compares with it.
    priority: u16,
    /// Whether the flow's actions are `conjunction(...)`: a *soft* match
    /// ([`crate::conj`]).
    pub(crate) conj: bool,
    /// `flow.table`, here so that recording a match ([`Self::to_ref`])
    /// reads only this first cache line, not one 700 bytes further.
    table: u8,
    /// Where the flow sits in [`TableSet`]'s slot array ([`RuleRef`]).
    pub(crate) slot: u32,
    pub(crate) seq: u64,
    pub flow: FlowMod,
    created_ns: u64,
    c: Counters,
}

/// A flow's mutable state, in one aligned half cache line: pushing the
/// flow cache's counts touches one line per flow.
#[derive(Debug)]
#[repr(C, align(32))]
struct Counters {
    n_packets: AtomicU64,
    n_bytes: AtomicU64,
    used_ns: AtomicU64,
    modified_ns: AtomicU64,
}

fn ns(d: Duration) -> u64 {
    d.as_nanos().min(u64::MAX as u128) as u64
}

impl Rule {
    pub(crate) fn new(flow: FlowMod, seq: u64, slot: u32, now: Duration) -> Rule {
        let t = ns(now);
        Rule {
            priority: flow.priority,
            conj: crate::conj::is_conjunctive(&flow.actions),
            table: flow.table,
            slot,
            flow,
            seq,
            created_ns: t,
            c: Counters {
                modified_ns: AtomicU64::new(t),
                used_ns: AtomicU64::new(t),
                n_packets: AtomicU64::new(0),
                n_bytes: AtomicU64::new(0),
            },
        }
    }

    /// Flow priority.
    #[inline]
    pub fn priority(&self) -> u16 {
        self.priority
    }

    /// Counts one packet of `bytes` bytes at `now` (lock-free).
    #[inline]
    pub fn hit(&self, bytes: u64, now: Duration) {
        self.c.n_packets.fetch_add(1, Relaxed);
        self.c.n_bytes.fetch_add(bytes, Relaxed);
        self.c.used_ns.store(ns(now), Relaxed);
    }

    /// Adds counts gathered elsewhere (the flow cache), last used at `used`.
    pub fn add_stats(&self, packets: u64, bytes: u64, used: Duration) {
        self.c.n_packets.fetch_add(packets, Relaxed);
        self.c.n_bytes.fetch_add(bytes, Relaxed);
        // A plain load first: the read-modify-write (a CAS loop) only when
        // it would move the time forward.
        let used = ns(used);
        if self.c.used_ns.load(Relaxed) < used {
            self.c.used_ns.fetch_max(used, Relaxed);
        }
    }

    /// Packet and byte counters and age.
    pub fn stats(&self, now: Duration) -> FlowStats {
        FlowStats {
            duration: Duration::from_nanos(ns(now).saturating_sub(self.created_ns)),
            n_packets: self.c.n_packets.load(Relaxed),
            n_bytes: self.c.n_bytes.load(Relaxed),
        }
    }

    /// Whether an idle or hard timeout has passed (ovs-ofctl(8)
    /// `idle_timeout`, `hard_timeout`; seconds).
    pub fn expired(&self, now: Duration) -> bool {
        let now = ns(now);
        let sec = 1_000_000_000u64;
        let f = &self.flow;
        (f.hard_timeout != 0
            && now.saturating_sub(self.c.modified_ns.load(Relaxed)) >= f.hard_timeout as u64 * sec)
            || (f.idle_timeout != 0
                && now.saturating_sub(self.c.used_ns.load(Relaxed)) >= f.idle_timeout as u64 * sec)
    }

    /// A reference to this flow that holds no count on it ([`RuleRef`]).
    #[inline]
    pub fn to_ref(&self) -> RuleRef {
        RuleRef {
            slot: self.slot,
            table: self.table,
            seq: self.seq,
        }
    }

    /// Whether this rule beats `other` (higher priority, then older).
    #[inline]
    pub(crate) fn beats(&self, other: &Rule) -> bool {
        (self.priority, std::cmp::Reverse(self.seq))
            > (other.priority, std::cmp::Reverse(other.seq))
    }

    fn outputs_to(&self, port: u32) -> bool {
        self.flow.actions.iter().any(|a| match a {
            Action::Output(p) => *p == port,
            Action::Enqueue { port: p, .. } => *p == port,
            _ => false,
        })
    }
}

/// A matched flow as a translation records it (`Xlate::rules`): where the
/// flow sits in its [`TableSet`] and which flow it was, without holding a
/// reference count on it. A miss matches about ten flows; cloning an
/// `Arc<Rule>` for each, and dropping them when the cache entry goes, was
/// twenty atomic read-modify-writes per miss on lines other threads read.
/// [`TableSet::rule`] resolves it, and gives `None` once the flow is gone
/// (its slot empty or reused by a newer flow: `seq` differs). A `mod-flows`
/// keeps the slot and `seq`, so counts gathered before it still land.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RuleRef {
    slot: u32,
    /// The flow's table (for traces and tests, without a lookup).
    pub table: u8,
    seq: u64,
}

impl RuleRef {
    /// Where the flow sits in [`TableSet`]'s slot array.
    #[inline]
    pub(crate) fn slot(&self) -> u32 {
        self.slot
    }

    /// The flow's sequence number (unique over the tables' life; a slot's
    /// next flow has a larger one).
    #[inline]
    pub(crate) fn seq(&self) -> u64 {
        self.seq
    }

    /// The reference `slot` and `seq` make (for [`TableSet::rule`]; the
    /// table is not known and left 0).
    #[inline]
    pub(crate) fn from_parts(slot: u32, seq: u64) -> RuleRef {
        RuleRef {
            slot,
            table: 0,
            seq,
        }
    }
}

/// One entry of [`TableSet`]'s slot array: the flow and its `seq`, kept
/// here so that resolving a [`RuleRef`] reads this entry and nothing of a
/// flow that is gone.
#[derive(Default)]
struct Slot {
    seq: u64,
    rule: Option<Arc<Rule>>,
}

/// The whole set of tables as one snapshot under the lock.
pub struct TableSet {
    tables: Vec<Table>,
    /// Every flow by its `slot` ([`RuleRef`]).
    slots: Vec<Slot>,
    /// Slots freed by removals, reused by later additions (an entry may be
    /// occupied again by an undo; [`Self::alloc_slot`] skips those).
    free: Vec<u32>,
    /// Slots of the flows with an idle or hard timeout: the only ones
    /// [`FlowTables::expire`] has to look at. A compiled pipeline has
    /// hundreds of thousands of flows and none with a timeout, and the
    /// walk of every flow (once a second, under the datapath's lock) held
    /// up packets and flow changes for tens of milliseconds.
    timed: BTreeSet<u32>,
}

impl TableSet {
    /// Table `t`.
    #[inline]
    pub fn table(&self, t: u8) -> &Table {
        &self.tables[(t as usize).min(N_TABLES - 1)]
    }

    /// The flow `r` refers to, if it is still installed.
    #[inline]
    pub fn rule(&self, r: RuleRef) -> Option<&Arc<Rule>> {
        self.slots
            .get(r.slot as usize)
            .filter(|s| s.seq == r.seq)?
            .rule
            .as_ref()
    }

    /// Every rule, by table then priority.
    pub fn all_rules(&self) -> impl Iterator<Item = Arc<Rule>> + '_ {
        self.tables.iter().flat_map(|t| t.rules())
    }

    /// Approximate heap bytes used by the tables (for the memory benchmark).
    pub fn heap_bytes(&self) -> usize {
        self.tables.iter().map(Table::heap_bytes).sum::<usize>()
            + self.slots.capacity() * std::mem::size_of::<Slot>()
            + self.free.capacity() * 4
    }

    /// A free slot for a new flow.
    fn alloc_slot(&mut self) -> u32 {
        while let Some(s) = self.free.pop() {
            if self.slots.get(s as usize).is_some_and(|x| x.rule.is_none()) {
                return s;
            }
        }
        self.slots.push(Slot::default());
        (self.slots.len() - 1) as u32
    }

    /// Installs `r` in its table and its slot.
    fn insert(&mut self, r: Arc<Rule>) {
        let s = r.slot as usize;
        if self.slots.len() <= s {
            self.slots.resize_with(s + 1, Slot::default);
        }
        self.slots[s] = Slot {
            seq: r.seq,
            rule: Some(r.clone()),
        };
        if r.flow.idle_timeout != 0 || r.flow.hard_timeout != 0 {
            self.timed.insert(r.slot);
        }
        self.tables[r.flow.table as usize].insert(r);
    }

    /// The flows with a timeout ([`Self::timed`]), in no particular order.
    fn timed_rules(&self) -> impl Iterator<Item = &Arc<Rule>> + '_ {
        (self.timed.iter()).filter_map(|&s| self.slots.get(s as usize)?.rule.as_ref())
    }

    /// Removes exactly `r` from its table and frees its slot.
    fn remove(&mut self, r: &Arc<Rule>) -> bool {
        if !self.tables[r.flow.table as usize].remove(r) {
            return false;
        }
        if let Some(s) = self.slots.get_mut(r.slot as usize) {
            if s.rule.as_ref().is_some_and(|x| Arc::ptr_eq(x, r)) {
                *s = Slot::default();
                self.free.push(r.slot);
                self.timed.remove(&r.slot);
            }
        }
        true
    }
}

/// One operation of a batch (ovs-ofctl(8) `add-flow`, `mod-flows`,
/// `del-flows`, with `--strict` as `strict`).
#[derive(Clone, Debug)]
pub enum FlowOp {
    Add(FlowMod),
    Modify { filter: FlowMod, strict: bool },
    Delete { filter: FlowMod, strict: bool },
}

/// A flow removed by a delete or by expiry.
#[derive(Clone, Debug)]
pub struct Removed {
    pub flow: FlowMod,
    pub stats: FlowStats,
}

/// The lock the tables live behind, shared with the flow caches that count
/// into their flows ([`crate::cache::FlowCache::sync_stats`]).
pub(crate) type SharedSet = Arc<RwLock<TableSet>>;

/// A read guard on a [`SharedSet`] (a poisoned lock still holds consistent
/// tables: every batch is applied or rolled back before it unlocks).
pub(crate) fn read_shared(s: &SharedSet) -> RwLockReadGuard<'_, TableSet> {
    s.read().unwrap_or_else(|e| e.into_inner())
}

/// The tables of one bridge, shareable between threads.
pub struct FlowTables {
    inner: SharedSet,
    generation: AtomicU64,
    seq: AtomicU64,
}

impl Default for FlowTables {
    fn default() -> Self {
        Self::new()
    }
}

enum Undo {
    Added(Arc<Rule>),
    Removed(Arc<Rule>),
}

impl FlowTables {
    /// Empty tables.
    pub fn new() -> FlowTables {
        FlowTables {
            inner: Arc::new(RwLock::new(TableSet {
                tables: (0..N_TABLES).map(|_| Table::default()).collect(),
                slots: Vec::new(),
                free: Vec::new(),
                timed: BTreeSet::new(),
            })),
            generation: AtomicU64::new(1),
            seq: AtomicU64::new(0),
        }
    }

    /// Bumped on every change; caches compare it to know they are stale.
    #[inline]
    pub fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Acquire)
    }

    /// A consistent read snapshot (held for one packet's translation).
    /// [`Self::generation`] does not move while it is held: every change
    /// bumps it before unlocking.
    pub fn read(&self) -> RwLockReadGuard<'_, TableSet> {
        read_shared(&self.inner)
    }

    /// The shared lock itself, for the flow caches.
    #[inline]
    pub(crate) fn shared(&self) -> &SharedSet {
        &self.inner
    }

    fn write(&self) -> RwLockWriteGuard<'_, TableSet> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }

    fn bump(&self) {
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    /// Chooses the fields with prefix tries in table `table` (OVS's
    /// Flow_Table `prefixes` column, ovs-vswitchd.conf.db(5)): `nw_src`
    /// and/or `nw_dst`, none by default (see [`crate::table`] for why).
    /// Tries change only how wide megaflows are, never which flow matches.
    pub fn set_prefixes(&self, table: u8, fields: &[Field]) -> Result<(), TableError> {
        if let Some(f) = fields
            .iter()
            .find(|f| !crate::table::PREFIX_FIELDS.contains(f))
        {
            return Err(TableError::Inconsistent(format!(
                "prefixes: {} cannot have a prefix trie (only nw_src and nw_dst)",
                f.info().name
            )));
        }
        if table as usize >= N_TABLES {
            return Err(TableError::Inconsistent(format!("no table {table}")));
        }
        let mut set = self.write();
        set.tables[table as usize].set_prefixes(fields);
        self.bump();
        Ok(())
    }

    /// Adds one flow (`ovs-ofctl add-flow`).
    pub fn add_flow(&self, f: FlowMod, now: Duration) -> Result<(), TableError> {
        self.transaction(vec![FlowOp::Add(f)], now).map(|_| ())
    }

    /// Applies a batch atomically: either every operation takes effect, or
    /// (on error) none does; no packet sees a partial batch. Returns the
    /// flows that deletes removed.
    pub fn transaction(&self, ops: Vec<FlowOp>, now: Duration) -> Result<Vec<Removed>, TableError> {
        let mut set = self.write();
        let mut undo = Vec::new();
        let mut removed = Vec::new();
        let mut result = Ok(());
        for op in ops {
            if let Err(e) = self.apply(&mut set, op, now, &mut undo, &mut removed) {
                result = Err(e);
                break;
            }
        }
        if let Err(e) = result {
            for u in undo.into_iter().rev() {
                match u {
                    Undo::Added(r) => {
                        set.remove(&r);
                    }
                    Undo::Removed(r) => set.insert(r),
                }
            }
            return Err(e);
        }
        if !undo.is_empty() {
            self.bump();
        }
        Ok(removed)
    }

    fn apply(
        &self,
        set: &mut TableSet,
        op: FlowOp,
        now: Duration,
        undo: &mut Vec<Undo>,
        removed: &mut Vec<Removed>,
    ) -> Result<(), TableError> {
        match op {
            FlowOp::Add(f) => {
                validate(&f)?;
                let t = set.table(f.table);
                if f.flags.check_overlap && overlaps(t, &f) {
                    return Err(TableError::Overlap {
                        table: f.table,
                        priority: f.priority,
                    });
                }
                if let Some(old) = t.find_exact(&f).cloned() {
                    set.remove(&old);
                    undo.push(Undo::Removed(old));
                }
                let slot = set.alloc_slot();
                let r = Arc::new(Rule::new(f, self.seq.fetch_add(1, Relaxed), slot, now));
                set.insert(r.clone());
                undo.push(Undo::Added(r));
            }
            FlowOp::Modify { filter, strict } => {
                for f in &filter.actions {
                    validate_action(filter.table, f)?;
                }
                for old in select(set, &filter, strict) {
                    let mut nf = old.flow.clone();
                    nf.actions = filter.actions.clone();
                    crate::conj::check_flow(&nf.matches, &nf.actions)
                        .map_err(TableError::Inconsistent)?;
                    // Same slot and seq: counts the flow cache gathered
                    // before the change still reach the flow.
                    let r = Arc::new(Rule {
                        priority: nf.priority,
                        conj: crate::conj::is_conjunctive(&nf.actions),
                        table: nf.table,
                        slot: old.slot,
                        flow: nf,
                        seq: old.seq,
                        created_ns: old.created_ns,
                        c: Counters {
                            modified_ns: AtomicU64::new(ns(now)),
                            used_ns: AtomicU64::new(old.c.used_ns.load(Relaxed)),
                            n_packets: AtomicU64::new(if filter.flags.reset_counts {
                                0
                            } else {
                                old.c.n_packets.load(Relaxed)
                            }),
                            n_bytes: AtomicU64::new(if filter.flags.reset_counts {
                                0
                            } else {
                                old.c.n_bytes.load(Relaxed)
                            }),
                        },
                    });
                    set.remove(&old);
                    set.insert(r.clone());
                    undo.push(Undo::Removed(old));
                    undo.push(Undo::Added(r));
                }
            }
            FlowOp::Delete { filter, strict } => {
                for old in select(set, &filter, strict) {
                    set.remove(&old);
                    removed.push(Removed {
                        flow: old.flow.clone(),
                        stats: old.stats(now),
                    });
                    undo.push(Undo::Removed(old));
                }
            }
        }
        Ok(())
    }

    /// Flows selected by a filter (`dump-flows`), with their statistics.
    /// A filter with `table == 255` selects every table.
    pub fn dump(&self, filter: &FlowMod, strict: bool, now: Duration) -> Vec<(FlowMod, FlowStats)> {
        let set = self.read();
        select(&set, filter, strict)
            .into_iter()
            .map(|r| (r.flow.clone(), r.stats(now)))
            .collect()
    }

    /// Removes flows whose idle or hard timeout has passed, in table then
    /// priority order (as [`TableSet::all_rules`] lists them). Looks only
    /// at the flows that have a timeout.
    pub fn expire(&self, now: Duration) -> Vec<Removed> {
        let mut expired: Vec<Arc<Rule>> = (self.read().timed_rules())
            .filter(|r| r.expired(now))
            .cloned()
            .collect();
        expired.sort_by_key(|r| (r.table, std::cmp::Reverse(r.priority), r.seq));
        if expired.is_empty() {
            return Vec::new();
        }
        let mut set = self.write();
        let mut out = Vec::new();
        for r in expired {
            if r.expired(now) && set.remove(&r) {
                out.push(Removed {
                    flow: r.flow.clone(),
                    stats: r.stats(now),
                });
            }
        }
        if !out.is_empty() {
            self.bump();
        }
        out
    }

    /// Applies flows produced by `learn` (ovs-actions(7)): a flow identical
    /// to an existing one (same match, priority, actions, timeouts, cookie)
    /// only refreshes that flow's hard timeout — no table change, so caches
    /// stay valid; anything else is an add (replace), which bumps the
    /// generation. A new flow beyond its action's `limit` (flows in the
    /// target table with its cookie) is refused; returns how many were.
    pub fn apply_learned(&self, learns: &[crate::Learned], now: Duration) -> usize {
        let mut refused = 0;
        for l in learns {
            let f = &l.flow;
            {
                let set = self.read();
                let t = set.table(f.table);
                match t.find_exact(f) {
                    Some(r) if r.flow == *f => {
                        r.c.modified_ns.store(ns(now), Relaxed);
                        continue;
                    }
                    // A changed binding replaces its flow: no growth.
                    Some(_) => {}
                    None if l.limit > 0 => {
                        let n = t
                            .rules()
                            .iter()
                            .filter(|r| r.flow.cookie == f.cookie)
                            .count();
                        if n >= l.limit as usize {
                            refused += 1;
                            continue;
                        }
                    }
                    None => {}
                }
            }
            let _ = self.add_flow(f.clone(), now);
        }
        refused
    }

    /// Total number of flows.
    pub fn len(&self) -> usize {
        self.read().tables.iter().map(Table::len).sum()
    }

    /// Whether there are no flows at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Rules selected by a del/mod/dump filter (ovs-ofctl(8): non-strict
/// selects flows whose match is at least as specific; strict requires the
/// same match and priority), with cookie/mask and out_port filtering.
fn select(set: &TableSet, filter: &FlowMod, strict: bool) -> Vec<Arc<Rule>> {
    let tables: Vec<&Table> = if filter.table as usize >= N_TABLES {
        set.tables.iter().collect()
    } else {
        vec![&set.tables[filter.table as usize]]
    };
    let mut out = Vec::new();
    for t in tables {
        if strict {
            if let Some(r) = t.find_exact(filter) {
                out.push(r.clone());
            }
        } else {
            out.extend(
                t.rules()
                    .into_iter()
                    .filter(|r| r.flow.matches.is_covered_by(&filter.matches)),
            );
        }
    }
    out.retain(|r| {
        (r.flow.cookie & filter.cookie_mask) == (filter.cookie & filter.cookie_mask)
            && filter.out_port.is_none_or(|p| r.outputs_to(p))
    });
    out
}

fn overlaps(t: &Table, f: &FlowMod) -> bool {
    t.rules().iter().any(|r| {
        r.priority() == f.priority
            && (0..crate::flowvec::NW).all(|i| {
                let common = r.flow.matches.mask[i] & f.matches.mask[i];
                r.flow.matches.value[i] & common == f.matches.value[i] & common
            })
    })
}

fn validate(f: &FlowMod) -> Result<(), TableError> {
    if f.table as usize >= N_TABLES {
        return Err(TableError::Inconsistent(
            "table 255 is not a valid table for a flow".into(),
        ));
    }
    for a in &f.actions {
        validate_action(f.table, a)?;
    }
    crate::conj::check_flow(&f.matches, &f.actions).map_err(TableError::Inconsistent)
}

fn validate_action(table: u8, a: &Action) -> Result<(), TableError> {
    match a {
        Action::GotoTable(t) if *t <= table => Err(TableError::Inconsistent(format!(
            "goto_table:{t} in table {table}: goto_table may only go forward (OpenFlow 1.3 §5.1)"
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matching::Match;
    use std::mem::{align_of, offset_of, size_of};

    #[test]
    fn what_a_match_reads_of_a_flow_is_its_first_cache_line() {
        assert_eq!(align_of::<Rule>(), 64);
        let flow = offset_of!(Rule, flow);
        assert!(offset_of!(Rule, seq) + 8 <= flow);
        let actions = flow + offset_of!(FlowMod, actions);
        assert!(actions + size_of::<Vec<Action>>() <= 64);
        // dl_dst/dl_type, dl_src/vlan_tci, nw_src/nw_dst.
        let value = flow + offset_of!(FlowMod, matches) + offset_of!(Match, value);
        assert!(value + 3 * 8 <= 64, "match value at {value}");
    }
}
