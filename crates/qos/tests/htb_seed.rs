//! The seed's 3:1:6 experiment (chapter 3 of the first seed) in simulated
//! time: `ovs-vsctl ... type=linux-htb other-config:max-rate=10000000
//! queues=0=@q0,1=@q1,2=@q2` with min-rate 3/1/6 Mbit/s, max-rate 10.

mod common;
use common::*;
use qos::sim::SimPacket;
use qos::{ClassConfig, Htb, HtbBuilder, Rate};

fn mbit(n: u64) -> Rate {
    Rate::from_bps(n * 1_000_000).expect("non-zero")
}

/// The seed's OVS QoS: root 10 Mbit/s, queues 0/1/2 at 3/1/6, ceil 10.
fn seed_htb() -> Htb<SimPacket> {
    let mut b = HtbBuilder::new();
    let root = b
        .add_class(None, ClassConfig::new(mbit(10)).ceil(mbit(10)))
        .expect("root");
    for (q, r) in [(0u32, 3u64), (1, 1), (2, 6)] {
        let c = b
            .add_class(Some(root), ClassConfig::new(mbit(r)).ceil(mbit(10)))
            .expect("class");
        b.map_queue(q, c).expect("map");
    }
    b.build(0).expect("valid tree")
}

const LINE: u64 = 1_000_000_000;
const WANT: [f64; 3] = [3.0, 1.0, 6.0];

fn run(active: &[usize], secs: u64) -> Vec<f64> {
    let mut q = seed_htb();
    let sources: Vec<Source> = (0..3)
        .map(|i| {
            let on = if active.contains(&i) { secs * SEC } else { 0 };
            Source::backlogged(i as u32, 1500, 0, on)
        })
        .collect();
    let deps = simulate(&mut q, &sources, secs * SEC, LINE);
    let r = rates_in(&deps, 3, SEC, secs * SEC);
    eprintln!(
        "active {active:?}: {:.3?} Mbit/s",
        r.iter().map(|x| x / 1e6).collect::<Vec<_>>()
    );
    r
}

#[test]
fn all_three_share_3_1_6() {
    let r = run(&[0, 1, 2], 6);
    assert_shares(&r, &WANT, 0.02, "all three");
    let total: f64 = r.iter().sum();
    assert!((0.98e7..=1.01e7).contains(&total), "total {total}");
}

#[test]
fn each_alone_fills_the_ceiling() {
    for i in 0..3 {
        let r = run(&[i], 4);
        assert!(r[i] >= 0.95e7, "queue {i} alone: {} bit/s", r[i]);
        assert!(r[i] <= 1.01e7, "queue {i} alone above ceil: {} bit/s", r[i]);
    }
}

#[test]
fn pairs_share_3_1_and_1_2_and_1_6() {
    for (a, b) in [(0usize, 1usize), (0, 2), (1, 2)] {
        let r = run(&[a, b], 6);
        assert_shares(
            &[r[a], r[b]],
            &[WANT[a], WANT[b]],
            0.02,
            &format!("pair {a},{b}"),
        );
        assert!(
            r[a] + r[b] >= 0.98e7,
            "pair {a},{b} leaves the link idle: {r:?}"
        );
        let idle = 3 - a - b;
        assert_eq!(r[idle], 0.0);
    }
}

#[test]
fn a_class_that_restarts_gets_its_share_back_within_100ms() {
    let mut q = seed_htb();
    let sources = vec![
        Source::backlogged(0, 1500, 0, 8 * SEC),
        Source::backlogged(1, 1500, 0, 8 * SEC),
        Source {
            on: vec![(0, 3 * SEC), (5 * SEC, 8 * SEC)],
            ..Source::backlogged(2, 1500, 0, 0)
        },
    ];
    let deps = simulate(&mut q, &sources, 8 * SEC, LINE);
    // While queue 2 is off, 0 and 1 take its 6 Mbit/s at 3:1.
    let off = rates_in(&deps, 3, 3 * SEC + 100 * MS, 5 * SEC);
    assert_shares(&off[..2], &[3.0, 1.0], 0.02, "queue 2 idle");
    assert!(off[0] + off[1] >= 0.98e7, "{off:?}");
    // From 100 ms after the restart on, 3:1:6 again.
    let back = rates_in(&deps, 3, 5 * SEC + 100 * MS, 8 * SEC);
    assert_shares(&back, &WANT, 0.02, "after restart");
    // And already within the first 100 ms it runs at ≥ its guaranteed rate.
    let first = rates_in(&deps, 3, 5 * SEC, 5 * SEC + 100 * MS);
    assert!(
        first[2] >= 0.95 * 6e6,
        "queue 2 in its first 100 ms: {first:?}"
    );
}

/// The seed's tc tree: `htb default 12`; 1:1 rate 100kbps ceil 100kbps;
/// 1:10/1:11/1:12 rate 30/10/60kbps ceil 100kbps; leaves `pfifo limit 5`,
/// `pfifo limit 5`, `sfq perturb 10`. tc's "kbps" is kilobytes per second.
#[test]
fn seed_tc_tree_100kbps_30_10_60() {
    use qos::htb::LeafQdisc;
    use qos::units::parse_rate;
    use qos::{Fifo, Sfq, SfqConfig};
    let rate = |s: &str| parse_rate(s).expect("tc rate");
    let mut b = HtbBuilder::new();
    let root = b
        .add_class(
            None,
            ClassConfig::new(rate("100kbps")).ceil(rate("100kbps")),
        )
        .expect("1:1");
    let c10 = b
        .add_class(
            Some(root),
            ClassConfig::new(rate("30kbps")).ceil(rate("100kbps")),
        )
        .expect("1:10");
    let c11 = b
        .add_class(
            Some(root),
            ClassConfig::new(rate("10kbps")).ceil(rate("100kbps")),
        )
        .expect("1:11");
    let c12 = b
        .add_class(
            Some(root),
            ClassConfig::new(rate("60kbps")).ceil(rate("100kbps")),
        )
        .expect("1:12");
    b.leaf_qdisc(c10, LeafQdisc::Fifo(Fifo::pfifo(5)))
        .expect("20:");
    b.leaf_qdisc(c11, LeafQdisc::Fifo(Fifo::pfifo(5)))
        .expect("30:");
    let sfq = Sfq::new(
        SfqConfig {
            perturb: 10 * SEC,
            seed: 7,
            ..SfqConfig::default()
        },
        0,
    )
    .expect("sfq");
    b.leaf_qdisc(c12, LeafQdisc::Sfq(sfq)).expect("40:");
    b.default_class(c12).expect("default 12");
    // The u32 filters are the caller's: "src 1.2.3.4 dport 80" → 1:10 as
    // queue 10, "src 1.2.3.4" → 1:11 as queue 11; the rest is unmapped.
    b.map_queue(10, c10).expect("filter 1");
    b.map_queue(11, c11).expect("filter 2");
    let mut q = b.build(0).expect("tree");
    let mut unclassified = Source::backlogged(0, 1000, 0, 30 * SEC);
    unclassified.queue = None;
    let sources = vec![
        Source::backlogged(10, 1000, 0, 30 * SEC),
        Source::backlogged(11, 1000, 0, 30 * SEC),
        unclassified,
    ];
    let deps = simulate(&mut q, &sources, 30 * SEC, LINE);
    let r = rates_in(&deps, 3, 2 * SEC, 30 * SEC);
    assert_shares(&r, &WANT, 0.02, "seed tc tree");
    let total: f64 = r.iter().sum();
    assert!(
        (total - 800_000.0).abs() <= 0.02 * 800_000.0,
        "total {total} bit/s, want 100kbps = 800kbit/s"
    );
    assert_eq!(
        q.direct_len(),
        0,
        "unclassified packets went to the default class"
    );
    let st = q.class_stats(c12).expect("1:12");
    assert!(st.sent_packets > 0);
}

#[test]
fn limits_hold_memory() {
    use qos::Qdisc;
    let mut b = HtbBuilder::new();
    let root = b.add_class(None, ClassConfig::new(mbit(1))).expect("root");
    let leaf = b
        .add_class(Some(root), ClassConfig::new(mbit(1)))
        .expect("leaf");
    b.leaf_qdisc(leaf, qos::LeafQdisc::Fifo(qos::Fifo::pfifo(5)))
        .expect("pfifo");
    b.default_class(leaf).expect("default");
    let mut q = b.build(0).expect("tree");
    let mut dropped = 0;
    for i in 0..100_000u32 {
        if q.enqueue(SimPacket::new(1500, i), 0).is_err() {
            dropped += 1;
        }
    }
    assert_eq!(q.len(), 5);
    assert_eq!(dropped, 100_000 - 5);
    assert_eq!(q.stats().dropped_packets, dropped);
    assert_eq!(
        q.class_stats(leaf).map(|s| s.dropped_packets),
        Some(dropped)
    );
}

/// `ovs-vsctl set queue q2 other-config:min-rate=2000000` while traffic
/// runs: the tree changes in place, nothing queued is lost, shares follow.
#[test]
fn changing_a_queue_rate_in_place() {
    use qos::Qdisc;
    let mut q = seed_htb();
    let sources: Vec<Source> = (0..3)
        .map(|i| Source::backlogged(i, 1500, 0, 10 * SEC))
        .collect();
    let before = simulate_span(&mut q, &sources, 0, 3 * SEC, LINE);
    let r = rates_in(&before, 3, SEC, 3 * SEC);
    assert_shares(&r, &WANT, 0.02, "before the change");
    let queued = q.len();
    let c2 = q.class_of_queue(2).expect("queue 2");
    q.change_class(c2, ClassConfig::new(mbit(2)).ceil(mbit(10)), 3 * SEC)
        .expect("valid change");
    assert_eq!(q.len(), queued, "nothing dropped by the change");
    let after = simulate_span(&mut q, &sources, 3 * SEC, 8 * SEC, LINE);
    // 3/1/2 guaranteed, the 4 spare lent in proportion: still 3:1:2.
    let r = rates_in(&after, 3, 4 * SEC, 8 * SEC);
    assert_shares(&r, &[3.0, 1.0, 2.0], 0.03, "after the change");
    assert!(r.iter().sum::<f64>() >= 0.98e7, "{r:?}");
    let bad = ClassConfig::new(mbit(5)).ceil(mbit(1));
    assert!(q.change_class(c2, bad, 8 * SEC).is_err());
}
