//! Errors of the agent.

use std::path::PathBuf;

/// Why the agent could not do something.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The switch refused a request or did not answer.
    #[error("vswitchd: {what}: {source}")]
    Switch {
        what: String,
        #[source]
        source: vswitch::ProtoError,
    },
    /// The intent store failed.
    #[error("store: {0}")]
    Store(#[from] store::StoreError),
    /// A stored resource could not be decoded.
    #[error("decoding {kind}/{id}: {why}")]
    Decode {
        kind: String,
        id: String,
        why: String,
    },
    /// Reading or writing the persisted keys failed.
    #[error("keys file {path}: {why}")]
    Keys { path: PathBuf, why: String },
    /// A `--bridge-mapping` is malformed.
    #[error("bridge mapping {0:?}: expected PHYSNET:INTERFACE")]
    BadMapping(String),
    /// A Router Advertisement interval out of RFC 4861 §6.2.1's range.
    #[error("router advertisement {0}")]
    BadRaInterval(String),
    /// The datapath cannot do this (a dry run has no tables to trace).
    #[error("{0} is not available on this datapath")]
    Unsupported(&'static str),
}
