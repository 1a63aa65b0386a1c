//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::net::IpAddr;
use std::time::Duration;

use conntrack::*;

pub fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

pub fn tracker() -> (Conntrack<ManualClock>, ManualClock) {
    let clock = ManualClock::new();
    (
        Conntrack::with_seed(Config::default(), clock.clone(), 42),
        clock,
    )
}

pub fn tracker_with(cfg: Config) -> (Conntrack<ManualClock>, ManualClock) {
    let clock = ManualClock::new();
    (Conntrack::with_seed(cfg, clock.clone(), 42), clock)
}

pub const COMMIT: CtAction<'static> = CtAction {
    zone: 0,
    commit: true,
    force: false,
    nat: None,
    set_mark: None,
    set_label: None,
};

pub const LOOKUP: CtAction<'static> = CtAction {
    zone: 0,
    commit: false,
    force: false,
    nat: None,
    set_mark: None,
    set_label: None,
};

#[allow(clippy::too_many_arguments)] // mirrors the TCP header fields a test varies
pub fn seg(
    src: &str,
    sport: u16,
    dst: &str,
    dport: u16,
    flags: TcpFlags,
    seq: u32,
    ack: u32,
    len: u32,
) -> CtPacket {
    CtPacket::tcp(
        ip(src),
        ip(dst),
        TcpInfo {
            sport,
            dport,
            flags,
            seq,
            ack,
            window: 65535,
            payload_len: len,
            wscale: None,
        },
    )
}

pub fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// Client `c:cp` → server `s:sp`, handshake committed in `act`'s zone.
/// Returns (client next seq, server next seq).
pub fn handshake(
    ct: &mut Conntrack<ManualClock>,
    act: &CtAction<'_>,
    c: &str,
    cp: u16,
    s: &str,
    sp: u16,
) -> (u32, u32) {
    let r = ct.process(&seg(c, cp, s, sp, TcpFlags::SYN, 1000, 0, 0), act);
    assert!(r.state.contains(CtState::NEW), "SYN: {:?}", r);
    let r = ct.process(
        &seg(s, sp, c, cp, TcpFlags::SYN | TcpFlags::ACK, 9000, 1001, 0),
        &lookup(act.zone),
    );
    assert!(
        r.state.contains(CtState::EST | CtState::RPL),
        "SYN/ACK: {:?}",
        r
    );
    let r = ct.process(
        &seg(c, cp, s, sp, TcpFlags::ACK, 1001, 9001, 0),
        &lookup(act.zone),
    );
    assert!(r.state.contains(CtState::EST), "ACK: {:?}", r);
    (1001, 9001)
}

pub fn lookup(zone: u16) -> CtAction<'static> {
    CtAction { zone, ..LOOKUP }
}

pub fn commit(zone: u16) -> CtAction<'static> {
    CtAction { zone, ..COMMIT }
}
