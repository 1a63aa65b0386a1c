//! Scheduler cost per packet (one enqueue + one dequeue, simulated time
//! advancing at the root rate so the shaper neither idles nor starves).

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use qos::sim::SimPacket;
use qos::tbf::TbfLimit;
use qos::{
    ClassConfig, Htb, HtbBuilder, Policer, PolicerConfig, Qdisc, Rate, Sfq, SfqConfig, Tbf,
    TbfConfig,
};

const LEN: u32 = 1500;

fn rate(bps: u64) -> Rate {
    Rate::from_bps(bps).expect("non-zero")
}

/// Root at `root_bps`, `n` leaves sharing its rate equally, ceil = root;
/// queue i → leaf i.
fn htb(n: u32, root_bps: u64) -> Htb<SimPacket> {
    let mut b = HtbBuilder::new();
    let root = b
        .add_class(None, ClassConfig::new(rate(root_bps)))
        .expect("root");
    for i in 0..n {
        let c = b
            .add_class(
                Some(root),
                ClassConfig::new(rate(root_bps / u64::from(n)))
                    .ceil(rate(root_bps))
                    .prio((i % 3) as u8),
            )
            .expect("leaf");
        b.map_queue(i, c).expect("map");
    }
    b.build(0).expect("tree")
}

/// Runs enqueue+dequeue pairs on `q` with `n` queues/flows, keeping a
/// standing backlog of `backlog` packets.
fn bench_qdisc<Q: Qdisc<SimPacket>>(
    c: &mut Criterion,
    name: &str,
    mut q: Q,
    n: u32,
    line_bps: u64,
    backlog: u32,
) {
    let dt = u64::from(LEN) * 8 * 1_000_000_000 / line_bps;
    let mut t = 0u64;
    let mut i = 0u32;
    for _ in 0..backlog {
        let _ = q.enqueue(SimPacket::new(LEN, i % n).with_queue(i % n), t);
        i = i.wrapping_add(1);
    }
    let mut g = c.benchmark_group("qos");
    g.throughput(Throughput::Elements(1));
    g.bench_function(name, |b| {
        b.iter(|| {
            let _ = q.enqueue(SimPacket::new(LEN, i % n).with_queue(i % n), t);
            i = i.wrapping_add(1);
            let p = q.dequeue(t);
            if p.is_none() {
                // Shaper says wait: jump to when it will be ready.
                if let Some(w) = q.next_ready(t) {
                    t = t.max(w);
                }
            }
            t += dt;
            black_box(p)
        })
    });
    g.finish();
}

fn benches(c: &mut Criterion) {
    // 10 Gbit/s root; the line is slightly faster so HTB is the limit.
    bench_qdisc(
        c,
        "htb_3_classes",
        htb(3, 10_000_000_000),
        3,
        10_500_000_000,
        30,
    );
    bench_qdisc(
        c,
        "htb_1000_classes",
        htb(1000, 10_000_000_000),
        1000,
        10_500_000_000,
        3000,
    );
    let sfq = Sfq::new(
        SfqConfig {
            perturb: 10_000_000_000,
            limit: 10_000,
            depth: 127,
            flows: 1024,
            ..SfqConfig::default()
        },
        0,
    )
    .expect("sfq");
    bench_qdisc(c, "sfq_1000_flows", sfq, 1000, 10_000_000_000, 3000);
    let tbf = Tbf::new(
        TbfConfig {
            rate_bps: 10_000_000_000,
            burst: 64_000,
            limit: TbfLimit::Bytes(1 << 20),
        },
        0,
    )
    .expect("tbf");
    bench_qdisc(c, "tbf", tbf, 1, 10_500_000_000, 30);

    let mut p = Policer::new(
        PolicerConfig {
            rate_kbps: 10_000_000,
            burst_kb: 8000,
        },
        0,
    );
    let mut t = 0u64;
    c.bench_function("qos/policer", |b| {
        b.iter(|| {
            t += 1000;
            black_box(p.police(1500, t))
        })
    });
}

criterion_group! {
    name = sched;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(std::time::Duration::from_secs(1))
        .measurement_time(std::time::Duration::from_secs(3));
    targets = benches
}
criterion_main!(sched);
