//! One hash table per distinct mask: the megaflow cache's subtables (as
//! OVS's `dpcls_subtable`), and the hash mixing the classifier's
//! subtables share.

use crate::flowvec::{Words, NW};
use hashbrown::HashTable;
use smallvec::SmallVec;

/// The masked words of one entry. Megaflow masks rarely have more than eight
/// non-zero words (a miss through the benchmark's ten tables consults six:
/// Ethernet, IP addresses, IP protocol, ports, in_port and recirc_id), so
/// the key lives in the entry: inserting a megaflow allocates nothing for it.
type Key = SmallVec<[u64; 8]>;

const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;

#[inline]
pub(crate) fn mix(h: u64, w: u64) -> u64 {
    (h.rotate_left(5) ^ w).wrapping_mul(K)
}

/// The finalizer: spreads high-order differences (e.g. a /24 prefix
/// stored in the top bits of a word) into the low bits that pick the
/// bucket, and low-order ones into the top bits the table's tag takes. A
/// folded multiply (the 128-bit product's halves XORed, as foldhash and
/// wyhash finish) does it in one multiply: every input bit reaches both
/// halves. It replaced MurmurHash3's two-multiply finalizer, which was
/// a tenth of a classifier probe (about 20 per cache miss).
#[inline]
pub(crate) fn fmix(h: u64) -> u64 {
    let p = u128::from(h ^ 0x2d35_8dcc_aa6c_78a5).wrapping_mul(0x8bb8_4b93_962e_acc9);
    (p as u64) ^ (p >> 64) as u64
}

/// A hash table keyed on `words & mask`, storing only the masked words that
/// are not all-zero in the mask.
pub(crate) struct TupleTable<V> {
    pub(crate) mask: Words,
    /// Indices of the mask's non-zero words (inline: building a table for
    /// a new mask allocates only the hash table).
    idx: SmallVec<[u8; NW]>,
    table: HashTable<(Key, V)>,
}

impl<V> TupleTable<V> {
    pub(crate) fn new(mask: Words) -> Self {
        let idx = (0..NW).filter(|&i| mask[i] != 0).map(|i| i as u8).collect();
        TupleTable {
            mask,
            idx,
            table: HashTable::new(),
        }
    }

    #[inline]
    fn hash_of(&self, w: &Words) -> u64 {
        let mut h = 0;
        for &i in self.idx.iter() {
            h = mix(h, w[i as usize] & self.mask[i as usize]);
        }
        fmix(h)
    }

    fn hash_vals(vals: &[u64]) -> u64 {
        fmix(vals.iter().fold(0, |h, &v| mix(h, v)))
    }

    #[inline]
    fn eq(&self, w: &Words, vals: &[u64]) -> bool {
        self.idx
            .iter()
            .zip(vals.iter())
            .all(|(&i, &v)| w[i as usize] & self.mask[i as usize] == v)
    }

    /// The value stored for the masked packet words.
    #[inline]
    pub(crate) fn find(&self, w: &Words) -> Option<&V> {
        if self.table.is_empty() {
            // Kept across a flush (see [`Self::drain_values`]): no hashing needed.
            return None;
        }
        if self.idx.is_empty() {
            // The fully wildcarded tuple (a table's catch-all flows) holds at
            // most one entry, keyed on nothing: no hash or compare needed.
            return self.table.iter().next().map(|(_, v)| v);
        }
        let h = self.hash_of(w);
        self.table
            .find(h, |(vals, _)| self.eq(w, vals))
            .map(|(_, v)| v)
    }

    /// Stores `value` for the masked words of `w`, returning the value it
    /// replaces, if any. The masked words are gathered once, into the key
    /// itself (inline), and hashed and compared from there: a miss
    /// installs one megaflow, and gathering them three times (hash,
    /// compare, key) was a fifth of the install.
    pub(crate) fn insert(&mut self, w: &Words, value: V) -> Option<V> {
        let mut buf = [0u64; 8];
        let key: Key = if self.idx.len() <= buf.len() {
            for (b, &i) in buf.iter_mut().zip(self.idx.iter()) {
                *b = w[i as usize] & self.mask[i as usize];
            }
            SmallVec::from_buf_and_len(buf, self.idx.len())
        } else {
            self.idx
                .iter()
                .map(|&i| w[i as usize] & self.mask[i as usize])
                .collect()
        };
        let h = Self::hash_vals(&key);
        match self
            .table
            .entry(h, |(v, _)| v[..] == key[..], |(v, _)| Self::hash_vals(v))
        {
            hashbrown::hash_table::Entry::Occupied(mut e) => {
                Some(std::mem::replace(&mut e.get_mut().1, value))
            }
            hashbrown::hash_table::Entry::Vacant(e) => {
                e.insert((key, value));
                None
            }
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }

    /// Takes every value out but keeps the table's allocation: after a
    /// flush the same masks come back, so their tables need not be rebuilt.
    pub(crate) fn drain_values(&mut self) -> impl Iterator<Item = V> + '_ {
        self.table.drain().map(|(_, v)| v)
    }

    pub(crate) fn values(&self) -> impl Iterator<Item = &V> {
        self.table.iter().map(|(_, v)| v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masked_lookup() {
        let mut mask = [0u64; NW];
        mask[3] = 0xff;
        let mut t: TupleTable<u32> = TupleTable::new(mask);
        let mut w = [0u64; NW];
        w[3] = 0x1234;
        assert_eq!(t.insert(&w, 7), None);
        let mut probe = [9u64; NW];
        probe[3] = 0xff34;
        assert_eq!(t.find(&probe), Some(&7));
        probe[3] = 0x35;
        assert_eq!(t.find(&probe), None);
        assert_eq!(t.len(), 1);
        probe[3] = 0xab34;
        assert_eq!(t.insert(&probe, 8), Some(7));
        assert_eq!(t.len(), 1);
        assert_eq!(t.find(&w), Some(&8));
    }
}
