//! Hierarchical Token Bucket, after tc-htb(8), Devera's "HTB Linux queuing
//! discipline manual – user guide" and the kernel's sch_htb.c.
//!
//! A tree of classes, each with a guaranteed `rate` and a `ceil` it may
//! reach by borrowing. Every class keeps two token buckets (in time units):
//! `tokens` at `rate` with depth `burst`, `ctokens` at `ceil` with depth
//! `cburst`. Its mode follows: *can send* (tokens ≥ 0), *may borrow*
//! (tokens < 0 ≤ ctokens) or *can't send* (ctokens < 0). Leaves hold the
//! packets. A leaf that can send on its own tokens is served first; a leaf
//! that may borrow is attached to its parent's "feed", and is served when
//! the nearest ancestor that can send lends to it — so a class that goes
//! idle lends its rate to its siblings, and gets it back as soon as it is
//! busy again, since own-rate service always comes before lending. Among
//! the classes served at the same level, lower `prio` goes first and equal
//! `prio` is deficit round robin with `quantum` bytes per turn (default
//! `rate / r2q`, which makes borrowed bandwidth proportional to `rate`: the
//! seed's 3:1 / 1:2 / 1:6 pairs).
//!
//! Classification is the caller's: [`Htb::enqueue_class`] takes a class,
//! [`Qdisc::enqueue`] maps the packet's OpenFlow
//! queue id (`set_queue` / `enqueue:PORT:QUEUE`) through
//! [`HtbBuilder::map_queue`], and anything unmapped goes to the default
//! class (tc-htb(8) `default`), or, without one, to the unshaped direct
//! queue as the kernel does.
//!
//! The tree is fixed once built ([`HtbBuilder`]); a class's parameters can
//! be changed in place with [`Htb::change_class`] (OVS updating a Queue's
//! `other-config`), keeping its queued packets.
//!
//! Cost: the kernel's structures (rows per level and prio, a feed per inner
//! class, a timer heap for mode changes), so per-packet work grows with the
//! depth of the tree, not the number of classes; nothing is allocated per
//! packet.

mod ring;
mod sched;

use crate::fifo::{Fifo, DEFAULT_LIMIT};
use crate::prio::PrioBands;
use crate::qdisc::{Dropped, Packet, Qdisc, QdiscStats};
use crate::rate::Rate;
use crate::sfq::Sfq;
use crate::Nanos;

pub use sched::{ClassMode, ClassStats, Htb};

/// TC_HTB_MAXDEPTH: levels 0 (leaves) to 7 (roots).
pub const MAX_DEPTH: usize = 8;
/// TC_HTB_NUMPRIO: priorities 0 (first) to 7.
pub const NUM_PRIO: usize = 8;
/// The default `r2q`: quantum = rate in bytes/s ÷ r2q (tc-htb(8)).
pub const DEFAULT_R2Q: u64 = 10;
/// Quantum bounds the kernel clamps to.
pub const QUANTUM_RANGE: (u64, u64) = (1000, 200_000);
/// Default MTU used for the default burst (tc uses 1600).
pub const DEFAULT_MTU: u64 = 1600;
/// The kernel's `mbuffer`: how far token debt and idle credit are tracked.
pub const MBUFFER_NS: i64 = 60_000_000_000;

/// Index of a class in one [`Htb`] (returned by [`HtbBuilder::add_class`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClassId(pub(crate) u32);

impl ClassId {
    /// The index, for tables the caller keeps alongside.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// One class's parameters (tc-htb(8) `class add ... htb rate R ceil C
/// burst B cburst CB quantum Q prio P`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClassConfig {
    /// Guaranteed rate (OVS queue `min-rate`).
    pub rate: Rate,
    /// Maximum rate when borrowing (OVS `max-rate`); default `rate`.
    pub ceil: Option<Rate>,
    /// Bytes that may go at once above `rate`; default `rate`/1000 + MTU
    /// (one 1 ms tick plus a packet, as OVS's `tc_calc_buffer`).
    pub burst: Option<u64>,
    /// Bytes that may go at once above `ceil`; default from `ceil` likewise.
    pub cburst: Option<u64>,
    /// DRR quantum in bytes; default `rate`/`r2q` clamped to 1000..=200000.
    pub quantum: Option<u64>,
    /// 0 (served first) to 7.
    pub prio: u8,
}

impl ClassConfig {
    /// A class guaranteed `rate`, with every other parameter defaulted.
    pub fn new(rate: Rate) -> Self {
        Self {
            rate,
            ceil: None,
            burst: None,
            cburst: None,
            quantum: None,
            prio: 0,
        }
    }

    /// Sets `ceil`.
    pub fn ceil(mut self, ceil: Rate) -> Self {
        self.ceil = Some(ceil);
        self
    }

    /// Sets `burst` and `cburst` (bytes).
    pub fn bursts(mut self, burst: u64, cburst: u64) -> Self {
        self.burst = Some(burst);
        self.cburst = Some(cburst);
        self
    }

    /// Sets `quantum` (bytes).
    pub fn quantum(mut self, q: u64) -> Self {
        self.quantum = Some(q);
        self
    }

    /// Sets `prio`.
    pub fn prio(mut self, prio: u8) -> Self {
        self.prio = prio;
        self
    }
}

/// A bad HTB tree; names the class or value at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HtbError {
    /// A class id that this builder did not hand out.
    #[error("htb: no class {0}")]
    UnknownClass(u32),
    /// `ceil` below `rate`.
    #[error("htb: class {class}: ceil {ceil} is below rate {rate}")]
    CeilBelowRate {
        /// The class.
        class: u32,
        /// Its rate.
        rate: Rate,
        /// Its ceil.
        ceil: Rate,
    },
    /// `prio` above 7.
    #[error("htb: class {class}: prio {prio} is above 7")]
    Prio {
        /// The class.
        class: u32,
        /// The value given.
        prio: u8,
    },
    /// More than 8 levels.
    #[error("htb: class {0} would be more than {MAX_DEPTH} levels deep")]
    TooDeep(u32),
    /// A leaf-only operation on a class that has children.
    #[error("htb: class {0} has children, so it holds no queue")]
    NotALeaf(u32),
    /// A burst of 0 bytes.
    #[error("htb: class {0}: burst and cburst must be greater than 0")]
    ZeroBurst(u32),
    /// Two mappings of one OpenFlow queue.
    #[error("htb: queue {0} is already mapped")]
    QueueMapped(u32),
}

/// The qdisc inside a leaf class (the seed's `pfifo limit 5`, `sfq`).
/// Work-conserving disciplines only, so a leaf with packets can always
/// send when HTB selects it.
#[derive(Debug)]
pub enum LeafQdisc<P> {
    /// pfifo / bfifo.
    Fifo(Fifo<P>),
    /// SFQ.
    Sfq(Sfq<P>),
    /// Priority bands.
    Prio(PrioBands<P>),
}

impl<P: Packet> Qdisc<P> for LeafQdisc<P> {
    fn enqueue(&mut self, pkt: P, now: Nanos) -> Result<(), Dropped<P>> {
        match self {
            LeafQdisc::Fifo(q) => q.enqueue(pkt, now),
            LeafQdisc::Sfq(q) => q.enqueue(pkt, now),
            LeafQdisc::Prio(q) => q.enqueue(pkt, now),
        }
    }

    fn dequeue(&mut self, now: Nanos) -> Option<P> {
        match self {
            LeafQdisc::Fifo(q) => q.dequeue(now),
            LeafQdisc::Sfq(q) => q.dequeue(now),
            LeafQdisc::Prio(q) => q.dequeue(now),
        }
    }

    fn next_ready(&mut self, now: Nanos) -> Option<Nanos> {
        (!self.is_empty()).then_some(now)
    }

    fn len(&self) -> usize {
        match self {
            LeafQdisc::Fifo(q) => q.len(),
            LeafQdisc::Sfq(q) => q.len(),
            LeafQdisc::Prio(q) => q.len(),
        }
    }

    fn backlog_bytes(&self) -> usize {
        match self {
            LeafQdisc::Fifo(q) => q.backlog_bytes(),
            LeafQdisc::Sfq(q) => q.backlog_bytes(),
            LeafQdisc::Prio(q) => q.backlog_bytes(),
        }
    }

    fn stats(&self) -> QdiscStats {
        match self {
            LeafQdisc::Fifo(q) => q.stats(),
            LeafQdisc::Sfq(q) => q.stats(),
            LeafQdisc::Prio(q) => q.stats(),
        }
    }
}

/// Checks one class's parameters (shared by the builder and
/// [`Htb::change_class`]).
pub(crate) fn validate(id: u32, cfg: &ClassConfig) -> Result<(), HtbError> {
    if let Some(ceil) = cfg.ceil {
        if ceil.bps() < cfg.rate.bps() {
            return Err(HtbError::CeilBelowRate {
                class: id,
                rate: cfg.rate,
                ceil,
            });
        }
    }
    if usize::from(cfg.prio) >= NUM_PRIO {
        return Err(HtbError::Prio {
            class: id,
            prio: cfg.prio,
        });
    }
    if cfg.burst == Some(0) || cfg.cburst == Some(0) {
        return Err(HtbError::ZeroBurst(id));
    }
    Ok(())
}

pub(crate) struct Spec<P> {
    pub(crate) parent: Option<u32>,
    pub(crate) cfg: ClassConfig,
    pub(crate) depth: usize,
    pub(crate) children: usize,
    pub(crate) leaf: Option<LeafQdisc<P>>,
}

/// Builds an [`Htb`]: add classes parent first, give leaves their qdiscs
/// (default: pfifo with 1000 packets), pick a default class, map queues.
pub struct HtbBuilder<P> {
    pub(crate) specs: Vec<Spec<P>>,
    pub(crate) default: Option<u32>,
    pub(crate) queues: Vec<(u32, u32)>,
    pub(crate) r2q: u64,
    pub(crate) mtu: u64,
    pub(crate) direct_qlen: usize,
}

impl<P: Packet> Default for HtbBuilder<P> {
    fn default() -> Self {
        Self::new()
    }
}

impl<P: Packet> HtbBuilder<P> {
    /// An empty tree.
    pub fn new() -> Self {
        Self {
            specs: Vec::new(),
            default: None,
            queues: Vec::new(),
            r2q: DEFAULT_R2Q,
            mtu: DEFAULT_MTU,
            direct_qlen: DEFAULT_LIMIT,
        }
    }

    /// Sets `r2q` (tc-htb(8) qdisc option); 0 is taken as 1.
    pub fn r2q(mut self, r2q: u64) -> Self {
        self.r2q = r2q.max(1);
        self
    }

    /// Sets the MTU used for default bursts.
    pub fn mtu(mut self, mtu: u64) -> Self {
        self.mtu = mtu;
        self
    }

    /// Sets the direct queue's limit (tc-htb(8) `direct_qlen`).
    pub fn direct_qlen(mut self, n: usize) -> Self {
        self.direct_qlen = n;
        self
    }

    fn check(&self, id: ClassId) -> Result<&Spec<P>, HtbError> {
        self.specs
            .get(id.index())
            .ok_or(HtbError::UnknownClass(id.0))
    }

    /// Adds a class under `parent` (`None`: a root, like `parent 1:`; roots
    /// cannot borrow from each other). A parent loses its leaf qdisc.
    pub fn add_class(
        &mut self,
        parent: Option<ClassId>,
        cfg: ClassConfig,
    ) -> Result<ClassId, HtbError> {
        let id = u32::try_from(self.specs.len()).map_err(|_| HtbError::UnknownClass(u32::MAX))?;
        if let Some(ceil) = cfg.ceil {
            if ceil.bps() < cfg.rate.bps() {
                return Err(HtbError::CeilBelowRate {
                    class: id,
                    rate: cfg.rate,
                    ceil,
                });
            }
        }
        if usize::from(cfg.prio) >= NUM_PRIO {
            return Err(HtbError::Prio {
                class: id,
                prio: cfg.prio,
            });
        }
        if cfg.burst == Some(0) || cfg.cburst == Some(0) {
            return Err(HtbError::ZeroBurst(id));
        }
        let depth = match parent {
            None => 0,
            Some(p) => {
                let spec = self.check(p)?;
                // The parent becomes an inner class at level 7 - depth ≥ 1.
                if spec.depth + 2 > MAX_DEPTH {
                    return Err(HtbError::TooDeep(id));
                }
                spec.depth + 1
            }
        };
        if let Some(p) = parent {
            let spec = &mut self.specs[p.index()];
            spec.children += 1;
            spec.leaf = None;
        }
        self.specs.push(Spec {
            parent: parent.map(|p| p.0),
            cfg,
            depth,
            children: 0,
            leaf: None,
        });
        Ok(ClassId(id))
    }

    /// Gives leaf `id` its qdisc.
    pub fn leaf_qdisc(&mut self, id: ClassId, q: LeafQdisc<P>) -> Result<(), HtbError> {
        if self.check(id)?.children > 0 {
            return Err(HtbError::NotALeaf(id.0));
        }
        self.specs[id.index()].leaf = Some(q);
        Ok(())
    }

    /// Unclassified packets go to leaf `id` (tc-htb(8) `default`).
    pub fn default_class(&mut self, id: ClassId) -> Result<(), HtbError> {
        self.check(id)?;
        self.default = Some(id.0);
        Ok(())
    }

    /// Packets for OpenFlow queue `queue` go to leaf `id`.
    pub fn map_queue(&mut self, queue: u32, id: ClassId) -> Result<(), HtbError> {
        self.check(id)?;
        if self.queues.iter().any(|&(q, _)| q == queue) {
            return Err(HtbError::QueueMapped(queue));
        }
        self.queues.push((queue, id.0));
        Ok(())
    }

    /// The finished scheduler; buckets start full at `now`.
    pub fn build(self, now: Nanos) -> Result<Htb<P>, HtbError> {
        for &(_, c) in &self.queues {
            if self.specs[c as usize].children > 0 {
                return Err(HtbError::NotALeaf(c));
            }
        }
        if let Some(d) = self.default {
            if self.specs[d as usize].children > 0 {
                return Err(HtbError::NotALeaf(d));
            }
        }
        Ok(Htb::from_builder(self, now))
    }
}
