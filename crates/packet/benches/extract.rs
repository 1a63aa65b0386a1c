//! Extraction and checksum cost. Issue 2 targets <= 20 ns per 64-byte TCP
//! frame for `extract`.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use packet::{checksum, extract, FlowKey};

#[path = "../tests/common/mod.rs"]
mod common;

fn bench_extract(c: &mut Criterion) {
    let tcp = common::tcp_v4_frame();
    let vxlan = common::vxlan_frame(5000, &tcp);
    let mut g = c.benchmark_group("extract");
    g.throughput(Throughput::Elements(1));
    let mut key = FlowKey::default();
    g.bench_function("tcp_v4_64B", |b| {
        b.iter(|| {
            let off = extract(black_box(&tcp), &mut key);
            black_box(&key);
            off
        })
    });
    let mut outer = FlowKey::default();
    let mut inner = FlowKey::default();
    g.bench_function("vxlan_tcp_outer_inner", |b| {
        b.iter(|| {
            let frame = black_box(&vxlan[..]);
            let off = extract(frame, &mut outer);
            // The tunnel layer: UDP payload starts with the 8-byte VXLAN header.
            let inner_off = off.ok().and_then(|o| o.payload).and_then(|p| {
                let vx = packet::vxlan::VxlanHeader::new_checked(&frame[p as usize..]).ok()?;
                black_box(vx.vni());
                extract(vx.payload(), &mut inner).ok()
            });
            black_box((&outer, &inner));
            inner_off
        })
    });
    let v6 = common::tcp_v6_frame();
    g.bench_function("tcp_v6", |b| {
        b.iter(|| {
            let off = extract(black_box(&v6), &mut key);
            black_box(&key);
            off
        })
    });
    g.finish();
}

fn bench_checksum(c: &mut Criterion) {
    let payload: Vec<u8> = (0..1500u32).map(|i| (i * 7) as u8).collect();
    let mut g = c.benchmark_group("checksum");
    g.throughput(Throughput::Bytes(payload.len() as u64));
    g.bench_function("sum_1500B", |b| {
        b.iter(|| checksum::sum(black_box(&payload)))
    });
    g.bench_function("update16", |b| {
        b.iter(|| checksum::update16(black_box(0x1234), black_box(0x4011), black_box(0x3f11)))
    });
    g.finish();
}

criterion_group!(benches, bench_extract, bench_checksum);
criterion_main!(benches);
