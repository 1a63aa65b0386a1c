//! Prefix tries over a 32-bit address field (`nw_src`, `nw_dst`), as OVS
//! keeps per table for the fields its `prefixes` column names
//! (ovs-vswitchd.conf.db(5), Flow_Table table, `prefixes`; lib/classifier.c
//! "prefix tries").
//!
//! The trie holds the CIDR prefix of every flow of the table that matches
//! the field with a CIDR mask. One walk with the packet's address tells
//! (a) which prefix lengths have a flow whose prefix contains the address
//! and (b) how many leading address bits that answer depended on. A
//! subtable whose prefix length is not among (a) cannot match and is
//! skipped without a hash probe, and the megaflow then only needs the
//! address bits of (b) — e.g. a packet to 192.168.0.1 against flows on
//! 10.0.0.0/8 and 10.1.0.0/16 needs one bit of nw_dst, not 16.

/// Arena index of the root; also "no child" in a child slot.
const ROOT: u32 = 0;

/// A path-compressed node: the address bits `0..end` of every address
/// below it are `path` (left-aligned; bits from `end` on are zero).
#[derive(Clone, Copy, Default)]
struct Node {
    /// `1 << end` when `n_rules != 0`, else 0: what a lookup ORs in.
    mark: u64,
    path: u32,
    /// Flows whose prefix is exactly `path/end`.
    n_rules: u32,
    child: [u32; 2],
    end: u8,
}

impl Node {
    fn set_rules(&mut self, n: u32) {
        self.n_rules = n;
        self.mark = if n == 0 { 0 } else { 1u64 << self.end };
    }
}

/// A path-compressed binary trie of prefixes of 32-bit addresses (as OVS's
/// `trie_node`), nodes in an arena.
pub(crate) struct PrefixTrie {
    nodes: Vec<Node>,
    free: Vec<u32>,
}

impl Default for PrefixTrie {
    /// An empty trie; the root is allocated with the first prefix, so that
    /// the 255 tables' unused tries cost nothing.
    fn default() -> Self {
        PrefixTrie {
            nodes: Vec::new(),
            free: Vec::new(),
        }
    }
}

/// What a lookup found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TrieMatch {
    /// Bit `L` set: some flow's `/L` prefix contains the address.
    pub(crate) plens: u64,
    /// Leading address bits the answer depends on.
    pub(crate) bits: u8,
}

impl TrieMatch {
    /// Whether some `/plen` prefix contains the address; when not, the
    /// number of leading bits a megaflow must match for that to stay true.
    #[inline]
    pub(crate) fn miss_bits(&self, plen: u8) -> Option<u8> {
        (self.plens & (1u64 << plen) == 0).then_some(self.bits.min(plen))
    }
}

/// The mask of the `n` leading bits.
#[inline]
fn lead(n: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(n)).unwrap_or(0)
}

/// Bit `depth` (0 = most significant) of `addr`; `depth` < 32.
#[inline]
fn bit(addr: u32, depth: u8) -> usize {
    ((addr >> (31 - depth)) & 1) as usize
}

impl PrefixTrie {
    fn alloc(&mut self, n: Node) -> u32 {
        match self.free.pop() {
            Some(i) => {
                self.nodes[i as usize] = n;
                i
            }
            None => {
                self.nodes.push(n);
                (self.nodes.len() - 1) as u32
            }
        }
    }

    /// Adds one flow's `addr/len` (`1 <= len <= 32`).
    pub(crate) fn insert(&mut self, addr: u32, len: u8) {
        if self.nodes.is_empty() {
            self.nodes.push(Node::default());
        }
        let addr = addr & lead(len);
        let mut cur = ROOT;
        loop {
            let n = self.nodes[cur as usize];
            if n.end == len {
                self.nodes[cur as usize].set_rules(n.n_rules + 1);
                return;
            }
            let b = bit(addr, n.end);
            let mut leaf = Node {
                path: addr,
                end: len,
                ..Node::default()
            };
            leaf.set_rules(1);
            let c = n.child[b];
            if c == ROOT {
                let l = self.alloc(leaf);
                self.nodes[cur as usize].child[b] = l;
                return;
            }
            let cn = self.nodes[c as usize];
            let lim = len.min(cn.end);
            let diff = (addr ^ cn.path) & lead(lim);
            let common = if diff == 0 {
                lim
            } else {
                diff.leading_zeros() as u8
            };
            if common == cn.end {
                cur = c;
                continue;
            }
            // Split the edge to `c` at `common`.
            let mut mid = Node {
                path: addr & lead(common),
                end: common,
                ..Node::default()
            };
            mid.child[bit(cn.path, common)] = c;
            if common == len {
                mid.set_rules(1);
                let m = self.alloc(mid);
                self.nodes[cur as usize].child[b] = m;
            } else {
                let l = self.alloc(leaf);
                mid.child[bit(addr, common)] = l;
                let m = self.alloc(mid);
                self.nodes[cur as usize].child[b] = m;
            }
            return;
        }
    }

    /// Removes one flow's `addr/len`, merging nodes left without purpose.
    pub(crate) fn remove(&mut self, addr: u32, len: u8) {
        if self.nodes.is_empty() {
            return;
        }
        let addr = addr & lead(len);
        // (node, parent) pairs from the root down.
        let mut parent = ROOT;
        let mut cur = ROOT;
        loop {
            let n = self.nodes[cur as usize];
            if n.end == len {
                break;
            }
            let c = n.child[bit(addr, n.end)];
            if c == ROOT {
                return;
            }
            let cn = self.nodes[c as usize];
            if cn.end > len || (addr ^ cn.path) & lead(cn.end) != 0 {
                return;
            }
            parent = cur;
            cur = c;
        }
        let n = &mut self.nodes[cur as usize];
        if n.path != addr || n.n_rules == 0 {
            return;
        }
        n.set_rules(n.n_rules - 1);
        if n.n_rules == 0 && cur != ROOT {
            self.compact(parent, cur);
        }
    }

    /// Drops or bypasses `node` (a child of `parent`) if it holds no flow
    /// and has fewer than two children, then does the same for `parent`'s
    /// sake when it became a pass-through node.
    fn compact(&mut self, parent: u32, node: u32) {
        let n = self.nodes[node as usize];
        let kids: Vec<u32> = n.child.iter().copied().filter(|&c| c != ROOT).collect();
        if n.n_rules != 0 || kids.len() == 2 {
            return;
        }
        let slot = bit(n.path, self.nodes[parent as usize].end);
        self.nodes[parent as usize].child[slot] = kids.first().copied().unwrap_or(ROOT);
        self.free.push(node);
        if kids.is_empty() && parent != ROOT {
            // The parent may now be a pass-through node; find its parent.
            let pp = self.parent_of(parent);
            if let Some(pp) = pp {
                self.compact(pp, parent);
            }
        }
    }

    fn parent_of(&self, node: u32) -> Option<u32> {
        let target = self.nodes[node as usize];
        let mut cur = ROOT;
        loop {
            let n = self.nodes[cur as usize];
            if n.end >= target.end {
                return None;
            }
            let c = n.child[bit(target.path, n.end)];
            if c == ROOT {
                return None;
            }
            if c == node {
                return Some(cur);
            }
            cur = c;
        }
    }

    /// Walks the trie with `addr`, PATRICIA style: follow the address bits
    /// at each node's end without comparing paths, then compare the address
    /// once with the deepest node's path. Its first differing bit `p` is
    /// where the address leaves the trie: the nodes passed with `end <= p`
    /// are exactly the prefixes that contain the address.
    #[inline]
    pub(crate) fn lookup(&self, addr: u32) -> TrieMatch {
        let nodes = &self.nodes[..];
        let Some(mut n) = nodes.first() else {
            return TrieMatch { plens: 0, bits: 0 };
        };
        let mut marks = 0u64;
        loop {
            marks |= n.mark;
            // A node ending at bit 32 has no children.
            let c = if n.end < 32 {
                n.child[bit(addr, n.end)]
            } else {
                ROOT
            };
            match nodes.get(c as usize) {
                Some(next) if c != ROOT => n = next,
                _ => break,
            }
        }
        let diff = (addr ^ n.path) & lead(n.end);
        if diff == 0 {
            return TrieMatch {
                plens: marks,
                bits: (n.end + 1).min(32),
            };
        }
        let p = diff.leading_zeros();
        TrieMatch {
            plens: marks & ((2u64 << p) - 1),
            bits: p as u8 + 1,
        }
    }

    /// Approximate heap bytes.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.nodes.capacity() * std::mem::size_of::<Node>() + self.free.capacity() * 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(a: u8, b: u8, c: u8, d: u8) -> u32 {
        u32::from_be_bytes([a, b, c, d])
    }

    #[test]
    fn lengths_and_bits() {
        let mut t = PrefixTrie::default();
        t.insert(ip(10, 0, 0, 0), 8);
        t.insert(ip(10, 1, 0, 0), 16);
        let m = t.lookup(ip(10, 1, 2, 3));
        assert_eq!(m.plens, 1 << 8 | 1 << 16);
        // 192.x leaves the trie at its first bit.
        let m = t.lookup(ip(192, 168, 0, 1));
        assert_eq!(m, TrieMatch { plens: 0, bits: 1 });
        assert_eq!(m.miss_bits(16), Some(1));
        // 10.2.x matches /8 only; the answer depends on 15 bits (where
        // 10.2 and 10.1 part).
        let m = t.lookup(ip(10, 2, 0, 0));
        assert_eq!(m.plens, 1 << 8);
        assert_eq!(m.bits, 15);
        assert_eq!(m.miss_bits(16), Some(15));
        assert_eq!(m.miss_bits(8), None);
    }

    #[test]
    fn remove_prunes_and_counts() {
        let mut t = PrefixTrie::default();
        t.insert(ip(10, 0, 0, 0), 8);
        t.insert(ip(10, 0, 0, 0), 8);
        t.insert(ip(10, 1, 0, 0), 16);
        t.remove(ip(10, 1, 0, 0), 16);
        assert_eq!(t.lookup(ip(10, 1, 0, 0)).plens, 1 << 8);
        t.remove(ip(10, 0, 0, 0), 8);
        assert_eq!(t.lookup(ip(10, 1, 0, 0)).plens, 1 << 8);
        t.remove(ip(10, 0, 0, 0), 8);
        assert_eq!(t.lookup(ip(10, 1, 0, 0)), TrieMatch { plens: 0, bits: 1 });
        // Freed nodes are reused.
        let before = t.nodes.len();
        t.insert(ip(11, 0, 0, 0), 8);
        assert_eq!(t.nodes.len(), before);
        t.remove(ip(11, 0, 0, 0), 8);
        t.insert(ip(1, 2, 3, 4), 32);
        assert_eq!(
            t.lookup(ip(1, 2, 3, 4)),
            TrieMatch {
                plens: 1 << 32,
                bits: 32
            }
        );
    }
}

#[cfg(test)]
mod model {
    use super::*;
    use proptest::prelude::*;

    /// The answer a trie must give, computed from the list of prefixes.
    fn naive(prefixes: &[(u32, u8)], addr: u32) -> u64 {
        prefixes
            .iter()
            .filter(|&&(p, l)| (p ^ addr) & lead(l) == 0)
            .fold(0, |acc, &(_, l)| acc | 1u64 << l)
    }

    proptest! {
        #[test]
        fn trie_agrees_with_the_list(
            prefixes in proptest::collection::vec((any::<u32>(), 1u8..=32), 0..40),
            removed in proptest::collection::vec(any::<prop::sample::Index>(), 0..20),
            addrs in proptest::collection::vec(any::<u32>(), 1..20),
        ) {
            // Cluster the prefixes so that they share paths.
            let mut list: Vec<(u32, u8)> = prefixes.iter().map(|&(p, l)| ((p & 0x0f0f_00ff) & lead(l), l)).collect();
            let mut t = PrefixTrie::default();
            for &(p, l) in &list { t.insert(p, l); }
            for ix in removed {
                if list.is_empty() { break; }
                let (p, l) = list.remove(ix.index(list.len()));
                t.remove(p, l);
            }
            for a in addrs.iter().copied().chain(list.iter().map(|&(p, _)| p)) {
                let a = a & 0x0f0f_00ff | (a & 0x1);
                let m = t.lookup(a);
                prop_assert_eq!(m.plens, naive(&list, a), "addr {:#x}", a);
                // A missing length stays missing for every address that
                // shares the bits the trie says the answer depends on.
                for len in 1..=32u8 {
                    if let Some(b) = m.miss_bits(len) {
                        for pattern in [0x5555_5555u32, 0xaaaa_aaaa, u32::MAX, 0x0100_0001] {
                            let other = a ^ (!lead(b) & pattern);
                            prop_assert_eq!(naive(&list, other) & (1u64 << len), 0, "len {} bits {}", len, b);
                        }
                    }
                }
            }
        }
    }
}
