//! Conntrack benchmarks (issue 6): established lookup rate, new
//! connections per second with commit + SNAT, memory at 1 M entries, SNAT
//! port allocation with 60,000 concurrent connections from one VM.
//!
//! Run: `cargo bench -p conntrack --bench conntrack`.

use std::hint::black_box;
use std::net::IpAddr;
use std::time::Instant;

use conntrack::*;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};

fn v4(x: u32) -> IpAddr {
    IpAddr::from(x.to_be_bytes())
}

fn tracker() -> Conntrack<ManualClock> {
    Conntrack::with_seed(
        Config {
            max_conns: 4_000_000,
            ..Config::default()
        },
        ManualClock::new(),
        7,
    )
}

const COMMIT: CtAction<'static> = CtAction {
    zone: 1,
    commit: true,
    force: false,
    nat: None,
    set_mark: None,
    set_label: None,
};
const LOOKUP: CtAction<'static> = CtAction {
    zone: 1,
    commit: false,
    force: false,
    nat: None,
    set_mark: None,
    set_label: None,
};

fn tcp(
    src: IpAddr,
    sp: u16,
    dst: IpAddr,
    dp: u16,
    flags: TcpFlags,
    seq: u32,
    ack: u32,
) -> CtPacket {
    CtPacket::tcp(
        src,
        dst,
        TcpInfo {
            sport: sp,
            dport: dp,
            flags,
            seq,
            ack,
            window: 65535,
            payload_len: 0,
            wscale: None,
        },
    )
}

/// `n` established TCP connections; returns the packets that keep them
/// flowing (alternating directions).
fn established(ct: &mut Conntrack<ManualClock>, n: u32) -> Vec<CtPacket> {
    let server = v4(0xc633_6409);
    let mut pkts = Vec::with_capacity(2 * n as usize);
    for i in 0..n {
        let c = v4(0x0a00_0000 | (i >> 8));
        let p = 1024 + (i & 0xff) as u16;
        ct.process(&tcp(c, p, server, 80, TcpFlags::SYN, 100, 0), &COMMIT);
        ct.process(
            &tcp(server, 80, c, p, TcpFlags::SYN | TcpFlags::ACK, 900, 101),
            &LOOKUP,
        );
        ct.process(&tcp(c, p, server, 80, TcpFlags::ACK, 101, 901), &LOOKUP);
        pkts.push(tcp(c, p, server, 80, TcpFlags::ACK, 101, 901));
        pkts.push(tcp(server, 80, c, p, TcpFlags::ACK, 901, 101));
    }
    pkts
}

fn bench_lookup(c: &mut Criterion) {
    let mut g = c.benchmark_group("ct_lookup_established");
    for n in [1_000u32, 100_000] {
        let mut ct = tracker();
        let pkts = established(&mut ct, n);
        // Visit connections in a scattered order so the cache sees a table
        // of this size, not one hot entry.
        let order: Vec<usize> = (0..pkts.len()).map(|i| (i * 7919) % pkts.len()).collect();
        let batch = 1024usize;
        g.throughput(Throughput::Elements(batch as u64));
        let mut pos = 0usize;
        g.bench_function(format!("{n}_conns_batch_{batch}"), |b| {
            b.iter(|| {
                for _ in 0..batch {
                    let r = ct.process(&pkts[order[pos]], &LOOKUP);
                    black_box(r.state);
                    pos = (pos + 1) % order.len();
                }
            })
        });
    }
    g.finish();
}

fn bench_new_snat(c: &mut Criterion) {
    let mut g = c.benchmark_group("ct_new_commit_snat");
    let spec = NatSpec::masquerade(v4(0xcb00_7101));
    let act = CtAction {
        nat: Some(&spec),
        ..COMMIT
    };
    let chunk = 50_000u32;
    g.throughput(Throughput::Elements(u64::from(chunk)));
    g.sample_size(10);
    g.bench_function(format!("udp_{chunk}_new_conns"), |b| {
        b.iter_batched(
            || {
                let mut ct = tracker();
                ct.reserve(chunk as usize);
                let pkts: Vec<CtPacket> = (0..chunk)
                    .map(|i| {
                        // 200 VMs × 250 ports towards 256 servers.
                        let vm = v4(0x0a00_0000 | (i % 200));
                        let srv = v4(0xc633_6400 | (i % 256));
                        CtPacket::udp(vm, srv, 30000 + (i / 200) as u16, 53)
                    })
                    .collect();
                (ct, pkts)
            },
            |(mut ct, pkts)| {
                for p in &pkts {
                    black_box(ct.process(p, &act).rewrite);
                }
                ct
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

/// 60,000 connections from one VM to one server through one SNAT address:
/// the VM's ports 1024..61023 keep their numbers, so a further connection
/// whose port is taken must search a range that is 93 % full.
fn bench_snat_60k(c: &mut Criterion) {
    let mut g = c.benchmark_group("snat_alloc_60k_from_one_vm");
    let vm = v4(0x0a00_0005);
    let srv = v4(0xc633_6409);
    let spec = NatSpec::masquerade(v4(0xcb00_7101));
    let act = CtAction {
        nat: Some(&spec),
        ..COMMIT
    };
    let fill = |ct: &mut Conntrack<ManualClock>| {
        for i in 0..60_000u32 {
            let r = ct.process(&CtPacket::udp(vm, srv, 1024 + i as u16, 53), &act);
            assert!(r.refused.is_none());
        }
    };
    g.sample_size(10);
    g.throughput(Throughput::Elements(60_000));
    g.bench_function("fill_60000", |b| {
        b.iter_batched(
            tracker,
            |mut ct| {
                fill(&mut ct);
                ct
            },
            BatchSize::PerIteration,
        )
    });
    let mut ct = tracker();
    fill(&mut ct);
    let other = v4(0x0a00_0006);
    let mut port = 1024u16;
    g.throughput(Throughput::Elements(1));
    g.sample_size(50);
    g.bench_function("one_more_at_60000", |b| {
        b.iter(|| {
            // A second VM reusing a taken port: allocate, then delete so
            // occupancy stays at 60,000.
            let p = CtPacket::udp(other, srv, port, 53);
            let r = ct.process(&p, &act);
            assert!(r.refused.is_none());
            let t = Tuple::new(other, srv, proto::UDP, port, 53).expect("v4 tuple");
            ct.delete(1, &t);
            port = if port >= 61_000 { 1024 } else { port + 1 };
        })
    });
    g.finish();
}

/// Not a timing: builds 1 M connections and prints the memory they take.
fn report_memory(_c: &mut Criterion) {
    let mut ct = tracker();
    let n = 1_000_000u32;
    ct.reserve(n as usize);
    let statm = || {
        std::fs::read_to_string("/proc/self/statm")
            .ok()
            .and_then(|s| {
                s.split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse::<u64>().ok())
            })
            .map(|pages| pages * 4096)
    };
    let before = statm();
    let t0 = Instant::now();
    for i in 0..n {
        let src = v4(0x0a00_0000 | (i >> 8));
        ct.process(
            &CtPacket::udp(src, v4(0xc633_6409), 1024 + (i & 0xff) as u16, 53),
            &COMMIT,
        );
    }
    let took = t0.elapsed();
    let after = statm();
    let table = ct.memory_bytes();
    println!(
        "memory_1M: conns={} table_bytes={} ({:.1} MiB, {} B/conn) rss_delta={:?} MiB insert_time={:?}",
        ct.len(),
        table,
        table as f64 / (1 << 20) as f64,
        table / n as usize,
        before.zip(after).map(|(b, a)| (a.saturating_sub(b)) >> 20),
        took
    );
}

/// CPU time of this thread (ns), from /proc/thread-self/schedstat. With a
/// shared, overloaded machine wall time mostly measures waiting for a core;
/// on-CPU time is the steadier figure.
fn cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn rate(what: &str, n: u64, f: impl FnOnce()) {
    let (c0, w0) = (cpu_ns(), Instant::now());
    f();
    let (c1, wall) = (cpu_ns(), w0.elapsed());
    let cpu = c0.zip(c1).map(|(a, b)| b.saturating_sub(a));
    let per_cpu = cpu.map(|c| c as f64 / n as f64);
    println!(
        "{what}: n={n} wall={wall:?} ({:.3} M/s wall) on-cpu={:?} ns/op ({:.3} M/s on-cpu)",
        n as f64 / wall.as_secs_f64() / 1e6,
        per_cpu.map(|x| (x * 10.0).round() / 10.0),
        per_cpu.map_or(0.0, |x| 1e3 / x),
    );
}

/// One-shot figures by on-CPU time, printed before the criterion runs.
fn report_cpu_rates(_c: &mut Criterion) {
    for n in [1_000u32, 100_000, 1_000_000] {
        let mut ct = tracker();
        let pkts = established(&mut ct, n);
        let order: Vec<usize> = (0..pkts.len()).map(|i| (i * 7919) % pkts.len()).collect();
        let total = 10_000_000u64;
        rate(&format!("lookup_established_{n}_conns"), total, || {
            for i in 0..total as usize {
                black_box(ct.process(&pkts[order[i % order.len()]], &LOOKUP).state);
            }
        });
    }
    let spec = NatSpec::masquerade(v4(0xcb00_7101));
    let act = CtAction {
        nat: Some(&spec),
        ..COMMIT
    };
    let mut ct = tracker();
    let n = 500_000u32;
    ct.reserve(n as usize);
    let pkts: Vec<CtPacket> = (0..n)
        .map(|i| {
            CtPacket::udp(
                v4(0x0a00_0000 | (i % 2000)),
                v4(0xc633_6400 | (i % 256)),
                30000 + (i / 2000) as u16,
                53,
            )
        })
        .collect();
    rate("new_conn_commit_snat", u64::from(n), || {
        for p in &pkts {
            black_box(ct.process(p, &act).rewrite);
        }
    });
    let mut ct = tracker();
    let (vm, srv) = (v4(0x0a00_0005), v4(0xc633_6409));
    rate("snat_fill_60000_from_one_vm", 60_000, || {
        for i in 0..60_000u32 {
            black_box(
                ct.process(&CtPacket::udp(vm, srv, 1024 + i as u16, 53), &act)
                    .rewrite,
            );
        }
    });
    let other = v4(0x0a00_0006);
    rate("snat_alloc_at_60000_taken_port", 100_000, || {
        for i in 0..100_000u32 {
            let port = 1024 + (i % 59_000) as u16;
            let r = ct.process(&CtPacket::udp(other, srv, port, 53), &act);
            assert!(r.refused.is_none());
            let t = Tuple::new(other, srv, proto::UDP, port, 53).expect("v4 tuple");
            ct.delete(1, &t);
        }
    });
}

/// A VM-to-VM packet of an established connection as the controller's
/// pipeline tracks it: once for the sender's groups, once for the
/// receiver's. `shared`: both passes in one zone (per-network zones: the
/// second pass finds the entry the first one made); otherwise each in its
/// port's zone (per-port zones: two entries per connection). The same
/// number of lookups either way; what differs is the table size and the
/// cache footprint.
fn bench_two_zones(c: &mut Criterion) {
    let mut g = c.benchmark_group("ct_vm_to_vm_two_passes");
    let n = 50_000u32;
    for shared in [true, false] {
        let mut ct = tracker();
        let (za, zb) = if shared { (1, 1) } else { (1, 2) };
        let pass = |ct: &mut Conntrack<ManualClock>, p: &CtPacket, commit: bool| {
            for zone in [za, zb] {
                let a = CtAction {
                    zone,
                    commit,
                    ..LOOKUP
                };
                black_box(ct.process(p, &a).state);
            }
        };
        let server = v4(0x0a00_ff09);
        let mut pkts = Vec::with_capacity(2 * n as usize);
        for i in 0..n {
            let cl = v4(0x0a00_0000 | (i >> 8));
            let p = 1024 + (i & 0xff) as u16;
            pass(
                &mut ct,
                &tcp(cl, p, server, 80, TcpFlags::SYN, 100, 0),
                true,
            );
            let synack = tcp(server, 80, cl, p, TcpFlags::SYN | TcpFlags::ACK, 900, 101);
            pass(&mut ct, &synack, false);
            pkts.push(tcp(cl, p, server, 80, TcpFlags::ACK, 101, 901));
            pkts.push(tcp(server, 80, cl, p, TcpFlags::ACK, 901, 101));
        }
        let order: Vec<usize> = (0..pkts.len()).map(|i| (i * 7919) % pkts.len()).collect();
        let batch = 1024usize;
        g.throughput(Throughput::Elements(batch as u64));
        let mut pos = 0usize;
        let name = if shared { "network_zone" } else { "port_zones" };
        g.bench_function(format!("{name}_{n}_conns_batch_{batch}"), |b| {
            b.iter(|| {
                for _ in 0..batch {
                    pass(&mut ct, &pkts[order[pos]], false);
                    pos = (pos + 1) % order.len();
                }
            })
        });
        eprintln!("{name}: {} conntrack entries for {n} connections", ct.len());
    }
    g.finish();
}

criterion_group!(
    benches,
    bench_two_zones,
    report_memory,
    report_cpu_rates,
    bench_lookup,
    bench_new_snat,
    bench_snat_60k
);
criterion_main!(benches);
