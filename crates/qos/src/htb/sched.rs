//! The HTB scheduler proper: modes, activation, events, DRR dequeue and
//! charging, following the kernel's sch_htb.c function for function
//! (`htb_activate_prios`, `htb_change_class_mode`, `htb_do_events`,
//! `htb_dequeue_tree`, `htb_charge_class`) so its behaviour can be checked
//! against the original.

use super::ring::{Link, Ring, NIL};
use super::{
    validate, ClassConfig, ClassId, HtbBuilder, HtbError, LeafQdisc, MAX_DEPTH, MBUFFER_NS,
    NUM_PRIO, QUANTUM_RANGE,
};
use crate::bucket::clamp_i64;
use crate::clock::Nanos;
use crate::fifo::{Fifo, DEFAULT_LIMIT};
use crate::qdisc::{DropReason, Dropped, Packet, Qdisc, QdiscStats};
use crate::rate::Rate;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

/// A class's mode (sch_htb.c `enum htb_cmode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClassMode {
    /// Over `ceil`: may not send at all.
    CantSend,
    /// Over `rate`, under `ceil`: may send with borrowed tokens.
    MayBorrow,
    /// Under `rate`: sends on its own tokens.
    CanSend,
}

/// What `tc -s class show` reports for one class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClassStats {
    /// Packets sent through this class (a parent counts its children's).
    pub sent_packets: u64,
    /// Bytes sent through this class.
    pub sent_bytes: u64,
    /// Packets the leaf qdisc dropped (0 for inner classes).
    pub dropped_packets: u64,
    /// Packets waiting in the leaf.
    pub backlog_packets: usize,
    /// Times this class lent (a packet of a descendant went on its tokens).
    pub lends: u64,
    /// Times this class sent on tokens borrowed from an ancestor.
    pub borrows: u64,
    /// Times this class went over `ceil`.
    pub overlimits: u64,
    /// Current mode.
    pub mode: ClassMode,
}

#[derive(Debug)]
struct Class {
    parent: u32,
    level: usize,
    prio: usize,
    is_leaf: bool,
    quantum: i64,
    rate: Rate,
    ceil: Rate,
    buffer: i64,
    cbuffer: i64,
    tokens: i64,
    ctokens: i64,
    t_c: Nanos,
    mode: ClassMode,
    /// Bit p set: something below (or the leaf itself) is backlogged at prio p.
    activity: u8,
    /// Key of this class's valid entry in the wait heap.
    wait_key: Option<Nanos>,
    deficit: [i64; MAX_DEPTH],
    sent_packets: u64,
    sent_bytes: u64,
    lends: u64,
    borrows: u64,
    overlimits: u64,
}

/// The HTB qdisc (see the module docs of [`crate::htb`]).
pub struct Htb<P> {
    cls: Vec<Class>,
    /// `row_links[prio][class]`: each class's links in the rows.
    row_links: Vec<Vec<Link>>,
    /// `feed_links[prio][class]`: each class's links in its parent's feed.
    feed_links: Vec<Vec<Link>>,
    feeds: Vec<[Ring; NUM_PRIO]>,
    leaves: Vec<Option<LeafQdisc<P>>>,
    rows: [[Ring; NUM_PRIO]; MAX_DEPTH],
    row_mask: [u8; MAX_DEPTH],
    wait: BinaryHeap<Reverse<(Nanos, u32)>>,
    default: Option<u32>,
    queues: QueueMap,
    direct: Fifo<P>,
    r2q: u64,
    mtu: u64,
    qlen: usize,
    bytes: usize,
    stats: QdiscStats,
}

/// A class's configured shape in the units the scheduler uses.
struct Shape {
    rate: Rate,
    ceil: Rate,
    buffer: i64,
    cbuffer: i64,
    quantum: i64,
    prio: usize,
}

impl Shape {
    /// Applies the defaults of tc-htb(8) / OVS: ceil = rate, burst = one
    /// 1 ms tick at the rate plus an MTU, quantum = rate / r2q clamped.
    fn new(cfg: &ClassConfig, r2q: u64, mtu: u64) -> Self {
        let ceil = cfg.ceil.unwrap_or(cfg.rate);
        let burst = cfg.burst.unwrap_or(cfg.rate.bytes_per_sec() / 1000 + mtu);
        let cburst = cfg.cburst.unwrap_or(ceil.bytes_per_sec() / 1000 + mtu);
        let quantum = cfg
            .quantum
            .unwrap_or(cfg.rate.bytes_per_sec() / r2q)
            .clamp(QUANTUM_RANGE.0, QUANTUM_RANGE.1);
        let to_time = |r: Rate, bytes: u64| {
            clamp_i64(r.time_for(usize::try_from(bytes).unwrap_or(usize::MAX)))
        };
        Shape {
            rate: cfg.rate,
            ceil,
            buffer: to_time(cfg.rate, burst),
            cbuffer: to_time(ceil, cburst),
            quantum: clamp_i64(quantum),
            prio: usize::from(cfg.prio),
        }
    }
}

/// The set bits of a priority mask, lowest first.
fn bits(mut mask: u8) -> impl Iterator<Item = usize> {
    std::iter::from_fn(move || {
        if mask == 0 {
            return None;
        }
        let p = mask.trailing_zeros() as usize;
        mask &= mask - 1;
        Some(p)
    })
}

/// OpenFlow queue id → leaf. Queue ids are small in practice (OVS numbers
/// them from 0), so ids below [`DENSE_QUEUES`] use a plain table and only
/// larger ones pay for hashing.
const DENSE_QUEUES: u32 = 4096;

#[derive(Debug, Default)]
struct QueueMap {
    dense: Vec<u32>,
    sparse: HashMap<u32, u32>,
}

impl QueueMap {
    fn new(pairs: Vec<(u32, u32)>) -> Self {
        let mut m = QueueMap::default();
        for (q, c) in pairs {
            if q < DENSE_QUEUES {
                let i = q as usize;
                if m.dense.len() <= i {
                    m.dense.resize(i + 1, NIL);
                }
                m.dense[i] = c;
            } else {
                m.sparse.insert(q, c);
            }
        }
        m
    }

    #[inline]
    fn get(&self, q: u32) -> Option<u32> {
        if q < DENSE_QUEUES {
            self.dense.get(q as usize).copied().filter(|&c| c != NIL)
        } else {
            self.sparse.get(&q).copied()
        }
    }
}

impl<P: Packet> Htb<P> {
    pub(super) fn from_builder(b: HtbBuilder<P>, now: Nanos) -> Self {
        let n = b.specs.len();
        let mut cls = Vec::with_capacity(n);
        let mut leaves = Vec::with_capacity(n);
        for spec in b.specs {
            let sh = Shape::new(&spec.cfg, b.r2q, b.mtu);
            let is_leaf = spec.children == 0;
            cls.push(Class {
                parent: spec.parent.unwrap_or(NIL),
                level: if is_leaf {
                    0
                } else {
                    MAX_DEPTH - 1 - spec.depth
                },
                prio: sh.prio,
                is_leaf,
                quantum: sh.quantum,
                rate: sh.rate,
                ceil: sh.ceil,
                buffer: sh.buffer,
                cbuffer: sh.cbuffer,
                tokens: sh.buffer,
                ctokens: sh.cbuffer,
                t_c: now,
                mode: ClassMode::CanSend,
                activity: 0,
                wait_key: None,
                deficit: [0; MAX_DEPTH],
                sent_packets: 0,
                sent_bytes: 0,
                lends: 0,
                borrows: 0,
                overlimits: 0,
            });
            leaves.push(if is_leaf {
                Some(
                    spec.leaf
                        .unwrap_or_else(|| LeafQdisc::Fifo(Fifo::pfifo(DEFAULT_LIMIT))),
                )
            } else {
                None
            });
        }
        Self {
            cls,
            row_links: vec![vec![Link::default(); n]; NUM_PRIO],
            feed_links: vec![vec![Link::default(); n]; NUM_PRIO],
            feeds: vec![[Ring::default(); NUM_PRIO]; n],
            leaves,
            rows: [[Ring::default(); NUM_PRIO]; MAX_DEPTH],
            row_mask: [0; MAX_DEPTH],
            // Each class has at most one live entry; stale ones are purged
            // when the heap doubles, so this capacity is rarely exceeded.
            wait: BinaryHeap::with_capacity(2 * n + 16),
            default: b.default,
            queues: QueueMap::new(b.queues),
            direct: Fifo::pfifo(b.direct_qlen),
            r2q: b.r2q,
            mtu: b.mtu,
            qlen: 0,
            bytes: 0,
            stats: QdiscStats::default(),
        }
    }

    /// Number of classes.
    pub fn class_count(&self) -> usize {
        self.cls.len()
    }

    /// The leaf an OpenFlow queue id maps to.
    pub fn class_of_queue(&self, queue: u32) -> Option<ClassId> {
        self.queues.get(queue).map(ClassId)
    }

    /// Counters and mode of class `id`.
    pub fn class_stats(&self, id: ClassId) -> Option<ClassStats> {
        let c = self.cls.get(id.index())?;
        let leaf = self.leaves.get(id.index()).and_then(Option::as_ref);
        Some(ClassStats {
            sent_packets: c.sent_packets,
            sent_bytes: c.sent_bytes,
            dropped_packets: leaf.map_or(0, |l| l.stats().dropped_packets),
            backlog_packets: leaf.map_or(0, Qdisc::len),
            lends: c.lends,
            borrows: c.borrows,
            overlimits: c.overlimits,
            mode: c.mode,
        })
    }

    /// Packets waiting in the direct (unshaped, unclassified) queue.
    pub fn direct_len(&self) -> usize {
        self.direct.len()
    }

    /// Changes class `id`'s rate, ceil, bursts, quantum and prio in place
    /// (`tc class change`, or OVS updating a Queue's other-config) without
    /// dropping queued packets. Tokens are kept, capped at the new bursts.
    pub fn change_class(
        &mut self,
        id: ClassId,
        cfg: ClassConfig,
        now: Nanos,
    ) -> Result<(), HtbError> {
        if id.index() >= self.cls.len() {
            return Err(HtbError::UnknownClass(id.0));
        }
        validate(id.0, &cfg)?;
        let c = id.0;
        let active_leaf = self.cls[c as usize].is_leaf && self.cls[c as usize].activity != 0;
        if active_leaf {
            self.deactivate_leaf(c);
        }
        let sh = Shape::new(&cfg, self.r2q, self.mtu);
        let cl = &mut self.cls[c as usize];
        cl.rate = sh.rate;
        cl.ceil = sh.ceil;
        cl.buffer = sh.buffer;
        cl.cbuffer = sh.cbuffer;
        cl.tokens = cl.tokens.min(sh.buffer);
        cl.ctokens = cl.ctokens.min(sh.cbuffer);
        cl.quantum = sh.quantum;
        cl.prio = sh.prio;
        let diff = self.elapsed(c, now);
        let delay = self.change_mode(c, diff);
        if self.cls[c as usize].mode == ClassMode::CanSend {
            self.cls[c as usize].wait_key = None;
        } else {
            self.add_to_wait(c, now, delay);
        }
        if active_leaf {
            self.activate_leaf(c);
        }
        Ok(())
    }

    // ----- rings -------------------------------------------------------

    fn row_insert(&mut self, c: u32, mask: u8) {
        let level = self.cls[c as usize].level;
        for p in bits(mask) {
            self.rows[level][p].attach(&mut self.row_links[p], c);
            self.row_mask[level] |= 1 << p;
        }
    }

    fn row_remove(&mut self, c: u32, mask: u8) {
        let level = self.cls[c as usize].level;
        for p in bits(mask) {
            self.rows[level][p].detach(&mut self.row_links[p], c);
            if !self.rows[level][p].has_attached() {
                self.row_mask[level] &= !(1 << p);
            }
        }
    }

    /// `htb_activate_prios`: hooks `c`'s active priorities into its
    /// parent's feeds while it borrows, up to a class that can send, which
    /// goes into the row of its level.
    fn activate_prios(&mut self, c: u32) {
        let mut c = c;
        let mut mask = self.cls[c as usize].activity;
        while mask != 0 && self.cls[c as usize].mode == ClassMode::MayBorrow {
            let p = self.cls[c as usize].parent;
            if p == NIL {
                break;
            }
            for prio in bits(mask) {
                if self.feeds[p as usize][prio].has_attached() {
                    mask &= !(1 << prio); // parent already active at prio
                }
                self.feeds[p as usize][prio].attach(&mut self.feed_links[prio], c);
            }
            self.cls[p as usize].activity |= mask;
            c = p;
        }
        if mask != 0 && self.cls[c as usize].mode == ClassMode::CanSend {
            self.row_insert(c, mask);
        }
    }

    /// `htb_deactivate_prios`: the inverse of [`Self::activate_prios`].
    fn deactivate_prios(&mut self, c: u32) {
        let mut c = c;
        let mut mask = self.cls[c as usize].activity;
        while mask != 0 && self.cls[c as usize].mode == ClassMode::MayBorrow {
            let p = self.cls[c as usize].parent;
            if p == NIL {
                break;
            }
            let m = mask;
            mask = 0;
            for prio in bits(m) {
                self.feeds[p as usize][prio].detach(&mut self.feed_links[prio], c);
                if !self.feeds[p as usize][prio].has_attached() {
                    mask |= 1 << prio;
                }
            }
            self.cls[p as usize].activity &= !mask;
            c = p;
        }
        if mask != 0 && self.cls[c as usize].mode == ClassMode::CanSend {
            self.row_remove(c, mask);
        }
    }

    fn activate_leaf(&mut self, c: u32) {
        let cl = &mut self.cls[c as usize];
        cl.activity = 1 << cl.prio;
        self.activate_prios(c);
    }

    fn deactivate_leaf(&mut self, c: u32) {
        self.deactivate_prios(c);
        self.cls[c as usize].activity = 0;
    }

    // ----- modes and events --------------------------------------------

    /// `htb_class_mode`: the mode `diff` ns after the last update, and how
    /// long until it improves.
    fn class_mode(cl: &Class, diff: i64) -> (ClassMode, i64) {
        let toks = cl.ctokens.saturating_add(diff);
        if toks < 0 {
            return (ClassMode::CantSend, -toks);
        }
        let toks = cl.tokens.saturating_add(diff);
        if toks >= 0 {
            (ClassMode::CanSend, 0)
        } else {
            (ClassMode::MayBorrow, -toks)
        }
    }

    /// `htb_change_class_mode`; returns the delay until the mode improves.
    fn change_mode(&mut self, c: u32, diff: i64) -> i64 {
        let (new, delay) = Self::class_mode(&self.cls[c as usize], diff);
        let cl = &mut self.cls[c as usize];
        if new == cl.mode {
            return delay;
        }
        if new == ClassMode::CantSend {
            cl.overlimits += 1;
            self.stats.overlimits += 1;
        }
        if cl.activity != 0 {
            if cl.mode != ClassMode::CantSend {
                self.deactivate_prios(c);
            }
            self.cls[c as usize].mode = new;
            if new != ClassMode::CantSend {
                self.activate_prios(c);
            }
        } else {
            cl.mode = new;
        }
        delay
    }

    fn add_to_wait(&mut self, c: u32, now: Nanos, delay: i64) {
        let key = now.saturating_add(delay.max(1) as u64);
        self.cls[c as usize].wait_key = Some(key);
        if self.wait.len() >= 2 * self.cls.len() + 16 {
            let cls = &self.cls;
            self.wait
                .retain(|Reverse((k, c))| cls[*c as usize].wait_key == Some(*k));
        }
        self.wait.push(Reverse((key, c)));
    }

    fn elapsed(&self, c: u32, now: Nanos) -> i64 {
        clamp_i64(now.saturating_sub(self.cls[c as usize].t_c)).min(MBUFFER_NS)
    }

    /// `htb_do_events`: classes whose mode was due to improve by `now`.
    fn do_events(&mut self, now: Nanos) {
        while let Some(&Reverse((key, c))) = self.wait.peek() {
            if key > now {
                break;
            }
            self.wait.pop();
            if self.cls[c as usize].wait_key != Some(key) {
                continue; // stale
            }
            self.cls[c as usize].wait_key = None;
            let diff = self.elapsed(c, now);
            let delay = self.change_mode(c, diff);
            if self.cls[c as usize].mode != ClassMode::CanSend {
                self.add_to_wait(c, now, delay);
            }
        }
    }

    /// `htb_charge_class`: a packet of `bytes` left leaf `c`, lent by the
    /// ancestor at `level`. Classes at or above the lender pay from their
    /// own tokens, those below borrowed; every class pays ceil tokens.
    fn charge(&mut self, leaf: u32, level: usize, bytes: usize, now: Nanos) {
        let mut c = leaf;
        while c != NIL {
            let diff = self.elapsed(c, now);
            let cl = &mut self.cls[c as usize];
            if cl.level >= level {
                if cl.level == level {
                    cl.lends += 1;
                }
                let toks = cl.tokens.saturating_add(diff).min(cl.buffer)
                    - clamp_i64(cl.rate.time_for(bytes));
                cl.tokens = toks.max(1 - MBUFFER_NS);
            } else {
                cl.borrows += 1;
                cl.tokens = cl.tokens.saturating_add(diff);
            }
            let ctoks = cl.ctokens.saturating_add(diff).min(cl.cbuffer)
                - clamp_i64(cl.ceil.time_for(bytes));
            cl.ctokens = ctoks.max(1 - MBUFFER_NS);
            cl.t_c = now.max(cl.t_c);
            cl.sent_packets += 1;
            cl.sent_bytes += bytes as u64;
            let old = cl.mode;
            let delay = self.change_mode(c, 0);
            let cl = &mut self.cls[c as usize];
            if old != cl.mode {
                if old != ClassMode::CanSend {
                    cl.wait_key = None;
                }
                if cl.mode != ClassMode::CanSend {
                    self.add_to_wait(c, now, delay);
                }
            }
            c = self.cls[c as usize].parent;
        }
    }

    // ----- dequeue -----------------------------------------------------

    /// `htb_lookup_leaf`: from the row's current class down the feeds.
    fn lookup_leaf(&mut self, level: usize, prio: usize) -> Option<u32> {
        let Self {
            rows,
            feeds,
            row_links,
            feed_links,
            cls,
            ..
        } = self;
        let mut c = rows[level][prio].serve(&mut row_links[prio])?;
        while !cls[c as usize].is_leaf {
            c = feeds[c as usize][prio].serve(&mut feed_links[prio])?;
        }
        Some(c)
    }

    /// Ends leaf `c`'s turn in the ring that holds it at this level.
    fn next_in_ring(&mut self, c: u32, level: usize, prio: usize) {
        let parent = self.cls[c as usize].parent;
        if level == 0 || parent == NIL {
            self.rows[level][prio].advance(&self.row_links[prio]);
        } else {
            self.feeds[parent as usize][prio].advance(&self.feed_links[prio]);
        }
    }

    /// `htb_dequeue_tree`: one packet from the classes lent to at
    /// (`level`, `prio`), deficit round robin among them.
    fn dequeue_tree(&mut self, level: usize, prio: usize, now: Nanos) -> Option<P> {
        let mut start = self.lookup_leaf(level, prio)?;
        let mut c = start;
        let pkt = loop {
            let leaf = self.leaves[c as usize].as_mut()?;
            if leaf.is_empty() {
                self.deactivate_leaf(c);
                if self.row_mask[level] & (1 << prio) == 0 {
                    return None;
                }
                let next = self.lookup_leaf(level, prio)?;
                if c == start {
                    start = next;
                }
                c = next;
                continue;
            }
            if let Some(p) = leaf.dequeue(now) {
                break p;
            }
            self.next_in_ring(c, level, prio);
            c = self.lookup_leaf(level, prio)?;
            if c == start {
                return None;
            }
        };
        let len = pkt.len();
        let cl = &mut self.cls[c as usize];
        cl.deficit[level] -= len as i64;
        if cl.deficit[level] < 0 {
            cl.deficit[level] += cl.quantum;
            self.next_in_ring(c, level, prio);
        }
        if self.leaves[c as usize]
            .as_ref()
            .is_some_and(Qdisc::is_empty)
        {
            self.deactivate_leaf(c);
        }
        self.charge(c, level, len, now);
        Some(pkt)
    }

    // ----- enqueue -----------------------------------------------------

    /// Enqueues into leaf `class` (or the default class / direct queue
    /// when `class` is `None` or not a leaf).
    pub fn enqueue_class(
        &mut self,
        class: Option<ClassId>,
        pkt: P,
        now: Nanos,
    ) -> Result<(), Dropped<P>> {
        let len = pkt.len();
        let target = class
            .map(|c| c.0)
            .filter(|&c| self.leaves.get(c as usize).is_some_and(Option::is_some))
            .or(self
                .default
                .filter(|&d| self.leaves.get(d as usize).is_some_and(Option::is_some)));
        let Some(c) = target else {
            return match self.direct.push(pkt) {
                Ok(()) => {
                    self.stats.on_enqueue(len);
                    self.qlen += 1;
                    self.bytes += len;
                    Ok(())
                }
                Err(e) => {
                    self.stats.on_drop(len);
                    Err(Dropped {
                        reason: DropReason::Unclassified,
                        ..e
                    })
                }
            };
        };
        let Some(leaf) = self.leaves[c as usize].as_mut() else {
            return Err(Dropped::new(pkt, DropReason::Unclassified));
        };
        let (before, bytes_before) = (leaf.len(), leaf.backlog_bytes());
        let res = leaf.enqueue(pkt, now);
        let (after, bytes_after) = (leaf.len(), leaf.backlog_bytes());
        self.qlen = self.qlen + after - before;
        self.bytes = self.bytes + bytes_after - bytes_before;
        match &res {
            Ok(()) => self.stats.on_enqueue(len),
            Err(d) => {
                if d.reason == DropReason::Evicted {
                    self.stats.on_enqueue(len);
                }
                self.stats.on_drop(d.len);
            }
        }
        if before == 0 && after > 0 {
            self.activate_leaf(c);
        }
        res
    }
}

impl<P: Packet> Qdisc<P> for Htb<P> {
    /// Classifies by the packet's OpenFlow queue id, else the default class.
    fn enqueue(&mut self, pkt: P, now: Nanos) -> Result<(), Dropped<P>> {
        let class = pkt.queue_id().and_then(|q| self.class_of_queue(q));
        self.enqueue_class(class, pkt, now)
    }

    fn dequeue(&mut self, now: Nanos) -> Option<P> {
        if let Some(p) = self.direct.pop() {
            self.qlen -= 1;
            self.bytes -= p.len();
            self.stats.on_send(p.len());
            return Some(p);
        }
        if self.qlen == 0 {
            return None;
        }
        self.do_events(now);
        for level in 0..MAX_DEPTH {
            let mut m = self.row_mask[level];
            while m != 0 {
                let prio = m.trailing_zeros() as usize;
                m &= m - 1;
                if let Some(p) = self.dequeue_tree(level, prio, now) {
                    self.qlen -= 1;
                    self.bytes -= p.len();
                    self.stats.on_send(p.len());
                    return Some(p);
                }
            }
        }
        None
    }

    fn next_ready(&mut self, now: Nanos) -> Option<Nanos> {
        if self.qlen == 0 {
            return None;
        }
        if !self.direct.is_empty() {
            return Some(now);
        }
        self.do_events(now);
        if self.row_mask.iter().any(|&m| m != 0) {
            return Some(now);
        }
        while let Some(&Reverse((key, c))) = self.wait.peek() {
            if self.cls[c as usize].wait_key == Some(key) {
                return Some(key);
            }
            self.wait.pop();
        }
        // Unreachable while the invariants hold (a backlogged leaf is in a
        // row or behind a waiting class); poll again soon rather than stall.
        Some(now.saturating_add(1_000_000))
    }

    fn len(&self) -> usize {
        self.qlen
    }

    fn backlog_bytes(&self) -> usize {
        self.bytes
    }

    fn stats(&self) -> QdiscStats {
        self.stats
    }
}

impl<P> std::fmt::Debug for Htb<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Htb")
            .field("classes", &self.cls.len())
            .field("qlen", &self.qlen)
            .field("backlog_bytes", &self.bytes)
            .field("stats", &self.stats)
            .finish()
    }
}
