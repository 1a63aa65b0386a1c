//! Helpers shared by the integration tests.
#![allow(dead_code)]

use flow::actions::DpAction;
use flow::cache::process_uncached;
use flow::{parse_flow, parse_packet, FlowOp, FlowTables};
use std::time::Duration;

/// Time zero of the injected clock.
pub const T0: Duration = Duration::ZERO;

/// Tables holding `flows` (add-flow syntax), added as one batch.
pub fn tables(flows: &[&str]) -> FlowTables {
    let t = FlowTables::new();
    let ops = flows
        .iter()
        .map(|f| FlowOp::Add(parse_flow(f).unwrap().flow))
        .collect();
    t.transaction(ops, T0).unwrap();
    t
}

/// The datapath actions for a packet written as a flow string.
pub fn verdict(t: &FlowTables, pkt: &str) -> Vec<DpAction> {
    process_uncached(t, &parse_packet(pkt).unwrap()).actions
}
