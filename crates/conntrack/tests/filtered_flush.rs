//! `flush_matching`: a filtered flush deletes exactly the connections whose
//! zone and original tuple the filter names, whatever the traffic mix
//! (a property over random tables), and the others keep their state.

use std::net::{IpAddr, Ipv4Addr};

use conntrack::*;
use proptest::prelude::*;

fn ip(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, last))
}

/// Commits one UDP connection per (zone, src, dst, dport) given.
fn table(conns: &[(u16, u8, u8, u16)]) -> Conntrack<ManualClock> {
    let mut ct = Conntrack::with_seed(Config::default(), ManualClock::new(), 7);
    for &(zone, s, d, dport) in conns {
        let commit = CtAction {
            zone,
            commit: true,
            ..CtAction::default()
        };
        ct.process(&CtPacket::udp(ip(s), ip(d), 5000, dport), &commit);
    }
    ct
}

#[test]
fn only_the_named_connections_go_and_the_rest_stay_established() {
    let mut ct = table(&[(1, 1, 2, 22), (1, 1, 2, 80), (1, 3, 2, 22), (2, 1, 2, 22)]);
    let f: CtFilter = "zone=1,ct_nw_dst=10.0.0.2,ct_nw_proto=17,ct_tp_dst=22"
        .parse()
        .unwrap();
    assert_eq!(ct.flush_matching(&f), 2);
    let left: Vec<(u16, u16, IpAddr)> = ct
        .dump(None)
        .iter()
        .map(|e| (e.zone, e.orig.dport, e.orig.src_ip()))
        .collect();
    assert_eq!(left, vec![(1, 80, ip(1)), (2, 22, ip(1))]);
    // A kept connection still answers as established.
    let r = ct.process(
        &CtPacket::udp(ip(2), ip(1), 80, 5000),
        &CtAction {
            zone: 1,
            ..CtAction::default()
        },
    );
    assert!(r.state.contains(CtState::EST), "{:?}", r.state);
    // A flushed one is new again.
    let r = ct.process(
        &CtPacket::udp(ip(1), ip(2), 5000, 22),
        &CtAction {
            zone: 1,
            ..CtAction::default()
        },
    );
    assert!(r.state.contains(CtState::NEW), "{:?}", r.state);
}

proptest! {
    #[test]
    fn flush_removes_exactly_the_matches(
        conns in prop::collection::vec((1u16..4, 1u8..5, 1u8..5, 20u16..24), 0..40),
        zone in prop::option::of(1u16..4),
        src in prop::option::of(1u8..5),
        dport in prop::option::of(20u16..24),
    ) {
        let mut ct = table(&conns);
        let before = ct.dump(None);
        let f = CtFilter {
            zone,
            src: src.map(|s| ip(s).into()),
            dport,
            ..CtFilter::default()
        };
        let n = ct.flush_matching(&f);
        let (gone, kept): (Vec<_>, Vec<_>) =
            before.into_iter().partition(|e| f.matches(e.zone, &e.orig));
        prop_assert_eq!(n, gone.len());
        prop_assert_eq!(ct.dump(None), kept);
    }
}
