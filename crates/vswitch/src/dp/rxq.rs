//! Multi-queue TAP ports: one receive queue per datapath thread.
//!
//! A TAP opened with `IFF_MULTI_QUEUE` has one fd per queue
//! (Linux `Documentation/networking/tuntap.rst`, "Multiqueue tuntap
//! interface"); the kernel spreads what the VM transmits over the queues by
//! flow hash (`tun_automq_select_queue`), so the frames of one flow stay in
//! order on one queue while several flows of one VM are read by several
//! datapath threads at once. This is OVS's `options:n_rxq` on a netdev
//! Interface (ovs-vswitchd.conf.db(5), `other_config:pmd-rxq-assign`
//! spreading rx queues over PMD threads).
//!
//! `options:n_rxq=N` (1..=[`MAX_QUEUES`]) sets the number of queues of a
//! `tap` interface; without it a TAP gets one queue per datapath thread
//! (`--dp-threads`), and `internal` ports keep one. Queue 0 is the port's
//! [`super::port::PortIo::Tap`] and is polled by the thread the port is
//! assigned to; queue `i` by the next threads round-robin. A TAP that
//! already exists with the other queue mode (a persistent single-queue TAP
//! from before) is adopted as it is, with the queues it allows.
//!
//! **Transmit goes through the sending thread's own queue** ([`tx_queue`]).
//! The kernel remembers, per flow, the queue a frame of that flow was last
//! *written* through, and steers the frames the VM sends back on that flow
//! to the same queue (`tun_flow_update` in `tun_get_user`, read by
//! `tun_automq_select_queue`; the hash is symmetric, so a reply matches its
//! request). A VM usually answers inside the `write(2)` that delivered the
//! request (the write runs its stack), so the answer is then readable on a
//! queue the writing thread itself polls: that thread, still awake, reads it
//! on its next turn. Writing every frame through queue 0 instead sent each
//! answer to queue 0's thread, asleep in `epoll_wait(2)`: one more
//! cross-thread wake-up per round trip (`tests/latency.rs` counts them).
//!
//! The kernel records the queue *after* the write has delivered the frame,
//! so an answer made inside the write is steered by the entry the previous
//! frame of the flow left. Between two multi-queue TAPs, "the writer's own
//! queue" can then settle into a cycle where the request of every round
//! trip is read by one thread and its answer by the other (each side's
//! entry names the thread that read the other side last time). So a frame
//! read from a multi-queue TAP is written through the queue of the thread
//! its flow hashes to ([`flow_thread`], symmetric, so both directions agree):
//! every entry of the flow then names that thread, whatever the lag, and
//! both directions are read by it from the second round trip on. A frame
//! from anywhere else (a tunnel socket, an AF_PACKET or single-queue port,
//! whose reader is fixed) is written through the reading thread's queue:
//! the answer comes back to that thread, the one the next frame of the flow
//! will wake again.

use std::sync::Arc;

use netio::tap::Tap;
use packet::flowkey::ethertype;
use packet::ip_proto;

use crate::schema::{IfaceType, Interface};

/// Interface option setting the number of receive queues.
pub const N_RXQ_KEY: &str = "n_rxq";

/// Most queues a TAP port gets (as many as datapath threads can be).
pub const MAX_QUEUES: usize = super::worker::MAX_THREADS;

/// Bits 24..31 of a port's epoll token carry the queue (slots stay below
/// 2^24).
const QUEUE_SHIFT: u32 = 24;
const SLOT_MASK: u64 = (1 << QUEUE_SHIFT) - 1;

/// A bad `options:n_rxq`.
#[derive(Debug, thiserror::Error)]
#[error("interface {iface}: options:n_rxq={value:?}: expected a number of queues from 1 to {MAX_QUEUES}")]
pub struct NRxqError {
    /// Interface.
    pub iface: String,
    /// The offending value.
    pub value: String,
}

/// One more receive queue of a multi-queue TAP (queues 1 and up).
#[derive(Debug)]
pub struct RxQueue {
    /// Its fd.
    pub tap: Arc<Tap>,
    /// The datapath thread polling it.
    pub thread: usize,
}

/// Frames received per queue of a port (queue 0 first).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueCounts(pub [u64; MAX_QUEUES]);

/// The queue (number and fd) a frame for datapath thread `thread` is
/// written to a TAP port through: the one that thread polls (queue 0, `q0`,
/// polled by thread `q0_thread`, or one of `more`), so that what the VM
/// answers comes back to it (see the module documentation); queue 0 when it
/// polls none of them (`options:n_rxq` below the number of threads, a
/// single-queue TAP, an internal port).
pub fn tx_queue<'a>(
    q0: &'a Arc<Tap>,
    q0_thread: usize,
    more: &'a [RxQueue],
    thread: usize,
) -> (usize, &'a Arc<Tap>) {
    if q0_thread == thread {
        return (0, q0);
    }
    more.iter()
        .position(|q| q.thread == thread)
        .map_or((0, q0), |i| (i + 1, &more[i].tap))
}

/// The datapath thread (of `threads`) that the flow of Ethernet frame
/// `eth` is given to: a hash of its IPv4/IPv6 addresses, protocol and
/// TCP/UDP/SCTP ports that is the same for both directions of the flow.
/// Frames that are not IP (or not parsed, behind more than two VLAN tags)
/// go to thread 0. No allocation; reads at most the first 58 bytes past the
/// tags.
pub fn flow_thread(eth: &[u8], threads: usize) -> usize {
    if threads <= 1 {
        return 0;
    }
    let be16 = |at: usize| {
        eth.get(at..at + 2)
            .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]))
    };
    let be32 = |at: usize| {
        eth.get(at..at + 4)
            .map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    };
    let mut at = 12;
    for _ in 0..2 {
        if matches!(be16(at), ethertype::VLAN | ethertype::QINQ) {
            at += 4;
        }
    }
    let l3 = at + 2;
    let (mut h, proto, l4) = match be16(at) {
        ethertype::IPV4 if eth.len() >= l3 + 20 => {
            let frag = be16(l3 + 6) & 0x3fff != 0;
            let ihl = usize::from(eth[l3] & 0x0f) * 4;
            let proto = if frag { 0 } else { eth[l3 + 9] };
            (u64::from(be32(l3 + 12) ^ be32(l3 + 16)), proto, l3 + ihl)
        }
        ethertype::IPV6 if eth.len() >= l3 + 40 => {
            let h = (0..4).fold(0u64, |h, w| {
                mix(h, u64::from(be32(l3 + 8 + 4 * w) ^ be32(l3 + 24 + 4 * w)))
            });
            (h, eth[l3 + 6], l3 + 40)
        }
        _ => return 0,
    };
    if matches!(proto, ip_proto::TCP | ip_proto::UDP | ip_proto::SCTP) {
        let (a, b) = (be16(l4), be16(l4 + 2));
        h = mix(h, (u64::from(a.min(b)) << 16) | u64::from(a.max(b)));
    }
    let h = mix(h, u64::from(proto));
    // Multiply and shift: the top bits of the 64-bit mix pick the thread.
    (((h >> 32) * threads as u64) >> 32) as usize
}

#[inline]
fn mix(h: u64, v: u64) -> u64 {
    (h ^ v).wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(29)
}

/// How many queues `iface` asks for with `threads` datapath threads.
pub fn n_rxq(iface: &Interface, threads: usize) -> Result<usize, NRxqError> {
    match iface.options.get(N_RXQ_KEY) {
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_QUEUES).contains(n))
            .ok_or_else(|| NRxqError {
                iface: iface.name.clone(),
                value: v.clone(),
            }),
        None if iface.kind == IfaceType::Tap => Ok(threads.clamp(1, MAX_QUEUES)),
        None => Ok(1),
    }
}

/// The epoll token of queue `q` of the port whose queue-0 token is `tok`.
pub fn token(tok: u64, q: usize) -> u64 {
    tok | ((q as u64 & 0xff) << QUEUE_SHIFT)
}

/// Slot, generation and queue of a port token.
pub fn split(tok: u64) -> (usize, u32, usize) {
    (
        (tok & SLOT_MASK) as usize,
        (tok >> 32) as u32,
        ((tok >> QUEUE_SHIFT) & 0xff) as usize,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tap(opts: &[(&str, &str)]) -> Interface {
        Interface {
            name: "vm1".into(),
            kind: IfaceType::Tap,
            options: opts
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Interface::default()
        }
    }

    #[test]
    fn queues_follow_threads_unless_set() {
        assert_eq!(n_rxq(&tap(&[]), 2).unwrap(), 2);
        assert_eq!(n_rxq(&tap(&[]), 64).unwrap(), MAX_QUEUES);
        assert_eq!(n_rxq(&tap(&[("n_rxq", "1")]), 4).unwrap(), 1);
        assert_eq!(n_rxq(&tap(&[("n_rxq", "3")]), 1).unwrap(), 3);
        let internal = Interface {
            kind: IfaceType::Internal,
            ..tap(&[])
        };
        assert_eq!(n_rxq(&internal, 4).unwrap(), 1);
        for bad in ["0", "17", "two", ""] {
            let e = n_rxq(&tap(&[("n_rxq", bad)]), 2).unwrap_err();
            assert!(e.to_string().contains(&format!("{bad:?}")), "{e}");
        }
    }

    /// An Ethernet frame of `proto` from `src:sp` to `dst:dp` (IPv4),
    /// behind `tags` VLAN tags.
    fn v4(src: [u8; 4], dst: [u8; 4], proto: u8, sp: u16, dp: u16, tags: usize) -> Vec<u8> {
        let mut f = vec![0u8; 12];
        for _ in 0..tags {
            f.extend_from_slice(&[0x81, 0x00, 0x00, 0x0a]);
        }
        f.extend_from_slice(&[0x08, 0x00, 0x45, 0, 0, 40, 0, 0, 0, 0, 64, proto, 0, 0]);
        f.extend_from_slice(&src);
        f.extend_from_slice(&dst);
        f.extend_from_slice(&sp.to_be_bytes());
        f.extend_from_slice(&dp.to_be_bytes());
        f.resize(f.len() + 16, 0);
        f
    }

    #[test]
    fn both_directions_of_a_flow_go_to_one_thread() {
        let mut seen = [false; 4];
        for i in 0..64u8 {
            let (a, b) = ([10, 0, 0, i], [10, 0, 1, 200 - i]);
            let sp = 1000 + u16::from(i);
            for tags in 0..=2 {
                let there = v4(a, b, ip_proto::TCP, sp, 80, tags);
                let back = v4(b, a, ip_proto::TCP, 80, sp, tags);
                let t = flow_thread(&there, 4);
                assert!(t < 4);
                assert_eq!(t, flow_thread(&back, 4), "flow {i}, {tags} tags");
                seen[t] = true;
            }
            let icmp = flow_thread(&v4(a, b, ip_proto::ICMP, 0, 0, 0), 4);
            assert_eq!(icmp, flow_thread(&v4(b, a, ip_proto::ICMP, 0, 0, 0), 4));
        }
        assert!(
            seen.iter().all(|&s| s),
            "64 flows all on some threads: {seen:?}"
        );
        // One thread, or nothing to hash: thread 0; never out of range.
        assert_eq!(
            flow_thread(&v4([1; 4], [2; 4], ip_proto::UDP, 1, 2, 0), 1),
            0
        );
        let arp = [0u8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x08, 0x06, 0, 1];
        assert_eq!(flow_thread(&arp, 4), 0);
        for len in 0..60 {
            let f = v4([1; 4], [2; 4], ip_proto::UDP, 1, 2, 1);
            assert!(flow_thread(&f[..len.min(f.len())], 3) < 3);
        }
    }

    #[test]
    fn tokens_carry_the_queue() {
        let base = (7u64 << 32) | 1234;
        for q in [0, 1, 15] {
            assert_eq!(split(token(base, q)), (1234, 7, q));
        }
    }
}
