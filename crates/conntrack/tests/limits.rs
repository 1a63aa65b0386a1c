//! Global and per-zone limits: the 1,001st connection over a limit of
//! 1,000 is refused and counted while the first 1,000 keep flowing.

mod common;

use common::*;
use conntrack::*;

const A: TcpFlags = TcpFlags::ACK;
const S: TcpFlags = TcpFlags::SYN;

fn client(i: u32) -> (String, u16) {
    (
        format!("10.1.{}.{}", i / 250, i % 250 + 1),
        30000 + (i % 1000) as u16,
    )
}

fn check_limit(ct: &mut Conntrack<ManualClock>, zone: u16, expect: DropReason) {
    let act = commit(zone);
    let mut seqs = Vec::new();
    for i in 0..1000 {
        let (c, p) = client(i);
        seqs.push(handshake(ct, &act, &c, p, "10.9.9.9", 80));
    }
    assert_eq!(ct.len(), 1000);
    let (c, p) = client(1000);
    let r = ct.process(&seg(&c, p, "10.9.9.9", 80, S, 1000, 0, 0), &act);
    assert_eq!(r.state, CtState::TRK | CtState::INV);
    assert_eq!(r.refused, Some(expect));
    assert_eq!(ct.len(), 1000);
    let st = ct.stats();
    assert_eq!(st.drops.get(expect), 1);
    assert_eq!(st.zones[&zone].drops.get(expect), 1);
    assert_eq!(st.zones[&zone].count, 1000);

    // Every one of the first 1,000 still exchanges data both ways.
    for (i, (cs, ss)) in seqs.iter().enumerate() {
        let (c, p) = client(i as u32);
        let r = ct.process(&seg(&c, p, "10.9.9.9", 80, A, *cs, *ss, 100), &act);
        assert_eq!(r.state, CtState::TRK | CtState::EST, "conn {i} out");
        let r = ct.process(
            &seg("10.9.9.9", 80, &c, p, A, *ss, cs + 100, 50),
            &lookup(zone),
        );
        assert_eq!(
            r.state,
            CtState::TRK | CtState::EST | CtState::RPL,
            "conn {i} back"
        );
    }
    assert_eq!(ct.stats().drops.get(expect), 1, "no further refusals");
}

#[test]
fn zone_limit_refuses_the_1001st() {
    let (mut ct, _) = tracker();
    ct.set_zone_limit(7, Some(1000));
    check_limit(&mut ct, 7, DropReason::ZoneLimit);
    // Other zones are not limited by zone 7's limit.
    let (c, p) = client(1000);
    let r = ct.process(&seg(&c, p, "10.9.9.9", 80, S, 1, 0, 0), &commit(8));
    assert_eq!(r.refused, None);
    assert_eq!(ct.stats().zones[&7].limit, Some(1000));
}

#[test]
fn global_limit_refuses_the_1001st() {
    let (mut ct, _) = tracker_with(Config {
        max_conns: 1000,
        ..Config::default()
    });
    check_limit(&mut ct, 3, DropReason::GlobalLimit);
}

#[test]
fn default_zone_limit_applies_to_zones_without_their_own() {
    let (mut ct, _) = tracker();
    ct.set_default_zone_limit(Some(2));
    ct.set_zone_limit(9, Some(3));
    for i in 0..3u16 {
        let pkt = CtPacket::udp(ip("10.0.0.1"), ip("10.0.0.2"), 100 + i, 53);
        assert_eq!(
            ct.process(&pkt, &commit(1)).refused,
            (i == 2).then_some(DropReason::ZoneLimit)
        );
        assert_eq!(ct.process(&pkt, &commit(9)).refused, None);
    }
}

#[test]
fn expired_entries_free_their_slot() {
    let (mut ct, clock) = tracker();
    ct.set_zone_limit(1, Some(1));
    let a = CtPacket::udp(ip("10.0.0.1"), ip("10.0.0.2"), 1, 53);
    let b = CtPacket::udp(ip("10.0.0.1"), ip("10.0.0.2"), 2, 53);
    assert_eq!(ct.process(&a, &commit(1)).refused, None);
    assert_eq!(
        ct.process(&b, &commit(1)).refused,
        Some(DropReason::ZoneLimit)
    );
    clock.advance(secs(31));
    assert_eq!(
        ct.process(&b, &commit(1)).refused,
        None,
        "the expired one was swept on demand"
    );
}

#[test]
fn stats_display_lists_zones() {
    let (mut ct, _) = tracker();
    ct.set_zone_limit(4, Some(1));
    ct.process(
        &CtPacket::udp(ip("10.0.0.1"), ip("10.0.0.2"), 1, 53),
        &commit(4),
    );
    ct.process(
        &CtPacket::udp(ip("10.0.0.1"), ip("10.0.0.2"), 2, 53),
        &commit(4),
    );
    let text = ct.stats().to_string();
    assert!(
        text.starts_with(
            "total=1 max=3000000 invalid=0 expired=0 drops=(global_limit=0,zone_limit=1,"
        ),
        "{text}"
    );
    assert!(text.contains("zone=4 count=1 limit=1 drops=(global_limit=0,zone_limit=1,nat_exhausted=0,tuple_clash=0)"), "{text}");
}
