//! A frame buffer with headroom, so that encapsulation prepends the outer
//! headers in place instead of copying the inner frame (the same idea as the
//! kernel's `skb_push` and OVS's `dp_packet_push_uninit`).

use crate::error::BufError;

/// Headroom that fits every layout this crate emits: outer Ethernet (14) +
/// one 802.1Q tag (4) + IPv4 with options (60) + UDP (8) + Geneve with the
/// largest option area (8 + 252), rounded up.
pub const MAX_HEADROOM: usize = 352;

/// Headroom enough for VXLAN or GRE (any flags) or Geneve with up to 64
/// option bytes, in any layout, Ethernet included.
pub const DEFAULT_HEADROOM: usize = 128;

/// A packet in `storage[start..end]`, with `start` bytes of headroom before
/// it and `storage.len() - end` bytes of tailroom after it.
///
/// The storage is anything byte-like (`Vec<u8>`, `Box<[u8]>`, `[u8; N]`, a
/// `&mut [u8]` slot of a batch arena), allocated once by the caller and
/// reused for every packet: nothing here allocates.
#[derive(Debug, Clone)]
pub struct FrameBuf<B> {
    storage: B,
    start: usize,
    end: usize,
}

impl<B: AsRef<[u8]> + AsMut<[u8]>> FrameBuf<B> {
    /// An empty packet whose data will begin after `headroom` bytes.
    pub fn new(storage: B, headroom: usize) -> Result<Self, BufError> {
        let cap = storage.as_ref().len();
        if headroom > cap {
            return Err(BufError::NoRoom {
                need: headroom,
                have: cap,
            });
        }
        Ok(Self {
            storage,
            start: headroom,
            end: headroom,
        })
    }

    /// A packet holding a copy of `frame` after `headroom` bytes.
    pub fn with_frame(storage: B, headroom: usize, frame: &[u8]) -> Result<Self, BufError> {
        let mut buf = Self::new(storage, headroom)?;
        buf.extend_from_slice(frame)?;
        Ok(buf)
    }

    /// Gives the storage back.
    pub fn into_inner(self) -> B {
        self.storage
    }

    /// Empties the packet and moves its start to `headroom`, ready to be
    /// filled through [`tail_mut`](Self::tail_mut) + [`set_len`](Self::set_len)
    /// (e.g. by a `recv` or by a GSO segmenter).
    pub fn reset(&mut self, headroom: usize) -> Result<(), BufError> {
        let cap = self.capacity();
        if headroom > cap {
            return Err(BufError::NoRoom {
                need: headroom,
                have: cap,
            });
        }
        self.start = headroom;
        self.end = headroom;
        Ok(())
    }

    /// Total storage size.
    #[inline]
    pub fn capacity(&self) -> usize {
        self.storage.as_ref().len()
    }

    /// Free bytes before the packet.
    #[inline]
    pub fn headroom(&self) -> usize {
        self.start
    }

    /// Free bytes after the packet.
    #[inline]
    pub fn tailroom(&self) -> usize {
        self.capacity() - self.end
    }

    /// Packet length.
    #[inline]
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    /// `true` when the packet is empty.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }

    /// The packet bytes.
    #[inline]
    pub fn data(&self) -> &[u8] {
        &self.storage.as_ref()[self.start..self.end]
    }

    /// The packet bytes, mutable.
    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.storage.as_mut()[self.start..self.end]
    }

    /// Everything from the packet start to the end of the storage, to be
    /// written by a receive call; follow with [`set_len`](Self::set_len).
    #[inline]
    pub fn tail_mut(&mut self) -> &mut [u8] {
        let start = self.start;
        &mut self.storage.as_mut()[start..]
    }

    /// Sets the packet length (after writing through [`tail_mut`](Self::tail_mut)).
    pub fn set_len(&mut self, len: usize) -> Result<(), BufError> {
        let room = self.capacity() - self.start;
        if len > room {
            return Err(BufError::NoRoom {
                need: len,
                have: room,
            });
        }
        self.end = self.start + len;
        Ok(())
    }

    /// Appends `bytes` at the tail.
    pub fn extend_from_slice(&mut self, bytes: &[u8]) -> Result<(), BufError> {
        if bytes.len() > self.tailroom() {
            return Err(BufError::NoRoom {
                need: bytes.len(),
                have: self.tailroom(),
            });
        }
        let end = self.end;
        self.storage.as_mut()[end..end + bytes.len()].copy_from_slice(bytes);
        self.end += bytes.len();
        Ok(())
    }

    /// Grows the packet by `n` bytes at the front (uninitialised: they hold
    /// whatever was there) and returns the whole packet, new bytes first.
    #[inline]
    pub fn push_front(&mut self, n: usize) -> Result<&mut [u8], BufError> {
        if n > self.start {
            return Err(BufError::NoHeadroom {
                need: n,
                have: self.start,
            });
        }
        self.start -= n;
        Ok(self.data_mut())
    }

    /// Drops `n` bytes from the front (decapsulation: the inner frame
    /// becomes the packet without moving).
    #[inline]
    pub fn pull_front(&mut self, n: usize) -> Result<(), BufError> {
        if n > self.len() {
            return Err(BufError::NoRoom {
                need: n,
                have: self.len(),
            });
        }
        self.start += n;
        Ok(())
    }

    /// Keeps only the first `len` bytes.
    pub fn truncate(&mut self, len: usize) {
        if len < self.len() {
            self.end = self.start + len;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_and_pull_move_the_start_only() {
        let mut b = FrameBuf::with_frame(vec![0u8; 64], 16, b"inner").unwrap();
        let p = b.push_front(4).unwrap();
        p[..4].copy_from_slice(b"HDR:");
        assert_eq!(b.data(), b"HDR:inner");
        assert_eq!(b.headroom(), 12);
        b.pull_front(4).unwrap();
        assert_eq!(b.data(), b"inner");
        assert_eq!(
            b.push_front(17).unwrap_err(),
            BufError::NoHeadroom { need: 17, have: 16 }
        );
        assert!(b.pull_front(6).is_err());
    }

    #[test]
    fn bounds_are_errors() {
        assert!(FrameBuf::new([0u8; 8], 9).is_err());
        let mut b = FrameBuf::new([0u8; 8], 4).unwrap();
        assert!(b.extend_from_slice(&[1; 5]).is_err());
        assert!(b.set_len(5).is_err());
        b.set_len(4).unwrap();
        assert_eq!(b.len(), 4);
        b.truncate(2);
        assert_eq!(b.len(), 2);
        assert!(b.reset(9).is_err());
    }
}
