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

/// One step of [`deferred_counts_equal_immediate_crediting`].
#[derive(Clone, Debug)]
enum Step {
    /// A packet on this port, this long.
    Packet(u32, u64),
    /// The flows change.
    Flows(Box<FlowOp>),
    /// `FlowCache::flush` from outside (the benchmark's way).
    Flush,
    /// `FlowCache::sync_stats` (the switch's periodic push).
    Sync,
}

fn step() -> impl Strategy<Value = Step> {
    // Tables 0..2 chained by resubmit, so that a packet matches a flow in
    // several tables; some flows time out when idle for a second.
    let flow = (0u8..3, 1u32..6, 1u16..4, any::<bool>()).prop_map(|(table, port, pri, idle)| {
        let next = if table < 2 {
            format!("resubmit(,{})", table + 1)
        } else {
            "output:9".to_string()
        };
        let idle = if idle { ",idle_timeout=1" } else { "" };
        parse_flow(&format!(
            "table={table},priority={pri},in_port={port}{idle} actions={next}"
        ))
        .unwrap()
        .flow
    });
    prop_oneof![
        8 => (1u32..6, 60u64..1500).prop_map(|(p, b)| Step::Packet(p, b)),
        2 => flow.prop_map(|f| Step::Flows(Box::new(FlowOp::Add(f)))),
        1 => op().prop_map(|o| Step::Flows(Box::new(o))),
        1 => Just(Step::Flush),
        1 => Just(Step::Sync),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// The cache keeps counts in its entries and, after a flush, per flow
    /// until a sync; after the sync every flow's counters equal what
    /// crediting each packet to the flows it matched, at once, gives (a
    /// flow removed or replaced in between keeps nothing more, as before),
    /// and idle timeouts see the same last use.
    #[test]
    fn deferred_counts_equal_immediate_crediting(
        steps in proptest::collection::vec(step(), 1..80),
        megaflows in 1usize..6,
    ) {
        let t = tables(&[
            "table=0,priority=0 actions=resubmit(,1)",
            "table=1,priority=0 actions=resubmit(,2)",
            "table=2,priority=0 actions=drop",
        ]);
        // A small megaflow capacity, so that inserts flush too.
        let mut cache = FlowCache::new(4, megaflows);
        // Per flow (RuleRef): packets, bytes, last use (ns) by immediate
        // crediting.
        let mut model: std::collections::HashMap<flow::RuleRef, (u64, u64, u64)> =
            std::collections::HashMap::new();
        let mut now = Duration::ZERO;
        for s in steps {
            // 0.3 s a step: a gap of 1 s (the idle timeout) is never exact.
            now += Duration::from_millis(300);
            match s {
                Step::Packet(port, bytes) => {
                    let p = parse_packet(&format!("in_port={port}")).unwrap();
                    for r in process_uncached(&t, &p).rules {
                        let m = model.entry(r).or_default();
                        m.0 += 1;
                        m.1 += bytes;
                        m.2 = now.as_nanos() as u64;
                    }
                    process(&t, &mut cache, &p, bytes, now);
                }
                Step::Flows(op) => {
                    let _ = t.transaction(vec![*op], now);
                }
                Step::Flush => cache.flush(),
                Step::Sync => cache.sync_stats(),
            }
        }
        cache.sync_stats();
        let set = t.read();
        for r in set.all_rules() {
            let (packets, bytes, used) = model.get(&r.to_ref()).copied().unwrap_or_default();
            let st = r.stats(now);
            prop_assert_eq!((st.n_packets, st.n_bytes), (packets, bytes), "{:?}", r.flow);
            // Expired by idle time: last used (or created, when never used;
            // `mod-flows` keeps the last use) a second ago or more.
            if r.flow.idle_timeout != 0 {
                let created = now.saturating_sub(st.duration).as_nanos() as u64;
                let last = used.max(created);
                prop_assert_eq!(
                    r.expired(now),
                    now.as_nanos() as u64 - last >= 1_000_000_000,
                    "{:?} used {} created {}", r.flow, used, created
                );
            }
        }
    }
}
