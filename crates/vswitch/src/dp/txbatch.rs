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
//! Frames too big for a slot (TSO super-frames) are sent at once by the
//! caller after [`TxBatch::flush`] has emptied the batch, to keep the order
//! of frames on each port. Counters are folded into the ports by
//! [`super::Datapath::apply_tx`] the next time the thread holds the lock.

use std::io;
use std::sync::Arc;

use netio::afpacket::{AfPacket, MAX_BATCH};
use netio::tap::Tap;

use super::port::{Pieces, PortIo, HDR};

/// Largest frame (virtio header included) that is batched rather than
/// sent at once.
pub const SLOT: usize = 2048;

/// Frames one batch holds before it must be flushed.
pub const CAPACITY: usize = 256;

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

/// One output port of a batch and what happened to its frames.
#[derive(Debug)]
pub struct Dest {
    /// Port slot and its generation when queued (a port reopened meanwhile
    /// does not get the old one's counters).
    pub slot: usize,
    /// Generation of the slot.
    pub gen: u32,
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
    /// (index into `dests`, frame length with header) per queued frame.
    ents: Box<[(u8, u16)]>,
    n: usize,
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
            ents: vec![(0u8, 0u16); CAPACITY].into_boxed_slice(),
            n: 0,
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

    /// Queue `p` for port `slot` (generation `gen`) through `io`. False
    /// when it does not fit (too big, batch full, too many ports, or
    /// counters of an earlier flush still to fold in): the caller flushes
    /// or sends directly.
    pub fn push(
        &mut self,
        slot: usize,
        gen: u32,
        io: impl FnOnce() -> Option<TxIo>,
        p: &Pieces<'_>,
    ) -> bool {
        let len = p.hdr.len() + p.frame_len();
        if len > SLOT || self.n == CAPACITY || self.flushed {
            return false;
        }
        let d = match self
            .dests
            .iter()
            .position(|d| d.slot == slot && d.gen == gen)
        {
            Some(d) => d,
            None if self.dests.len() < MAX_DESTS => {
                let Some(io) = io() else {
                    return false;
                };
                self.dests.push(Dest {
                    slot,
                    gen,
                    io: Some(io),
                    counts: Counts::default(),
                });
                self.dests.len() - 1
            }
            None => return false,
        };
        let out = &mut self.buf[self.n * SLOT..(self.n + 1) * SLOT];
        let mut off = 0;
        for s in p.slices() {
            out[off..off + s.len()].copy_from_slice(s);
            off += s.len();
        }
        // `d < MAX_DESTS` and `len <= SLOT` fit their fields.
        self.ents[self.n] = (d as u8, len as u16);
        self.n += 1;
        true
    }

    /// Send everything queued, port by port in queue order; the outcome is
    /// kept per port until [`TxBatch::take_results`].
    pub fn flush(&mut self) {
        if self.n == 0 {
            return;
        }
        for d in 0..self.dests.len() {
            let Dest { io, counts, .. } = &mut self.dests[d];
            let Some(io) = io.take() else { continue };
            match &io {
                TxIo::Tap(t) => {
                    for (i, &(e, len)) in self.ents[..self.n].iter().enumerate() {
                        if usize::from(e) != d {
                            continue;
                        }
                        let len = usize::from(len);
                        let frame = &self.buf[i * SLOT..i * SLOT + len];
                        count(counts, len, t.write(frame).map(|_| 1));
                    }
                }
                TxIo::Packet(s) => {
                    let mut frames: [[&[u8]; 4]; MAX_BATCH] = [[&[]; 4]; MAX_BATCH];
                    let mut lens = [0usize; MAX_BATCH];
                    let mut k = 0;
                    let mut i = 0;
                    while i <= self.n {
                        if i < self.n && usize::from(self.ents[i].0) == d {
                            let len = usize::from(self.ents[i].1);
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
        self.flushed = true;
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
    use crate::dp::port::VlanEdit;

    fn frame(len: usize) -> Vec<u8> {
        let mut f = vec![0u8; HDR + len];
        f[HDR + 12] = 0x08;
        f
    }

    #[test]
    fn refuses_frames_bigger_than_a_slot() {
        let mut b = TxBatch::default();
        let big = frame(SLOT);
        let p = Pieces::new(&big, VlanEdit::Keep).unwrap();
        let never = || -> Option<TxIo> { unreachable!("no dest for a refused frame") };
        assert!(!b.push(0, 0, never, &p));
        assert!(b.is_empty());
    }

    #[test]
    fn full_batch_refuses_until_flushed_and_results_taken() {
        let mut b = TxBatch::default();
        b.n = CAPACITY;
        let small = frame(60);
        let p = Pieces::new(&small, VlanEdit::Keep).unwrap();
        let never = || -> Option<TxIo> { unreachable!("batch is full") };
        assert!(!b.push(0, 0, never, &p));
        b.n = 0;
        b.flushed = true;
        assert!(!b.push(0, 0, never, &p), "results not folded in yet");
        assert_eq!(b.take_results().count(), 0);
        assert!(!b.flushed);
    }
}
