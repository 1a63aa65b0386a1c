//! ct_state results per protocol path, expiry, mark/label, dump, flush.

mod common;

use common::*;
use conntrack::*;

const S: TcpFlags = TcpFlags::SYN;
const A: TcpFlags = TcpFlags::ACK;
const F: TcpFlags = TcpFlags::FIN;
const R: TcpFlags = TcpFlags::RST;

#[test]
fn uncommitted_new_is_not_stored() {
    let (mut ct, _) = tracker();
    let r = ct.process(
        &CtPacket::udp(ip("10.0.0.1"), ip("10.0.0.2"), 1, 2),
        &LOOKUP,
    );
    assert_eq!(r.state, CtState::TRK | CtState::NEW);
    assert!(ct.is_empty());
    let r = ct.process(
        &CtPacket::udp(ip("10.0.0.2"), ip("10.0.0.1"), 2, 1),
        &LOOKUP,
    );
    assert_eq!(
        r.state,
        CtState::TRK | CtState::NEW,
        "reply of an uncommitted flow is new too"
    );
}

#[test]
fn tcp_handshake_states_and_orig_tuple() {
    let (mut ct, _) = tracker();
    let r = ct.process(
        &seg("10.0.0.1", 40000, "10.0.0.2", 80, S, 1000, 0, 0),
        &COMMIT,
    );
    assert_eq!(r.state, CtState::TRK | CtState::NEW);
    let o = r.orig.expect("orig tuple");
    assert_eq!(
        (o.src_ip(), o.dst_ip(), o.sport, o.dport),
        (ip("10.0.0.1"), ip("10.0.0.2"), 40000, 80)
    );
    // Retransmitted SYN: still new.
    let r = ct.process(
        &seg("10.0.0.1", 40000, "10.0.0.2", 80, S, 1000, 0, 0),
        &LOOKUP,
    );
    assert_eq!(r.state, CtState::TRK | CtState::NEW);
    let r = ct.process(
        &seg("10.0.0.2", 80, "10.0.0.1", 40000, S | A, 9000, 1001, 0),
        &LOOKUP,
    );
    assert_eq!(r.state, CtState::TRK | CtState::EST | CtState::RPL);
    let r = ct.process(
        &seg("10.0.0.1", 40000, "10.0.0.2", 80, A, 1001, 9001, 0),
        &LOOKUP,
    );
    assert_eq!(r.state, CtState::TRK | CtState::EST);
    assert_eq!(r.orig, Some(o));
    let d = ct.dump(None);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].tcp_state, Some(TcpState::Established));
    assert!(d[0].assured);
}

#[test]
fn tcp_out_of_window_and_bad_flags_are_invalid_but_keep_conn() {
    let (mut ct, _) = tracker();
    let (cs, ss) = handshake(&mut ct, &COMMIT, "10.0.0.1", 40000, "10.0.0.2", 80);
    let r = ct.process(
        &seg("10.0.0.1", 40000, "10.0.0.2", 80, A, cs + 5_000_000, ss, 10),
        &LOOKUP,
    );
    assert_eq!(r.state, CtState::TRK | CtState::INV);
    let r = ct.process(
        &seg("10.0.0.1", 40000, "10.0.0.2", 80, S | F, cs, ss, 0),
        &LOOKUP,
    );
    assert_eq!(r.state, CtState::TRK | CtState::INV);
    let r = ct.process(
        &seg("10.0.0.1", 40000, "10.0.0.2", 80, A, cs, ss, 10),
        &LOOKUP,
    );
    assert_eq!(
        r.state,
        CtState::TRK | CtState::EST,
        "valid data still flows"
    );
    assert_eq!(ct.stats().invalid, 2);
}

#[test]
fn tcp_synack_without_syn_is_invalid() {
    let (mut ct, _) = tracker();
    let r = ct.process(
        &seg("10.0.0.2", 80, "10.0.0.1", 40000, S | A, 9000, 1001, 0),
        &COMMIT,
    );
    assert_eq!(r.state, CtState::TRK | CtState::INV);
    assert!(ct.is_empty());
}

#[test]
fn tcp_loose_pickup_is_configurable() {
    let (mut ct, _) = tracker();
    let r = ct.process(
        &seg("10.0.0.1", 40000, "10.0.0.2", 80, A, 5, 5, 10),
        &COMMIT,
    );
    assert_eq!(r.state, CtState::TRK | CtState::NEW);
    let (mut strict, _) = tracker_with(Config {
        tcp_loose: false,
        ..Config::default()
    });
    let r = strict.process(
        &seg("10.0.0.1", 40000, "10.0.0.2", 80, A, 5, 5, 10),
        &COMMIT,
    );
    assert_eq!(r.state, CtState::TRK | CtState::INV);
}

#[test]
fn tcp_fin_close_then_time_wait_expiry() {
    let (mut ct, clock) = tracker();
    let (cs, ss) = handshake(&mut ct, &COMMIT, "10.0.0.1", 40000, "10.0.0.2", 80);
    ct.process(
        &seg("10.0.0.1", 40000, "10.0.0.2", 80, F | A, cs, ss, 0),
        &LOOKUP,
    );
    ct.process(
        &seg("10.0.0.2", 80, "10.0.0.1", 40000, F | A, ss, cs + 1, 0),
        &LOOKUP,
    );
    ct.process(
        &seg("10.0.0.1", 40000, "10.0.0.2", 80, A, cs + 1, ss + 1, 0),
        &LOOKUP,
    );
    let d = ct.dump(None);
    assert_eq!(d[0].tcp_state, Some(TcpState::TimeWait));
    assert!(d[0].timeout <= secs(120));
    clock.advance(secs(119));
    assert_eq!(ct.sweep(100), 0);
    clock.advance(secs(2));
    assert_eq!(ct.sweep(100), 1);
    assert!(ct.is_empty());
}

#[test]
fn tcp_rst_closes_and_new_syn_reopens() {
    let (mut ct, _) = tracker();
    let (cs, _) = handshake(&mut ct, &COMMIT, "10.0.0.1", 40000, "10.0.0.2", 80);
    let r = ct.process(
        &seg("10.0.0.1", 40000, "10.0.0.2", 80, R, cs, 0, 0),
        &LOOKUP,
    );
    assert_eq!(r.state, CtState::TRK | CtState::EST);
    assert_eq!(ct.dump(None)[0].tcp_state, Some(TcpState::Close));
    let r = ct.process(
        &seg("10.0.0.1", 40000, "10.0.0.2", 80, S, 777, 0, 0),
        &COMMIT,
    );
    assert_eq!(r.state, CtState::TRK | CtState::NEW, "reopened");
    assert_eq!(ct.dump(None)[0].tcp_state, Some(TcpState::SynSent));
    assert_eq!(ct.len(), 1);
}

#[test]
fn established_timeout_is_refreshed_by_traffic() {
    let (mut ct, clock) = tracker();
    let mut t = Timeouts::default();
    t.set(TimeoutClass::TcpEstablished, secs(50));
    ct.set_timeouts(t);
    let (cs, ss) = handshake(&mut ct, &COMMIT, "10.0.0.1", 40000, "10.0.0.2", 80);
    for _ in 0..5 {
        clock.advance(secs(40));
        let r = ct.process(
            &seg("10.0.0.1", 40000, "10.0.0.2", 80, A, cs, ss, 0),
            &LOOKUP,
        );
        assert_eq!(r.state, CtState::TRK | CtState::EST);
    }
    clock.advance(secs(51));
    let r = ct.process(
        &seg("10.0.0.1", 40000, "10.0.0.2", 80, A, cs, ss, 0),
        &LOOKUP,
    );
    assert_eq!(
        r.state,
        CtState::TRK | CtState::NEW,
        "expired: seen as a fresh (loose) connection"
    );
}

#[test]
fn udp_unreplied_then_stream_timeouts() {
    let (mut ct, clock) = tracker();
    let out = CtPacket::udp(ip("10.0.0.1"), ip("10.0.0.2"), 5000, 53);
    let back = CtPacket::udp(ip("10.0.0.2"), ip("10.0.0.1"), 53, 5000);
    ct.process(&out, &COMMIT);
    clock.advance(secs(31));
    assert_eq!(ct.process(&out, &LOOKUP).state, CtState::TRK | CtState::NEW);
    assert_eq!(ct.sweep(10), 0, "lookup already dropped the expired entry");
    assert!(ct.is_empty());

    ct.process(&out, &COMMIT);
    let r = ct.process(&back, &LOOKUP);
    assert_eq!(r.state, CtState::TRK | CtState::EST | CtState::RPL);
    assert_eq!(ct.process(&out, &LOOKUP).state, CtState::TRK | CtState::EST);
    clock.advance(secs(100));
    assert_eq!(
        ct.process(&out, &LOOKUP).state,
        CtState::TRK | CtState::EST,
        "120 s once replied"
    );
    assert!(ct.dump(None)[0].assured);
}

#[test]
fn icmp_echo_by_id_and_stray_reply_invalid() {
    let (mut ct, clock) = tracker();
    let req = CtPacket::echo(ip("10.0.0.1"), ip("10.0.0.2"), true, 77);
    let rep = CtPacket::echo(ip("10.0.0.2"), ip("10.0.0.1"), false, 77);
    let other = CtPacket::echo(ip("10.0.0.2"), ip("10.0.0.1"), false, 78);
    assert_eq!(ct.process(&rep, &COMMIT).state, CtState::TRK | CtState::INV);
    assert_eq!(ct.process(&req, &COMMIT).state, CtState::TRK | CtState::NEW);
    assert_eq!(
        ct.process(&rep, &LOOKUP).state,
        CtState::TRK | CtState::EST | CtState::RPL
    );
    assert_eq!(
        ct.process(&other, &LOOKUP).state,
        CtState::TRK | CtState::INV
    );
    // A request travelling the reply way is not a reply.
    let wrong = CtPacket::echo(ip("10.0.0.2"), ip("10.0.0.1"), true, 77);
    assert_eq!(
        ct.process(&wrong, &LOOKUP).state,
        CtState::TRK | CtState::INV
    );
    clock.advance(secs(31));
    assert_eq!(ct.sweep(10), 1);
}

#[test]
fn icmpv6_echo_and_nd_untracked() {
    let (mut ct, _) = tracker();
    let req = CtPacket::echo(ip("fd00::1"), ip("fd00::2"), true, 5);
    let rep = CtPacket::echo(ip("fd00::2"), ip("fd00::1"), false, 5);
    ct.process(&req, &COMMIT);
    assert_eq!(
        ct.process(&rep, &LOOKUP).state,
        CtState::TRK | CtState::EST | CtState::RPL
    );
    let ns = CtPacket {
        src: ip("fd00::1"),
        dst: ip("ff02::1:ff00:2"),
        proto: proto::ICMPV6,
        l4: L4::Icmp {
            ty: 135,
            code: 0,
            id: 0,
        },
    };
    assert_eq!(ct.process(&ns, &COMMIT).state, CtState::TRK);
    assert_eq!(ct.len(), 1);
}

fn icmp_err(from: &str, to: &str, inner: Tuple, v6: bool) -> CtPacket {
    let (proto, ty) = if v6 {
        (proto::ICMPV6, 1)
    } else {
        (proto::ICMP, 3)
    };
    CtPacket {
        src: ip(from),
        dst: ip(to),
        proto,
        l4: L4::IcmpError { ty, code: 3, inner },
    }
}

#[test]
fn icmp_error_quoting_connection_is_related() {
    let (mut ct, _) = tracker();
    ct.process(
        &CtPacket::udp(ip("10.0.0.1"), ip("198.51.100.9"), 5000, 53),
        &COMMIT,
    );
    let quoted = Tuple::new(ip("10.0.0.1"), ip("198.51.100.9"), proto::UDP, 5000, 53).unwrap();
    let r = ct.process(
        &icmp_err("198.51.100.1", "10.0.0.1", quoted, false),
        &LOOKUP,
    );
    assert_eq!(r.state, CtState::TRK | CtState::REL | CtState::RPL);
    // Quoting an unknown connection: invalid.
    let stray = Tuple::new(ip("10.0.0.1"), ip("198.51.100.9"), proto::UDP, 5001, 53).unwrap();
    let r = ct.process(&icmp_err("198.51.100.1", "10.0.0.1", stray, false), &LOOKUP);
    assert_eq!(r.state, CtState::TRK | CtState::INV);
    // v6 as well.
    ct.process(
        &CtPacket::udp(ip("fd00::1"), ip("2001:db8::9"), 7, 8),
        &COMMIT,
    );
    let q6 = Tuple::new(ip("fd00::1"), ip("2001:db8::9"), proto::UDP, 7, 8).unwrap();
    let r = ct.process(&icmp_err("2001:db8::1", "fd00::1", q6, true), &LOOKUP);
    assert_eq!(r.state, CtState::TRK | CtState::REL | CtState::RPL);
}

#[test]
fn zones_are_independent() {
    let (mut ct, _) = tracker();
    let out = CtPacket::udp(ip("10.0.0.1"), ip("10.0.0.2"), 5000, 53);
    let back = CtPacket::udp(ip("10.0.0.2"), ip("10.0.0.1"), 53, 5000);
    ct.process(&out, &commit(1));
    assert_eq!(
        ct.process(&back, &lookup(2)).state,
        CtState::TRK | CtState::NEW
    );
    assert_eq!(
        ct.process(&back, &lookup(1)).state,
        CtState::TRK | CtState::EST | CtState::RPL
    );
}

#[test]
fn mark_and_label_set_on_commit_with_mask() {
    let (mut ct, _) = tracker();
    let out = CtPacket::udp(ip("10.0.0.1"), ip("10.0.0.2"), 5000, 53);
    let act = CtAction {
        set_mark: Some(Masked::exact(0x12)),
        set_label: Some(Masked::exact(1 << 100)),
        ..COMMIT
    };
    ct.process(&out, &act);
    let r = ct.process(&out, &LOOKUP);
    assert_eq!((r.mark, r.label), (0x12, 1 << 100));
    let act = CtAction {
        set_mark: Some(Masked {
            value: 0xf00,
            mask: 0xf00,
        }),
        ..COMMIT
    };
    let r = ct.process(&out, &act);
    assert_eq!(r.mark, 0xf12);
    // Without commit, exec is not run.
    let act = CtAction {
        set_mark: Some(Masked::exact(1)),
        ..LOOKUP
    };
    assert_eq!(ct.process(&out, &act).mark, 0xf12);
}

#[test]
fn force_commit_restarts_from_reply_direction() {
    let (mut ct, _) = tracker();
    ct.process(
        &CtPacket::udp(ip("10.0.0.1"), ip("10.0.0.2"), 5000, 53),
        &COMMIT,
    );
    let back = CtPacket::udp(ip("10.0.0.2"), ip("10.0.0.1"), 53, 5000);
    let r = ct.process(
        &back,
        &CtAction {
            force: true,
            ..COMMIT
        },
    );
    assert_eq!(r.state, CtState::TRK | CtState::NEW);
    assert_eq!(r.orig.map(|t| t.src_ip()), Some(ip("10.0.0.2")));
    assert_eq!(ct.len(), 1);
}

#[test]
fn other_protocols_tracked_by_address() {
    let (mut ct, _) = tracker();
    let gre = CtPacket {
        src: ip("10.0.0.1"),
        dst: ip("10.0.0.2"),
        proto: 47,
        l4: L4::Other,
    };
    let back = CtPacket {
        src: ip("10.0.0.2"),
        dst: ip("10.0.0.1"),
        proto: 47,
        l4: L4::Other,
    };
    ct.process(&gre, &COMMIT);
    assert_eq!(
        ct.process(&back, &LOOKUP).state,
        CtState::TRK | CtState::EST | CtState::RPL
    );
    assert_eq!(
        ct.dump(None)[0].to_string(),
        "proto=47,orig=(src=10.0.0.1,dst=10.0.0.2),reply=(src=10.0.0.2,dst=10.0.0.1)"
    );
}

#[test]
fn mixed_family_packet_is_invalid() {
    let (mut ct, _) = tracker();
    let bad = CtPacket::udp(ip("10.0.0.1"), ip("fd00::1"), 1, 2);
    assert_eq!(ct.process(&bad, &COMMIT).state, CtState::TRK | CtState::INV);
}

#[test]
fn dump_format_and_zone_filter_and_flush() {
    let (mut ct, _) = tracker();
    handshake(&mut ct, &commit(5), "10.0.0.1", 33000, "10.0.0.2", 80);
    let act = CtAction {
        set_mark: Some(Masked::exact(7)),
        ..commit(0)
    };
    ct.process(
        &CtPacket::echo(ip("10.0.0.1"), ip("10.0.0.3"), true, 9),
        &act,
    );
    ct.process(
        &CtPacket::udp(ip("fd00::1"), ip("fd00::2"), 1, 2),
        &commit(5),
    );
    let all: Vec<String> = ct.dump(None).iter().map(|e| e.to_string()).collect();
    assert_eq!(
        all,
        [
            "icmp,orig=(src=10.0.0.1,dst=10.0.0.3,id=9,type=8,code=0),reply=(src=10.0.0.3,dst=10.0.0.1,id=9,type=0,code=0),mark=7",
            "tcp,orig=(src=10.0.0.1,dst=10.0.0.2,sport=33000,dport=80),reply=(src=10.0.0.2,dst=10.0.0.1,sport=80,dport=33000),zone=5,protoinfo=(state=ESTABLISHED)",
            "udp6,orig=(src=fd00::1,dst=fd00::2,sport=1,dport=2),reply=(src=fd00::2,dst=fd00::1,sport=2,dport=1),zone=5",
        ]
    );
    assert_eq!(ct.dump(Some(5)).len(), 2);
    assert_eq!(ct.stats().zones.get(&5).map(|z| z.count), Some(2));
    assert_eq!(ct.flush(Some(5)), 2);
    assert_eq!(ct.len(), 1);
    assert_eq!(ct.stats().zones.get(&5).map(|z| z.count), None);
    assert_eq!(ct.flush(None), 1);
    assert!(ct.is_empty());
}

#[test]
fn sweeping_is_incremental_and_oldest_first() {
    let (mut ct, clock) = tracker();
    for i in 0..100u16 {
        ct.process(
            &CtPacket::udp(ip("10.0.0.1"), ip("10.0.0.2"), 1000 + i, 53),
            &COMMIT,
        );
        clock.advance(std::time::Duration::from_millis(100));
    }
    // t = 10 s; the first ones expire at 30 s, the last at 39.9 s.
    clock.advance(secs(25));
    assert_eq!(
        ct.sweep(1000),
        51,
        "entries created up to t=5 s (expiring by t=35 s) are gone"
    );
    assert_eq!(ct.sweep(1000), 0);
    clock.advance(secs(10));
    assert_eq!(ct.sweep(7), 7, "budget respected");
    assert_eq!(ct.sweep(1000), 42);
    assert_eq!(ct.stats().expired, 100);
}

#[test]
fn refreshed_entry_survives_sweep_past_its_first_expiry() {
    let (mut ct, clock) = tracker();
    let out = CtPacket::udp(ip("10.0.0.1"), ip("10.0.0.2"), 5000, 53);
    ct.process(&out, &COMMIT);
    clock.advance(secs(20));
    ct.process(&out, &LOOKUP);
    clock.advance(secs(11));
    assert_eq!(ct.sweep(100), 0, "t=31 s: refreshed at 20 s, lives to 50 s");
    assert_eq!(ct.len(), 1);
    clock.advance(secs(19));
    assert_eq!(ct.sweep(100), 1, "t=50 s: expired");
}
