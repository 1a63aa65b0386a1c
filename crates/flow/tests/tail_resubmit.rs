//! A flow whose last action is a plain `resubmit(,T)` continues with table
//! `T` in a loop rather than a nested call (translate.rs, `run_rule`). The
//! same flows with a `note` appended (which makes the resubmit not the last
//! action, so it nests) must give the same translation and, `note` lines
//! aside, the same trace — including resubmit loops that hit OVS's depth
//! limit, `dec_ttl` ending a list, and in_port-changing resubmits.

use flow::actions::Action;
use flow::fields::{Field, FieldRef};
use flow::trace::TraceReport;
use flow::{parse_flow, trace, FlowMod, FlowOp, FlowTables, Packet};
use proptest::prelude::*;
use std::time::Duration;

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        3 => (0u8..4).prop_map(|t| Action::Resubmit { port: None, table: Some(t), ct: false }),
        1 => Just(Action::Resubmit { port: None, table: None, ct: false }),
        1 => (1u32..4, 0u8..4).prop_map(|(p, t)| Action::Resubmit { port: Some(p), table: Some(t), ct: false }),
        1 => (1u32..5).prop_map(Action::Output),
        1 => Just(Action::DecTtl),
        1 => (0u128..4).prop_map(|v| Action::Load {
            dst: FieldRef { field: Field::Reg(0), ofs: 0, nbits: 8 },
            value: v,
        }),
        1 => Just(Action::ModNwSrc(0x0a00_0001)),
    ]
}

fn flow() -> impl Strategy<Value = FlowMod> {
    (
        0u8..4,
        0u16..3,
        proptest::option::of(1u32..4),
        proptest::option::of(0u8..4),
        proptest::collection::vec(action(), 0..4),
    )
        .prop_map(|(table, pri, port, reg0, actions)| {
            let mut m = format!("table={table},priority={pri},ip");
            if let Some(p) = port {
                m += &format!(",in_port={p}");
            }
            if let Some(r) = reg0 {
                m += &format!(",reg0={r}");
            }
            let mut f = parse_flow(&format!("{m} actions=drop")).unwrap().flow;
            f.actions = actions;
            f
        })
}

fn tables(flows: &[FlowMod]) -> FlowTables {
    let t = FlowTables::new();
    t.transaction(
        flows.iter().cloned().map(FlowOp::Add).collect(),
        Duration::ZERO,
    )
    .unwrap();
    t
}

fn without_notes(r: &TraceReport) -> Vec<(u32, String)> {
    r.lines
        .iter()
        .filter(|l| !l.text.starts_with("note:"))
        .map(|l| (l.depth, l.text.clone()))
        .collect()
}

#[test]
fn a_resubmit_loop_stops_at_the_depth_limit() {
    let t = tables(&[
        parse_flow("table=0,priority=1 actions=output:2,resubmit(,0)")
            .unwrap()
            .flow,
    ]);
    let mut p = Packet::default();
    p.meta.in_port = 1;
    let r = trace(&t, &p);
    assert!(r.xlate.actions.is_empty(), "{:?}", r.xlate.actions);
    assert_eq!(r.xlate.rules.len(), flow::translate::MAX_DEPTH as usize);
    let last = r.lines.last().unwrap();
    assert!(last.text.contains("resubmit limit"), "{}", last.text);
    assert_eq!(last.depth, flow::translate::MAX_DEPTH);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn a_trailing_resubmit_loops_as_it_would_nest(
        flows in proptest::collection::vec(flow(), 0..16),
        ports in proptest::collection::vec((1u32..4, 0u8..3, 0u32..4), 1..8),
    ) {
        let noted: Vec<FlowMod> = flows
            .iter()
            .cloned()
            .map(|mut f| {
                f.actions.push(Action::Note(vec![1]));
                f
            })
            .collect();
        let (a, b) = (tables(&flows), tables(&noted));
        for (port, ttl, reg0) in ports {
            let mut p = Packet::default();
            p.meta.in_port = port;
            p.meta.regs[0] = reg0;
            p.key.dl_type = 0x0800;
            p.key.nw_ttl = ttl;
            let (x, y) = (trace(&a, &p), trace(&b, &p));
            prop_assert_eq!(&x.xlate.actions, &y.xlate.actions);
            prop_assert_eq!(x.xlate.mask, y.xlate.mask);
            prop_assert_eq!(x.xlate.final_flow, y.xlate.final_flow);
            prop_assert_eq!(
                x.xlate.rules.iter().map(|r| r.table).collect::<Vec<_>>(),
                y.xlate.rules.iter().map(|r| r.table).collect::<Vec<_>>()
            );
            prop_assert_eq!(without_notes(&x), without_notes(&y));
        }
    }
}
