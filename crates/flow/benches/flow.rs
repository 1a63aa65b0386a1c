//! Flow-table benchmarks (criterion). Targets from issue 3: cache-hit
//! lookup and action list for L2 forwarding, at least 20 Mpps; cache miss
//! at 1,000 flows over 10 tables, at least 1 Mpps; insertion, at least
//! 200,000 flows/s. Memory per 100,000 flows is printed (heap estimate and
//! RSS delta).

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use flow::cache::{process, process_uncached, FlowCache};
use flow::{parse_flow, FlowOp, FlowTables, Packet};

mod workload;
use std::time::{Duration, Instant};
use workload::{flows, packets};

/// CPU time of this thread (ns), `CLOCK_THREAD_CPUTIME_ID`. The machine
/// these run on is shared by many builds; CPU time is what the code costs,
/// wall time is what it happened to get.
fn cpu_ns() -> Option<u64> {
    use nix::time::{clock_gettime, ClockId};
    let t = clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID).ok()?;
    Some(t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64)
}

/// Runs `f` `iters` times and returns its CPU time (wall time if the
/// kernel does not expose schedstat).
fn cpu_time(iters: u64, mut f: impl FnMut()) -> Duration {
    let (c0, w0) = (cpu_ns(), Instant::now());
    for _ in 0..iters {
        f();
    }
    match (c0, cpu_ns()) {
        (Some(a), Some(b)) => Duration::from_nanos(b.saturating_sub(a)),
        _ => w0.elapsed(),
    }
}

fn l2_tables() -> FlowTables {
    let t = FlowTables::new();
    let mut ops = vec![FlowOp::Add(
        parse_flow("priority=1,in_port=1 actions=resubmit(,1)")
            .unwrap()
            .flow,
    )];
    for i in 0..256u32 {
        let f = format!("table=1,priority=1,dl_vlan=1,dl_dst=fa:16:3e:00:00:{i:02x} actions=strip_vlan,set_tunnel:0x1,output:{}", 2 + i % 2);
        ops.push(FlowOp::Add(parse_flow(&f).unwrap().flow));
    }
    t.transaction(ops, Duration::ZERO).unwrap();
    t
}

fn bench_hit(c: &mut Criterion) {
    let t = l2_tables();
    let mut cache = FlowCache::default();
    let mut p = Packet::default();
    p.meta.in_port = 1;
    p.key.vlan_tci = 0x1001;
    p.key.dl_src = [0xfa, 0x16, 0x3e, 0, 1, 1];
    p.key.dl_dst = [0xfa, 0x16, 0x3e, 0, 0, 0x21];
    p.key.dl_type = 0x0800;
    let now = Duration::from_secs(1);
    let v = process(&t, &mut cache, &p, 64, now);
    assert_eq!(v.actions.len(), 3);
    let mut g = c.benchmark_group("cache_hit");
    g.throughput(Throughput::Elements(1));
    g.bench_function("l2_forwarding", |b| {
        b.iter_custom(|iters| {
            cpu_time(iters, || {
                let v = process(&t, &mut cache, black_box(&p), 64, now);
                black_box(v.actions.len());
            })
        })
    });
    g.finish();
}

fn bench_miss(c: &mut Criterion) {
    let mut g = c.benchmark_group("cache_miss_10_tables");
    g.throughput(Throughput::Elements(1));
    for n in [10usize, 1_000, 100_000] {
        let t = FlowTables::new();
        t.transaction(
            flows(n, 10).into_iter().map(FlowOp::Add).collect(),
            Duration::ZERO,
        )
        .unwrap();
        let pkts = packets(4096, n / 10);
        // The slow path alone: translation through the 10 tables.
        let mut k = 0usize;
        g.bench_function(format!("{n}_flows_translate"), |b| {
            b.iter_custom(|iters| {
                cpu_time(iters, || {
                    k = (k + 1) & 4095;
                    let v = process_uncached(&t, black_box(&pkts[k]));
                    black_box(v.actions.len());
                })
            })
        });
        // A full miss: empty cache (no EMC, flushed before every packet),
        // translate, install the megaflow.
        let mut cache = FlowCache::new(0, 1024);
        g.bench_function(format!("{n}_flows_miss_install"), |b| {
            b.iter_custom(|iters| {
                cpu_time(iters, || {
                    k = (k + 1) & 4095;
                    cache.flush();
                    let v = process(&t, &mut cache, black_box(&pkts[k]), 64, Duration::ZERO);
                    black_box(v.actions.len());
                })
            })
        });
        assert_eq!(cache.stats.megaflow_hits + cache.stats.emc_hits, 0);
    }
    g.finish();
}

fn bench_insert(c: &mut Criterion) {
    let fl = flows(10_000, 10);
    let n = fl.len() as u64;
    let mut g = c.benchmark_group("insert");
    g.throughput(Throughput::Elements(n));
    g.sample_size(10);
    g.bench_function("10k_flows_one_by_one", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let t = FlowTables::new();
                let mut it = fl.clone().into_iter();
                total += cpu_time(n, || {
                    if let Some(f) = it.next() {
                        t.add_flow(f, Duration::ZERO).unwrap();
                    }
                });
            }
            total
        })
    });
    g.bench_function("10k_flows_one_batch", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let t = FlowTables::new();
                let mut ops = Some(fl.iter().cloned().map(FlowOp::Add).collect::<Vec<_>>());
                total += cpu_time(1, || {
                    if let Some(ops) = ops.take() {
                        t.transaction(ops, Duration::ZERO).unwrap();
                    }
                });
            }
            total
        })
    });
    g.finish();
}

fn rss_bytes() -> usize {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|x| x.parse::<usize>().ok())
        })
        .map(|pages| pages * 4096)
        .unwrap_or(0)
}

fn bench_memory(_c: &mut Criterion) {
    let fl = flows(100_000, 10);
    let before = rss_bytes();
    let t = FlowTables::new();
    t.transaction(fl.into_iter().map(FlowOp::Add).collect(), Duration::ZERO)
        .unwrap();
    let after = rss_bytes();
    let heap = t.read().heap_bytes();
    println!(
        "memory: {} flows, heap estimate {:.1} MB ({} B/flow), RSS delta {:.1} MB ({} B/flow)",
        t.len(),
        heap as f64 / 1e6,
        heap / t.len(),
        (after.saturating_sub(before)) as f64 / 1e6,
        after.saturating_sub(before) / t.len()
    );
}

criterion_group!(benches, bench_memory, bench_hit, bench_miss, bench_insert);
criterion_main!(benches);
