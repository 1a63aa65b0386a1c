//! Tests of [`super::Coalescer`] on hand-built segments: every merged frame
//! is cut again with [`crate::Segmenter`] and must give back the segments
//! that went in, byte for byte.

use netio::vnet::{GsoType, VirtioNetHdr, VnetHdrLen};
use packet::ipv4::Ipv4Packet;
use packet::tcp::{flags, TcpPacket};
use proptest::prelude::*;

use super::{Coalescer, MAX_FLOWS};
use crate::Segmenter;

const H: usize = 10;

/// What a segment looks like; `flow` picks the source port.
#[derive(Clone, Debug)]
struct Spec {
    v6: bool,
    flow: u8,
    seq: u32,
    id: u16,
    flags: u16,
    ts: u32,
    payload: Vec<u8>,
}

impl Spec {
    fn data(flow: u8, seq: u32, id: u16, len: usize) -> Spec {
        Spec {
            v6: false,
            flow,
            seq,
            id,
            flags: flags::ACK,
            ts: 7,
            payload: (0..len).map(|i| (i as u8) ^ flow).collect(),
        }
    }
}

/// An Ethernet + IPv4/IPv6 + TCP (with a timestamp option) segment with
/// valid checksums.
fn build(s: &Spec) -> Vec<u8> {
    let l3 = 14;
    let ip_len = if s.v6 { 40 } else { 20 };
    let l4 = l3 + ip_len;
    let tcp_len = 32 + s.payload.len();
    let mut f = vec![0u8; l4 + tcp_len];
    f[..6].copy_from_slice(&[2, 0, 0, 0, 0, 2]);
    f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
    if s.v6 {
        f[12..14].copy_from_slice(&[0x86, 0xdd]);
        f[l3] = 0x60;
        f[l3 + 4..l3 + 6].copy_from_slice(&(tcp_len as u16).to_be_bytes());
        f[l3 + 6] = 6;
        f[l3 + 7] = 64;
        f[l3 + 8] = 0xfd;
        f[l3 + 23] = 1;
        f[l3 + 24] = 0xfd;
        f[l3 + 39] = 2;
    } else {
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        f[l3] = 0x45;
        f[l3 + 2..l3 + 4].copy_from_slice(&((20 + tcp_len) as u16).to_be_bytes());
        f[l3 + 4..l3 + 6].copy_from_slice(&s.id.to_be_bytes());
        f[l3 + 6] = 0x40;
        f[l3 + 8] = 64;
        f[l3 + 9] = 6;
        f[l3 + 12..l3 + 16].copy_from_slice(&[10, 77, 0, 1]);
        f[l3 + 16..l3 + 20].copy_from_slice(&[10, 77, 0, 2]);
        Ipv4Packet::new_checked(&mut f[l3..])
            .unwrap()
            .fill_checksum();
    }
    let t = &mut f[l4..];
    t[0..2].copy_from_slice(&(40000 + u16::from(s.flow)).to_be_bytes());
    t[2..4].copy_from_slice(&5201u16.to_be_bytes());
    t[4..8].copy_from_slice(&s.seq.to_be_bytes());
    t[8..12].copy_from_slice(&99u32.to_be_bytes());
    t[12] = 8 << 4;
    t[14..16].copy_from_slice(&500u16.to_be_bytes());
    t[20..32].copy_from_slice(&[1, 1, 8, 10, 0, 0, 0, 0, 0, 0, 0, 3]);
    t[24..28].copy_from_slice(&s.ts.to_be_bytes());
    t[32..].copy_from_slice(&s.payload);
    let mut tcp = TcpPacket::new_checked(&mut f[l4..]).unwrap();
    tcp.set_flags(s.flags);
    if s.v6 {
        let src = [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1].into();
        let dst = [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2].into();
        tcp.fill_checksum_v6(&src, &dst);
    } else {
        tcp.fill_checksum_v4([10, 77, 0, 1].into(), [10, 77, 0, 2].into());
    }
    f
}

/// One emitted frame: context, virtio header, Ethernet frame.
type Out = (u8, VirtioNetHdr, Vec<u8>);

/// Pushes every frame as the switch does (a refused frame is passed on by
/// the caller right after the call), flushes, and returns what came out.
fn run(c: &mut Coalescer<u8>, frames: &[(u8, Vec<u8>)]) -> Vec<Out> {
    let mut out = Vec::new();
    let mut emit = |ctx: u8, f: &mut [u8]| {
        let h = VirtioNetHdr::parse(f, VnetHdrLen::V10).unwrap();
        out.push((ctx, h, f[H..].to_vec()));
    };
    for (ctx, f) in frames {
        if !c.push(*ctx, f, &mut emit) {
            emit(*ctx, &mut [&[0u8; H][..], f].concat());
        }
    }
    c.flush(&mut emit);
    out
}

/// Cuts emitted frames back into wire segments.
fn resegment(out: &[Out]) -> Vec<(u8, Vec<u8>)> {
    let mut segs = Vec::new();
    for (ctx, h, f) in out {
        if h.gso_type == GsoType::None {
            assert_eq!(*h, VirtioNetHdr::default(), "a lone segment has no offload");
            segs.push((*ctx, f.clone()));
            continue;
        }
        let mut seg = Segmenter::new(f, h).unwrap();
        let mut buf = vec![0u8; 9216];
        while let Some(n) = seg.next_into(&mut buf) {
            segs.push((*ctx, buf[..n.unwrap()].to_vec()));
        }
    }
    segs
}

fn coalescer() -> Coalescer<u8> {
    Coalescer::new(MAX_FLOWS, VnetHdrLen::V10)
}

/// Segments of one flow: `n` of `mss` bytes then one of `last` with PSH.
fn stream(flow: u8, n: usize, mss: usize, last: usize) -> Vec<(u8, Vec<u8>)> {
    let mut v = Vec::new();
    let mut seq = 1000u32;
    for i in 0..=n {
        let len = if i == n { last } else { mss };
        let mut s = Spec::data(flow, seq, 100 + i as u16, len);
        if i == n {
            s.flags |= flags::PSH;
        }
        v.push((0, build(&s)));
        seq += len as u32;
    }
    v
}

#[test]
fn a_burst_becomes_one_gso_frame_that_segments_back() {
    let input = stream(1, 10, 1398, 500);
    let mut c = coalescer();
    let out = run(&mut c, &input);
    assert_eq!(out.len(), 1);
    let (_, h, f) = &out[0];
    assert_eq!(h.gso_type, GsoType::TcpV4);
    assert_eq!(h.gso_size, 1398);
    assert_eq!(h.hdr_len, 14 + 20 + 32);
    assert_eq!((h.csum_start, h.csum_offset), (34, 16));
    assert!(h.needs_csum());
    assert_eq!(f.len(), 66 + 10 * 1398 + 500);
    let ip = Ipv4Packet::new_checked(&f[14..]).unwrap();
    assert_eq!(usize::from(ip.total_len()), f.len() - 14);
    assert!(ip.verify_checksum());
    let tcp = TcpPacket::new_checked(&f[34..]).unwrap();
    assert_eq!(tcp.flags(), flags::ACK | flags::PSH);
    // Completing the partial checksum gives a valid one.
    let mut done = f.clone();
    assert!(crate::complete_checksum(&mut done, h).unwrap());
    let tcp = TcpPacket::new_checked(&done[34..]).unwrap();
    assert!(tcp.verify_checksum_v4([10, 77, 0, 1].into(), [10, 77, 0, 2].into()));
    assert_eq!(resegment(&out), input);
    assert_eq!(c.stats().coalesced, 1);
    assert_eq!(c.stats().merged, 10);
    assert!(c.is_empty());
}

#[test]
fn ipv6_segments_merge_as_tcpv6() {
    let mut input = Vec::new();
    for i in 0..4u32 {
        let mut s = Spec::data(1, 1 + i * 1000, 0, 1000);
        s.v6 = true;
        input.push((0, build(&s)));
    }
    let out = run(&mut coalescer(), &input);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].1.gso_type, GsoType::TcpV6);
    assert_eq!(out[0].1.csum_start, 54);
    assert_eq!(resegment(&out), input);
}

#[test]
fn a_lone_segment_comes_out_unchanged() {
    let input = vec![(3, build(&Spec::data(1, 5, 1, 100)))];
    let out = run(&mut coalescer(), &input);
    assert_eq!(out, vec![(3, VirtioNetHdr::default(), input[0].1.clone())]);
}

#[test]
fn a_gap_in_sequence_starts_a_new_frame() {
    let input = vec![
        (0, build(&Spec::data(1, 0, 1, 100))),
        (0, build(&Spec::data(1, 100, 2, 100))),
        (0, build(&Spec::data(1, 300, 3, 100))),
        (0, build(&Spec::data(1, 400, 4, 100))),
    ];
    let out = run(&mut coalescer(), &input);
    assert_eq!(out.len(), 2);
    assert_eq!(resegment(&out), input);
}

#[test]
fn different_contexts_or_options_never_merge() {
    let a = build(&Spec::data(1, 0, 1, 100));
    let b = build(&Spec::data(1, 100, 2, 100));
    let out = run(&mut coalescer(), &[(0, a.clone()), (1, b.clone())]);
    assert_eq!(out.len(), 2);
    let mut later = Spec::data(1, 100, 2, 100);
    later.ts = 8;
    let out = run(&mut coalescer(), &[(0, a), (0, build(&later))]);
    assert_eq!(out.len(), 2, "timestamps differ: no merge");
    assert!(out.iter().all(|o| o.1.gso_type == GsoType::None));
}

#[test]
fn control_segments_pass_alone_after_the_held_data() {
    let mut fin = Spec::data(1, 200, 3, 10);
    fin.flags |= flags::FIN;
    let mut ack = Spec::data(1, 210, 4, 0);
    ack.payload.clear();
    let input = [
        (0, build(&Spec::data(1, 0, 1, 100))),
        (0, build(&Spec::data(1, 100, 2, 100))),
        (0, build(&fin)),
        (0, build(&ack)),
    ];
    let mut c = coalescer();
    let order = std::cell::RefCell::new(Vec::new());
    let mut emit = |_: u8, f: &mut [u8]| order.borrow_mut().push(f.len() - H);
    assert!(c.push(0, &input[0].1, &mut emit));
    assert!(c.push(0, &input[1].1, &mut emit));
    assert!(!c.push(0, &input[2].1, &mut emit), "FIN goes alone");
    assert_eq!(
        *order.borrow(),
        vec![66 + 200],
        "the held data came out first"
    );
    assert!(!c.push(0, &input[3].1, &mut emit), "no payload: not held");
    assert!(c.is_empty());
}

#[test]
fn a_bad_checksum_is_counted_and_not_merged() {
    let a = build(&Spec::data(1, 0, 1, 100));
    let mut b = build(&Spec::data(1, 100, 2, 100));
    let last = b.len() - 1;
    b[last] ^= 0xff;
    let c2 = build(&Spec::data(1, 200, 3, 100));
    let mut c = coalescer();
    let out = run(&mut c, &[(0, a), (0, b.clone()), (0, c2)]);
    assert_eq!(out.len(), 3);
    assert_eq!(out[1].2, b, "passed on as received");
    assert_eq!(c.stats().bad_checksum, 1);
}

#[test]
fn frames_stop_at_64k_of_ip() {
    let input = stream(1, 100, 1448, 1448);
    let out = run(&mut coalescer(), &input);
    assert!(out.len() >= 3);
    for (_, _, f) in &out {
        assert!(f.len() - 14 <= 65535);
    }
    assert_eq!(resegment(&out), input);
}

#[test]
fn more_flows_than_slots_evict_the_oldest() {
    let n = MAX_FLOWS as u8 + 3;
    let mut input = Vec::new();
    for round in 0..3u32 {
        for flow in 0..n {
            let s = Spec::data(flow, round * 100, round as u16, 100);
            input.push((0, build(&s)));
        }
    }
    let out = run(&mut coalescer(), &input);
    let mut back = resegment(&out);
    let mut want = input.clone();
    back.sort();
    want.sort();
    assert_eq!(back, want);
}

#[test]
fn non_tcp_and_short_frames_are_refused() {
    let mut c = coalescer();
    let mut emit = |_: u8, _: &mut [u8]| panic!("nothing to emit");
    assert!(!c.push(0, &[0u8; 10], &mut emit));
    let mut udp = build(&Spec::data(1, 0, 1, 100));
    udp[14 + 9] = 17;
    assert!(!c.push(0, &udp, &mut emit));
    let mut padded = build(&Spec::data(1, 0, 1, 100));
    padded.push(0);
    assert!(!c.push(0, &padded, &mut emit));
    let empty: Coalescer<u8> = Coalescer::default();
    let mut empty = empty;
    assert!(!empty.push(0, &build(&Spec::data(1, 0, 1, 100)), &mut emit));
}

/// Per flow, in order: what the caller switched.
fn per_flow(frames: &[(u8, Vec<u8>)]) -> Vec<Vec<Vec<u8>>> {
    let mut v = vec![Vec::new(); 4];
    for (_, f) in frames {
        let flow = usize::from(f[14 + 20 + 1] - 0x40);
        v[flow].push(f.clone());
    }
    v
}

proptest! {
    /// Whatever the interleaving of flows, segment sizes, PSH marks and
    /// gaps: cutting the emitted frames again gives each flow's segments
    /// in the order they arrived.
    #[test]
    fn coalesce_then_segment_is_the_identity(
        ops in prop::collection::vec((0u8..4, 1usize..1500, any::<bool>(), 0u8..10), 1..120),
        slots in 1usize..=MAX_FLOWS,
    ) {
        let mut seq = [0u32; 4];
        let mut id = [0u16; 4];
        let mut input = Vec::new();
        for (flow, len, psh, gap) in ops {
            let f = usize::from(flow);
            let mut s = Spec::data(flow, seq[f], id[f], len);
            if psh {
                s.flags |= flags::PSH;
            }
            // Now and then a hole, as after a loss.
            if gap == 0 {
                s.seq = s.seq.wrapping_add(1);
            }
            seq[f] = s.seq.wrapping_add(len as u32);
            id[f] = id[f].wrapping_add(1);
            input.push((0, build(&s)));
        }
        let mut c = Coalescer::new(slots, VnetHdrLen::V10);
        let out = run(&mut c, &input);
        prop_assert!(out.len() <= input.len());
        prop_assert_eq!(per_flow(&resegment(&out)), per_flow(&input));
    }
}
