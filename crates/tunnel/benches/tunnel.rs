//! Per-packet costs: VXLAN encap + decap of a 1500-byte frame, and GSO of a
//! 64 KB TCP super-frame into 1448-byte segments.

use std::hint::black_box;
use std::net::Ipv4Addr;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use netio::vnet::{GsoType, VirtioNetHdr};
use packet::ethernet::EthernetRepr;
use packet::ipv4::Ipv4Repr;
use packet::tcp::{TcpPacket, TcpRepr};
use tunnel::{
    decap_ethernet, encap, DecapConfig, FrameBuf, Layout, PerPacket, Segmenter, TunnelParams,
};

fn tcp4_frame(payload_len: usize) -> Vec<u8> {
    let mut f = vec![0u8; 54 + payload_len];
    EthernetRepr {
        dst: [2, 0, 0, 0, 0, 1],
        src: [2, 0, 0, 0, 0, 2],
        ethertype: 0x0800,
    }
    .emit(&mut f)
    .unwrap();
    let (src, dst) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
    Ipv4Repr {
        src,
        dst,
        protocol: 6,
        tos: 0,
        ttl: 64,
        ident: 1,
        dont_frag: true,
        more_frags: false,
        frag_offset: 0,
        payload_len: (20 + payload_len) as u16,
    }
    .emit(&mut f[14..])
    .unwrap();
    TcpRepr {
        src_port: 1,
        dst_port: 2,
        seq: 3,
        ack: 4,
        flags: 0x18,
        window: 5,
        urgent: 0,
    }
    .emit(&mut f[34..])
    .unwrap();
    for (i, b) in f[54..].iter_mut().enumerate() {
        *b = i as u8;
    }
    TcpPacket::new_checked(&mut f[34..])
        .unwrap()
        .fill_checksum_v4(src, dst);
    f
}

fn vxlan(c: &mut Criterion) {
    let inner = tcp4_frame(1500 - 40);
    let params = TunnelParams::vxlan(
        Ipv4Addr::new(192, 0, 2, 1),
        Ipv4Addr::new(192, 0, 2, 2),
        101,
    );
    let layout = Layout::Ethernet {
        src: [2, 0, 0, 0, 0, 3],
        dst: [2, 0, 0, 0, 0, 4],
    };
    let cfg = DecapConfig::default();
    let mut buf = FrameBuf::new(vec![0u8; 2048], tunnel::DEFAULT_HEADROOM).unwrap();
    let mut g = c.benchmark_group("vxlan_1500");
    g.throughput(Throughput::Bytes(inner.len() as u64));
    g.bench_function("encap+decap", |b| {
        b.iter(|| {
            buf.reset(tunnel::DEFAULT_HEADROOM).unwrap();
            // The inner frame arrives by recv into the tail: the copy here
            // stands for that and is part of the measured cost.
            buf.extend_from_slice(black_box(&inner)).unwrap();
            encap(&mut buf, &params, &layout, PerPacket::default()).unwrap();
            let rx = decap_ethernet(black_box(buf.data()), &cfg).unwrap();
            black_box(rx.meta.tun_id);
        })
    });
    g.bench_function("copy_only", |b| {
        b.iter(|| {
            buf.reset(tunnel::DEFAULT_HEADROOM).unwrap();
            buf.extend_from_slice(black_box(&inner)).unwrap();
            black_box(buf.data().len());
        })
    });
    buf.reset(tunnel::DEFAULT_HEADROOM).unwrap();
    buf.extend_from_slice(&inner).unwrap();
    encap(&mut buf, &params, &layout, PerPacket::default()).unwrap();
    let wire = buf.data().to_vec();
    g.bench_function("decap_only", |b| {
        b.iter(|| {
            let rx = decap_ethernet(black_box(&wire), &cfg).unwrap();
            black_box(rx.meta.tun_id);
        })
    });
    let mut udp_csum = params;
    udp_csum.udp_csum = true;
    g.bench_function("encap+decap_udp_csum", |b| {
        b.iter(|| {
            buf.reset(tunnel::DEFAULT_HEADROOM).unwrap();
            buf.extend_from_slice(black_box(&inner)).unwrap();
            encap(&mut buf, &udp_csum, &layout, PerPacket::default()).unwrap();
            let rx = decap_ethernet(black_box(buf.data()), &cfg).unwrap();
            black_box(rx.meta.tun_id);
        })
    });
    g.finish();
}

fn gso(c: &mut Criterion) {
    let frame = tcp4_frame(65535 - 40);
    let vnet = VirtioNetHdr {
        gso_type: GsoType::TcpV4,
        gso_size: 1448,
        ..VirtioNetHdr::default()
    };
    let mut out = vec![0u8; 2048];
    let mut g = c.benchmark_group("gso_tcp4_64k");
    g.throughput(Throughput::Bytes(frame.len() as u64));
    g.bench_function("segment_mss1448", |b| {
        b.iter(|| {
            let mut seg = Segmenter::new(black_box(&frame), &vnet).unwrap();
            let mut total = 0;
            while let Some(r) = seg.next_into(&mut out) {
                total += r.unwrap();
            }
            black_box(total);
        })
    });
    g.finish();
}

criterion_group!(benches, vxlan, gso);
criterion_main!(benches);
