//! pfifo_fast priomap ordering and SFQ fairness, simulated time.

mod common;
use common::*;
use qos::sim::SimPacket;
use qos::{DropReason, Fifo, PrioBands, Qdisc, Sfq, SfqConfig};

#[test]
fn priomap_orders_bands() {
    let mut q = PrioBands::pfifo_fast(100);
    // TOS 0x08 (max throughput) → band 2, 0x00 → band 1, 0x10 (min delay) → band 0.
    let toses = [0x08u8, 0x00, 0x10, 0x08, 0x10, 0x00, 0x10];
    for (i, &tos) in toses.iter().enumerate() {
        q.enqueue(SimPacket::new(100, 0).with_tos(tos).with_seq(i as u64), 0)
            .expect("room");
    }
    assert_eq!((q.band_len(0), q.band_len(1), q.band_len(2)), (3, 2, 2));
    let order: Vec<u64> = std::iter::from_fn(|| q.dequeue(0)).map(|p| p.seq).collect();
    assert_eq!(
        order,
        [2, 4, 6, 1, 5, 0, 3],
        "band 0 first, FIFO within a band"
    );
}

#[test]
fn priomap_band_limits_are_separate() {
    let mut q = PrioBands::pfifo_fast(2);
    for _ in 0..5 {
        let _ = q.enqueue(SimPacket::new(100, 0).with_tos(0x08), 0);
    }
    assert!(
        q.enqueue(SimPacket::new(100, 0).with_tos(0x10), 0).is_ok(),
        "band 0 still has room"
    );
    assert_eq!(q.len(), 3);
    assert_eq!(q.stats().dropped_packets, 3);
}

fn sfq(cfg: SfqConfig) -> Sfq<SimPacket> {
    Sfq::new(cfg, 0).expect("valid sfq")
}

#[test]
fn sfq_is_fair_among_ten_flows() {
    // Ten backlogged flows with packets from 64 to 1504 bytes share a
    // 10 Mbit/s line (SFQ is work-conserving: the line is the bottleneck).
    let mut q = sfq(SfqConfig {
        perturb: SEC,
        seed: 42,
        ..SfqConfig::default()
    });
    let sources: Vec<Source> = (0..10u32)
        .map(|i| {
            let mut s = Source::backlogged(0, 64 + i * 160, 0, 5 * SEC);
            s.queue = None;
            s.depth = 8;
            s
        })
        .collect();
    let deps = simulate(&mut q, &sources, 5 * SEC, 10_000_000);
    let r = rates_in(&deps, 10, SEC, 5 * SEC);
    let j = jain(&r);
    assert!(j >= 0.95, "Jain's index {j:.4} for {r:?}");
    let total: f64 = r.iter().sum();
    assert!(total >= 0.99e7, "work conserving: {total}");
}

#[test]
fn sfq_keeps_flow_order_across_perturbation() {
    let mut q = sfq(SfqConfig {
        perturb: 10 * MS,
        seed: 1,
        ..SfqConfig::default()
    });
    let before = q.perturbation();
    let mut last: [Option<u64>; 5] = [None; 5];
    let mut seq = [0u64; 5];
    let mut t = 0;
    for round in 0..200u64 {
        for f in 0..5u32 {
            let s = &mut seq[f as usize];
            // Accepted, or accepted while evicting another flow's tail.
            match q.enqueue(SimPacket::new(500, f * 7919).with_seq(*s), t) {
                Ok(()) => *s += 1,
                Err(d) if d.reason == DropReason::Evicted => *s += 1,
                Err(_) => {}
            }
        }
        if round % 2 == 0 {
            for _ in 0..4 {
                if let Some(p) = q.dequeue(t) {
                    let f = (p.flow / 7919) as usize;
                    assert!(
                        last[f].is_none_or(|l| p.seq > l),
                        "flow {f} reordered: {} after {:?}",
                        p.seq,
                        last[f]
                    );
                    last[f] = Some(p.seq);
                }
            }
        }
        t += MS;
    }
    assert_ne!(q.perturbation(), before, "perturbed");
}

#[test]
fn sfq_drops_from_the_longest_flow_and_holds_memory() {
    let mut q = sfq(SfqConfig {
        limit: 20,
        depth: 15,
        ..SfqConfig::default()
    });
    for i in 0..15 {
        q.enqueue(SimPacket::new(100, 1).with_seq(i), 0)
            .expect("hog");
    }
    assert!(
        matches!(q.enqueue(SimPacket::new(100, 1), 0), Err(d) if d.reason == DropReason::FlowLimit)
    );
    for i in 0..5 {
        q.enqueue(SimPacket::new(100, 2).with_seq(100 + i), 0)
            .expect("light");
    }
    // Full: a new light packet evicts the hog's tail.
    let e = q.enqueue(SimPacket::new(100, 3), 0).expect_err("full");
    assert_eq!(e.reason, DropReason::Evicted);
    assert_eq!((e.packet.flow, e.packet.seq), (1, 14));
    let mut evicted = 1;
    for _ in 0..100_000 {
        if let Err(d) = q.enqueue(SimPacket::new(100, 2), 0) {
            evicted += u64::from(d.reason == DropReason::Evicted);
        }
    }
    assert_eq!(q.len(), 20, "never above limit");
    let st = q.stats();
    assert_eq!(
        st.enqueued_packets,
        q.len() as u64 + evicted,
        "accepted = queued + evicted"
    );
    assert_eq!(
        st.dropped_packets,
        1 + 1 + 100_000,
        "each offer into a full qdisc drops exactly one packet"
    );
    assert!(Sfq::<SimPacket>::new(
        SfqConfig {
            divisor: 1000,
            ..SfqConfig::default()
        },
        0
    )
    .is_err());
}

#[test]
fn fifo_limits_hold_memory() {
    let mut q: Fifo<SimPacket> = Fifo::pfifo(5);
    for _ in 0..100_000 {
        let _ = q.enqueue(SimPacket::new(1500, 0), 0);
    }
    assert_eq!(q.len(), 5);
    assert_eq!(q.stats().dropped_packets, 100_000 - 5);
}
