//! Connection storage: a slab of entries, a hash index holding both
//! directions' keys, and per-timeout-class expiry lists.
//!
//! * The index ([`Index`]) stores only a hash tag and a `u32` (slot << 1 |
//!   direction) per key and compares keys against the slab, so each
//!   connection costs two 8-byte cells there rather than two copies of its
//!   tuples: 1 M connections fit in well under 256 MB (see
//!   `benches/conntrack.rs`).
//! * The hash is ahash keyed with random seeds: tuples are chosen by
//!   whoever sends packets, and an unkeyed fast hash would let a remote
//!   host aim many connections at one bucket chain (hash flooding), turning
//!   every lookup linear. Seeds can be fixed for reproducible tests.
//! * Expiry follows OVS userspace conntrack: every entry of a class has the
//!   same timeout, so moving an entry to its class list's tail whenever it is
//!   refreshed keeps each list sorted by expiry, and sweeping only looks at
//!   list heads — no scan of the table, ever. To keep the per-packet cost to
//!   a store, an entry is only moved when its expiry has advanced by
//!   [`REQUEUE_GRAIN`] since its last move; so the lists are sorted to within
//!   that grain, and an entry may be swept up to that much after it expired
//!   (lookups check the exact expiry, so it is never *used* after expiring).

use ahash::RandomState;

use crate::config::{TimeoutClass, TIMEOUT_CLASSES};
use crate::conn::{Conn, NIL};
use crate::index::Index;
use crate::tcp::Dir;
use crate::tuple::{Key, Tuple};

/// How far (ns) an entry's expiry may run ahead of its list position
/// before a refresh moves it: 1 s.
pub(crate) const REQUEUE_GRAIN: u64 = 1_000_000_000;

#[derive(Debug, Clone, Copy)]
struct List {
    head: u32,
    tail: u32,
}

/// The connection table.
pub(crate) struct Table {
    slots: Vec<Option<Conn>>,
    free: Vec<u32>,
    index: Index,
    hasher: RandomState,
    lists: [List; TIMEOUT_CLASSES],
    len: usize,
}

#[inline]
fn hash_key(h: &RandomState, zone: u16, t: &Tuple) -> u64 {
    h.hash_one(Key { zone, tuple: *t })
}

impl Table {
    pub fn new(hasher: RandomState) -> Self {
        Table {
            slots: Vec::new(),
            free: Vec::new(),
            index: Index::new(),
            hasher,
            lists: [List {
                head: NIL,
                tail: NIL,
            }; TIMEOUT_CLASSES],
            len: 0,
        }
    }

    /// Reserves room for `n` more connections so inserts do not reallocate.
    pub fn reserve(&mut self, n: usize) {
        self.slots.reserve(n);
        self.index.reserve(n * 2);
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// Keyed hash of a (zone, tuple), also used for NAT hash selection.
    pub fn hash(&self, zone: u16, t: &Tuple) -> u64 {
        hash_key(&self.hasher, zone, t)
    }

    /// Finds the connection a packet with tuple `t` in `zone` belongs to.
    #[inline]
    pub fn find(&self, zone: u16, t: &Tuple) -> Option<(u32, Dir)> {
        let h = hash_key(&self.hasher, zone, t);
        let slots = &self.slots;
        self.index
            .find(h, |v| match &slots[(v >> 1) as usize] {
                Some(c) => c.zone == zone && c.tuples[(v & 1) as usize] == *t,
                None => false,
            })
            .map(|v| {
                (
                    v >> 1,
                    if v & 1 == 0 {
                        Dir::Original
                    } else {
                        Dir::Reply
                    },
                )
            })
    }

    #[inline]
    pub fn get(&self, idx: u32) -> Option<&Conn> {
        self.slots.get(idx as usize).and_then(Option::as_ref)
    }

    #[inline]
    pub fn get_mut(&mut self, idx: u32) -> Option<&mut Conn> {
        self.slots.get_mut(idx as usize).and_then(Option::as_mut)
    }

    /// Inserts `c`; the caller has checked that neither tuple is in use.
    pub fn insert(&mut self, mut c: Conn) -> u32 {
        c.prev = NIL;
        c.next = NIL;
        c.listed = c.expires;
        let class = c.class;
        let keys = [
            hash_key(&self.hasher, c.zone, &c.tuples[0]),
            hash_key(&self.hasher, c.zone, &c.tuples[1]),
        ];
        let idx = match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = Some(c);
                i
            }
            None => {
                self.slots.push(Some(c));
                (self.slots.len() - 1) as u32
            }
        };
        for (d, h) in keys.into_iter().enumerate() {
            self.index.insert(h, (idx << 1) | d as u32);
        }
        self.link_tail(idx, class);
        self.len += 1;
        idx
    }

    /// Removes the connection in slot `idx`.
    pub fn remove(&mut self, idx: u32) -> Option<Conn> {
        let (zone, tuples, class) = {
            let c = self.get(idx)?;
            (c.zone, c.tuples, c.class)
        };
        self.unlink(idx, class);
        for (d, t) in tuples.iter().enumerate() {
            let h = hash_key(&self.hasher, zone, t);
            self.index.remove(h, (idx << 1) | d as u32);
        }
        self.free.push(idx);
        self.len -= 1;
        self.slots[idx as usize].take()
    }

    /// Sets a new class and expiry; moves the entry to its list's tail when
    /// the class changed or the expiry moved by a grain or more.
    pub fn refresh(&mut self, idx: u32, class: TimeoutClass, expires: u64) {
        let Some(c) = self.get_mut(idx) else { return };
        let old = c.class;
        c.expires = expires;
        if old == class && expires.saturating_sub(c.listed) < REQUEUE_GRAIN {
            return;
        }
        self.requeue(idx, old, class);
    }

    /// Moves `idx` to the tail of `class`'s list, stamping its position
    /// with its current expiry.
    pub fn requeue(&mut self, idx: u32, old: TimeoutClass, class: TimeoutClass) {
        self.unlink(idx, old);
        if let Some(c) = self.get_mut(idx) {
            c.class = class;
            c.listed = c.expires;
        }
        self.link_tail(idx, class);
    }

    /// Slot of the oldest entry of `class`, if any.
    pub fn head(&self, class: TimeoutClass) -> Option<u32> {
        let h = self.lists[class.index()].head;
        (h != NIL).then_some(h)
    }

    /// Iterates over live connections (for dump and flush; not hot path).
    pub fn iter(&self) -> impl Iterator<Item = (u32, &Conn)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().map(|c| (i as u32, c)))
    }

    /// Bytes of heap memory held (capacity, not just live entries).
    pub fn heap_bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<Option<Conn>>()
            + self.free.capacity() * 4
            + self.index.capacity() * 8
    }

    fn link_tail(&mut self, idx: u32, class: TimeoutClass) {
        let tail = self.lists[class.index()].tail;
        if let Some(c) = self.get_mut(idx) {
            c.prev = tail;
            c.next = NIL;
        }
        if tail == NIL {
            self.lists[class.index()].head = idx;
        } else if let Some(t) = self.get_mut(tail) {
            t.next = idx;
        }
        self.lists[class.index()].tail = idx;
    }

    fn unlink(&mut self, idx: u32, class: TimeoutClass) {
        let Some((prev, next)) = self.get(idx).map(|c| (c.prev, c.next)) else {
            return;
        };
        if prev == NIL {
            self.lists[class.index()].head = next;
        } else if let Some(p) = self.get_mut(prev) {
            p.next = next;
        }
        if next == NIL {
            self.lists[class.index()].tail = prev;
        } else if let Some(n) = self.get_mut(next) {
            n.prev = prev;
        }
        if let Some(c) = self.get_mut(idx) {
            c.prev = NIL;
            c.next = NIL;
        }
    }
}
