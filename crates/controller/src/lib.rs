//! The controller: compiles the tenant intent ([`model::State`]: networks,
//! subnets, ports, routers, security groups, floating IPs, QoS policies)
//! into OpenFlow flows for one host's integration bridge, as OVN's
//! ovn-northd and ovn-controller do together, in the ovs-ofctl(8) syntax
//! the `flow` crate parses. No I/O: the caller feeds intent and bindings
//! and applies the returned [`Delta`]s to the switch.
//!
//! * [`tables`]: the pipeline (OVN's stage order), registers, priorities;
//!   PIPELINE.md describes them.
//! * [`Compiler`]: per-owner flow sets ([`Owner`], whose [`Owner::cookie`]
//!   every flow carries), full and incremental compilation.
//! * [`keys`]: datapath keys, port keys, conntrack zones, conjunction IDs.
//! * [`locality`]: the datapaths a host of several compiles ([`Scope`]).
//! * [`qos`]: the per-port QoS the switch configures through vsctl.
//! * [`ctflush`]: the conntrack flushes a security-policy change calls for.
//! * [`announce`]: the Router Advertisements and gratuitous ARPs the agent
//!   sends by packet-out.
#![forbid(unsafe_code)]

mod acl;
pub mod announce;
mod compiler;
pub mod ctflush;
mod ctx;
mod dfip;
pub mod dhcp;
mod error;
pub mod explain;
pub mod flowset;
mod index;
mod ipv6;
pub mod keys;
pub mod locality;
pub mod qos;
mod route6;
mod router;
mod switch;
pub mod tables;
pub mod tunnel;
mod util;

pub use compiler::{Changed, Compiler};
pub use ctx::{Bindings, Chassis};
pub use error::CompileError;
pub use flowset::{Delta, Flow, Key, LFlow, Owner};
pub use keys::Keys;
pub use locality::Scope;
