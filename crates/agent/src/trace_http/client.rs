//! The API server's side: find the chassis a port is bound to
//! (`port_bindings/<port>` → `chassis/<name>` → `trace_addr`) and ask its
//! agent, within a bounded time.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use controller::explain::{TraceReport, TraceRequest};
use store::Store;

use super::{ErrorBody, Secret, WireError, TRACE_PATH};
use crate::cluster::{BindingRecord, ChassisRecord, CHASSIS, PORT_BINDINGS};

/// How long connecting to an agent may take, at most (the overall
/// timeout bounds it too).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Why a trace could not be forwarded, or what the agent refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ForwardError {
    #[error("port {0} is not bound to any chassis: no agent has claimed it (is its VM plugged?)")]
    Unbound(String),
    #[error("no chassis has an uplink for physical network {0}")]
    NoUplink(String),
    #[error(
        "port {port} is bound to chassis {chassis}, which is not registered (its agent is gone)"
    )]
    NoChassis { port: String, chassis: String },
    #[error("chassis {0} does not serve traces: its agent runs without --trace-addr")]
    NoAddress(String),
    #[error("the agent of chassis {chassis} at {addr} is unreachable: {why}")]
    Unreachable {
        chassis: String,
        addr: SocketAddr,
        why: String,
    },
    #[error("the agent of chassis {chassis} at {addr} did not answer within {timeout:?}")]
    Timeout {
        chassis: String,
        addr: SocketAddr,
        timeout: Duration,
    },
    #[error(
        "the agent of chassis {chassis} refused this API server's trace secret \
         (--agent-secret-file must hold the agent's --trace-secret-file)"
    )]
    Unauthorized { chassis: String },
    /// The agent's own answer (the port is not bound there, a bad flow…):
    /// passed on as a local trace would have failed.
    #[error("{}", .0.message)]
    Refused(WireError),
    #[error(
        "the agent of chassis {chassis} at {addr} answered something else than a trace: {why}"
    )]
    BadAnswer {
        chassis: String,
        addr: SocketAddr,
        why: String,
    },
    #[error("reading chassis and port bindings from the store: {0}")]
    Store(String),
}

impl ForwardError {
    /// HTTP status and NeutronError type for the API's answer.
    pub fn class(&self) -> (u16, &str) {
        match self {
            ForwardError::Unbound(_) => (409, "PortNotBound"),
            ForwardError::NoUplink(_) => (409, "NoUplink"),
            ForwardError::NoChassis { .. } | ForwardError::NoAddress(_) => {
                (503, "ServiceUnavailable")
            }
            ForwardError::Unreachable { .. }
            | ForwardError::Unauthorized { .. }
            | ForwardError::BadAnswer { .. } => (502, "AgentUnreachable"),
            ForwardError::Timeout { .. } => (504, "AgentTimeout"),
            ForwardError::Refused(w) => (w.status, w.kind.as_str()),
            ForwardError::Store(_) => (503, "ServiceUnavailable"),
        }
    }
}

/// Forwards traces to the agents, as the chassis records say.
pub struct RemoteTracer {
    store: Arc<dyn Store>,
    secret: Option<Secret>,
    timeout: Duration,
    http: ureq::Agent,
}

impl RemoteTracer {
    /// Forward through `store`'s records, sending `secret`, giving each
    /// agent `timeout` to answer (connect included).
    pub fn new(store: Arc<dyn Store>, secret: Option<Secret>, timeout: Duration) -> RemoteTracer {
        let http = ureq::AgentBuilder::new()
            .timeout_connect(CONNECT_TIMEOUT.min(timeout))
            .timeout(timeout)
            .build();
        RemoteTracer {
            store,
            secret,
            timeout,
            http,
        }
    }

    fn record<T: serde::de::DeserializeOwned>(
        &self,
        kind: &str,
        id: &str,
    ) -> Result<Option<T>, ForwardError> {
        let Some(rec) = self
            .store
            .get(kind, id)
            .map_err(|e| ForwardError::Store(e.to_string()))?
        else {
            return Ok(None);
        };
        serde_json::from_slice(&rec.value)
            .map(Some)
            .map_err(|e| ForwardError::Store(format!("{kind}/{id}: {e}")))
    }

    /// The chassis that should run `req`: the port's, or for a packet
    /// from an uplink the first (by name) with that physical network.
    pub fn chassis_for(&self, req: &TraceRequest) -> Result<ChassisRecord, ForwardError> {
        if let Some(physnet) = &req.uplink {
            let all = self
                .store
                .list(CHASSIS)
                .map_err(|e| ForwardError::Store(e.to_string()))?;
            let mut found = Vec::new();
            for rec in all {
                let c: ChassisRecord = serde_json::from_slice(&rec.value)
                    .map_err(|e| ForwardError::Store(format!("{CHASSIS}/{}: {e}", rec.id)))?;
                if c.physnets.contains(physnet) {
                    found.push(c);
                }
            }
            found.sort_by(|a, b| a.name.cmp(&b.name));
            return found
                .into_iter()
                .next()
                .ok_or_else(|| ForwardError::NoUplink(physnet.clone()));
        }
        let port = &req.port_id;
        let b: BindingRecord = self
            .record(PORT_BINDINGS, port)?
            .ok_or_else(|| ForwardError::Unbound(port.clone()))?;
        self.record(CHASSIS, &b.chassis)?
            .ok_or_else(|| ForwardError::NoChassis {
                port: port.clone(),
                chassis: b.chassis,
            })
    }

    /// Trace `req` on the agent of its chassis.
    pub fn trace(&self, req: &TraceRequest) -> Result<TraceReport, ForwardError> {
        let ch = self.chassis_for(req)?;
        let addr = ch
            .trace_addr
            .ok_or_else(|| ForwardError::NoAddress(ch.name.clone()))?;
        let chassis = ch.name;
        let mut call = self.http.post(&format!("http://{addr}{TRACE_PATH}"));
        if let Some(s) = &self.secret {
            call = call.set("Authorization", &s.bearer());
        }
        let bad = |why: String| ForwardError::BadAnswer {
            chassis: chassis.clone(),
            addr,
            why,
        };
        match call.send_json(req) {
            Ok(resp) => resp
                .into_json::<TraceReport>()
                .map_err(|e| bad(e.to_string())),
            Err(ureq::Error::Status(401, _)) => Err(ForwardError::Unauthorized { chassis }),
            Err(ureq::Error::Status(code, resp)) => match resp.into_json::<ErrorBody>() {
                Ok(b) => Err(ForwardError::Refused(b.error)),
                Err(e) => Err(bad(format!("status {code}: {e}"))),
            },
            Err(ureq::Error::Transport(t)) if timed_out(&t) => Err(ForwardError::Timeout {
                chassis,
                addr,
                timeout: self.timeout,
            }),
            Err(ureq::Error::Transport(t)) => Err(ForwardError::Unreachable {
                chassis,
                addr,
                why: t.to_string(),
            }),
        }
    }
}

/// Whether a transport error is a timeout (connect or read).
fn timed_out(t: &ureq::Transport) -> bool {
    let mut e: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(t);
    while let Some(err) = e {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if matches!(
                io.kind(),
                std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
            ) {
                return true;
            }
        }
        e = err.source();
    }
    false
}
