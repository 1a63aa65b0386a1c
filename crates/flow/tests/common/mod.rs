//! Helpers shared by the integration tests.
#![allow(dead_code)]

use flow::actions::DpAction;
use flow::cache::process_uncached;
use flow::{parse_filter, parse_flow, parse_packet, FlowOp, FlowTables};
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

/// A batch that deletes `in_port=1`, adds a replacement, then fails
/// (`goto_table` backwards): it must roll back entirely.
pub fn failing_batch() -> Vec<FlowOp> {
    vec![
        FlowOp::Delete {
            filter: parse_filter("in_port=1").unwrap().flow,
            strict: false,
        },
        FlowOp::Add(
            parse_flow("priority=1,in_port=1 actions=output:9")
                .unwrap()
                .flow,
        ),
        FlowOp::Add(
            parse_flow("table=3,priority=1 actions=goto_table:2")
                .unwrap()
                .flow,
        ),
    ]
}
