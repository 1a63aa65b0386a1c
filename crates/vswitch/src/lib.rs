//! The cloudnet virtual switch: `cloudnet vswitchd` and the library behind
//! `cloudnet vsctl` / `cloudnet ofctl`.
//!
//! * [`schema`] — Bridge / Port / Interface records (ovs-vswitchd.conf.db(5));
//! * [`db`] — their crash-safe store (redb) in the run directory;
//! * [`vsctl`] — the ovs-vsctl(8) command language over them;
//! * [`proto`] — the versioned JSON control protocol (PROTOCOL.md) and a client;
//! * [`server`] — the control socket;
//! * [`switch`] — configuration + database + datapath, request handling;
//! * [`dp`] — the datapath: ports (TAP, AF_PACKET, patch), the epoll event
//!   loop, the NORMAL learning switch, counters;
//!
//! Frames go through `packet::extract`, then the `flow` crate's flow cache
//! and classifier, and the datapath actions it returns are executed on the
//! bytes here.
//! * [`ofctl`] — the online ovs-ofctl(8) commands; [`tlv`] — the Geneve
//!   option map behind `tun_metadataN` (`add-tlv-map`); [`packet_out`] —
//!   `packet-out` (frames injected by the control side).
//! * [`stats_report`], [`capture`] — counters for metrics exporters and
//!   frame capture over the control socket (protocol 1.3).
//! * [`qos_table`], [`qos_spec`], [`tc`] — egress QoS: the QoS and Queue
//!   tables, `cloudnet tc` trees, and the scheduler they describe
//!   (`dp::egress` runs it).
#![forbid(unsafe_code)]

pub mod capture;
pub mod ctctl;
pub mod daemon;
pub mod db;
pub mod dp;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod ofctl;
pub mod packet_out;
pub mod proto;
pub mod qos_spec;
pub mod qos_table;
pub mod schema;
pub mod server;
pub mod stats_report;
pub mod switch;
pub mod tc;
pub mod tlv;
pub mod vsctl;

pub use error::{DbError, ProtoError, VsctlError};
pub use proto::{call, Reply, Request, ZoneLimit};
pub use switch::{Options, Switch};
