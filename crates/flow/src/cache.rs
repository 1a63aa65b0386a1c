//! The flow cache in front of the classifier, as OVS's userspace datapath
//! has one: an exact-match cache (EMC: a direct-mapped array keyed on every
//! packet word) backed by a megaflow cache (tuple-space search over the
//! masks that translations reported, like OVS's dpcls).
//!
//! * A megaflow entry holds the verdict for every packet that agrees with
//!   the translated packet on the bits of its mask — the bits translation
//!   consulted — so it gives the same verdict the classifier would.
//! * **Invalidation**: every entry belongs to one table generation; when
//!   [`FlowTables::generation`] moves (any flow added, changed, removed or
//!   expired), the whole cache is flushed before the next lookup.
//! * **Bounded**: the EMC has a fixed number of slots (a colliding insert
//!   replaces the slot), and the megaflow cache holds at most
//!   `max_megaflows` entries; when full it is flushed (simple, and a full
//!   cache under churn is exactly when OVS's revalidators would evict).
//! * **learn**: an entry keeps the learned flows of its translation and
//!   [`process`] returns them on every hit, so the switch applies them per
//!   packet (see [`crate::learn`]).
//!
//! One `FlowCache` per datapath thread (`&mut self`, no locking); the
//! tables are shared.
//!
//! **Recycled entries**: a flush keeps up to [`SPARE_ENTRIES`] entries
//! nobody else holds (and an insert keeps the entry it replaces), emptied
//! but with their buffers, and the next misses translate into them
//! ([`crate::translate::translate_into`]): the burst of misses after a
//! flush allocates nothing per miss.
//!
//! **Counters**: a hit counts into the entry (plain loads and stores, no
//! atomic read-modify-write on the hot path); [`FlowCache::sync_stats`]
//! pushes the totals into the flows' counters, as OVS's revalidators push
//! megaflow statistics. A flush adds its entries' counts to per-flow
//! totals the cache keeps (plain adds; it used to push them into the
//! flows itself: two atomic read-modify-writes per matched flow, under the
//! tables' lock, a tenth of a miss's cycles); a sync pushes those too, each
//! flow's total once, and so does the first lookup after the tables change.
//! The switch syncs periodically, before [`FlowTables::expire`] (so idle
//! timeouts see recent use) and before dumping flows. Entries name their
//! flows by [`crate::RuleRef`], which holds no reference count (a miss used
//! to take and later drop one per matched flow: two atomic
//! read-modify-writes each); a push resolves them under the tables' read
//! lock, once for all. A cache belongs to the tables it last served: used
//! with other tables, it flushes (and pushes) first.

use crate::classifier::{read_shared, FlowTables, RuleRef, SharedSet, TableSet};
use crate::flowvec::{hash_words, words_eq, Packet, Words};
use crate::translate::{translate_into, Xlate};
use crate::tuple::TupleTable;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

/// A cached verdict: the translation (read its `actions`, `learns` and
/// `mask` through `Deref`) plus the hits not yet pushed to its flows.
#[derive(Debug)]
pub struct CachedXlate {
    xlate: Xlate,
    // Single writer (the owning cache's thread): relaxed load + store.
    pending_packets: AtomicU64,
    pending_bytes: AtomicU64,
    used_ns: AtomicU64,
}

impl std::ops::Deref for CachedXlate {
    type Target = Xlate;
    #[inline]
    fn deref(&self) -> &Xlate {
        &self.xlate
    }
}

impl CachedXlate {
    #[inline]
    fn count(&self, bytes: u64, now: Duration) {
        let p = &self.pending_packets;
        p.store(p.load(Relaxed) + 1, Relaxed);
        let b = &self.pending_bytes;
        b.store(b.load(Relaxed) + bytes, Relaxed);
        self.used_ns.store(now.as_nanos() as u64, Relaxed);
    }

    /// An entry with no verdict yet, for [`translate_into`].
    fn empty() -> CachedXlate {
        CachedXlate {
            xlate: Xlate {
                actions: Vec::with_capacity(8),
                ..Xlate::default()
            },
            pending_packets: AtomicU64::new(0),
            pending_bytes: AtomicU64::new(0),
            used_ns: AtomicU64::new(0),
        }
    }

    /// Forgets the verdict (releasing its flows) but keeps the buffers.
    fn reset(&mut self) {
        self.xlate.actions.clear();
        self.xlate.learns.clear();
        self.xlate.rules.clear();
        *self.pending_packets.get_mut() = 0;
        *self.pending_bytes.get_mut() = 0;
        *self.used_ns.get_mut() = 0;
    }

    /// Moves the entry's counts into `pending`, per flow.
    #[inline]
    fn take_counts(&self, pending: &mut Pending) {
        // Single writer: a load and a store, no read-modify-write.
        let n = self.pending_packets.load(Relaxed);
        if n == 0 {
            return;
        }
        let b = self.pending_bytes.load(Relaxed);
        self.pending_packets.store(0, Relaxed);
        self.pending_bytes.store(0, Relaxed);
        let used = self.used_ns.load(Relaxed);
        for r in &self.xlate.rules {
            pending.add(*r, n, b, used);
        }
    }
}

/// A flow's counts that left the cache's entries (at a flush, or a sync
/// on its way to the flows) and have not reached the flow yet. Aligned:
/// one cache line holds two, and none straddles two lines.
#[derive(Clone, Copy, Debug, Default)]
#[repr(align(32))]
struct FlowCounts {
    /// Which flow of the slot ([`crate::RuleRef`]).
    seq: u64,
    /// 0: nothing pending (the slot is not in [`Pending::dirty`]).
    packets: u64,
    bytes: u64,
    used_ns: u64,
}

/// Counts per flow slot, kept by the cache's thread with plain adds: a
/// flush moves its entries' counts here instead of into the flows (two
/// atomic read-modify-writes on a line of every matched flow, under the
/// tables' lock), and [`Pending::push`] hands each flow its total once.
#[derive(Debug, Default)]
struct Pending {
    /// By [`crate::RuleRef`] slot; grows to the highest slot counted.
    slots: Vec<FlowCounts>,
    /// The slots with counts, each once.
    dirty: Vec<u32>,
}

impl Pending {
    #[inline]
    fn add(&mut self, r: RuleRef, packets: u64, bytes: u64, used_ns: u64) {
        let i = r.slot() as usize;
        if i >= self.slots.len() {
            self.grow(i);
        }
        let Some(c) = self.slots.get_mut(i) else {
            return;
        };
        if c.packets == 0 {
            self.dirty.push(r.slot());
        } else if c.seq == r.seq() {
            c.packets += packets;
            c.bytes += bytes;
            c.used_ns = c.used_ns.max(used_ns);
            return;
        } else if c.seq > r.seq() {
            // The slot changed flows: a slot is reused only once its flow
            // is gone, so the older one's counts go nowhere.
            return;
        }
        *c = FlowCounts {
            seq: r.seq(),
            packets,
            bytes,
            used_ns,
        };
    }

    /// Room for slot `i` (amortized: the array only grows, to the tables'
    /// slot count).
    #[cold]
    fn grow(&mut self, i: usize) {
        let len = (i + 1).max(self.slots.len() * 2).max(64);
        self.slots.resize(len, FlowCounts::default());
    }

    /// Whether nothing is pending.
    #[inline]
    fn is_empty(&self) -> bool {
        self.dirty.is_empty()
    }

    /// Adds every pending count to its flow, if `set` still holds it (a
    /// flow removed since has reported its counters already), and clears.
    fn push(&mut self, set: &TableSet) {
        for slot in self.dirty.drain(..) {
            let c = std::mem::take(&mut self.slots[slot as usize]);
            if let Some(r) = set.rule(RuleRef::from_parts(slot, c.seq)) {
                r.add_stats(c.packets, c.bytes, Duration::from_nanos(c.used_ns));
            }
        }
    }
}

/// Hit/miss counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    pub emc_hits: u64,
    pub megaflow_hits: u64,
    pub misses: u64,
    pub flushes: u64,
}

/// One exact-match slot: the full packet words and the verdict.
type EmcSlot = Option<(Words, Arc<CachedXlate>)>;

/// Per-thread flow cache.
pub struct FlowCache {
    /// The tables the entries were translated from: [`Self::sync_stats`]
    /// resolves the entries' flows ([`crate::RuleRef`]) in them.
    tables: Option<SharedSet>,
    generation: u64,
    emc: Box<[EmcSlot]>,
    mega: Vec<TupleTable<Arc<CachedXlate>>>,
    n_mega: usize,
    max_megaflows: usize,
    /// Emptied entries for the next misses (see the module docs).
    spare: Vec<Arc<CachedXlate>>,
    /// Counts of flushed entries, for the next push to `tables`.
    pending: Pending,
    /// Counters since creation.
    pub stats: CacheStats,
}

/// Default EMC slots (a power of two).
pub const EMC_SLOTS: usize = 8192;
/// Empty megaflow subtables a flush keeps for reuse (an empty one costs a
/// lookup one load and a branch).
pub const KEPT_SUBTABLES: usize = 64;
/// Emptied entries a flush keeps for reuse: about 2.5 KB each with their
/// action lists, so at most about 640 KB per thread; enough for the burst
/// of misses that follows a flush, after which entries are allocated.
pub const SPARE_ENTRIES: usize = 256;
/// Default megaflow capacity.
pub const MAX_MEGAFLOWS: usize = 65_536;

impl Default for FlowCache {
    fn default() -> Self {
        Self::new(EMC_SLOTS, MAX_MEGAFLOWS)
    }
}

impl FlowCache {
    /// A cache with `emc_slots` (rounded up to a power of two, 0 disables the
    /// EMC) and at most `max_megaflows` megaflows.
    pub fn new(emc_slots: usize, max_megaflows: usize) -> FlowCache {
        let n = if emc_slots == 0 {
            0
        } else {
            emc_slots.next_power_of_two()
        };
        FlowCache {
            tables: None,
            generation: 0,
            emc: (0..n).map(|_| None).collect(),
            mega: Vec::new(),
            n_mega: 0,
            max_megaflows: max_megaflows.max(1),
            spare: Vec::new(),
            pending: Pending::default(),
            stats: CacheStats::default(),
        }
    }

    /// Pushes the hit counts of every entry, and those flushes set aside,
    /// into the flows' counters: each flow's total once, under the tables'
    /// read lock.
    pub fn sync_stats(&mut self) {
        if self.n_mega != 0 {
            for t in &self.mega {
                for e in t.values() {
                    e.take_counts(&mut self.pending);
                }
            }
            // An EMC slot may still hold an entry a megaflow insert replaced.
            for (_, e) in self.emc.iter().flatten() {
                e.take_counts(&mut self.pending);
            }
        }
        self.push_pending();
    }

    /// Hands the counts set aside to the flows of `self.tables`.
    fn push_pending(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        match &self.tables {
            Some(t) => self.pending.push(&read_shared(t)),
            None => self.pending = Pending::default(),
        }
    }

    /// Whether the entries come from `tables` at generation `gen`;
    /// otherwise flushes them (pushing their counts to the tables they
    /// came from) and starts over with `tables`.
    #[inline]
    fn bind(&mut self, tables: &FlowTables, gen: u64) {
        let same = self
            .tables
            .as_ref()
            .is_some_and(|t| Arc::ptr_eq(t, tables.shared()));
        if same && gen == self.generation {
            return;
        }
        // The flows see every count gathered before the change at once,
        // as when a flush pushed its entries' counts itself.
        self.flush();
        self.push_pending();
        if !same {
            self.tables = Some(tables.shared().clone());
        }
        self.generation = gen;
    }

    /// Drops every entry, setting their counts aside for the next
    /// [`Self::sync_stats`] (or table change), which pushes them into the
    /// flows: no lock, no atomic read-modify-write, no flow's cache line
    /// here. The subtables stay, empty, with their allocations, since the
    /// next generation mostly brings the same masks back; beyond
    /// [`KEPT_SUBTABLES`] only those used in the generation that ends are
    /// kept, so the list stays bounded.
    pub fn flush(&mut self) {
        self.stats.flushes += 1;
        // Every EMC entry points at a megaflow: none exists without one.
        if self.n_mega == 0 {
            return;
        }
        let pending = &mut self.pending;
        // An EMC slot may still hold an entry a megaflow insert replaced.
        for (_, e) in self.emc.iter_mut().filter_map(Option::take) {
            e.take_counts(pending);
        }
        if self.mega.len() > KEPT_SUBTABLES {
            self.mega.retain(|t| t.len() != 0);
        }
        let spare = &mut self.spare;
        for t in self.mega.iter_mut().filter(|t| t.len() != 0) {
            for e in t.drain_values() {
                e.take_counts(pending);
                recycle(spare, e);
            }
        }
        self.n_mega = 0;
    }

    /// Number of megaflows.
    pub fn megaflows(&self) -> usize {
        self.n_mega
    }

    #[inline]
    fn lookup(&mut self, w: &Words, h: u64) -> Option<Arc<CachedXlate>> {
        if !self.emc.is_empty() {
            let slot = (h as usize) & (self.emc.len() - 1);
            if let Some((k, e)) = &self.emc[slot] {
                if words_eq(k, w) {
                    self.stats.emc_hits += 1;
                    return Some(e.clone());
                }
            }
        }
        let e = self.mega.iter().find_map(|t| t.find(w))?.clone();
        self.stats.megaflow_hits += 1;
        self.emc_insert(w, h, &e);
        Some(e)
    }

    fn emc_insert(&mut self, w: &Words, h: u64, e: &Arc<CachedXlate>) {
        if !self.emc.is_empty() {
            let slot = (h as usize) & (self.emc.len() - 1);
            self.emc[slot] = Some((*w, e.clone()));
        }
    }

    /// A uniquely owned, empty entry: a spare one if there is one.
    fn take_spare(&mut self) -> Arc<CachedXlate> {
        self.spare
            .pop()
            .unwrap_or_else(|| Arc::new(CachedXlate::empty()))
    }

    fn insert(&mut self, w: &Words, h: u64, e: Arc<CachedXlate>) {
        if self.n_mega >= self.max_megaflows {
            self.flush();
        }
        let i = match self.mega.iter().position(|t| t.mask == e.mask) {
            Some(i) => i,
            None => {
                self.mega.push(TupleTable::new(e.mask));
                self.mega.len() - 1
            }
        };
        self.emc_insert(w, h, &e);
        match self.mega[i].insert(w, e) {
            Some(old) => {
                old.take_counts(&mut self.pending);
                recycle(&mut self.spare, old);
            }
            None => self.n_mega += 1,
        }
    }
}

/// Keeps `e`, emptied, for a later miss if nobody else holds it (the
/// switch may still be executing it) and `spare` has room.
fn recycle(spare: &mut Vec<Arc<CachedXlate>>, mut e: Arc<CachedXlate>) {
    if spare.len() < SPARE_ENTRIES {
        if let Some(x) = Arc::get_mut(&mut e) {
            x.reset();
            spare.push(e);
        }
    }
}

/// Runs one packet through the cache and, on a miss, the tables; counts it
/// against the matched flows (`bytes` long, at `now`). The caller executes
/// `actions` and applies `learns` (if any) with
/// [`FlowTables::apply_learned`]. The packet's `recirc_id` selects the
/// starting table (see [`crate::translate`]).
pub fn process(
    tables: &FlowTables,
    cache: &mut FlowCache,
    pkt: &Packet,
    bytes: u64,
    now: Duration,
) -> Arc<CachedXlate> {
    match process_limited(tables, cache, pkt, bytes, now, || true) {
        Some(e) => e,
        // Every miss is admitted above, so this arm is never taken; it
        // costs a translation without the cache rather than a panic.
        None => uncached_entry(tables, pkt),
    }
}

fn uncached_entry(tables: &FlowTables, pkt: &Packet) -> Arc<CachedXlate> {
    let mut e = CachedXlate::empty();
    e.xlate = process_uncached(tables, pkt);
    Arc::new(e)
}

/// [`process`], asking `admit_miss` before a cache miss goes to the
/// tables (the upcall, in OVS's words): `None` when it says no, and
/// nothing is translated or cached. The switch uses it to bound the
/// misses one port may cause per second, so a flood of ever-new flows
/// cannot spend the datapath's time on translations (OVS's handler
/// threads give each port a fair share of upcalls for the same reason).
pub fn process_limited(
    tables: &FlowTables,
    cache: &mut FlowCache,
    pkt: &Packet,
    bytes: u64,
    now: Duration,
    admit_miss: impl FnOnce() -> bool,
) -> Option<Arc<CachedXlate>> {
    let w = pkt.to_words();
    let h = hash_words(&w);
    cache.bind(tables, tables.generation());
    let e = match cache.lookup(&w, h) {
        Some(e) => e,
        None => {
            cache.stats.misses += 1;
            if !admit_miss() {
                return None;
            }
            let mut e = cache.take_spare();
            let set = tables.read();
            // One uniqueness check (an atomic compare-exchange) per miss.
            match Arc::get_mut(&mut e) {
                Some(x) => translate_into(&set, &w, None, &mut x.xlate),
                None => {
                    // A spare is never shared; should one be, start afresh.
                    let mut x = CachedXlate::empty();
                    translate_into(&set, &w, None, &mut x.xlate);
                    e = Arc::new(x);
                }
            }
            // Only cache what was computed from the generation the cache
            // holds (which cannot move while `set` is held).
            if tables.generation() != cache.generation {
                for r in e.xlate.rules.iter().filter_map(|r| set.rule(*r)) {
                    r.hit(bytes, now);
                }
                return Some(e);
            }
            drop(set);
            cache.insert(&w, h, e.clone());
            e
        }
    };
    e.count(bytes, now);
    Some(e)
}

/// The uncached path: translate with the tables directly.
pub fn process_uncached(tables: &FlowTables, pkt: &Packet) -> Xlate {
    let set = tables.read();
    crate::translate::translate(&set, &pkt.to_words(), None)
}
