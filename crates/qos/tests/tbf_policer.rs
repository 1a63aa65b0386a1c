//! TBF (tc-tbf(8)) and the OVS ingress policer in simulated time.

mod common;
use common::*;
use qos::sim::SimPacket;
use qos::tbf::TbfLimit;
use qos::{DropReason, Policer, PolicerConfig, Qdisc, Tbf, TbfConfig, Verdict};

fn tbf(rate_bps: u64, burst: u64, limit: TbfLimit) -> Tbf<SimPacket> {
    Tbf::new(
        TbfConfig {
            rate_bps,
            burst,
            limit,
        },
        0,
    )
    .expect("valid tbf")
}

#[test]
fn tbf_delivers_the_burst_then_the_rate() {
    // 1 Mbit/s, 10 000-byte bucket, 1000-byte packets: 10 go at once, then
    // one every 8 ms.
    let mut q = tbf(1_000_000, 10_000, TbfLimit::Bytes(100_000));
    for i in 0..50 {
        q.enqueue(SimPacket::new(1000, 0).with_seq(i), 0)
            .expect("fits the limit");
    }
    let mut t = 0;
    let mut times = Vec::new();
    while let Some(ready) = q.next_ready(t) {
        t = ready.max(t);
        match q.dequeue(t) {
            Some(p) => times.push((t, p.seq)),
            None => panic!("next_ready said {t} but dequeue refused"),
        }
    }
    assert_eq!(times.len(), 50);
    assert!(
        times[..10].iter().all(|&(t, _)| t == 0),
        "burst: {:?}",
        &times[..10]
    );
    for (k, &(t, seq)) in times.iter().enumerate().skip(10) {
        assert_eq!(seq, k as u64, "FIFO order");
        let want = (k as u64 - 9) * 8 * MS;
        assert!(
            t.abs_diff(want) <= 1_000,
            "packet {k} at {t} ns, want {want}"
        );
    }
    // Not a nanosecond early.
    let mut q = tbf(1_000_000, 1_000, TbfLimit::Bytes(10_000));
    q.enqueue(SimPacket::new(1000, 0), 0).expect("fits");
    q.enqueue(SimPacket::new(1000, 0), 0).expect("fits");
    assert!(q.dequeue(0).is_some());
    let at = q.next_ready(0).expect("one left");
    assert!(q.dequeue(at - 1).is_none());
    assert!(q.dequeue(at).is_some());
}

#[test]
fn tbf_limits_and_oversize() {
    let mut q = tbf(1_000_000, 1500, TbfLimit::Bytes(3000));
    assert!(
        matches!(q.enqueue(SimPacket::new(1501, 0), 0), Err(d) if d.reason == DropReason::Oversize)
    );
    assert!(q.enqueue(SimPacket::new(1500, 0), 0).is_ok());
    assert!(q.enqueue(SimPacket::new(1500, 0), 0).is_ok());
    assert!(
        matches!(q.enqueue(SimPacket::new(100, 0), 0), Err(d) if d.reason == DropReason::Limit)
    );
    for _ in 0..10_000 {
        let _ = q.enqueue(SimPacket::new(1000, 0), 0);
    }
    assert_eq!(q.backlog_bytes(), 3000, "memory bounded by the byte limit");
    assert_eq!(q.stats().dropped_packets, 10_002);
    // latency 50 ms at 8 Mbit/s + burst 10 000 = 60 000 bytes.
    let q = tbf(8_000_000, 10_000, TbfLimit::Latency(50 * MS));
    assert_eq!(q.limit_bytes(), 60_000);
    assert!(Tbf::<SimPacket>::new(
        TbfConfig {
            rate_bps: 0,
            burst: 1,
            limit: TbfLimit::Bytes(1)
        },
        0
    )
    .is_err());
}

#[test]
fn tbf_long_run_holds_the_rate() {
    let mut q = tbf(5_000_000, 20_000, TbfLimit::Latency(100 * MS));
    let mut src = Source::backlogged(0, 1200, 0, 10 * SEC);
    src.queue = None;
    let deps = simulate(&mut q, &[src], 10 * SEC, 1_000_000_000);
    let r = rates_in(&deps, 1, SEC, 10 * SEC)[0];
    assert!((r - 5e6).abs() <= 0.01 * 5e6, "{r} bit/s");
    let excess = envelope_excess(deps.iter(), 5e6);
    assert!(
        excess <= 20_000.0 + 1.0,
        "TBF exceeded rate by more than burst: {excess}"
    );
}

/// Offers `offered_bps` of `len`-byte packets for `secs`; returns passed bytes.
fn police(p: &mut Policer, offered_bps: u64, len: usize, secs: u64) -> u64 {
    let gap = len as u64 * 8 * SEC / offered_bps;
    let mut t = 0;
    let mut passed = 0;
    while t < secs * SEC {
        if p.police(len, t) == Verdict::Pass {
            passed += len as u64;
        }
        t += gap;
    }
    passed
}

#[test]
fn policer_drops_above_rate_and_passes_below() {
    // ovs-vsctl set Interface tap0 ingress_policing_rate=10000 ingress_policing_burst=1000
    let cfg = PolicerConfig {
        rate_kbps: 10_000,
        burst_kb: 1_000,
    };
    let mut p = Policer::new(cfg, 0);
    let passed = police(&mut p, 20_000_000, 1500, 10);
    let want = 10_000_000 / 8 * 10 + 1_000 * 1000 / 8; // rate × 10 s + burst
    assert!(
        passed.abs_diff(want) <= 1500,
        "passed {passed} bytes, want {want}"
    );
    assert!(p.dropped().0 > 0);

    let mut p = Policer::new(cfg, 0);
    let _ = police(&mut p, 9_000_000, 1500, 10);
    assert_eq!(p.dropped(), (0, 0), "below the rate nothing is dropped");

    let mut off = Policer::new(
        PolicerConfig {
            rate_kbps: 0,
            burst_kb: 5,
        },
        0,
    );
    assert!(!off.is_enabled());
    assert_eq!(police(&mut off, 1_000_000_000, 1500, 1), off.passed().1);
    assert_eq!(off.dropped().0, 0);
}

#[test]
fn policer_default_burst_is_8000_kb() {
    let mut p = Policer::new(
        PolicerConfig {
            rate_kbps: 1_000,
            burst_kb: 0,
        },
        0,
    );
    let mut passed = 0u64;
    while p.police(1000, 0) == Verdict::Pass {
        passed += 1000;
    }
    assert_eq!(passed, 8000 * 1000 / 8);
}
