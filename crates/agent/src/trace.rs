//! The agent's trace entry point: a tenant-level `ofproto/trace`
//! (ovs-vswitchd(8)) on this host's br-int, explained with the agent's own
//! compiler and intent (crate `controller`, module `explain`) — the
//! compiler that wrote the flows is the one that maps their cookies back
//! to resources.
//!
//! [`Agent::trace`] does the work; a [`TraceHandle`] lets other threads
//! (the API server in `cloudnet serve`) ask the agent's thread, which
//! answers between steps of its loop, so a trace sees the intent, the
//! bindings and the flows of one consistent moment.

use std::sync::mpsc;
use std::time::Duration;

use controller::explain::{self, Inputs, TraceError, TraceReport, TraceRequest, Wiring};

use crate::Agent;

/// One trace asked of the agent's thread.
pub struct TraceJob {
    req: TraceRequest,
    reply: mpsc::Sender<Result<TraceReport, TraceError>>,
}

/// Asks a running agent for traces (cloneable, for any thread).
#[derive(Clone)]
pub struct TraceHandle {
    tx: mpsc::Sender<TraceJob>,
    timeout: Duration,
}

impl TraceHandle {
    /// A trace by the agent's thread; fails if it does not answer within
    /// the handle's timeout (the agent loop wakes at least every 200 ms).
    pub fn trace(&self, req: TraceRequest) -> Result<TraceReport, TraceError> {
        let (reply, rx) = mpsc::channel();
        self.tx
            .send(TraceJob { req, reply })
            .map_err(|_| TraceError::Switch("the agent has stopped".into()))?;
        rx.recv_timeout(self.timeout)
            .map_err(|_| TraceError::Switch("the agent did not answer in time".into()))?
    }
}

impl Agent {
    /// Trace `req` through br-int and explain it.
    pub fn trace(&self, req: &TraceRequest) -> Result<TraceReport, TraceError> {
        let (m, probe) = match &req.uplink {
            Some(physnet) => {
                let of = *self
                    .bindings
                    .bridge_mappings
                    .get(physnet)
                    .ok_or_else(|| TraceError::NoUplink(physnet.clone()))?;
                explain::fill_uplink(&self.st, physnet, of, &req.flow, req.ct_state)?
            }
            None => {
                if !self.st.ports.contains_key(&req.port_id) {
                    return Err(TraceError::NoPort(req.port_id.clone()));
                }
                let of = *self
                    .bindings
                    .ports
                    .get(&req.port_id)
                    .ok_or_else(|| TraceError::NotBound(req.port_id.clone()))?;
                explain::fill(&self.st, &req.port_id, of, &req.flow, req.ct_state)?
            }
        };
        let flow = m.to_string();
        // Bad user input is the caller's error, not the switch's: check it
        // here with the parser the switch uses.
        flow::parse_packet(&flow).map_err(|e| TraceError::BadFlow(e.to_string()))?;
        let passes = explain::passes::run(&flow, req.ct_state, |f| {
            self.sw
                .trace(f)
                .map_err(|e| TraceError::Switch(e.to_string()))
        })?;
        let wiring = Wiring {
            ports: self
                .bindings
                .ports
                .iter()
                .map(|(id, &of)| (of, id.clone()))
                .collect(),
            uplinks: self
                .bindings
                .bridge_mappings
                .iter()
                .map(|(p, &of)| (of, p.clone()))
                .collect(),
        };
        let inp = Inputs {
            st: &self.st,
            compiler: &self.compiler,
            wiring: &wiring,
            from_port: &req.port_id,
            probe: &probe,
            viewer: req.viewer.as_deref(),
            uplink: req.uplink.as_deref(),
        };
        Ok(explain::explain(&inp, flow, req.ct_state, passes))
    }

    /// A handle for other threads; traces are answered while [`Agent::run`]
    /// runs (a new handle replaces the previous one's channel).
    pub fn trace_handle(&mut self, timeout: Duration) -> TraceHandle {
        let (tx, rx) = mpsc::channel();
        self.traces = Some(rx);
        TraceHandle { tx, timeout }
    }

    /// Answer the traces waiting (from the agent's loop).
    pub(crate) fn answer_traces(&self) {
        let Some(rx) = &self.traces else { return };
        while let Ok(job) = rx.try_recv() {
            // The asker may have given up; nothing to do then.
            let _ = job.reply.send(self.trace(&job.req));
        }
    }
}
