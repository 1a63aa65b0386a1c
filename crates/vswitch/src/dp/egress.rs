//! Egress scheduling of shaped ports (ports whose Port `qos` names a QoS
//! row, or that have a `cloudnet tc` tree).
//!
//! A frame output to a shaped port is copied into the port's preallocated
//! buffer pool and handed to its `qos` scheduler with the OpenFlow queue
//! chosen by `set_queue` / `enqueue:PORT:QUEUE` (ovs-actions(7); no queue
//! means the default queue 0, as OVS's linux-htb maps it to class 1:1).
//! The datapath dequeues what the scheduler releases after every burst of
//! input and when the port's timer fires: one `timerfd` per datapath, armed
//! at the earliest [`qos::Qdisc::next_ready`] of all shaped ports, so a
//! backlog drains on the scheduler's own schedule without busy-waiting.
//! Ports without QoS never reach this module.
//!
//! Memory is bounded: [`SMALL_SLOTS`] slots of [`SMALL_SLOT`] bytes and
//! [`BIG_SLOTS`] slots for 64 KB GSO super-frames, allocated when the
//! scheduler is created; when the pool is empty, or the scheduler's queue
//! limit is reached, the frame is dropped and counted
//! ([`DropReason::QosQueueFull`], [`DropReason::QosNoBuffer`]).
//!
//! TSO/GSO super-frames are not segmented: they are charged their real
//! length on the wire, the bytes of all the segments the output side will
//! cut them into (each segment repeats the `hdr_len` bytes of headers,
//! virtio 1.x §5.1.6.2), so rates hold whether or not the VM offloads.

use std::os::fd::AsFd;
use std::time::Duration;

use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};
use packet::FlowKey;
use qos::{
    ClassConfig, ClassId, ClassStats, Dropped, Fifo, Htb, HtbBuilder, LeafQdisc, PrioBands, Qdisc,
    QdiscStats, Sfq, Tbf,
};

use super::port::{Pieces, PortIo, BUF_LEN, HDR};
use super::stats::DropReason;
use super::{Datapath, DpPort};
use crate::qos_spec::{EgressSpec, Filter, LeafSpec};

/// Bytes of a small slot (virtio header + a VLAN-tagged 1500-byte frame,
/// with room to spare).
pub const SMALL_SLOT: usize = 2048;
/// Small slots per shaped port.
pub const SMALL_SLOTS: usize = 1024;
/// Slots for GSO super-frames per shaped port.
pub const BIG_SLOTS: usize = 32;
/// Most frames one shaped port sends per wake-up (keeps input serviced).
pub const MAX_DEQUEUE: usize = 256;
/// Shortest timer: a scheduler that says "now" but releases nothing is
/// asked again this much later rather than in a spin.
pub const MIN_WAIT: Duration = Duration::from_micros(20);

/// epoll token of the egress timer.
pub(super) const TIMER_TOKEN: u64 = u64::MAX;

/// What the scheduler and the classifier need to know about a frame,
/// taken from its flow key once per input frame (no per-output work).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Meta {
    /// OpenFlow queue (`set_queue`, `enqueue`).
    pub queue: Option<u32>,
    /// Flow hash (SFQ).
    pub hash: u32,
    /// IPv4 TOS / IPv6 traffic class.
    pub tos: u8,
    /// IPv4 addresses, protocol and L4 ports (tc u32 filters); 0 if absent.
    pub src: u32,
    /// Destination address.
    pub dst: u32,
    /// IP protocol.
    pub proto: u8,
    /// L4 source port.
    pub sport: u16,
    /// L4 destination port.
    pub dport: u16,
    /// Whether the frame is IPv4 (filters match only IPv4).
    pub ipv4: bool,
}

impl Meta {
    /// From a flow key; the queue starts unset.
    #[inline]
    pub fn from_key(k: &FlowKey) -> Meta {
        // A cheap multiplicative mix of the 5-tuple (SFQ perturbs it).
        let mut h = u64::from(k.nw_src) ^ (u64::from(k.nw_dst) << 32);
        h ^= u64::from(k.tp_src) << 16 ^ u64::from(k.tp_dst) ^ u64::from(k.nw_proto) << 40;
        h = h.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        Meta {
            queue: None,
            hash: (h >> 32) as u32,
            tos: k.nw_tos,
            src: k.nw_src,
            dst: k.nw_dst,
            proto: k.nw_proto,
            sport: k.tp_src,
            dport: k.tp_dst,
            ipv4: k.dl_type == packet::flowkey::ethertype::IPV4,
        }
    }
}

fn field<T: Copy + std::ops::BitAnd<Output = T> + PartialEq>(want: Option<(T, T)>, v: T) -> bool {
    want.is_none_or(|(x, m)| v & m == x & m)
}

/// Whether `f` matches `m` (tc-u32(8): all `match` clauses must hold).
pub fn filter_matches(f: &Filter, m: &Meta) -> bool {
    m.ipv4
        && field(f.src, m.src)
        && field(f.dst, m.dst)
        && field(f.proto, m.proto)
        && field(f.sport, m.sport)
        && field(f.dport, m.dport)
        && field(f.tos, m.tos)
}

/// A queued frame: a handle to its pool slot plus what the scheduler asks.
#[derive(Debug)]
pub struct Frame {
    slot: u32,
    /// Bytes in the slot, virtio header included.
    len: u32,
    /// Bytes charged: the frame on the wire (all segments of a GSO frame).
    wire: u32,
    hash: u32,
    tos: u8,
    queue: Option<u32>,
}

impl qos::Packet for Frame {
    fn len(&self) -> usize {
        self.wire as usize
    }
    fn flow_hash(&self) -> u32 {
        self.hash
    }
    fn tos(&self) -> u8 {
        self.tos
    }
    fn queue_id(&self) -> Option<u32> {
        self.queue
    }
}

/// The wire length of a frame of `eth_len` bytes with virtio header `hdr`:
/// a GSO frame becomes ⌈payload / gso_size⌉ segments, each with the
/// `hdr_len` bytes of headers.
pub fn wire_len(hdr: &[u8], eth_len: usize) -> usize {
    let (Some(&gso_type), Some(h), Some(g)) = (hdr.get(1), hdr.get(2..4), hdr.get(4..6)) else {
        return eth_len;
    };
    let hdr_len = usize::from(u16::from_le_bytes([h[0], h[1]]));
    let gso_size = usize::from(u16::from_le_bytes([g[0], g[1]]));
    if gso_type == 0 || gso_size == 0 {
        return eth_len;
    }
    // Some senders leave hdr_len 0: assume Ethernet + IPv4 + TCP.
    let hdr_len = if hdr_len == 0 || hdr_len >= eth_len {
        54
    } else {
        hdr_len
    };
    let payload = eth_len.saturating_sub(hdr_len);
    let segs = payload.div_ceil(gso_size).max(1);
    eth_len + (segs - 1) * hdr_len
}

/// Fixed slots allocated once; free lists are preallocated too.
struct Pool {
    small: Box<[u8]>,
    big: Box<[u8]>,
    free_small: Vec<u32>,
    free_big: Vec<u32>,
}

/// High bit of a slot id: a big slot.
const BIG: u32 = 1 << 31;

impl Pool {
    fn new() -> Pool {
        Pool {
            small: vec![0u8; SMALL_SLOT * SMALL_SLOTS].into_boxed_slice(),
            big: vec![0u8; BUF_LEN * BIG_SLOTS].into_boxed_slice(),
            free_small: (0..SMALL_SLOTS as u32).rev().collect(),
            free_big: (0..BIG_SLOTS as u32).rev().map(|i| i | BIG).collect(),
        }
    }

    fn alloc(&mut self, len: usize) -> Option<u32> {
        if len <= SMALL_SLOT {
            self.free_small.pop().or_else(|| self.free_big.pop())
        } else if len <= BUF_LEN {
            self.free_big.pop()
        } else {
            None
        }
    }

    fn buf_mut(&mut self, slot: u32) -> &mut [u8] {
        let i = (slot & !BIG) as usize;
        if slot & BIG != 0 {
            &mut self.big[i * BUF_LEN..(i + 1) * BUF_LEN]
        } else {
            &mut self.small[i * SMALL_SLOT..(i + 1) * SMALL_SLOT]
        }
    }

    fn buf(&self, slot: u32) -> &[u8] {
        let i = (slot & !BIG) as usize;
        if slot & BIG != 0 {
            &self.big[i * BUF_LEN..(i + 1) * BUF_LEN]
        } else {
            &self.small[i * SMALL_SLOT..(i + 1) * SMALL_SLOT]
        }
    }

    fn free(&mut self, slot: u32) {
        // Capacity was reserved for every slot: this never reallocates.
        if slot & BIG != 0 {
            self.free_big.push(slot);
        } else {
            self.free_small.push(slot);
        }
    }

    fn in_use(&self) -> usize {
        SMALL_SLOTS + BIG_SLOTS - self.free_small.len() - self.free_big.len()
    }
}

enum Sched {
    Htb(Box<Htb<Frame>>),
    Sfq(Sfq<Frame>),
    Tbf(Tbf<Frame>),
    Prio(PrioBands<Frame>),
}

macro_rules! each {
    ($s:expr, $q:ident => $e:expr) => {
        match $s {
            Sched::Htb($q) => $e,
            Sched::Sfq($q) => $e,
            Sched::Tbf($q) => $e,
            Sched::Prio($q) => $e,
        }
    };
}

/// The scheduler of one shaped port, with its pool.
pub struct Egress {
    spec: EgressSpec,
    sched: Sched,
    pool: Pool,
    /// tc class minor → HTB class, for filters and `tc -s class show`.
    classes: Vec<(u32, ClassId, ClassConfig)>,
    filters: Vec<(Filter, Option<ClassId>)>,
    /// Frames refused at the queue limit.
    pub dropped_limit: u64,
    /// Frames refused for want of a buffer.
    pub dropped_nobuf: u64,
}

impl std::fmt::Debug for Egress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Egress({:?}, {} buffered)",
            self.spec,
            self.pool.in_use()
        )
    }
}

fn leaf(l: &LeafSpec, now: u64) -> Result<Option<LeafQdisc<Frame>>, String> {
    Ok(match l {
        LeafSpec::Default => None,
        LeafSpec::Pfifo(n) => Some(LeafQdisc::Fifo(Fifo::pfifo(*n))),
        LeafSpec::Sfq(c) => Some(LeafQdisc::Sfq(
            Sfq::new(*c, now).map_err(|e| e.to_string())?,
        )),
    })
}

impl Egress {
    /// Builds the scheduler `spec` describes, buckets full at `now` (ns).
    pub fn new(spec: &EgressSpec, now: u64) -> Result<Egress, String> {
        let mut classes = Vec::new();
        let mut filters = Vec::new();
        let sched = match spec {
            EgressSpec::Htb(h) => {
                let mut b = HtbBuilder::new();
                if let Some(r) = h.r2q {
                    b = b.r2q(r);
                }
                for c in &h.classes {
                    let parent = match c.parent {
                        None => None,
                        Some(p) => Some(
                            classes
                                .iter()
                                .find(|(m, _, _)| *m == p)
                                .map(|(_, id, _)| *id)
                                .ok_or_else(|| format!("class {:x}: no parent {p:x}", c.id))?,
                        ),
                    };
                    let id = b.add_class(parent, c.cfg).map_err(|e| e.to_string())?;
                    classes.push((c.id, id, c.cfg));
                }
                // Default leaves share the pool fairly: with the kernel's
                // 1000 packets each, one backlogged class could hold every
                // buffer and starve the others of slots.
                let leaves = h
                    .classes
                    .iter()
                    .filter(|c| !h.classes.iter().any(|k| k.parent == Some(c.id)))
                    .count()
                    .max(1);

                let fair = (SMALL_SLOTS / leaves).clamp(1, qos::fifo::DEFAULT_LIMIT);
                let is_leaf = |c: &crate::qos_spec::ClassSpec| {
                    !h.classes.iter().any(|k| k.parent == Some(c.id))
                };
                for (c, (_, id, _)) in h.classes.iter().zip(&classes) {
                    if !is_leaf(c) {
                        continue;
                    }
                    let l = match c.leaf {
                        LeafSpec::Default => LeafSpec::Pfifo(fair),
                        ref l => l.clone(),
                    };
                    if let Some(q) = leaf(&l, now)? {
                        b.leaf_qdisc(*id, q).map_err(|e| e.to_string())?;
                    }
                }
                let find = |m: u32| classes.iter().find(|(x, _, _)| *x == m).map(|c| c.1);
                if let Some(d) = h.default.and_then(find) {
                    b.default_class(d).map_err(|e| e.to_string())?;
                }
                for &(q, m) in &h.queues {
                    if let Some(id) = find(m) {
                        b.map_queue(q, id).map_err(|e| e.to_string())?;
                    }
                }
                for f in &h.filters {
                    filters.push((f.clone(), find(f.flowid)));
                }
                Sched::Htb(Box::new(b.build(now).map_err(|e| e.to_string())?))
            }
            EgressSpec::Sfq(c) => Sched::Sfq(Sfq::new(*c, now).map_err(|e| e.to_string())?),
            EgressSpec::Tbf(c) => Sched::Tbf(Tbf::new(*c, now).map_err(|e| e.to_string())?),
            EgressSpec::PfifoFast { limit } => Sched::Prio(PrioBands::pfifo_fast(*limit)),
        };
        Ok(Egress {
            spec: spec.clone(),
            sched,
            pool: Pool::new(),
            classes,
            filters,
            dropped_limit: 0,
            dropped_nobuf: 0,
        })
    }

    /// The spec this scheduler was built from.
    pub fn spec(&self) -> &EgressSpec {
        &self.spec
    }

    /// Copies `p` into the pool and queues it. On `Err` the frame (or an
    /// older one it evicted) was dropped and counted here.
    pub fn enqueue(&mut self, p: &Pieces<'_>, m: &Meta, now: u64) -> Result<(), DropReason> {
        let len = p.hdr.len() + p.frame_len();
        let Some(slot) = self.pool.alloc(len) else {
            self.dropped_nobuf += 1;
            return Err(DropReason::QosNoBuffer);
        };
        let buf = self.pool.buf_mut(slot);
        let mut off = 0;
        for s in p.slices() {
            buf[off..off + s.len()].copy_from_slice(s);
            off += s.len();
        }
        let f = Frame {
            slot,
            len: len as u32,
            wire: wire_len(&p.hdr, p.frame_len()) as u32,
            hash: m.hash,
            tos: m.tos,
            queue: m.queue,
        };
        let res = match &mut self.sched {
            Sched::Htb(h) => {
                let class = self
                    .filters
                    .iter()
                    .find(|(f, _)| filter_matches(f, m))
                    .map(|(_, c)| *c);
                match class {
                    Some(c) => h.enqueue_class(c, f, now),
                    None => h.enqueue(f, now),
                }
            }
            s => each!(s, q => q.enqueue(f, now)),
        };
        match res {
            Ok(()) => Ok(()),
            Err(Dropped { packet, .. }) => {
                self.pool.free(packet.slot);
                self.dropped_limit += 1;
                Err(DropReason::QosQueueFull)
            }
        }
    }

    /// The next frame the scheduler releases at `now`; give it back with
    /// [`Egress::release`] once sent.
    pub fn dequeue(&mut self, now: u64) -> Option<Frame> {
        each!(&mut self.sched, q => q.dequeue(now))
    }

    /// The bytes of `f` (virtio header included).
    pub fn bytes(&self, f: &Frame) -> &[u8] {
        &self.pool.buf(f.slot)[..f.len as usize]
    }

    /// Returns `f`'s buffer to the pool.
    pub fn release(&mut self, f: Frame) {
        self.pool.free(f.slot);
    }

    /// When the scheduler can next release a frame (ns), if it holds any.
    pub fn next_ready(&mut self, now: u64) -> Option<u64> {
        each!(&mut self.sched, q => q.next_ready(now))
    }

    /// Frames queued.
    pub fn backlog(&self) -> usize {
        each!(&self.sched, q => q.len())
    }

    /// Counters of the whole qdisc.
    pub fn stats(&self) -> QdiscStats {
        each!(&self.sched, q => q.stats())
    }

    /// HTB classes: (tc minor, parameters, counters); empty for others.
    pub fn class_stats(&self) -> Vec<(u32, ClassConfig, ClassStats)> {
        let Sched::Htb(h) = &self.sched else {
            return Vec::new();
        };
        self.classes
            .iter()
            .filter_map(|(m, id, cfg)| h.class_stats(*id).map(|s| (*m, *cfg, s)))
            .collect()
    }
}

/// Sends one dequeued frame out of `p` (TAP write, or the AF_PACKET
/// batch); false when the port refused it.
fn send(p: &mut DpPort, buf: &[u8]) -> bool {
    let eth = buf.len().saturating_sub(HDR) as u64;
    let ok = match &mut p.io {
        PortIo::Tap(t) => t.write(buf).is_ok(),
        PortIo::Packet(s) => {
            let Some(pieces) = Pieces::new(buf, super::port::VlanEdit::Keep) else {
                return false;
            };
            if p.txq.push(&pieces) {
                if p.txq.is_full() {
                    let f = p.txq.flush(s);
                    p.stats.tx_packets += f.sent;
                    p.stats.tx_bytes += f.bytes;
                    p.stats.tx_dropped += f.dropped;
                }
                return true;
            }
            let f = p.txq.flush(s);
            p.stats.tx_packets += f.sent;
            p.stats.tx_bytes += f.bytes;
            p.stats.tx_dropped += f.dropped;
            s.send_batch(&[pieces.slices()]).is_ok_and(|n| n == 1)
        }
        // Tunnel ports encapsulate before any queue (`transmit` sends them
        // to `tunnel_transmit` first), so none reaches a scheduler.
        PortIo::Dummy(d) => d.push(&[buf]),
        PortIo::Patch | PortIo::Down(_) | PortIo::Tunnel(_) => false,
    };
    if ok && !matches!(p.io, PortIo::Packet(_)) {
        p.stats.tx_packets += 1;
        p.stats.tx_bytes += eth;
    }
    ok
}

/// The egress timer (CLOCK_MONOTONIC, non-blocking), armed relative to
/// the datapath's clock so an injected clock works too.
pub(super) fn new_timer() -> std::io::Result<TimerFd> {
    TimerFd::new(
        ClockId::CLOCK_MONOTONIC,
        TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC,
    )
    .map_err(std::io::Error::from)
}

impl Datapath {
    fn now_ns(&self) -> u64 {
        u64::try_from(self.clock.now().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Gives port `slot` the scheduler `spec` asks for (keeping the running
    /// one, and its queued frames, when the spec is unchanged). Patch ports
    /// are never shaped: their frames are switched again at once.
    pub(super) fn apply_egress(&mut self, slot: usize, spec: Option<EgressSpec>) -> Option<String> {
        let now = self.now_ns();
        let p = self.ports.get_mut(slot)?.as_mut()?;
        let spec = spec.filter(|_| !matches!(p.io, PortIo::Patch));
        if p.egress.as_ref().map(Egress::spec) == spec.as_ref() {
            return None;
        }
        let mut err = None;
        p.egress = match spec {
            None => None,
            Some(s) => match Egress::new(&s, now) {
                Ok(e) => Some(e),
                Err(e) => {
                    err = Some(format!("interface {}: qos: {e}", p.name));
                    None
                }
            },
        };
        self.shaped = self
            .ports
            .iter()
            .flatten()
            .filter(|p| p.egress.is_some())
            .count();
        err
    }

    /// Queues a frame for shaped port `out`; counts a drop if refused.
    pub(super) fn enqueue_egress(&mut self, bi: usize, out: usize, pieces: &Pieces<'_>) {
        let now = self.now_ns();
        let meta = self.egress_meta;
        let Some(Some(p)) = self.ports.get_mut(out) else {
            return;
        };
        let Some(eg) = p.egress.as_mut() else {
            return;
        };
        if let Err(why) = eg.enqueue(pieces, &meta, now) {
            p.stats.tx_dropped += 1;
            if let Some(Some(b)) = self.bridges.get_mut(bi) {
                b.drops.bump(why);
            }
            return;
        }
        // Only thread 0 dequeues (`run_egress`, after each of its bursts
        // and on the timer). A frame queued by another thread while the
        // timer is off would wait for thread 0's next wake-up, up to its
        // 100 ms epoll timeout: fire the timer now instead, which wakes it.
        if self.cur_thread != 0 && !self.timer_armed {
            self.timer_armed = true;
            let at = nix::sys::time::TimeSpec::from_duration(MIN_WAIT);
            if let Err(e) = self
                .timer
                .set(Expiration::OneShot(at), TimerSetTimeFlags::empty())
            {
                tracing::warn!("egress timer: {e}");
            }
        }
    }

    /// Sends what the schedulers release now and re-arms the timer for the
    /// earliest next release. Cheap when no port is shaped.
    pub(super) fn run_egress(&mut self) {
        if self.shaped == 0 && !self.timer_armed {
            return;
        }
        let now = self.now_ns();
        let mut next: Option<u64> = None;
        for p in self.ports.iter_mut().flatten() {
            let Some(mut eg) = p.egress.take() else {
                continue;
            };
            for _ in 0..MAX_DEQUEUE {
                let Some(f) = eg.dequeue(now) else { break };
                if !send(p, eg.bytes(&f)) {
                    p.stats.tx_dropped += 1;
                }
                eg.release(f);
            }
            if let PortIo::Packet(s) = &p.io {
                if !p.txq.is_empty() {
                    let f = p.txq.flush(s);
                    p.stats.tx_packets += f.sent;
                    p.stats.tx_bytes += f.bytes;
                    p.stats.tx_dropped += f.dropped;
                }
            }
            if let Some(t) = eg.next_ready(now) {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
            p.egress = Some(eg);
        }
        let res = match next {
            Some(t) => {
                let wait = Duration::from_nanos(t.saturating_sub(now)).max(MIN_WAIT);
                self.timer_armed = true;
                self.timer.set(
                    Expiration::OneShot(nix::sys::time::TimeSpec::from_duration(wait)),
                    TimerSetTimeFlags::empty(),
                )
            }
            None => {
                self.timer_armed = false;
                self.timer.unset()
            }
        };
        if let Err(e) = res {
            tracing::warn!("egress timer: {e}");
        }
    }

    /// Consumes the timer's expiration count (it is level-triggered).
    pub(super) fn ack_timer(&self) {
        let mut b = [0u8; 8];
        let _ = nix::unistd::read(self.timer.as_fd(), &mut b);
    }

    /// The scheduler of port `name`, for `tc -s … show`.
    pub fn egress(&self, name: &str) -> Option<&Egress> {
        let s = self.port_slot(name)?;
        self.ports[s].as_ref()?.egress.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::qos_spec::{ClassSpec, HtbSpec};
    use qos::Rate;

    fn frame(len: usize) -> Vec<u8> {
        let mut f = vec![0u8; HDR + len];
        f[HDR + 12] = 0x08;
        f
    }

    #[test]
    fn gso_frames_are_charged_per_segment() {
        let mut h = [0u8; HDR];
        assert_eq!(wire_len(&h, 1514), 1514);
        h[1] = 1; // TCPv4
        h[2..4].copy_from_slice(&66u16.to_le_bytes());
        h[4..6].copy_from_slice(&1448u16.to_le_bytes());
        // 66 + 10 × 1448 bytes: ten segments of 66 + 1448.
        assert_eq!(wire_len(&h, 66 + 14480), 10 * (66 + 1448));
        assert_eq!(wire_len(&h, 66 + 14481), 10 * (66 + 1448) + 66 + 1);
    }

    #[test]
    fn pool_bounds_memory_and_limit_drops_are_counted() {
        let r = Rate::from_bps(1_000_000).unwrap();
        let spec = EgressSpec::Htb(HtbSpec {
            classes: vec![ClassSpec {
                id: 1,
                parent: None,
                cfg: ClassConfig::new(r).ceil(r),
                leaf: LeafSpec::Pfifo(5),
            }],
            default: Some(1),
            ..HtbSpec::default()
        });
        let mut eg = Egress::new(&spec, 0).unwrap();
        let f = frame(1000);
        let p = Pieces::new(&f, super::super::port::VlanEdit::Keep).unwrap();
        let m = Meta::default();
        // Five fit the pfifo, the rest are refused and their slots freed.
        let ok = (0..20).filter(|_| eg.enqueue(&p, &m, 0).is_ok()).count();
        assert_eq!(ok, 5);
        assert_eq!(eg.dropped_limit, 15);
        assert_eq!(eg.pool.in_use(), 5);
        // The bucket lets a burst through, then the rate governs.
        let mut out = 0;
        while let Some(f) = eg.dequeue(0) {
            assert_eq!(eg.bytes(&f).len(), HDR + 1000);
            eg.release(f);
            out += 1;
        }
        assert!(out < 5, "1 Mbit/s released {out} frames at once");
        let t = eg.next_ready(0).expect("backlog");
        assert!(t > 0);
        // 4 × 1010 bytes at 1 Mbit/s take about 32 ms.
        for ms in 1..=40u64 {
            while let Some(f) = eg.dequeue(ms * 1_000_000) {
                eg.release(f);
            }
        }
        assert_eq!(eg.pool.in_use(), 0);
        // Pool exhaustion: a TBF with a huge limit runs out of big slots.
        let tbf = EgressSpec::Tbf(qos::TbfConfig {
            rate_bps: 1000,
            burst: 100_000,
            limit: qos::tbf::TbfLimit::Bytes(1 << 30),
        });
        let mut eg = Egress::new(&tbf, 0).unwrap();
        let big = frame(60_000);
        let p = Pieces::new(&big, super::super::port::VlanEdit::Keep).unwrap();
        let ok = (0..BIG_SLOTS + 3)
            .filter(|_| eg.enqueue(&p, &m, 0).is_ok())
            .count();
        assert_eq!(ok, BIG_SLOTS);
        assert_eq!(eg.dropped_nobuf, 3);
    }

    #[test]
    fn u32_filters_match_every_given_field() {
        let f = Filter {
            src: Some((0x0102_0304, 0xffff_ffff)),
            dport: Some((80, 0xffff)),
            flowid: 0x10,
            ..Filter::default()
        };
        let mut m = Meta {
            ipv4: true,
            src: 0x0102_0304,
            dport: 80,
            ..Meta::default()
        };
        assert!(filter_matches(&f, &m));
        m.dport = 81;
        assert!(!filter_matches(&f, &m));
        m.dport = 80;
        m.ipv4 = false;
        assert!(!filter_matches(&f, &m));
    }
}
