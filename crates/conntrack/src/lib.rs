//! Connection tracking and NAT for the cloudnet datapath.
//!
//! This crate is the state behind OVS's `ct()` action (ovs-actions(7)) and
//! the `ct_*` match fields (ovs-fields(7)), with netfilter's semantics:
//!
//! * connections keyed by zone and tuple, both directions indexing the
//!   same entry ([`Conntrack::process`]);
//! * TCP state and sequence-window tracking as `nf_conntrack_proto_tcp`
//!   ([`tcp`]); UDP unreplied/assured; ICMP echo by identifier; ICMP errors
//!   quoting a tracked connection are `+rel`;
//! * netfilter's default timeouts, configurable ([`Timeouts`]), driven by an
//!   injected [`Clock`]; expiry is incremental (sorted per-class lists, see
//!   `table.rs`), never a table scan;
//! * global and per-zone limits: a new connection over a limit is refused
//!   and counted ([`DropReason`]), existing ones are untouched;
//! * SNAT / MASQUERADE with port allocation, DNAT, 1:1 NAT, hairpin (SNAT and
//!   DNAT on one connection), reply translation and ICMP-error inner header
//!   translation ([`NatSpec`], [`Rewrite`]);
//! * `ct_mark` / `ct_label` set by `exec` on commit; dump in
//!   `dpctl/dump-conntrack` format ([`ConnEntry`]); flush, all, of a zone or
//!   by original-tuple fields ([`CtFilter`]); counters
//!   ([`Stats`]).
//!
//! It knows nothing of packets' bytes or of flows: the switch extracts a
//! [`CtPacket`], calls [`Conntrack::process`] with the [`CtAction`], and
//! applies the returned [`CtResult`] (ct_state/zone/mark/label fields and
//! the [`Rewrite`], with incremental checksum updates from the `packet`
//! crate).
//!
//! ```
//! use conntrack::*;
//! let mut ct = Conntrack::with_seed(Config::default(), ManualClock::new(), 1);
//! let (a, b) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
//! let commit = CtAction { zone: 1, commit: true, ..CtAction::default() };
//! let r = ct.process(&CtPacket::udp(a, b, 5000, 53), &commit);
//! assert_eq!(r.state, CtState::TRK | CtState::NEW);
//! let r = ct.process(&CtPacket::udp(b, a, 53, 5000), &CtAction { zone: 1, ..CtAction::default() });
//! assert_eq!(r.state, CtState::TRK | CtState::EST | CtState::RPL);
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod action;
mod clock;
mod config;
mod conn;
mod dump;
mod engine;
mod filter;
mod index;
mod input;
mod nat;
mod state;
mod stats;
mod table;
pub mod tcp;
mod tuple;

pub use action::{CtAction, CtResult, InnerRewrite, MaskBits, Masked, Rewrite};
pub use clock::{Clock, ManualClock, MonotonicClock};
pub use config::{Config, TimeoutClass, Timeouts, TIMEOUT_CLASSES};
pub use dump::ConnEntry;
pub use engine::Conntrack;
pub use filter::{CtFilter, FilterError};
pub use input::{icmp_is_error, CtPacket, TcpFlags, TcpInfo, L4};
pub use nat::{NatRange, NatRangeError, NatSpec, PortMode};
pub use state::CtState;
pub use stats::{DropReason, Drops, Stats, ZoneStats};
pub use tcp::{Dir, TcpState};
pub use tuple::{proto, Addr, Family, Tuple};
