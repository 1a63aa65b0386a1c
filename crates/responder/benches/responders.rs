//! ARP reply and ICMP echo reply: ns per reply (the hot responder paths).

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use packet::arp::ArpRepr;
use packet::ethernet::EthernetRepr;
use packet::icmpv4::Icmpv4Repr;
use packet::ipv4::Ipv4Repr;

const VM_MAC: [u8; 6] = [2, 0, 0, 0, 0, 5];
const ROUTER_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
const VM_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 5);
const ROUTER_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);

fn arp_request() -> Vec<u8> {
    let mut f = vec![0u8; 42];
    EthernetRepr {
        dst: [0xff; 6],
        src: VM_MAC,
        ethertype: 0x0806,
    }
    .emit(&mut f)
    .unwrap();
    ArpRepr {
        operation: 1,
        sha: VM_MAC,
        spa: VM_IP,
        tha: [0; 6],
        tpa: ROUTER_IP,
    }
    .emit(&mut f[14..])
    .unwrap();
    f
}

fn echo_request(data_len: usize) -> Vec<u8> {
    let mut f = vec![0u8; 14 + 20 + 8 + data_len];
    EthernetRepr {
        dst: ROUTER_MAC,
        src: VM_MAC,
        ethertype: 0x0800,
    }
    .emit(&mut f)
    .unwrap();
    Icmpv4Repr::echo(true, 1, 1).emit(&mut f[34..]).unwrap();
    Ipv4Repr {
        src: VM_IP,
        dst: ROUTER_IP,
        protocol: 1,
        tos: 0,
        ttl: 64,
        ident: 1,
        dont_frag: true,
        more_frags: false,
        frag_offset: 0,
        payload_len: (8 + data_len) as u16,
    }
    .emit(&mut f[14..])
    .unwrap();
    f
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("responder");
    g.throughput(Throughput::Elements(1));
    let req = arp_request();
    let table = |ip: Ipv4Addr| (ip == ROUTER_IP).then_some(ROUTER_MAC);
    let mut out = [0u8; 1514];
    g.bench_function("arp_reply", |b| {
        b.iter(|| responder::arp::respond(black_box(&req), &table, &mut out).unwrap())
    });
    let is_router = |ip: IpAddr| ip == IpAddr::V4(ROUTER_IP);
    for len in [56usize, 1400] {
        let req = echo_request(len);
        g.bench_function(format!("icmp_echo_reply_{len}B"), |b| {
            b.iter(|| responder::echo::respond(black_box(&req), is_router, &mut out).unwrap())
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
