//! Capture taps: copies of the frames seen at a port, in both directions
//! (received from it, sent to it), for `cloudnet capture` (the `capture`
//! control method, PROTOCOL.md 1.3).
//!
//! * Zero cost when nothing captures: the datapath checks
//!   [`Captures::is_empty`] (a length compare under the lock it already
//!   holds) before anything else; no allocation, no atomic.
//! * The filter is an ovs-ofctl match (ovs-fields(7)) evaluated here on the
//!   frame's flow key, so only matching frames are copied and cross the
//!   socket.
//! * Each tap has a bounded queue; when the reader is slow the frame is
//!   dropped and counted (never blocking the datapath), and the count is
//!   reported to the client.
//! * Frames are taken as they are at the port: TSO/GSO super-frames (up to
//!   64 KiB, from TAPs with `IFF_VNET_HDR`) are not segmented, as tcpdump
//!   on a TAP with offloads shows them too.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::SystemTime;

use packet::FlowKey;

/// Direction of a captured frame, seen from the switch port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    /// Received from the port (the VM sent it).
    Rx,
    /// Sent to the port (the VM receives it).
    Tx,
}

/// One captured frame.
#[derive(Clone, Debug)]
pub struct Frame {
    /// Wall-clock time it was seen.
    pub time: SystemTime,
    pub dir: Dir,
    /// The Ethernet frame (no virtio header).
    pub data: Vec<u8>,
}

/// What a capture client holds: the frames and the drop count.
pub struct Handle {
    pub id: u64,
    pub frames: Receiver<Frame>,
    /// Frames dropped because the queue was full.
    pub dropped: Arc<AtomicU64>,
}

struct Tap {
    id: u64,
    slot: usize,
    gen: u32,
    filter: Option<flow::Match>,
    tx: SyncSender<Frame>,
    dropped: Arc<AtomicU64>,
}

/// The active taps of a datapath.
pub struct Captures {
    taps: Vec<Tap>,
    next_id: u64,
    /// Reused to flatten a transmitted frame before filtering.
    scratch: Vec<u8>,
    /// Wall clock for timestamps (injected for tests).
    wall: fn() -> SystemTime,
}

impl Default for Captures {
    fn default() -> Self {
        Captures {
            taps: Vec::new(),
            next_id: 1,
            scratch: Vec::new(),
            wall: SystemTime::now,
        }
    }
}

impl Captures {
    /// No tap is active (the datapath's fast check).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.taps.is_empty()
    }

    /// Number of active taps.
    pub fn len(&self) -> usize {
        self.taps.len()
    }

    /// Add a tap on port `slot` (generation `gen`, so a reused slot is not
    /// captured) with a queue of `queue` frames.
    pub fn add(
        &mut self,
        slot: usize,
        gen: u32,
        filter: Option<flow::Match>,
        queue: usize,
    ) -> Handle {
        let (tx, rx) = sync_channel(queue.max(1));
        let id = self.next_id;
        self.next_id += 1;
        let dropped = Arc::new(AtomicU64::new(0));
        self.taps.push(Tap {
            id,
            slot,
            gen,
            filter,
            tx,
            dropped: dropped.clone(),
        });
        Handle {
            id,
            frames: rx,
            dropped,
        }
    }

    /// Remove tap `id` (the client went away).
    pub fn remove(&mut self, id: u64) {
        self.taps.retain(|t| t.id != id);
    }

    /// A frame at port `slot`: offer it to the taps on that port. `pieces`
    /// are the frame's bytes in order (one slice for a received frame, the
    /// head/tag/tail of a transmitted one).
    pub fn offer(&mut self, slot: usize, gen: u32, ofport: u16, dir: Dir, pieces: &[&[u8]]) {
        if !self.taps.iter().any(|t| t.slot == slot && t.gen == gen) {
            return;
        }
        self.scratch.clear();
        for p in pieces {
            self.scratch.extend_from_slice(p);
        }
        let mut words = None;
        let time = (self.wall)();
        for t in self.taps.iter().filter(|t| t.slot == slot && t.gen == gen) {
            if let Some(m) = &t.filter {
                let w = words.get_or_insert_with(|| frame_words(&self.scratch, ofport));
                if !m.matches(w) {
                    continue;
                }
            }
            let f = Frame {
                time,
                dir,
                data: self.scratch.clone(),
            };
            match t.tx.try_send(f) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => {
                    t.dropped.fetch_add(1, Ordering::Relaxed);
                }
                // The client is gone; its thread removes the tap.
                Err(TrySendError::Disconnected(_)) => {}
            }
        }
    }
}

/// The flow-key words of an Ethernet frame with `in_port` set to the
/// captured port, as the classifier would see it. A frame whose upper layers
/// do not parse keeps what did parse (as the datapath switches it).
fn frame_words(eth: &[u8], ofport: u16) -> flow::flowvec::Words {
    let mut key = FlowKey::default();
    let _ = packet::extract(eth, &mut key);
    flow::Packet {
        key,
        meta: flow::Metadata {
            in_port: u32::from(ofport),
            ..flow::Metadata::default()
        },
    }
    .to_words()
}

/// Parse a capture filter: an ovs-ofctl match without actions.
pub fn parse_filter(s: &str) -> Result<flow::Match, String> {
    flow::parse_filter(s)
        .map(|p| p.flow.matches)
        .map_err(|e| format!("capture filter {s:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn icmp_frame() -> Vec<u8> {
        let mut f = vec![0u8; 14 + 20 + 8];
        f[0..6].copy_from_slice(&[2, 0, 0, 0, 0, 2]);
        f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        f[14] = 0x45;
        f[16..18].copy_from_slice(&28u16.to_be_bytes());
        f[22] = 64;
        f[23] = 1; // ICMP
        f[26..30].copy_from_slice(&[10, 0, 0, 1]);
        f[30..34].copy_from_slice(&[10, 0, 0, 2]);
        f[34] = 8; // echo request
        f
    }

    #[test]
    fn filter_and_queue_bound() {
        let mut c = Captures::default();
        assert!(c.is_empty());
        let icmp = c.add(3, 0, Some(parse_filter("icmp").unwrap()), 2);
        let tcp = c.add(3, 0, Some(parse_filter("tcp,tp_dst=80").unwrap()), 2);
        let other_gen = c.add(3, 1, None, 2);
        let f = icmp_frame();
        for _ in 0..3 {
            c.offer(3, 0, 1, Dir::Rx, &[&f[..10], &f[10..]]);
        }
        // Two fit the queue, the third is counted.
        assert_eq!(icmp.frames.try_iter().count(), 2);
        assert_eq!(icmp.dropped.load(Ordering::Relaxed), 1);
        assert_eq!(tcp.frames.try_iter().count(), 0);
        assert_eq!(other_gen.frames.try_iter().count(), 0);
        c.remove(icmp.id);
        c.remove(tcp.id);
        c.remove(other_gen.id);
        assert!(c.is_empty());
    }

    #[test]
    fn bad_filter_is_named() {
        let e = parse_filter("tcp,tp_dts=80").unwrap_err();
        assert!(e.contains("tp_dts"), "{e}");
        assert!(parse_filter("icmp,actions=drop").is_err());
    }

    #[test]
    fn frames_keep_bytes_and_direction() {
        let mut c = Captures::default();
        let h = c.add(0, 0, None, 4);
        let f = icmp_frame();
        c.offer(0, 0, 1, Dir::Tx, &[&f]);
        let got = h.frames.try_recv().unwrap();
        assert_eq!(got.dir, Dir::Tx);
        assert_eq!(got.data, f);
    }
}
