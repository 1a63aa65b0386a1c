//! The intent model of cloudnet: the resources of the OpenStack Networking
//! API v2.0, their validation with Neutron's status codes and messages, and
//! IPAM (address pools, MACs, segmentation IDs). No I/O: operations read a
//! [`State`] and return [`Change`]s for the caller to store atomically.
#![forbid(unsafe_code)]

pub mod error;
pub mod filter;
pub mod index;
pub mod input;
pub mod ipam;
pub mod kind;
pub mod ops;
pub mod resources;
pub mod state;

pub use error::{ModelError, Result};
pub use ipam::IpamConfig;
pub use kind::Kind;
pub use ops::{Outcome, TagOp};
pub use resources::*;
pub use state::{Change, Ctx, Env, State};
