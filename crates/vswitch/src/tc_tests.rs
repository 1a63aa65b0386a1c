//! Unit tests of `tc.rs`: the seed's tree, and errors naming tokens.

use super::*;

fn args(s: &str) -> Vec<String> {
    s.split_whitespace().map(String::from).collect()
}

/// The seed's tree (chapter 3), on a switch port.
const SEED: &[&str] = &[
    "qdisc add dev p1 root handle 1: htb default 12",
    "class add dev p1 parent 1: classid 1:1 htb rate 100kbps ceil 100kbps",
    "class add dev p1 parent 1:1 classid 1:10 htb rate 30kbps ceil 100kbps",
    "class add dev p1 parent 1:1 classid 1:11 htb rate 10kbps ceil 100kbps",
    "class add dev p1 parent 1:1 classid 1:12 htb rate 60kbps ceil 100kbps",
    "qdisc add dev p1 parent 1:10 handle 20: pfifo limit 5",
    "qdisc add dev p1 parent 1:11 handle 30: pfifo limit 5",
    "qdisc add dev p1 parent 1:12 handle 40: sfq perturb 10",
    "filter add dev p1 protocol ip parent 1:0 prio 1 u32 match ip src 1.2.3.4 match ip dport 80 0xffff flowid 1:10",
    "filter add dev p1 protocol ip parent 1:0 prio 1 u32 match ip src 1.2.3.4 flowid 1:11",
];

#[test]
fn seed_tree_builds() {
    let mut t = TcTree::default();
    for c in SEED {
        t.apply(&args(c)).unwrap_or_else(|e| panic!("{c}: {e}"));
    }
    let Some(EgressSpec::Htb(h)) = t.spec() else {
        panic!("no htb")
    };
    assert_eq!(h.default, Some(0x12));
    let rates: Vec<(u32, u64, u64)> = h
        .classes
        .iter()
        .map(|c| (c.id, c.cfg.rate.bps(), c.cfg.ceil.map_or(0, |r| r.bps())))
        .collect();
    assert_eq!(
        rates,
        vec![
            (1, 800_000, 800_000),
            (0x10, 240_000, 800_000),
            (0x11, 80_000, 800_000),
            (0x12, 480_000, 800_000)
        ]
    );
    assert_eq!(h.classes[1].leaf, LeafSpec::Pfifo(5));
    assert!(matches!(h.classes[3].leaf, LeafSpec::Sfq(s) if s.perturb == 10_000_000_000));
    assert_eq!(h.filters.len(), 2);
    assert_eq!(h.filters[0].src, Some((0x0102_0304, u32::MAX)));
    assert_eq!(h.filters[0].dport, Some((80, 0xffff)));
    assert_eq!(h.filters[1].flowid, 0x11);
    crate::dp::egress::Egress::new(&EgressSpec::Htb(h), 0).expect("scheduler builds");
    let shown = t.show_filters("p1");
    assert!(
        shown.contains("match ip src 1.2.3.4/32 match ip dport 80 0xffff"),
        "{shown}"
    );
    // Deleting the root empties the tree.
    t.apply(&args("qdisc del dev p1 root")).unwrap();
    assert!(t.commands.is_empty() && t.spec().is_none());
}

#[test]
fn errors_name_the_token() {
    let mut t = TcTree::default();
    let cases = [
        (
            "class add dev p1 parent 1: classid 1:1 htb rate 1mbit",
            "root htb",
        ),
        ("qdisc add dev p1 root handle 1: cbq", "\"cbq\""),
        ("qdisc add dev p1 root handle 1: htb default zz", "\"zz\""),
    ];
    for (c, needle) in cases {
        let e = t.apply(&args(c)).unwrap_err().to_string();
        assert!(e.contains(needle), "{c}: {e}");
    }
    t.apply(&args("qdisc add dev p1 root handle 1: htb"))
        .unwrap();
    let cases = [
        (
            "class add dev p1 parent 1:5 classid 1:1 htb rate 1mbit",
            "1:5",
        ),
        (
            "class add dev p1 parent 1: classid 1:1 htb rate 1furlong",
            "1furlong",
        ),
        (
            "class add dev p1 parent 1: classid 1:1 htb rate 2mbit ceil 1mbit",
            "below",
        ),
        (
            "class add dev p1 parent 1: classid 1:1 htb ceil 1mbit",
            "rate",
        ),
        (
            "filter add dev p1 parent 1: u32 match ip src 1.2.3.4 flowid 1:9",
            "1:9",
        ),
        (
            "filter add dev p1 parent 1: u32 match ip src 1.2.3.400 flowid 1:9",
            "1.2.3.400",
        ),
        ("filter add dev p1 parent 1: u32 match ip dport 80", "mask"),
        ("qdisc add dev p1 root handle 1: htb", "already"),
        ("qdisc add dev p1 parent 1:7 pfifo limit 5", "1:7"),
    ];
    for (c, needle) in cases {
        let before = t.clone();
        let e = t.apply(&args(c)).unwrap_err().to_string();
        assert!(e.contains(needle), "{c}: {e}");
        assert_eq!(t, before);
    }
    assert!(parse(&args("-x qdisc show dev p1")).is_err());
    assert!(matches!(
        parse(&args("-s class show dev p1")),
        Ok(TcCommand::Show { stats: true, .. })
    ));
}
