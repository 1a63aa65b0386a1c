//! Error types of the switch. Every error names the token, record or file
//! at fault so that a `vsctl`/`ofctl` user sees what to fix.

use std::io;

use thiserror::Error;

/// Errors of a `vsctl` command line or its execution against the database.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum VsctlError {
    /// The command word is not one cloudnet knows.
    #[error("unknown command {0:?}")]
    UnknownCommand(String),
    /// An option before a command is not known.
    #[error("unknown option {0:?}")]
    UnknownOption(String),
    /// A command has too few or too many arguments.
    #[error("{command}: {why}")]
    Arity {
        /// The command word.
        command: String,
        /// What is wrong.
        why: &'static str,
    },
    /// The table name is not Bridge, Port or Interface.
    #[error("unknown table {0:?} (expected Bridge, Port, Interface, QoS or Queue)")]
    UnknownTable(String),
    /// The column does not exist in the table.
    #[error("table {table} has no column {column:?}")]
    UnknownColumn {
        /// Table name.
        table: String,
        /// Column name.
        column: String,
    },
    /// The column cannot be written.
    #[error("column {0:?} is read-only")]
    ReadOnly(String),
    /// A map column lacks the key asked for, or a scalar column got a key.
    #[error("column {column:?} has no key {key:?}")]
    NoKey {
        /// Column name.
        column: String,
        /// The key.
        key: String,
    },
    /// A value does not parse for its column.
    #[error("invalid value {value:?} for column {column:?}: {why}")]
    BadValue {
        /// Column name.
        column: String,
        /// The offending value.
        value: String,
        /// What is wrong.
        why: &'static str,
    },
    /// A `COLUMN=VALUE` argument lacks the `=`.
    #[error("expected COLUMN=VALUE, got {0:?}")]
    NotAssignment(String),
    /// No bridge of that name.
    #[error("no bridge named {0:?}")]
    NoBridge(String),
    /// No port of that name (in that bridge).
    #[error("no port named {0:?}")]
    NoPort(String),
    /// No interface of that name.
    #[error("no row {0:?} in table {1}")]
    NoRecord(String, &'static str),
    /// The bridge already exists.
    #[error("a bridge named {0:?} already exists")]
    BridgeExists(String),
    /// The port or interface name is taken.
    #[error("a port named {0:?} already exists")]
    PortExists(String),
    /// A name cannot be a netdev name.
    #[error("invalid name {name:?}: {why}")]
    BadName {
        /// The name.
        name: String,
        /// Why.
        why: &'static str,
    },
    /// `ofport_request` collides with another interface of the bridge.
    #[error("ofport_request {0} of {1:?} is already in use on its bridge")]
    OfportInUse(u16, String),
    /// `br-exists` on a missing bridge: ovs-vsctl exits with status 2.
    #[error("bridge {0:?} does not exist")]
    BridgeMissing(String),
    /// QoS / Queue records, `--id=@name` references, `create`/`destroy`.
    #[error(transparent)]
    Qos(#[from] crate::qos_table::QosTableError),
}

/// Errors of the persistent database.
#[derive(Debug, Error)]
pub enum DbError {
    /// The redb layer failed.
    #[error("database {path}: {source}")]
    Redb {
        /// The database file.
        path: String,
        /// The cause.
        #[source]
        source: Box<redb::Error>,
    },
    /// A stored record does not decode.
    #[error("database {path}: corrupt record {key:?}: {source}")]
    Decode {
        /// The database file.
        path: String,
        /// The record key.
        key: String,
        /// The decode error.
        #[source]
        source: serde_json::Error,
    },
}

/// Errors of the control-socket protocol.
#[derive(Debug, Error)]
pub enum ProtoError {
    /// Socket I/O failed.
    #[error("control socket {path}: {source}")]
    Io {
        /// Socket path.
        path: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A message is not valid JSON or not a known request/response.
    #[error("malformed message: {0}")]
    Malformed(String),
    /// The peer speaks another protocol version.
    #[error("protocol version {got} not supported (this side speaks {want})")]
    Version {
        /// Version received.
        got: u32,
        /// Version supported.
        want: u32,
    },
    /// The daemon answered with an error.
    #[error("{0}")]
    Remote(String),
}
