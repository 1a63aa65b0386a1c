//! Per-thread transmit batch: the frames one datapath thread produced
//! while it held the datapath lock, sent after it let go of the lock.
//!
//! Writing to a TAP runs the receiving namespace's stack inside the
//! `write(2)` (and `sendmmsg(2)` on AF_PACKET does the qdisc work), so the
//! send is the costly part of forwarding. Each datapath thread copies the
//! small frames of a burst into its own batch (fixed slots, allocated once
//! when the thread starts) together with a reference-counted handle on the
//! output port's fd, and sends them with the lock released, while another
//! thread processes its own burst. This is OVS's per-thread transmit queue
//! (dpif-netdev's `tx_port` per PMD thread, flushed at the end of each
//! receive batch): any thread may send to any port, whichever thread polls
//! that port's receive side, because the kernel serialises concurrent
//! writes to one TAP or packet socket itself.
//!
//! A frame bound for a TAP that stays as it is in the thread's receive
//! buffer until the flush (no header rewrite or NAT after the output, see
//! `execute.rs`) is not copied: the batch keeps a reference (buffer index,
//! length, VLAN edit) and writes it from the receive buffer, so 64 KB TSO
//! frames leave the lock too. Other frames too big for a slot are sent at
//! once by the caller after [`TxBatch::flush`] has emptied the batch, to
//! keep the order of frames on each port. Counters are folded into the
//! ports by [`super::Datapath::apply_tx`] the next time the thread holds
//! the lock.

use std::io;
use std::sync::Arc;

use std::os::fd::AsRawFd;

use netio::afpacket::{AfPacket, MAX_BATCH};
use netio::tap::Tap;
use netio::uring::{Batch, WriteReq, MAX_IOV};

use super::port::{Pieces, PortIo, VlanEdit, HDR};

/// Largest frame (virtio header included) that is batched rather than
/// sent at once.
pub const SLOT: usize = 2048;

/// Frames one batch holds before it must be flushed.
pub const CAPACITY: usize = 256;

/// Room a thread keeps free before it processes another received frame
/// (the outputs of one frame: a flood to this many ports still batches).
pub const HEADROOM: usize = 64;

/// One queued frame.
#[derive(Clone, Copy, Debug)]
enum Ent {
    /// Copied into the slot of the same index.
    Copy { dest: u8, len: u16 },
    /// Still in receive buffer `buf` (its first `len` bytes), sent with
    /// `edit`.
    Ref {
        dest: u8,
        buf: u8,
        len: u32,
        edit: VlanEdit,
    },
}

/// Distinct output ports one batch holds before it must be flushed.
pub const MAX_DESTS: usize = 16;

/// Where a batched frame goes.
#[derive(Clone, Debug)]
pub enum TxIo {
    /// A TAP: one `write(2)` per frame.
    Tap(Arc<Tap>),
    /// An AF_PACKET socket: `sendmmsg(2)` in runs of [`MAX_BATCH`].
    Packet(Arc<AfPacket>),
}

impl TxIo {
    /// The shared fd of a TAP or AF_PACKET port; None for other types.
    pub fn of(io: &PortIo) -> Option<TxIo> {
        match io {
            PortIo::Tap(t) => Some(TxIo::Tap(t.clone())),
            PortIo::Packet(s) => Some(TxIo::Packet(s.clone())),
            _ => None,
        }
    }
}

/// Where a frame is queued for: port slot, its generation when queued
/// (a port reopened meanwhile does not get the old one's counters), and
/// the lane, the datapath thread whose TAP queue the frame is written
/// through (`super::rxq::tx_queue`; one port may be written through
/// several).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct To {
    /// Port slot.
    pub slot: usize,
    /// Generation of the slot.
    pub gen: u32,
    /// Lane.
    pub lane: usize,
}

/// One output port (and lane) of a batch and what happened to its frames.
#[derive(Debug)]
pub struct Dest {
    /// Port slot.
    pub slot: usize,
    /// Generation of the slot.
    pub gen: u32,
    lane: usize,
    /// Dropped by the flush, so that a deleted or reopened port's fd is not
    /// kept open until the counters are folded in.
    io: Option<TxIo>,
    /// What happened to its frames.
    pub counts: Counts,
}

/// What happened to the frames of one port in a flush.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Frames sent.
    pub sent: u64,
    /// Their Ethernet bytes.
    pub bytes: u64,
    /// Frames refused because the queue was full (`EAGAIN`).
    pub dropped: u64,
    /// Frames that failed otherwise.
    pub errors: u64,
}

/// The batch of one thread.
pub struct TxBatch {
    buf: Box<[u8]>,
    ents: Box<[Ent]>,
    n: usize,
    /// How many of the entries are [`Ent::Ref`].
    refs: usize,
    dests: Vec<Dest>,
    /// Whether `dests` holds counters not yet folded into the ports.
    flushed: bool,
}

impl std::fmt::Debug for TxBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TxBatch({} queued, {} ports)", self.n, self.dests.len())
    }
}

impl Default for TxBatch {
    fn default() -> Self {
        TxBatch {
            buf: vec![0u8; SLOT * CAPACITY].into_boxed_slice(),
            ents: vec![Ent::Copy { dest: 0, len: 0 }; CAPACITY].into_boxed_slice(),
            n: 0,
            refs: 0,
            dests: Vec::with_capacity(MAX_DESTS),
            flushed: false,
        }
    }
}

impl TxBatch {
    /// Whether no frame waits to be sent.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Entries that can still be queued.
    pub fn room(&self) -> usize {
        CAPACITY - self.n
    }

    /// Index of the entry of `to` in `dests`, added if needed; None when
    /// the batch cannot take a frame for it.
    fn dest(&mut self, to: To, io: impl FnOnce() -> Option<TxIo>) -> Option<usize> {
        if self.n == CAPACITY || self.flushed {
            return None;
        }
        match self
            .dests
            .iter()
            .position(|d| d.slot == to.slot && d.gen == to.gen && d.lane == to.lane)
        {
            Some(d) => Some(d),
            None if self.dests.len() < MAX_DESTS => {
                self.dests.push(Dest {
                    slot: to.slot,
                    gen: to.gen,
                    lane: to.lane,
                    io: Some(io()?),
                    counts: Counts::default(),
                });
                Some(self.dests.len() - 1)
            }
            None => None,
        }
    }

    /// Queue a copy of `p` for `to` through `io`.
    /// False when it does not fit (too big, batch full, too many ports, or
    /// counters of an earlier flush still to fold in): the caller flushes
    /// or sends directly.
    pub fn push(&mut self, to: To, io: impl FnOnce() -> Option<TxIo>, p: &Pieces<'_>) -> bool {
        let len = p.hdr.len() + p.frame_len();
        if len > SLOT {
            return false;
        }
        let Some(d) = self.dest(to, io) else {
            return false;
        };
        p.copy_to(&mut self.buf[self.n * SLOT..(self.n + 1) * SLOT]);
        // `d < MAX_DESTS` and `len <= SLOT` fit their fields.
        self.ents[self.n] = Ent::Copy {
            dest: d as u8,
            len: len as u16,
        };
        self.n += 1;
        true
    }

    /// Queue the frame in receive buffer `buf` (its first `len` bytes)
    /// with `edit` for TAP port `to`, without copying it: the caller
    /// promises the buffer keeps these bytes until [`TxBatch::flush`].
    /// False if the port is not a TAP or the batch is full.
    pub fn push_ref(
        &mut self,
        to: To,
        io: impl FnOnce() -> Option<TxIo>,
        buf: usize,
        len: usize,
        edit: VlanEdit,
    ) -> bool {
        let (Ok(buf), Ok(len)) = (u8::try_from(buf), u32::try_from(len)) else {
            return false;
        };
        let Some(d) = self.dest(to, io) else {
            return false;
        };
        if !matches!(self.dests[d].io, Some(TxIo::Tap(_))) {
            return false;
        }
        self.ents[self.n] = Ent::Ref {
            dest: d as u8,
            buf,
            len,
            edit,
        };
        self.n += 1;
        self.refs += 1;
        true
    }

    /// Send everything queued, port by port in queue order, referenced
    /// frames from `rx` (the thread's receive buffers); the outcome is kept
    /// per port until [`TxBatch::take_results`]. Returns false, sending
    /// nothing, when frames refer to receive buffers and `rx` is empty
    /// (a flush under the lock, while a buffer is being processed).
    pub fn flush(&mut self, rx: &[Vec<u8>], uring: Option<&mut Batch>) -> bool {
        if self.n == 0 {
            return true;
        }
        if self.refs > 0 && rx.is_empty() {
            return false;
        }
        if let Some(u) = uring {
            self.flush_taps_uring(rx, u);
        }
        for d in 0..self.dests.len() {
            let Dest { io, counts, .. } = &mut self.dests[d];
            let Some(io) = io.take() else { continue };
            match &io {
                TxIo::Tap(t) => {
                    for (i, e) in self.ents[..self.n].iter().enumerate() {
                        match *e {
                            Ent::Copy { dest, len } if usize::from(dest) == d => {
                                let len = usize::from(len);
                                let frame = &self.buf[i * SLOT..i * SLOT + len];
                                count(counts, len, t.write(frame));
                            }
                            Ent::Ref {
                                dest,
                                buf,
                                len,
                                edit,
                            } if usize::from(dest) == d => {
                                let frame = rx
                                    .get(usize::from(buf))
                                    .and_then(|b| b.get(..len as usize))
                                    .and_then(|f| Pieces::new(f, edit));
                                match frame {
                                    Some(p) => {
                                        let len = p.hdr.len() + p.frame_len();
                                        count(counts, len, p.write_tap(t));
                                    }
                                    None => counts.errors += 1,
                                }
                            }
                            _ => {}
                        }
                    }
                }
                TxIo::Packet(s) => {
                    let mut frames: [[&[u8]; 4]; MAX_BATCH] = [[&[]; 4]; MAX_BATCH];
                    let mut lens = [0usize; MAX_BATCH];
                    let mut k = 0;
                    let mut i = 0;
                    while i <= self.n {
                        // Only copies go to AF_PACKET ports (`push_ref`).
                        let copy = match self.ents.get(i) {
                            Some(&Ent::Copy { dest, len }) if i < self.n => {
                                (usize::from(dest) == d).then_some(len)
                            }
                            _ => None,
                        };
                        if let Some(len) = copy {
                            let len = usize::from(len);
                            frames[k][0] = &self.buf[i * SLOT..i * SLOT + len];
                            lens[k] = len;
                            k += 1;
                        }
                        if k == MAX_BATCH || (i == self.n && k > 0) {
                            send_run(counts, s, &frames[..k], &lens[..k]);
                            k = 0;
                        }
                        i += 1;
                    }
                }
            }
        }
        self.n = 0;
        self.refs = 0;
        self.flushed = true;
        true
    }

    /// Send every frame bound for a TAP in one `io_uring_enter(2)`
    /// ([`netio::uring`]), in queue order, and let go of those ports'
    /// handles; AF_PACKET ports are left to [`TxBatch::flush`].
    fn flush_taps_uring(&mut self, rx: &[Vec<u8>], u: &mut Batch) {
        const NONE: &[u8] = &[];
        let TxBatch {
            buf,
            ents,
            n,
            dests,
            ..
        } = self;
        // Pass 1: the pieces of each frame; adjusted headers and tags live
        // in these arrays (on the stack, no allocation) until the send.
        let mut hdrs = [[0u8; HDR]; CAPACITY];
        let mut tags = [[0u8; 4]; CAPACITY];
        let mut parts: [(u8, usize, &[u8], &[u8]); CAPACITY] = [(0, 0, NONE, NONE); CAPACITY];
        let mut fds = [-1; MAX_DESTS];
        for (d, dest) in dests.iter().enumerate() {
            if let Some(TxIo::Tap(t)) = &dest.io {
                fds[d] = t.as_raw_fd();
            }
        }
        let mut k = 0;
        for (i, e) in ents[..*n].iter().enumerate() {
            let (dest, frame) = match *e {
                Ent::Copy { dest, len } => (
                    dest,
                    Some((&buf[i * SLOT..i * SLOT + usize::from(len)], VlanEdit::Keep)),
                ),
                Ent::Ref {
                    dest,
                    buf: b,
                    len,
                    edit,
                } => (
                    dest,
                    rx.get(usize::from(b))
                        .and_then(|b| b.get(..len as usize))
                        .map(|f| (f, edit)),
                ),
            };
            let d = usize::from(dest);
            if fds[d] < 0 {
                continue;
            }
            match frame.and_then(|(f, edit)| Pieces::new(f, edit)) {
                Some(p) => {
                    hdrs[k] = p.hdr;
                    tags[k] = p.tag;
                    parts[k] = (dest, p.tag_len, p.head, p.tail);
                    k += 1;
                }
                None => dests[d].counts.errors += 1,
            }
        }
        // Pass 2: one request per frame.
        let mut reqs: [WriteReq<'_>; CAPACITY] = [(-1, [NONE; MAX_IOV]); CAPACITY];
        for (j, (dest, tag_len, head, tail)) in parts[..k].iter().enumerate() {
            reqs[j] = (
                fds[usize::from(*dest)],
                [&hdrs[j][..], head, &tags[j][..*tag_len], tail],
            );
        }
        u.write(&reqs[..k], |j, res| {
            let (dest, tag_len, head, tail) = parts[j];
            let len = HDR + head.len() + tag_len + tail.len();
            count(&mut dests[usize::from(dest)].counts, len, res);
        });
        for (d, fd) in fds.iter().enumerate() {
            if *fd >= 0 {
                dests[d].io = None;
            }
        }
    }

    /// The per-port outcome of the last flush, then an empty batch. Drops
    /// the port handles (an fd closes here if its port was deleted since).
    pub fn take_results(&mut self) -> std::vec::Drain<'_, Dest> {
        self.flushed = false;
        self.dests.drain(..)
    }
}

fn count(d: &mut Counts, len: usize, res: io::Result<usize>) {
    match res {
        Ok(_) => {
            d.sent += 1;
            d.bytes += len.saturating_sub(HDR) as u64;
        }
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => d.dropped += 1,
        Err(_) => d.errors += 1,
    }
}

/// One `sendmmsg(2)` for a run of frames, retried once for the rest.
fn send_run(d: &mut Counts, s: &AfPacket, frames: &[[&[u8]; 4]], lens: &[usize]) {
    let mut start = 0;
    for _ in 0..2 {
        if start == frames.len() {
            break;
        }
        match s.send_batch(&frames[start..]) {
            Ok(k) => {
                for len in &lens[start..start + k] {
                    count(d, *len, Ok(1));
                }
                start += k;
            }
            Err(_) => break,
        }
    }
    d.dropped += (frames.len() - start) as u64;
}

#[cfg(test)]
mod tests {
    use super::*;

    const TO: To = To {
        slot: 0,
        gen: 0,
        lane: 0,
    };

    #[test]
    fn refuses_frames_bigger_than_a_slot() {
        let mut b = TxBatch::default();
        let big = vec![0u8; HDR + SLOT];
        let p = Pieces::new(&big, VlanEdit::Keep).unwrap();
        let never = || -> Option<TxIo> { unreachable!("no dest for a refused frame") };
        assert!(!b.push(TO, never, &p));
        assert!(b.is_empty());
    }

    #[test]
    fn full_batch_refuses_until_flushed_and_results_taken() {
        let mut b = TxBatch {
            n: CAPACITY,
            ..TxBatch::default()
        };
        let small = vec![0u8; HDR + 60];
        let p = Pieces::new(&small, VlanEdit::Keep).unwrap();
        let never = || -> Option<TxIo> { unreachable!("batch is full") };
        assert!(!b.push(TO, never, &p));
        b.n = 0;
        b.flushed = true;
        assert!(!b.push(TO, never, &p), "results not folded in yet");
        assert!(!b.push_ref(TO, never, 0, small.len(), VlanEdit::Keep));
        assert_eq!(b.take_results().count(), 0);
        assert!(!b.flushed);
    }
}
