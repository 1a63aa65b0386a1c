//! The error type of the lab.

use std::time::Duration;

use thiserror::Error;

/// Result alias of the lab.
pub type Result<T, E = LabError> = std::result::Result<T, E>;

/// Everything that can go wrong while building or checking a lab.
#[derive(Debug, Error)]
pub enum LabError {
    /// A command ran and exited unsuccessfully.
    #[error("`{cmd}` failed ({status}): {stderr}")]
    Command {
        /// The command line, space-joined.
        cmd: String,
        /// How it ended.
        status: String,
        /// Its standard error, trimmed.
        stderr: String,
    },
    /// A command could not be started (e.g. not installed).
    #[error("cannot run `{cmd}`: {source}")]
    Spawn {
        /// The command line.
        cmd: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A command or condition did not finish in time.
    #[error("timed out after {after:?}: {what}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// The limit that passed.
        after: Duration,
    },
    /// A name is not usable: too long for a kernel link name (15 bytes) or
    /// holding characters the lab does not allow.
    #[error("bad name {name:?}: {why}")]
    BadName {
        /// The offending name.
        name: String,
        /// What is wrong with it.
        why: String,
    },
    /// A TAP could not be opened or configured.
    #[error(transparent)]
    Tap(#[from] netio::tap::TapError),
    /// A system call failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A connectivity check (TCP, UDP) did not get the expected answer.
    #[error("{what}: {detail}")]
    Check {
        /// The check, e.g. `tcp 10.0.0.2:7 from cn12ab-a`.
        what: String,
        /// What went wrong.
        detail: String,
    },
    /// Output of a command could not be understood.
    #[error("cannot parse output of `{cmd}`: {detail}")]
    Parse {
        /// The command.
        cmd: String,
        /// The unexpected token or line.
        detail: String,
    },
}

impl LabError {
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> LabError {
        LabError::Io {
            what: what.into(),
            source,
        }
    }
}
