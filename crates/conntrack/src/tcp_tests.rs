//! One test per state-machine path of `tcp.rs`.

use super::*;

const A: TcpFlags = TcpFlags::ACK;
const S: TcpFlags = TcpFlags::SYN;
const F: TcpFlags = TcpFlags::FIN;
const R: TcpFlags = TcpFlags::RST;

fn seg(flags: TcpFlags, seq: u32, ack: u32, len: u32) -> TcpInfo {
    TcpInfo {
        sport: 1000,
        dport: 80,
        flags,
        seq,
        ack,
        window: 1000,
        payload_len: len,
        wscale: None,
    }
}

/// Client ISN 100, server ISN 5000, handshake done.
fn established() -> TcpConn {
    let mut c = TcpConn::new(&seg(S, 100, 0, 0), false).expect("SYN starts");
    assert_eq!(
        c.packet(Dir::Reply, &seg(S | A, 5000, 101, 0), false),
        TcpVerdict::Ok { assured: false }
    );
    assert_eq!(
        c.packet(Dir::Original, &seg(A, 101, 5001, 0), false),
        TcpVerdict::Ok { assured: true }
    );
    assert_eq!(c.state(), TcpState::Established);
    c
}

#[test]
fn handshake_walks_syn_sent_syn_recv_established() {
    let mut c = TcpConn::new(&seg(S, 100, 0, 0), false).unwrap();
    assert_eq!(c.state(), TcpState::SynSent);
    c.packet(Dir::Reply, &seg(S | A, 5000, 101, 0), false);
    assert_eq!(c.state(), TcpState::SynRecv);
    c.packet(Dir::Original, &seg(A, 101, 5001, 0), false);
    assert_eq!(c.state(), TcpState::Established);
}

#[test]
fn only_syn_or_loose_ack_creates() {
    assert!(
        TcpConn::new(&seg(S | A, 1, 1, 0), true).is_none(),
        "SYN/ACK can't start"
    );
    assert!(TcpConn::new(&seg(F | A, 1, 1, 0), true).is_none());
    assert!(TcpConn::new(&seg(R, 1, 0, 0), true).is_none());
    assert!(
        TcpConn::new(&seg(A, 1, 1, 0), false).is_none(),
        "strict: no pickup"
    );
    let c = TcpConn::new(&seg(A, 1, 1, 10), true).expect("loose pickup");
    assert_eq!(c.state(), TcpState::Established);
}

#[test]
fn invalid_flag_combinations() {
    assert!(!flags_valid(S | F));
    assert!(!flags_valid(S | R));
    assert!(!flags_valid(TcpFlags::empty()));
    assert!(!flags_valid(F), "FIN without ACK");
    assert!(flags_valid(A | TcpFlags::PSH | TcpFlags::ECE));
    let mut c = established();
    assert_eq!(
        c.packet(Dir::Original, &seg(S | F, 101, 5001, 0), false),
        TcpVerdict::Invalid
    );
}

#[test]
fn data_both_ways_stays_established() {
    let mut c = established();
    assert!(matches!(
        c.packet(Dir::Original, &seg(A, 101, 5001, 500), false),
        TcpVerdict::Ok { .. }
    ));
    assert!(matches!(
        c.packet(Dir::Reply, &seg(A, 5001, 601, 800), false),
        TcpVerdict::Ok { .. }
    ));
    assert!(matches!(
        c.packet(Dir::Original, &seg(A, 601, 5801, 0), false),
        TcpVerdict::Ok { .. }
    ));
    assert_eq!(c.state(), TcpState::Established);
}

#[test]
fn fin_teardown_to_time_wait() {
    let mut c = established();
    c.packet(Dir::Original, &seg(F | A, 101, 5001, 0), false);
    assert_eq!(c.state(), TcpState::FinWait);
    c.packet(Dir::Reply, &seg(A, 5001, 102, 0), false);
    assert_eq!(c.state(), TcpState::CloseWait);
    c.packet(Dir::Reply, &seg(F | A, 5001, 102, 0), false);
    assert_eq!(c.state(), TcpState::LastAck);
    c.packet(Dir::Original, &seg(A, 102, 5002, 0), false);
    assert_eq!(c.state(), TcpState::TimeWait);
    assert_eq!(c.state().timeout_class(), TimeoutClass::TcpTimeWait);
}

#[test]
fn rst_closes_and_syn_reopens() {
    let mut c = established();
    assert!(matches!(
        c.packet(Dir::Reply, &seg(R, 5001, 0, 0), false),
        TcpVerdict::Ok { .. }
    ));
    assert_eq!(c.state(), TcpState::Close);
    assert_eq!(
        c.packet(Dir::Original, &seg(S, 9000, 0, 0), false),
        TcpVerdict::Reopen
    );
}

#[test]
fn rst_answering_syn_closes() {
    let mut c = TcpConn::new(&seg(S, 100, 0, 0), false).unwrap();
    assert!(matches!(
        c.packet(Dir::Reply, &seg(R | A, 0, 101, 0), false),
        TcpVerdict::Ok { .. }
    ));
    assert_eq!(c.state(), TcpState::Close);
}

#[test]
fn blind_rst_below_acked_is_invalid() {
    let mut c = established();
    // Server's data acked by the client up to 5001; a RST with seq 10
    // (far behind) is not from the real peer.
    assert_eq!(
        c.packet(Dir::Reply, &seg(R, 10, 0, 0), false),
        TcpVerdict::Invalid
    );
    assert_eq!(c.state(), TcpState::Established);
}

#[test]
fn seq_beyond_window_is_invalid_unless_liberal() {
    let mut c = established();
    let far = seg(A, 101 + 1_000_000, 5001, 10);
    assert_eq!(c.packet(Dir::Original, &far, false), TcpVerdict::Invalid);
    assert!(matches!(
        c.packet(Dir::Original, &far, true),
        TcpVerdict::Ok { .. }
    ));
}

#[test]
fn ack_of_unseen_data_is_invalid() {
    let mut c = established();
    assert_eq!(
        c.packet(Dir::Original, &seg(A, 101, 5001 + 50_000, 0), false),
        TcpVerdict::Invalid
    );
}

#[test]
fn old_retransmission_below_window_is_invalid() {
    let mut c = established();
    // Push the client's data far ahead within successive windows.
    let mut seq = 101u32;
    let mut ack = 5001u32;
    for _ in 0..200 {
        assert!(matches!(
            c.packet(Dir::Original, &seg(A, seq, ack, 1000), false),
            TcpVerdict::Ok { .. }
        ));
        seq += 1000;
        assert!(matches!(
            c.packet(Dir::Reply, &seg(A, ack, seq, 0), false),
            TcpVerdict::Ok { .. }
        ));
        ack += 0;
    }
    assert_eq!(
        c.packet(Dir::Original, &seg(A, 101, 5001, 10), false),
        TcpVerdict::Invalid
    );
}

#[test]
fn synack_from_originator_invalid_and_retransmit_ignored() {
    let mut c = TcpConn::new(&seg(S, 100, 0, 0), false).unwrap();
    assert_eq!(
        c.packet(Dir::Original, &seg(S | A, 100, 1, 0), false),
        TcpVerdict::Invalid
    );
    c.packet(Dir::Reply, &seg(S | A, 5000, 101, 0), false);
    assert_eq!(
        c.packet(Dir::Reply, &seg(S | A, 5000, 101, 0), false),
        TcpVerdict::Ignored
    );
    assert_eq!(c.state(), TcpState::SynRecv);
}

#[test]
fn ack_before_synack_is_invalid() {
    let mut c = TcpConn::new(&seg(S, 100, 0, 0), false).unwrap();
    assert_eq!(
        c.packet(Dir::Original, &seg(A, 101, 1, 0), false),
        TcpVerdict::Invalid
    );
    assert_eq!(c.state(), TcpState::SynSent);
}

#[test]
fn simultaneous_open() {
    let mut c = TcpConn::new(&seg(S, 100, 0, 0), false).unwrap();
    assert!(matches!(
        c.packet(Dir::Reply, &seg(S, 5000, 0, 0), false),
        TcpVerdict::Ok { .. }
    ));
    assert_eq!(c.state(), TcpState::SynSent2);
    assert!(matches!(
        c.packet(Dir::Original, &seg(S | A, 100, 5001, 0), false),
        TcpVerdict::Ok { .. }
    ));
    assert_eq!(c.state(), TcpState::SynRecv);
}

#[test]
fn window_scaling_needs_both_sides() {
    let big = |flags, seq, ack, len| TcpInfo {
        window: 1000,
        ..seg(flags, seq, ack, len)
    };
    // Both offer wscale 7: the server's 1000 window means 128,000 bytes.
    let mut c = TcpConn::new(
        &TcpInfo {
            wscale: Some(7),
            ..big(S, 100, 0, 0)
        },
        false,
    )
    .unwrap();
    c.packet(
        Dir::Reply,
        &TcpInfo {
            wscale: Some(7),
            ..big(S | A, 5000, 101, 0)
        },
        false,
    );
    c.packet(Dir::Original, &big(A, 101, 5001, 0), false);
    c.packet(Dir::Reply, &big(A, 5001, 101, 0), false);
    let far = big(A, 101 + 100_000, 5001, 100);
    assert!(matches!(
        c.clone().packet(Dir::Original, &far, false),
        TcpVerdict::Ok { .. }
    ));

    // Only the client offers it: no scaling, the same segment is invalid.
    let mut c = TcpConn::new(
        &TcpInfo {
            wscale: Some(7),
            ..big(S, 100, 0, 0)
        },
        false,
    )
    .unwrap();
    c.packet(Dir::Reply, &big(S | A, 5000, 101, 0), false);
    c.packet(Dir::Original, &big(A, 101, 5001, 0), false);
    c.packet(Dir::Reply, &big(A, 5001, 101, 0), false);
    assert_eq!(c.packet(Dir::Original, &far, false), TcpVerdict::Invalid);
}

#[test]
fn sequence_wraparound_is_handled() {
    let isn = u32::MAX - 10;
    let mut c = TcpConn::new(&seg(S, isn, 0, 0), false).unwrap();
    c.packet(Dir::Reply, &seg(S | A, 7, isn.wrapping_add(1), 0), false);
    c.packet(Dir::Original, &seg(A, isn.wrapping_add(1), 8, 0), false);
    let v = c.packet(Dir::Original, &seg(A, isn.wrapping_add(1), 8, 500), false);
    assert!(matches!(v, TcpVerdict::Ok { .. }));
    let v = c.packet(Dir::Reply, &seg(A, 8, isn.wrapping_add(501), 0), false);
    assert!(matches!(v, TcpVerdict::Ok { .. }));
}
