//! Packet schedulers for cloudnet's userspace switch: chapter 3 of the first
//! seed ("云中的网络QoS") done by the switch itself instead of the kernel's tc.
//!
//! * [`Policer`] — OVS ingress policing (`ingress_policing_rate` in kbps,
//!   `ingress_policing_burst` in kb; ovs-vswitchd.conf.db(5), Interface table).
//! * [`Tbf`] — token bucket filter, tc-tbf(8).
//! * [`Htb`] — hierarchical token bucket, tc-htb(8) and Devera's HTB user
//!   guide: rate/ceil/burst/cburst/quantum/prio, borrowing, a default class.
//! * [`Sfq`] — stochastic fairness queueing, tc-sfq(8).
//! * [`PrioBands`] — pfifo_fast's three bands chosen by the TOS priomap,
//!   tc-prio(8) / tc-pfifo_fast(8).
//! * [`Fifo`] — pfifo / bfifo with a limit, tc-pfifo(8).
//!
//! Nothing here does I/O or reads the wall clock: every call takes `now`
//! (nanoseconds on any monotonic time line the caller chooses, see
//! [`clock::Clock`]), so the same code runs in the switch and in simulated
//! time in the tests. Queues are bounded: when a limit is hit a packet is
//! dropped (and counted) rather than memory growing.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod bucket;
pub mod clock;
pub mod fifo;
pub mod htb;
pub mod policer;
pub mod prio;
mod qdisc;
pub mod rate;
pub mod sfq;
pub mod sim;
pub mod tbf;
pub mod units;

pub use clock::{Clock, ManualClock, Nanos};
pub use fifo::{Fifo, FifoLimit};
pub use htb::{ClassConfig, ClassId, ClassMode, ClassStats, Htb, HtbBuilder, HtbError, LeafQdisc};
pub use policer::{Policer, PolicerConfig, Verdict};
pub use prio::{tos_to_priority, PrioBands, PrioError, PFIFO_FAST_PRIOMAP};
pub use qdisc::{DropReason, Dropped, Packet, Qdisc, QdiscStats};
pub use rate::Rate;
pub use sfq::{Sfq, SfqConfig, SfqError};
pub use tbf::{Tbf, TbfConfig, TbfError};
pub use units::UnitError;
