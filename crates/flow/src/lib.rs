//! OpenFlow tables with Open vSwitch semantics, without I/O.
//!
//! * [`fields`], [`matching`]: the match fields of ovs-fields(7) over a flat
//!   word layout ([`flowvec`]): frame fields ([`packet::FlowKey`]) plus
//!   pipeline [`Metadata`], together a [`Packet`].
//! * [`actions`]: the actions of ovs-actions(7) and the typed datapath
//!   actions ([`DpAction`]) translation produces for the switch.
//! * [`parse`], [`print`]: ovs-ofctl(8) flow syntax in and out, normalized as
//!   OVS prints it; `parse(print(f)) == f`.
//! * [`conj`]: conjunctive matches (`conjunction(id, k/n)`, `conj_id`).
//! * [`classifier`]: up to 255 tables, atomic batches, timeouts in injected
//!   time, counters; [`table`]: one table's tuple-space search with staged
//!   lookup, prefix tries and priority-ordered early exit.
//! * [`translate`], [`learn`]: running a packet through the tables.
//! * [`cache`]: exact-match + megaflow cache with generation invalidation.
//! * [`trace`]: `ofproto/trace`-style explanations.
#![forbid(unsafe_code)]

pub mod actions;
pub mod cache;
pub mod classifier;
pub mod conj;
mod ct_fields;
mod error;
mod field_names;
mod fieldref;
pub mod fields;
pub mod flowvec;
#[doc(hidden)]
pub mod fuzzing;
pub mod learn;
pub mod matching;
pub mod parse;
pub mod parse_actions;
pub mod print;
mod subtable;
pub mod table;
pub mod trace;
pub mod translate;
mod trie;
pub mod tun_md;
mod tuple;

pub use actions::{Action, DpAction, FlowMod};
pub use cache::{process, process_limited, CachedXlate, FlowCache};
pub use classifier::{FlowOp, FlowTables, Rule, RuleRef};
pub use error::{ParseError, TableError};
pub use fields::{Field, FieldRef};
pub use flowvec::{Metadata, Packet};
pub use matching::Match;
pub use parse::{parse_filter, parse_flow, parse_packet};
pub use print::{format_flow, format_match};
pub use trace::trace;
pub use translate::{
    recirc_id_for_table, translate, translate_actions, translate_into, Learned, Xlate,
};
pub use tun_md::TunMetadata;

/// The priority a flow gets when none is given (ovs-ofctl(8): 32768).
pub const DEFAULT_PRIORITY: u16 = 32768;

/// A source of monotonic time, injected wherever behaviour depends on it
/// (timeouts, durations).
pub trait Clock: Send + Sync {
    /// Time since an arbitrary, fixed epoch.
    fn now(&self) -> std::time::Duration;
}

/// The real monotonic clock.
#[derive(Debug, Clone, Copy)]
pub struct MonotonicClock(std::time::Instant);

impl Default for MonotonicClock {
    fn default() -> Self {
        MonotonicClock(std::time::Instant::now())
    }
}

impl Clock for MonotonicClock {
    fn now(&self) -> std::time::Duration {
        self.0.elapsed()
    }
}

/// A clock that moves only when told to (tests, simulations).
#[derive(Debug, Default)]
pub struct ManualClock(std::sync::atomic::AtomicU64);

impl ManualClock {
    /// Advances the clock.
    pub fn advance(&self, d: std::time::Duration) {
        self.0
            .fetch_add(d.as_nanos() as u64, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> std::time::Duration {
        std::time::Duration::from_nanos(self.0.load(std::sync::atomic::Ordering::SeqCst))
    }
}
