//! Errors of the compiler. Bad intent never panics: the offending resource
//! and value are named, and the resource's flows are left out.

use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum CompileError {
    /// A stored address, CIDR or MAC that does not parse.
    #[error("{kind} {id}: bad {what} {value:?}")]
    BadValue {
        kind: &'static str,
        id: String,
        what: &'static str,
        value: String,
    },
    /// An identifier space (datapath keys, port keys, zones, conjunction
    /// IDs) is full.
    #[error("no free {0} left")]
    Exhausted(&'static str),
}

impl CompileError {
    pub(crate) fn bad(kind: &'static str, id: &str, what: &'static str, value: &str) -> Self {
        CompileError::BadValue {
            kind,
            id: id.to_string(),
            what,
            value: value.to_string(),
        }
    }
}
