//! Transmit batching for AF_PACKET ports: small frames are copied into a
//! per-port ring of fixed slots (allocated once) and sent together with one
//! `sendmmsg(2)` when the burst that produced them ends; frames too big for
//! a slot (GSO super-frames) flush the queue, to keep order, and go out
//! alone. Copying a small frame costs far less than the system call it
//! saves.

use netio::afpacket::{AfPacket, MAX_BATCH};

use super::port::Pieces;

/// Largest frame (virtio header included) that is queued rather than sent
/// at once.
pub const SLOT: usize = 2048;

/// The queue of one port.
pub struct TxQueue {
    buf: Box<[u8]>,
    lens: [usize; MAX_BATCH],
    n: usize,
}

impl std::fmt::Debug for TxQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TxQueue({} queued)", self.n)
    }
}

/// What a flush did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flushed {
    /// Frames the kernel took.
    pub sent: u64,
    /// Their bytes (Ethernet, without the virtio header).
    pub bytes: u64,
    /// Frames refused (queue full, error).
    pub dropped: u64,
}

impl Default for TxQueue {
    fn default() -> Self {
        TxQueue {
            buf: vec![0u8; SLOT * MAX_BATCH].into_boxed_slice(),
            lens: [0; MAX_BATCH],
            n: 0,
        }
    }
}

impl TxQueue {
    /// Whether frames are waiting.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Queue `p` if it fits a slot and the queue has room; false otherwise
    /// (the caller flushes and sends it directly).
    pub fn push(&mut self, p: &Pieces<'_>) -> bool {
        let len = p.hdr.len() + p.frame_len();
        if len > SLOT || self.n == MAX_BATCH {
            return false;
        }
        p.copy_to(&mut self.buf[self.n * SLOT..(self.n + 1) * SLOT]);
        self.lens[self.n] = len;
        self.n += 1;
        true
    }

    /// Whether the queue is full.
    pub fn is_full(&self) -> bool {
        self.n == MAX_BATCH
    }

    /// Send everything queued in one `sendmmsg(2)` (retrying once for the
    /// rest if the kernel took only part).
    pub fn flush(&mut self, sock: &AfPacket) -> Flushed {
        let mut out = Flushed::default();
        let mut start = 0;
        let mut tries = 0;
        while start < self.n && tries < 2 {
            let mut frames: [[&[u8]; 4]; MAX_BATCH] = [[&[]; 4]; MAX_BATCH];
            for (i, f) in frames.iter_mut().enumerate().take(self.n).skip(start) {
                f[0] = &self.buf[i * SLOT..i * SLOT + self.lens[i]];
            }
            match sock.send_batch(&frames[start..self.n]) {
                Ok(k) => {
                    for i in start..start + k {
                        out.sent += 1;
                        out.bytes += (self.lens[i] - super::port::HDR) as u64;
                    }
                    start += k;
                }
                Err(_) => break,
            }
            tries += 1;
        }
        out.dropped = (self.n - start) as u64;
        self.n = 0;
        out
    }
}
