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

use std::sync::Arc;

use netio::tap::Tap;

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

    #[test]
    fn tokens_carry_the_queue() {
        let base = (7u64 << 32) | 1234;
        for q in [0, 1, 15] {
            assert_eq!(split(token(base, q)), (1234, 7, q));
        }
    }
}
