//! Conjunctive matches (ovs-fields(7), "Conjunctive Match Fields"): syntax,
//! classifier semantics, trace and counters.

use flow::actions::DpAction;
use flow::cache::{process, FlowCache};
use flow::{parse_filter, parse_flow, parse_packet, trace, FlowTables};

mod common;
use common::{tables, verdict, T0};

/// "source in {10.0.0.1, 10.0.0.2} and port in {22, 80}" as 2 + 2 flows.
const ACL: [&str; 6] = [
    "priority=10,ip,nw_src=10.0.0.1 actions=conjunction(7,1/2)",
    "priority=10,ip,nw_src=10.0.0.2 actions=conjunction(7,1/2)",
    "priority=10,tcp,tp_dst=22 actions=conjunction(7,2/2)",
    "priority=10,tcp,tp_dst=80 actions=conjunction(7,2/2)",
    "priority=10,conj_id=7,ip actions=output:2",
    "priority=1 actions=output:9",
];

#[test]
fn round_trip_and_normal_form() {
    for text in [
        "priority=10,ip,nw_src=10.0.0.1 actions=conjunction(7,1/2)",
        "priority=10,conj_id=7,ip actions=output:2",
        "tcp,tp_dst=22 actions=conjunction(1,2/3),conjunction(4294967295,64/64),note:01.02",
    ] {
        let f = parse_flow(text).unwrap().flow;
        let printed = flow::format_flow(&f, None);
        assert_eq!(printed.trim(), text);
        assert_eq!(parse_flow(&printed).unwrap().flow, f);
    }
    // OVS's spelling with spaces normalizes to the printed form.
    let f = parse_flow("actions=conjunction(5, 1/2)").unwrap().flow;
    assert_eq!(
        flow::format_flow(&f, None).trim(),
        "actions=conjunction(5,1/2)"
    );
    // NXM name of the match field.
    let f = parse_filter("NXM_NX_CONJ_ID=3").unwrap().flow;
    assert_eq!(flow::format_match(&f.matches, None), "conj_id=3");
}

#[test]
fn bad_conjunctions_name_the_problem() {
    for (text, why) in [
        ("actions=conjunction(1,3/2)", "k must be"),
        ("actions=conjunction(1,1/1)", "n must be"),
        ("actions=conjunction(1,1/65)", "n must be"),
        ("actions=conjunction(1)", "ID,K/N"),
        ("actions=conjunction(x,1/2)", ""),
        ("actions=conjunction(1,1/2),output:3", "output:3"),
        ("conj_id=1 actions=conjunction(1,1/2)", "conj_id"),
        ("conj_id=1/1 actions=drop", ""),
    ] {
        let e = match parse_flow(text) {
            Ok(p) => FlowTables::new()
                .add_flow(p.flow, T0)
                .expect_err(text)
                .to_string(),
            Err(e) => e.to_string(),
        };
        assert!(e.contains(why), "{text}: {e}");
    }
}

#[test]
fn all_dimensions_must_match() {
    let t = tables(&ACL);
    assert_eq!(
        verdict(&t, "tcp,nw_src=10.0.0.1,tp_dst=22"),
        [DpAction::Output(2)]
    );
    assert_eq!(
        verdict(&t, "tcp,nw_src=10.0.0.2,tp_dst=80"),
        [DpAction::Output(2)]
    );
    // One dimension only: the conjunction fails, the catch-all applies.
    assert_eq!(
        verdict(&t, "tcp,nw_src=10.0.0.3,tp_dst=22"),
        [DpAction::Output(9)]
    );
    assert_eq!(
        verdict(&t, "tcp,nw_src=10.0.0.1,tp_dst=443"),
        [DpAction::Output(9)]
    );
    // A packet never carries a conj_id of its own.
    assert_eq!(verdict(&t, "udp,nw_src=10.0.0.9"), [DpAction::Output(9)]);
}

#[test]
fn ordinary_flow_wins_at_equal_priority_and_loses_below() {
    let mut flows = ACL.to_vec();
    flows.push("priority=10,tcp,nw_src=10.0.0.1,tp_dst=22 actions=output:5");
    flows.push("priority=5,tcp actions=output:6");
    let t = tables(&flows);
    assert_eq!(
        verdict(&t, "tcp,nw_src=10.0.0.1,tp_dst=22"),
        [DpAction::Output(5)]
    );
    assert_eq!(
        verdict(&t, "tcp,nw_src=10.0.0.2,tp_dst=22"),
        [DpAction::Output(2)]
    );
    assert_eq!(
        verdict(&t, "tcp,nw_src=10.0.0.3,tp_dst=22"),
        [DpAction::Output(6)]
    );
}

#[test]
fn missing_conj_id_flow_falls_back_to_lower_priorities() {
    let t = tables(&[
        "priority=20,ip,nw_src=10.0.0.1 actions=conjunction(1,1/2)",
        "priority=20,tcp,tp_dst=22 actions=conjunction(1,2/2)",
        // No conj_id=1 flow: the next lower soft priority is tried.
        "priority=15,ip actions=conjunction(2,1/2)",
        "priority=15,tcp actions=conjunction(2,2/2)",
        "priority=3,conj_id=2 actions=output:4",
        // The second lookup is a whole lookup with conj_id set: a flow that
        // does not care about conj_id would be found too, so this one says
        // conj_id=0 to stay out of it.
        "priority=1,conj_id=0,ip actions=output:9",
    ]);
    assert_eq!(
        verdict(&t, "tcp,nw_src=10.0.0.1,tp_dst=22"),
        [DpAction::Output(4)]
    );
    // Without any usable conjunction: the ordinary match.
    assert_eq!(verdict(&t, "udp,nw_src=10.0.0.1"), [DpAction::Output(9)]);
}

#[test]
fn one_flow_can_serve_several_conjunctions_and_lowest_id_wins() {
    let t = tables(&[
        "priority=10,ip,nw_src=10.0.0.1 actions=conjunction(9,1/2),conjunction(3,1/2)",
        "priority=10,tcp,tp_dst=22 actions=conjunction(9,2/2)",
        "priority=10,tcp,tp_dst=23 actions=conjunction(3,2/2)",
        "priority=10,tcp,tcp_flags=+syn actions=conjunction(3,2/2),conjunction(9,2/2)",
        "conj_id=3 actions=output:3",
        "conj_id=9 actions=output:9",
    ]);
    assert_eq!(
        verdict(&t, "tcp,nw_src=10.0.0.1,tp_dst=22"),
        [DpAction::Output(9)]
    );
    assert_eq!(
        verdict(&t, "tcp,nw_src=10.0.0.1,tp_dst=23"),
        [DpAction::Output(3)]
    );
    assert_eq!(
        verdict(&t, "tcp,nw_src=10.0.0.1,tp_dst=22,tcp_flags=syn"),
        [DpAction::Output(3)]
    );
    assert_eq!(verdict(&t, "tcp,nw_src=10.0.0.2,tp_dst=22"), []);
}

#[test]
fn clauses_disagreeing_on_n_do_not_combine() {
    let t = tables(&[
        "priority=10,ip actions=conjunction(1,1/2)",
        "priority=10,tcp actions=conjunction(1,2/3)",
        "conj_id=1 actions=output:1",
    ]);
    assert_eq!(verdict(&t, "tcp"), []);
}

#[test]
fn conjunctions_work_after_resubmit_and_count_the_conj_id_flow() {
    let t = tables(&[
        "actions=resubmit(,1)",
        "table=1,priority=10,ip,nw_src=10.0.0.1 actions=conjunction(7,1/2)",
        "table=1,priority=10,tcp,tp_dst=22 actions=conjunction(7,2/2)",
        "table=1,priority=10,conj_id=7 actions=output:2",
    ]);
    let mut cache = FlowCache::default();
    let p = parse_packet("tcp,nw_src=10.0.0.1,tp_dst=22").unwrap();
    for _ in 0..3 {
        let v = process(&t, &mut cache, &p, 100, T0);
        assert_eq!(v.actions, [DpAction::Output(2)]);
    }
    cache.sync_stats();
    let dump = t.dump(&parse_filter("table=1").unwrap().flow, false, T0);
    for (f, s) in dump {
        let conj = flow::conj::is_conjunctive(&f.actions);
        assert_eq!(s.n_packets, if conj { 0 } else { 3 }, "{f:?}");
    }
}

#[test]
fn trace_shows_the_conj_id_flow_and_megaflow_omits_conj_id() {
    let t = tables(&ACL);
    let r = trace(&t, &parse_packet("tcp,nw_src=10.0.0.2,tp_dst=80").unwrap());
    let text = r.render();
    assert!(text.contains("conj_id=7,ip, priority 10"), "{text}");
    assert!(text.contains("conjunction(7) matched"), "{text}");
    assert!(text.contains("Datapath actions: 2"), "{text}");
    let mega = text.lines().find(|l| l.starts_with("Megaflow:")).unwrap();
    assert!(!mega.contains("conj_id"), "{mega}");
    assert!(mega.contains("nw_src=10.0.0.2"), "{mega}");
    assert!(mega.contains("tp_dst=80"), "{mega}");
}

#[test]
fn second_lookup_may_find_a_flow_that_ignores_conj_id() {
    // As in OVS: the lookup with conj_id=1 is a full lookup.
    let t = tables(&[
        "priority=20,ip actions=conjunction(1,1/2)",
        "priority=20,tcp actions=conjunction(1,2/2)",
        "priority=1,ip actions=output:9",
    ]);
    assert_eq!(verdict(&t, "tcp"), [DpAction::Output(9)]);
}
