//! HTB behaviours beyond the flat 3:1:6 tree: hierarchical sharing (a
//! class's unused rate goes to its siblings under the same parent before
//! anyone else, Devera's user guide "sharing hierarchy"), `prio` (lower
//! prio gets the excess first, tc-htb(8)), the default class and the
//! direct queue, and builder errors.

mod common;
use common::*;
use qos::sim::SimPacket;
use qos::{ClassConfig, HtbBuilder, HtbError, Qdisc, Rate};

fn kbit(n: u64) -> Rate {
    Rate::from_bps(n * 1000).expect("non-zero")
}

#[test]
fn idle_rate_goes_to_siblings_first() {
    // The user guide's tree (kbit/s): root 100; A 40 { www 30, smtp 10 }; B 60.
    let mut b = HtbBuilder::new();
    let root = b
        .add_class(None, ClassConfig::new(kbit(100)))
        .expect("root");
    let a = b
        .add_class(Some(root), ClassConfig::new(kbit(40)).ceil(kbit(100)))
        .expect("A");
    let www = b
        .add_class(Some(a), ClassConfig::new(kbit(30)).ceil(kbit(100)))
        .expect("www");
    let smtp = b
        .add_class(Some(a), ClassConfig::new(kbit(10)).ceil(kbit(100)))
        .expect("smtp");
    let bb = b
        .add_class(Some(root), ClassConfig::new(kbit(60)).ceil(kbit(100)))
        .expect("B");
    for (q, c) in [(0, www), (1, smtp), (2, bb)] {
        b.map_queue(q, c).expect("map");
    }
    let mut q = b.build(0).expect("tree");
    let sources = vec![
        Source {
            on: vec![(0, 20 * SEC), (40 * SEC, 60 * SEC)],
            ..Source::backlogged(0, 500, 0, 0)
        },
        Source::backlogged(1, 500, 0, 60 * SEC),
        Source::backlogged(2, 500, 0, 60 * SEC),
    ];
    let deps = simulate(&mut q, &sources, 60 * SEC, 1_000_000_000);
    let all = rates_in(&deps, 3, 2 * SEC, 20 * SEC);
    assert_shares(&all, &[30.0, 10.0, 60.0], 0.03, "all busy");
    // www idle: smtp takes A's whole 40, B keeps 60.
    let idle = rates_in(&deps, 3, 22 * SEC, 40 * SEC);
    assert_shares(&idle[1..], &[40.0, 60.0], 0.03, "www idle");
    let back = rates_in(&deps, 3, 41 * SEC, 60 * SEC);
    assert_shares(&back, &[30.0, 10.0, 60.0], 0.03, "www back");
    let a_stats = q.class_stats(a).expect("A");
    assert!(a_stats.lends > 0, "A lent to smtp: {a_stats:?}");
}

#[test]
fn lower_prio_gets_the_excess_first() {
    let mut b = HtbBuilder::new();
    let root = b
        .add_class(None, ClassConfig::new(kbit(10_000)))
        .expect("root");
    let hi = b
        .add_class(
            Some(root),
            ClassConfig::new(kbit(1_000)).ceil(kbit(10_000)).prio(0),
        )
        .expect("hi");
    let lo = b
        .add_class(
            Some(root),
            ClassConfig::new(kbit(1_000)).ceil(kbit(10_000)).prio(1),
        )
        .expect("lo");
    b.map_queue(0, hi).expect("map");
    b.map_queue(1, lo).expect("map");
    let mut q = b.build(0).expect("tree");
    let sources = vec![
        Source::backlogged(0, 1500, 0, 5 * SEC),
        Source::backlogged(1, 1500, 0, 5 * SEC),
    ];
    let deps = simulate(&mut q, &sources, 5 * SEC, 1_000_000_000);
    let r = rates_in(&deps, 2, SEC, 5 * SEC);
    // lo still gets its guaranteed rate; hi gets all the excess.
    assert!((r[1] - 1e6).abs() <= 0.03e6, "lo {r:?}");
    assert!((r[0] - 9e6).abs() <= 0.03 * 9e6, "hi {r:?}");
}

#[test]
fn unclassified_without_default_goes_direct_unshaped() {
    let mut b = HtbBuilder::new();
    let root = b.add_class(None, ClassConfig::new(kbit(8))).expect("root");
    let leaf = b
        .add_class(Some(root), ClassConfig::new(kbit(8)))
        .expect("leaf");
    b.map_queue(5, leaf).expect("map");
    let mut q = b.build(0).expect("tree");
    for i in 0..10 {
        q.enqueue(SimPacket::new(1000, 0).with_seq(i), 0)
            .expect("direct has room");
    }
    assert_eq!(q.direct_len(), 10);
    assert_eq!(
        (0..10).filter_map(|_| q.dequeue(0)).count(),
        10,
        "direct queue is not shaped"
    );
    // A mapped queue is shaped: 8 kbit/s = 1000 bytes/s, burst ≈ 1600 bytes.
    for _ in 0..5 {
        q.enqueue(SimPacket::new(1000, 0).with_queue(5), 0)
            .expect("leaf has room");
    }
    assert!(q.dequeue(0).is_some());
    assert!(q.dequeue(0).is_some(), "burst");
    assert!(q.dequeue(0).is_none(), "then the rate");
    let at = q.next_ready(0).expect("backlogged");
    assert!(at > 0 && at <= 2 * SEC, "next_ready {at}");
    assert!(q.dequeue(at).is_some(), "ready when it said");
}

#[test]
fn builder_rejects_bad_trees_naming_the_class() {
    let mut b: HtbBuilder<SimPacket> = HtbBuilder::new();
    let root = b
        .add_class(None, ClassConfig::new(kbit(100)))
        .expect("root");
    let e = b
        .add_class(Some(root), ClassConfig::new(kbit(100)).ceil(kbit(10)))
        .expect_err("ceil < rate");
    assert!(matches!(e, HtbError::CeilBelowRate { class: 1, .. }), "{e}");
    assert!(b
        .add_class(Some(root), ClassConfig::new(kbit(1)).prio(8))
        .is_err());
    let mut parent = root;
    let mut deep = None;
    for _ in 0..10 {
        match b.add_class(Some(parent), ClassConfig::new(kbit(1))) {
            Ok(c) => parent = c,
            Err(e) => {
                deep = Some(e);
                break;
            }
        }
    }
    assert!(matches!(deep, Some(HtbError::TooDeep(_))), "{deep:?}");
    assert!(matches!(b.default_class(root), Ok(())));
    assert!(
        matches!(b.build(0), Err(HtbError::NotALeaf(0))),
        "default must be a leaf"
    );
}
