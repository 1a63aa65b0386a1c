//! The connection index: an open-addressing table of 8-byte cells.
//!
//! Each cell holds the top 32 bits of the key's hash (the tag) and a 32-bit
//! payload (slab slot << 1 | direction). A probe reads cells of one cache
//! line, compares tags, and touches the slab only on a tag match, so a
//! lookup costs about two cache misses (cell line, entry) instead of the
//! three of a general-purpose map whose control bytes and buckets live
//! apart. The home position also comes from the tag, so growing needs no
//! rehash of keys and deletion can use backward shifting (no tombstones,
//! probe sequences never degrade under churn). The load factor stays
//! at or below 1/2.

const EMPTY: u64 = u64::MAX;
const MIN_CELLS: usize = 16;

/// Hash → payload index with caller-supplied key comparison.
#[derive(Debug, Clone)]
pub(crate) struct Index {
    cells: Vec<u64>,
    len: usize,
}

#[inline]
fn tag(hash: u64) -> u64 {
    hash >> 32
}

impl Index {
    pub fn new() -> Self {
        Index {
            cells: vec![EMPTY; MIN_CELLS],
            len: 0,
        }
    }

    #[inline]
    fn mask(&self) -> usize {
        self.cells.len() - 1
    }

    #[inline]
    fn home(&self, tag: u64) -> usize {
        tag as usize & self.mask()
    }

    /// Cells allocated (for memory accounting).
    pub fn capacity(&self) -> usize {
        self.cells.len()
    }

    /// Finds the payload whose tag matches `hash` and for which `eq` holds.
    #[inline]
    pub fn find(&self, hash: u64, mut eq: impl FnMut(u32) -> bool) -> Option<u32> {
        let t = tag(hash);
        let mask = self.mask();
        let mut i = self.home(t);
        loop {
            let c = self.cells[i];
            if c == EMPTY {
                return None;
            }
            if c >> 32 == t && eq(c as u32) {
                return Some(c as u32);
            }
            i = (i + 1) & mask;
        }
    }

    /// Makes room for `additional` more entries without growing.
    pub fn reserve(&mut self, additional: usize) {
        let need = (self.len + additional)
            .saturating_mul(2)
            .max(MIN_CELLS)
            .next_power_of_two();
        if need > self.cells.len() {
            self.resize(need);
        }
    }

    /// Adds `payload` under `hash`. The caller guarantees the key is new
    /// and that `payload != u32::MAX` (slot 2³¹−1 would need ~400 GB of
    /// entries), so no cell can equal the empty marker.
    pub fn insert(&mut self, hash: u64, payload: u32) {
        debug_assert!(payload != u32::MAX);
        if (self.len + 1) * 2 > self.cells.len() {
            self.resize(self.cells.len() * 2);
        }
        self.place((tag(hash) << 32) | u64::from(payload));
        self.len += 1;
    }

    fn place(&mut self, cell: u64) {
        let mask = self.mask();
        let mut i = self.home(cell >> 32);
        while self.cells[i] != EMPTY {
            i = (i + 1) & mask;
        }
        self.cells[i] = cell;
    }

    fn resize(&mut self, cells: usize) {
        let old = std::mem::replace(&mut self.cells, vec![EMPTY; cells]);
        for c in old.into_iter().filter(|&c| c != EMPTY) {
            self.place(c);
        }
    }

    /// Removes the entry with exactly this hash and payload; true if found.
    pub fn remove(&mut self, hash: u64, payload: u32) -> bool {
        let want = (tag(hash) << 32) | u64::from(payload);
        let mask = self.mask();
        let mut i = self.home(tag(hash));
        loop {
            let c = self.cells[i];
            if c == EMPTY {
                return false;
            }
            if c == want {
                break;
            }
            i = (i + 1) & mask;
        }
        // Backward-shift deletion: pull later members of the cluster into
        // the hole unless their home lies cyclically in (hole, j].
        let mut hole = i;
        let mut j = i;
        loop {
            j = (j + 1) & mask;
            let c = self.cells[j];
            if c == EMPTY {
                break;
            }
            let k = self.home(c >> 32);
            let stays = if hole <= j {
                hole < k && k <= j
            } else {
                hole < k || k <= j
            };
            if !stays {
                self.cells[hole] = c;
                hole = j;
            }
        }
        self.cells[hole] = EMPTY;
        self.len -= 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    proptest! {
        /// Agrees with a HashMap model under random inserts and removes,
        /// including colliding tags and wrap-around clusters.
        #[test]
        fn matches_model(ops in proptest::collection::vec((any::<bool>(), 0u64..64, 0u32..200), 1..600)) {
            let mut idx = Index::new();
            let mut model: HashMap<u32, u64> = HashMap::new();
            for (insert, h, p) in ops {
                // Few distinct tags, all homing near the table's end, to force
                // collisions and wrap-around.
                let hash = (h.wrapping_mul(0x9e37_79b9) | 0xfff0) << 32;
                if insert {
                    if let std::collections::hash_map::Entry::Vacant(e) = model.entry(p) {
                        e.insert(hash);
                        idx.insert(hash, p);
                    }
                } else if let Some(hh) = model.remove(&p) {
                    prop_assert!(idx.remove(hh, p));
                } else {
                    prop_assert!(!idx.remove(hash, p));
                }
                for (&pp, &hh) in &model {
                    prop_assert_eq!(idx.find(hh, |v| v == pp), Some(pp));
                }
                prop_assert_eq!(idx.len, model.len());
            }
        }
    }

    #[test]
    fn grows_and_reserves() {
        let mut idx = Index::new();
        idx.reserve(1000);
        let cap = idx.capacity();
        assert!(cap >= 2000);
        for p in 0..1000u32 {
            idx.insert(u64::from(p).wrapping_mul(0x9e37_79b9_7f4a_7c15), p);
        }
        assert_eq!(idx.capacity(), cap, "no growth after reserve");
        for p in 0..1000u32 {
            let h = u64::from(p).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            assert_eq!(idx.find(h, |v| v == p), Some(p));
        }
    }
}
