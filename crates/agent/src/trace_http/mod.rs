//! Traces across hosts: an agent answers `POST /v1/trace` over HTTP
//! ([`TraceServer`], `cloudnet agent --trace-addr`) and advertises the
//! address in its chassis record; a stateless API server forwards a trace
//! to the agent of the chassis the port is bound to ([`RemoteTracer`]),
//! found in the store as OVN's `ovn-trace` finds a port's chassis in the
//! Southbound Port_Binding table.
//!
//! Wire: the body is a [`TraceRequest`] (JSON), the answer a
//! [`controller::explain::TraceReport`] (200) or a [`WireError`] with the
//! status and NeutronError type the API server would have given for the
//! same [`controller::explain::TraceError`] locally — so a forwarded trace
//! answers exactly as a local one.
//!
//! Authentication: a shared secret ([`Secret`], `Authorization: Bearer`,
//! RFC 6750 §2.1), read from a file by both sides. The API server has
//! already authenticated and scoped the caller (the request's `viewer`);
//! the secret only proves the caller is an API server. An agent refuses to
//! listen off loopback without one.

mod client;
mod server;

use std::path::Path;

use serde::{Deserialize, Serialize};

pub use client::{ForwardError, RemoteTracer};
pub use controller::explain::TraceRequest;
pub use server::TraceServer;

/// The path of the trace endpoint.
pub const TRACE_PATH: &str = "/v1/trace";
/// Largest request body accepted (a trace request is a few hundred bytes).
pub const MAX_BODY: usize = 64 * 1024;

/// Errors of the trace endpoint's set-up.
#[derive(Debug, thiserror::Error)]
pub enum TraceHttpError {
    #[error("trace secret file {path}: {why}")]
    SecretFile { path: String, why: String },
    #[error("trace secret: {0}")]
    BadSecret(&'static str),
    #[error(
        "refusing to serve traces on {0} without a shared secret: give --trace-secret-file \
         or bind a loopback address"
    )]
    NoSecretOffLoopback(std::net::SocketAddr),
    #[error("trace listener {addr}: {why}")]
    Listen {
        addr: std::net::SocketAddr,
        why: String,
    },
}

/// The shared secret between API servers and agents.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl Secret {
    /// A secret from text: surrounding whitespace (a file's newline) is
    /// dropped; it must be non-empty visible ASCII (an HTTP header value).
    pub fn new(text: &str) -> Result<Secret, TraceHttpError> {
        let t = text.trim();
        if t.is_empty() {
            return Err(TraceHttpError::BadSecret("empty"));
        }
        if !t.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(TraceHttpError::BadSecret(
                "only visible ASCII characters, no spaces",
            ));
        }
        Ok(Secret(t.to_owned()))
    }

    /// The secret in `path` (the same file for `cloudnet agent
    /// --trace-secret-file` and `cloudnet api --agent-secret-file`).
    pub fn from_file(path: &Path) -> Result<Secret, TraceHttpError> {
        let text = std::fs::read_to_string(path).map_err(|e| TraceHttpError::SecretFile {
            path: path.display().to_string(),
            why: e.to_string(),
        })?;
        Secret::new(&text).map_err(|e| TraceHttpError::SecretFile {
            path: path.display().to_string(),
            why: e.to_string(),
        })
    }

    /// The `Authorization` header value.
    pub(crate) fn bearer(&self) -> String {
        format!("Bearer {}", self.0)
    }

    /// Whether an `Authorization` header value carries this secret; the
    /// comparison takes the same time wherever the first difference is.
    pub(crate) fn admits(&self, header: Option<&str>) -> bool {
        let Some(given) = header.and_then(|h| h.strip_prefix("Bearer ")) else {
            return false;
        };
        let (a, b) = (given.as_bytes(), self.0.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

/// An error answer of the trace endpoint: the API's status, NeutronError
/// type and message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireError {
    pub status: u16,
    #[serde(rename = "type")]
    pub kind: String,
    pub message: String,
}

/// The error body: `{"error": WireError}`.
#[derive(Debug, Serialize, Deserialize)]
struct ErrorBody {
    error: WireError,
}

#[cfg(test)]
mod tests;
