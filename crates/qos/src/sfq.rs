//! Stochastic Fairness Queueing, tc-sfq(8): packets are hashed by flow into
//! `divisor` buckets; each busy bucket owns one of `flows` FIFO slots; the
//! slots are served round robin, each allowed `quantum` bytes per turn.
//! Every `perturb` the hash seed changes (so two flows that collide do not
//! collide forever — the seed: "hash函数会经常改变") and queued packets are
//! rehashed, as the kernel's `sfq_rehash()` does, keeping per-flow order.
//! When the qdisc holds `limit` packets the tail of the *longest* flow is
//! dropped; a flow holding `depth` packets drops its own arrivals.
//!
//! Randomness is injected: the perturbation sequence comes from `seed`.

use crate::clock::Nanos;
use crate::qdisc::{DropReason, Dropped, Packet, Qdisc, QdiscStats};
use std::collections::VecDeque;

const EMPTY: u16 = u16::MAX;

/// SFQ parameters; defaults are the kernel's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SfqConfig {
    /// Total packets the qdisc holds (default 127).
    pub limit: usize,
    /// Packets one flow may hold (default 127).
    pub depth: usize,
    /// Flow slots (default 128).
    pub flows: usize,
    /// Hash buckets, a power of two up to 65536 (default 1024).
    pub divisor: usize,
    /// Bytes a flow may send per round (default 1514, one Ethernet MTU).
    pub quantum: u32,
    /// Interval between hash perturbations in ns; 0 = never (the seed's
    /// `sfq perturb 10` is 10 s).
    pub perturb: Nanos,
    /// Seed of the perturbation sequence.
    pub seed: u64,
}

impl Default for SfqConfig {
    fn default() -> Self {
        Self {
            limit: 127,
            depth: 127,
            flows: 128,
            divisor: 1024,
            quantum: 1514,
            perturb: 0,
            seed: 0,
        }
    }
}

/// A bad SFQ parameter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SfqError {
    /// divisor must be a power of two in 1..=65536.
    #[error("sfq: divisor {0} must be a power of two between 1 and 65536")]
    Divisor(usize),
    /// flows must be in 1..=65535.
    #[error("sfq: flows {0} must be between 1 and 65535")]
    Flows(usize),
    /// limit, depth and quantum must be positive.
    #[error("sfq: {0} must be greater than 0")]
    Zero(&'static str),
}

#[derive(Debug)]
struct Slot<P> {
    queue: VecDeque<P>,
    bucket: u32,
    allot: i64,
}

/// The SFQ qdisc.
#[derive(Debug)]
pub struct Sfq<P> {
    cfg: SfqConfig,
    buckets: Vec<u16>,
    slots: Vec<Slot<P>>,
    free: Vec<u16>,
    /// Busy slots in service order; the front is being served.
    active: VecDeque<u16>,
    qlen: usize,
    bytes: usize,
    perturbation: u32,
    rng: u64,
    next_perturb: Option<Nanos>,
    scratch: Vec<P>,
    stats: QdiscStats,
}

/// splitmix64: the perturbation sequence.
fn next_random(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// murmur3's 32-bit finaliser: spreads the caller's flow hash.
fn mix(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

impl<P: Packet> Sfq<P> {
    /// An SFQ; the first perturbation is due `cfg.perturb` after `now`.
    pub fn new(cfg: SfqConfig, now: Nanos) -> Result<Self, SfqError> {
        if !cfg.divisor.is_power_of_two() || cfg.divisor > 65_536 {
            return Err(SfqError::Divisor(cfg.divisor));
        }
        if cfg.flows == 0 || cfg.flows >= usize::from(EMPTY) {
            return Err(SfqError::Flows(cfg.flows));
        }
        for (name, v) in [
            ("limit", cfg.limit),
            ("depth", cfg.depth),
            ("quantum", cfg.quantum as usize),
        ] {
            if v == 0 {
                return Err(SfqError::Zero(name));
            }
        }
        let mut rng = cfg.seed;
        let perturbation = next_random(&mut rng) as u32;
        let slots = (0..cfg.flows)
            .map(|_| Slot {
                queue: VecDeque::new(),
                bucket: 0,
                allot: 0,
            })
            .collect();
        Ok(Self {
            buckets: vec![EMPTY; cfg.divisor],
            slots,
            free: (0..cfg.flows as u16).rev().collect(),
            active: VecDeque::with_capacity(cfg.flows),
            qlen: 0,
            bytes: 0,
            perturbation,
            rng,
            next_perturb: (cfg.perturb > 0).then(|| now.saturating_add(cfg.perturb)),
            scratch: Vec::new(),
            stats: QdiscStats::default(),
            cfg,
        })
    }

    /// Flows currently holding packets.
    pub fn active_flows(&self) -> usize {
        self.active.len()
    }

    /// The current perturbation value (changes every `perturb`).
    pub fn perturbation(&self) -> u32 {
        self.perturbation
    }

    fn bucket_of(&self, pkt: &P) -> u32 {
        mix(pkt.flow_hash() ^ self.perturbation) & (self.cfg.divisor as u32 - 1)
    }

    fn maybe_perturb(&mut self, now: Nanos) {
        let Some(due) = self.next_perturb else { return };
        if now < due {
            return;
        }
        self.next_perturb = Some(now.saturating_add(self.cfg.perturb));
        self.perturbation = next_random(&mut self.rng) as u32;
        self.rehash();
    }

    /// Re-files every queued packet under the new hash, flow by flow in
    /// service order, so each flow keeps its packet order.
    fn rehash(&mut self) {
        let mut scratch = std::mem::take(&mut self.scratch);
        while let Some(s) = self.active.pop_front() {
            let slot = &mut self.slots[usize::from(s)];
            scratch.extend(slot.queue.drain(..));
            self.buckets[slot.bucket as usize] = EMPTY;
            self.free.push(s);
        }
        self.qlen = 0;
        self.bytes = 0;
        for pkt in scratch.drain(..) {
            let len = pkt.len();
            if self.insert(pkt).is_err() {
                self.stats.on_drop(len);
            }
        }
        self.scratch = scratch;
    }

    /// Puts a packet in its flow's slot (no global-limit check).
    fn insert(&mut self, pkt: P) -> Result<u16, Dropped<P>> {
        let b = self.bucket_of(&pkt);
        let mut s = self.buckets[b as usize];
        if s == EMPTY {
            let Some(free) = self.free.pop() else {
                return Err(Dropped::new(pkt, DropReason::NoSlot));
            };
            s = free;
            self.buckets[b as usize] = s;
            let slot = &mut self.slots[usize::from(s)];
            slot.bucket = b;
            slot.allot = i64::from(self.cfg.quantum);
        }
        let slot = &mut self.slots[usize::from(s)];
        if slot.queue.len() >= self.cfg.depth {
            return Err(Dropped::new(pkt, DropReason::FlowLimit));
        }
        if slot.queue.is_empty() {
            self.active.push_back(s);
        }
        self.bytes += pkt.len();
        slot.queue.push_back(pkt);
        self.qlen += 1;
        Ok(s)
    }

    /// Removes a slot that became empty from service and frees it.
    fn release(&mut self, s: u16) {
        let slot = &mut self.slots[usize::from(s)];
        self.buckets[slot.bucket as usize] = EMPTY;
        if let Some(pos) = self.active.iter().position(|&a| a == s) {
            self.active.remove(pos);
        }
        self.free.push(s);
    }

    /// Drops the tail of the longest flow (tc-sfq(8)); returns the packet.
    fn drop_from_longest(&mut self) -> Option<(u16, P)> {
        let &s = self
            .active
            .iter()
            .max_by_key(|&&s| self.slots[usize::from(s)].queue.len())?;
        let pkt = self.slots[usize::from(s)].queue.pop_back()?;
        self.qlen -= 1;
        self.bytes -= pkt.len();
        if self.slots[usize::from(s)].queue.is_empty() {
            self.release(s);
        }
        Some((s, pkt))
    }
}

impl<P: Packet> Qdisc<P> for Sfq<P> {
    fn enqueue(&mut self, pkt: P, now: Nanos) -> Result<(), Dropped<P>> {
        self.maybe_perturb(now);
        let len = pkt.len();
        let s = match self.insert(pkt) {
            Ok(s) => s,
            Err(e) => {
                self.stats.on_drop(len);
                return Err(e);
            }
        };
        self.stats.on_enqueue(len);
        if self.qlen <= self.cfg.limit {
            return Ok(());
        }
        let Some((victim_slot, victim)) = self.drop_from_longest() else {
            return Ok(());
        };
        self.stats.on_drop(victim.len());
        // The offered packet is the tail of its own slot: if that slot was
        // the longest, the offered packet itself was dropped.
        let reason = if victim_slot == s {
            // Not accepted after all: keep "enqueued = sent + queued + evicted".
            self.stats.enqueued_packets -= 1;
            self.stats.enqueued_bytes -= len as u64;
            DropReason::Limit
        } else {
            DropReason::Evicted
        };
        Err(Dropped::new(victim, reason))
    }

    fn dequeue(&mut self, now: Nanos) -> Option<P> {
        self.maybe_perturb(now);
        loop {
            let &s = self.active.front()?;
            let slot = &mut self.slots[usize::from(s)];
            if slot.allot <= 0 {
                slot.allot += i64::from(self.cfg.quantum);
                self.active.rotate_left(1);
                continue;
            }
            let pkt = slot.queue.pop_front()?;
            let len = pkt.len();
            self.qlen -= 1;
            self.bytes -= len;
            self.stats.on_send(len);
            if slot.queue.is_empty() {
                self.buckets[slot.bucket as usize] = EMPTY;
                self.active.pop_front();
                self.free.push(s);
            } else {
                slot.allot -= len as i64;
            }
            return Some(pkt);
        }
    }

    fn next_ready(&mut self, now: Nanos) -> Option<Nanos> {
        (self.qlen > 0).then_some(now)
    }

    fn len(&self) -> usize {
        self.qlen
    }

    fn backlog_bytes(&self) -> usize {
        self.bytes
    }

    fn stats(&self) -> QdiscStats {
        self.stats
    }
}
