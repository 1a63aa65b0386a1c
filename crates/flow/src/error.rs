//! Error types.

/// A flow string that could not be parsed: names the offending token and why
/// (ovs-ofctl(8) "Flow Syntax", ovs-actions(7)).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{token:?}: {reason}")]
pub struct ParseError {
    /// The token (key or `key=value`) that failed.
    pub token: String,
    /// What is wrong with it.
    pub reason: String,
}

impl ParseError {
    pub(crate) fn new(token: impl Into<String>, reason: impl Into<String>) -> Self {
        ParseError {
            token: token.into(),
            reason: reason.into(),
        }
    }
}

/// A flow table modification that was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TableError {
    /// `check_overlap` was set and an overlapping flow of the same priority
    /// exists (ovs-ofctl(8), `check_overlap`).
    #[error(
        "table {table}: flow overlaps an existing flow of priority {priority} (check_overlap)"
    )]
    Overlap { table: u8, priority: u16 },
    /// An action is inconsistent with the flow (e.g. `goto_table` backwards).
    #[error("{0}")]
    Inconsistent(String),
}
