//! Flow counters through the flow cache, whose entries name their flows by
//! `RuleRef` (a slot and the flow's sequence number, no reference count):
//! counts reach the flow they were gathered for, survive `mod-flows`, never
//! land on a newer flow that reuses a removed flow's slot, and a cache used
//! with other tables starts over.

use flow::cache::{process, process_uncached, FlowCache};
use flow::{parse_filter, parse_flow, parse_packet, FlowOp, FlowTables, TableError};
use proptest::prelude::*;
use std::sync::Arc;
use std::time::Duration;

mod common;
use common::{failing_batch, tables, T0};

fn n_packets(t: &FlowTables, filter: &str) -> Vec<u64> {
    t.dump(&parse_filter(filter).unwrap().flow, false, T0)
        .into_iter()
        .map(|(_, s)| s.n_packets)
        .collect()
}

fn send(t: &FlowTables, cache: &mut FlowCache, pkt: &str, n: usize) {
    let p = parse_packet(pkt).unwrap();
    for _ in 0..n {
        process(t, cache, &p, 60, T0);
    }
}

#[test]
fn cached_counts_reach_the_flow_after_a_sync() {
    let t = tables(&["priority=1,in_port=1 actions=output:2"]);
    let mut cache = FlowCache::default();
    send(&t, &mut cache, "in_port=1", 3);
    assert_eq!(n_packets(&t, "in_port=1"), [0], "counted in the entry only");
    cache.sync_stats();
    assert_eq!(n_packets(&t, "in_port=1"), [3]);
    cache.sync_stats();
    assert_eq!(n_packets(&t, "in_port=1"), [3], "a sync pushes once");
}

#[test]
fn counts_gathered_before_mod_flows_land_on_the_modified_flow() {
    let t = tables(&["priority=1,in_port=1 actions=output:2"]);
    let mut cache = FlowCache::default();
    send(&t, &mut cache, "in_port=1", 3);
    let m = FlowOp::Modify {
        filter: parse_flow("in_port=1 actions=output:3").unwrap().flow,
        strict: false,
    };
    t.transaction(vec![m], T0).unwrap();
    // The next packet flushes the cache, pushing the 3 pending counts.
    send(&t, &mut cache, "in_port=1", 1);
    cache.sync_stats();
    assert_eq!(n_packets(&t, "in_port=1"), [4]);
}

#[test]
fn a_reused_slot_gets_none_of_the_removed_flows_counts() {
    let t = tables(&["priority=1,in_port=1 actions=output:2"]);
    let mut cache = FlowCache::default();
    send(&t, &mut cache, "in_port=1", 5);
    let old = process_uncached(&t, &parse_packet("in_port=1").unwrap()).rules[0];
    let ops = vec![
        FlowOp::Delete {
            filter: parse_filter("in_port=1").unwrap().flow,
            strict: false,
        },
        FlowOp::Add(
            parse_flow("priority=1,in_port=2 actions=output:1")
                .unwrap()
                .flow,
        ),
    ];
    t.transaction(ops, T0).unwrap();
    let new = process_uncached(&t, &parse_packet("in_port=2").unwrap()).rules[0];
    assert!(t.read().rule(old).is_none(), "the removed flow is gone");
    assert!(t.read().rule(new).is_some());
    send(&t, &mut cache, "in_port=2", 1);
    cache.sync_stats();
    assert_eq!(n_packets(&t, "in_port=2"), [1]);
}

#[test]
fn a_cache_used_with_other_tables_starts_over() {
    // Same flows, same generation, different actions.
    let a = tables(&["priority=1,in_port=1 actions=output:2"]);
    let b = tables(&["priority=1,in_port=1 actions=output:3"]);
    assert_eq!(a.generation(), b.generation());
    let mut cache = FlowCache::default();
    let p = parse_packet("in_port=1").unwrap();
    let x = process(&a, &mut cache, &p, 60, T0);
    assert_eq!(x.actions, [flow::DpAction::Output(2)]);
    let x = process(&b, &mut cache, &p, 60, T0);
    assert_eq!(x.actions, [flow::DpAction::Output(3)]);
    cache.sync_stats();
    assert_eq!(n_packets(&a, "in_port=1"), [1]);
    assert_eq!(n_packets(&b, "in_port=1"), [1]);
}

#[test]
fn a_failed_batch_leaves_every_flow_resolvable() {
    let t = tables(&["priority=1,in_port=1 actions=output:2"]);
    let p = parse_packet("in_port=1").unwrap();
    let before = process_uncached(&t, &p).rules[0];
    assert!(matches!(
        t.transaction(failing_batch(), T0),
        Err(TableError::Inconsistent(_))
    ));
    let set = t.read();
    let r = set.rule(before).expect("the original flow is back");
    assert_eq!(r.to_ref(), before);
    assert_eq!(process_uncached(&t, &p).rules[0], before);
}

fn op() -> impl Strategy<Value = FlowOp> {
    let flow = (0u8..3, 1u32..6, 1u16..4, 1u32..4).prop_map(|(table, port, pri, out)| {
        parse_flow(&format!(
            "table={table},priority={pri},in_port={port} actions=output:{out}"
        ))
        .unwrap()
        .flow
    });
    let filter = (0u8..3, 1u32..6).prop_map(|(table, port)| {
        parse_filter(&format!("table={table},in_port={port}"))
            .unwrap()
            .flow
    });
    prop_oneof![
        3 => flow.prop_map(FlowOp::Add),
        1 => filter.clone().prop_map(|f| FlowOp::Delete { filter: f, strict: false }),
        1 => filter.prop_map(|mut f| {
            f.actions = vec![flow::Action::Output(7)];
            FlowOp::Modify { filter: f, strict: false }
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Whatever adds, replacements, modifications and deletes happened
    /// (some in batches that fail and roll back), every installed flow's
    /// `RuleRef` resolves to that very flow, and to no other.
    #[test]
    fn every_installed_flow_resolves_to_itself(
        batches in proptest::collection::vec((proptest::collection::vec(op(), 1..6), any::<bool>()), 1..12),
    ) {
        let t = FlowTables::new();
        for (mut ops, fail) in batches {
            if fail {
                // goto_table backwards: refused, the batch rolls back.
                ops.push(FlowOp::Add(parse_flow("table=3,priority=1 actions=goto_table:2").unwrap().flow));
            }
            let _ = t.transaction(ops, Duration::ZERO);
            let set = t.read();
            let rules: Vec<_> = set.all_rules().collect();
            prop_assert_eq!(rules.len(), t.len());
            let mut refs = std::collections::HashSet::new();
            for r in &rules {
                let got = set.rule(r.to_ref());
                prop_assert!(got.is_some_and(|g| Arc::ptr_eq(g, r)), "{:?}", r.flow);
                prop_assert!(refs.insert(r.to_ref()), "two flows share a RuleRef");
            }
        }
    }
}
