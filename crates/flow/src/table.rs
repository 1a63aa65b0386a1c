//! One OpenFlow table: tuple-space search as OVS's lib/classifier.c does it.
//!
//! * **Subtables** (one per distinct mask, [`crate::subtable`]) are kept
//!   sorted by the highest priority they hold; the search stops as soon as
//!   the best flow found so far outranks every remaining subtable.
//! * **Staged lookup** inside each subtable (metadata, L2, L3, L4) gives up
//!   early, and unwildcards only the stages it looked at.
//! * **Prefix tries** on `nw_src` and `nw_dst` ([`crate::trie`]; OVS's
//!   Flow_Table `prefixes`, ovs-vswitchd.conf.db(5)) skip subtables whose
//!   CIDR length no flow's prefix can satisfy for the packet's address,
//!   unwildcarding only the address bits that decided it. They are off
//!   until [`crate::FlowTables::set_prefixes`] turns them on for a table
//!   (OVS turns on ip_dst and ip_src by default): a walk costs more than
//!   the hash probes it saves here (about +30 % per miss at 1,000 flows,
//!   +50 % at 100,000, see the flow benchmark notes), and what it buys is
//!   wider megaflows, i.e. fewer misses, which pays off only for tables of
//!   many address prefixes facing many distinct addresses.
//! * **Conjunctive matches** are resolved after the ordinary search
//!   ([`crate::conj`]).
//!
//! Every skip above depends only on bits that join the megaflow mask, so a
//! packet agreeing with the looked-up one on those bits gets the same flow:
//! the flow cache relies on it (`tests/props.rs`).

use crate::classifier::Rule;
use crate::fields::Field;
use crate::flowvec::{Words, W_CONJ_ID};
use crate::subtable::{cidr_len, Bucket, Subtable};
use crate::trie::{PrefixTrie, TrieMatch};
use std::sync::Arc;

/// The fields that can have a prefix trie, in `Subtable::plens` order.
pub const PREFIX_FIELDS: [Field; 2] = [Field::NwSrc, Field::NwDst];

/// One OpenFlow table (no prefix tries until [`Table::set_prefixes`]).
#[derive(Default)]
pub struct Table {
    /// Sorted by `max_priority`, highest first.
    subtables: Vec<Subtable>,
    /// Per subtable (same order), what the search reads before deciding
    /// to probe it: a compact array, so the priority walk touches a few
    /// bytes rather than one subtable header per step.
    heads: Vec<Head>,
    tries: [PrefixTrie; 2],
    /// Which of [`PREFIX_FIELDS`] have a trie.
    prefixes: [bool; 2],
    n_rules: usize,
    /// Flows with `conjunction` actions: while there are none and no
    /// subtable uses a trie, a lookup takes [`Self::scan_plain`], which
    /// keeps no conjunction or trie state (a miss runs ten lookups or so,
    /// and that state was a fifth of each one's instructions).
    n_conj: usize,
    /// Whether some subtable uses a prefix trie (any `Head::uses_trie`).
    any_trie: bool,
}

/// A subtable's highest priority and whether a prefix trie may skip it.
#[derive(Clone, Copy, Default)]
struct Head {
    max_priority: u16,
    uses_trie: bool,
}

/// The CIDR prefix of `rule` on prefix field `f`, if it has one.
fn rule_prefix(rule: &Rule, f: usize) -> Option<(u32, u8)> {
    let (v, m) = rule.flow.matches.get(PREFIX_FIELDS[f]);
    cidr_len(m as u32).map(|len| (v as u32, len))
}

/// Whether `st` can be skipped by one of the tries enabled in `prefixes`.
fn uses_trie(prefixes: [bool; 2], st: &Subtable) -> bool {
    (0..2).any(|f| prefixes[f] && st.plens[f].is_some())
}

impl Table {
    /// Finds the flow for `w` (OpenFlow priority order, conjunctive
    /// matches resolved as [`crate::conj`] describes), ORing every mask it
    /// consulted into `consulted` (the megaflow mask).
    #[inline]
    pub fn lookup(&self, w: &Words, consulted: &mut Words) -> Option<&Arc<Rule>> {
        if self.n_conj == 0 && !self.any_trie {
            let found = self.scan_plain(w, consulted);
            consulted[W_CONJ_ID] = 0;
            return found;
        }
        self.lookup_general(w, consulted)
    }

    /// [`Self::scan`] for a table without conjunctive flows or prefix
    /// tries: the same priority walk, early exit and tie-break (the first
    /// flow of a bucket is its best, and with no soft flows it is the
    /// candidate).
    #[inline]
    fn scan_plain(&self, w: &Words, consulted: &mut Words) -> Option<&Arc<Rule>> {
        let mut best: Option<&Arc<Rule>> = None;
        let mut best_pri = -1i32;
        debug_assert_eq!(self.heads.len(), self.subtables.len());
        for (head, st) in self.heads.iter().zip(&self.subtables) {
            if i32::from(head.max_priority) < best_pri {
                break;
            }
            let Some(r) = st.find_best(w, consulted) else {
                continue;
            };
            if best.is_none_or(|b| r.beats(b)) {
                best = Some(r);
                best_pri = i32::from(r.priority());
            }
        }
        best
    }

    /// [`Self::lookup`] with conjunctive flows or prefix tries.
    #[inline(never)]
    fn lookup_general(&self, w: &Words, consulted: &mut Words) -> Option<&Arc<Rule>> {
        let mut soft = Vec::new();
        let hard = self.scan(w, consulted, Some(&mut soft));
        let found = if soft.is_empty() {
            hard
        } else {
            self.resolve_conjunctions(w, consulted, hard, soft)
        };
        // A packet's conj_id is always 0 (only the second lookup of a
        // conjunction sets it, on a copy), so a megaflow need not match it.
        consulted[W_CONJ_ID] = 0;
        found
    }

    /// The conjunctive part of [`Self::lookup`], off the common path.
    #[cold]
    fn resolve_conjunctions<'a>(
        &'a self,
        w: &Words,
        consulted: &mut Words,
        hard: Option<&'a Arc<Rule>>,
        mut soft: Vec<&'a Arc<Rule>>,
    ) -> Option<&'a Arc<Rule>> {
        // At equal priority the ordinary flow wins (lib/classifier.c).
        let floor = hard.map_or(-1, |h| i32::from(h.priority()));
        soft.retain(|r| i32::from(r.priority()) > floor);
        while let Some(pri) = soft.iter().map(|r| r.priority()).max() {
            for id in crate::conj::completed(&soft, pri) {
                let mut w2 = *w;
                Field::ConjId.set(&mut w2, u128::from(id));
                if let Some(r) = self.scan(&w2, consulted, None) {
                    return Some(r);
                }
            }
            soft.retain(|r| r.priority() != pri);
        }
        hard
    }

    /// Tuple-space search for the best ordinary (*hard*) flow. Flows with
    /// `conjunction` actions are collected into `soft` when given and
    /// skipped otherwise; they never end the search.
    #[inline]
    fn scan<'a>(
        &'a self,
        w: &Words,
        consulted: &mut Words,
        mut soft: Option<&mut Vec<&'a Arc<Rule>>>,
    ) -> Option<&'a Arc<Rule>> {
        let mut best: Option<&Arc<Rule>> = None;
        let mut best_pri = -1i32;
        // Trie walks, done at most once per field and only when needed.
        let mut walks: [Option<TrieMatch>; 2] = [None; 2];
        debug_assert_eq!(self.heads.len(), self.subtables.len());
        for (head, st) in self.heads.iter().zip(&self.subtables) {
            if i32::from(head.max_priority) < best_pri {
                break;
            }
            if head.uses_trie && self.trie_skips(st, w, consulted, &mut walks) {
                continue;
            }
            let Some(bucket) = st.find(w, consulted) else {
                continue;
            };
            // The bucket is sorted best first.
            for r in bucket {
                if best.is_some_and(|b| !r.beats(b)) {
                    break;
                }
                if !r.conj {
                    best = Some(r);
                    best_pri = i32::from(r.priority());
                    break;
                }
                if let Some(s) = soft.as_deref_mut() {
                    s.push(r);
                }
            }
        }
        best
    }

    /// Whether the prefix tries rule subtable `st` out for `w`, ORing the
    /// address bits that decided it into `consulted`. Out of line: it
    /// runs only in tables with `prefixes`, and keeping it out of
    /// [`Self::scan`]'s loop keeps that loop's state in registers.
    #[inline(never)]
    fn trie_skips(
        &self,
        st: &Subtable,
        w: &Words,
        consulted: &mut Words,
        walks: &mut [Option<TrieMatch>; 2],
    ) -> bool {
        for f in 0..2 {
            let Some(plen) = st.plens[f].filter(|_| self.prefixes[f]) else {
                continue;
            };
            let m = *walks[f]
                .get_or_insert_with(|| self.tries[f].lookup(PREFIX_FIELDS[f].get(w) as u32));
            if let Some(bits) = m.miss_bits(plen) {
                let mask = (u32::MAX as u128) << (32 - bits) & u32::MAX as u128;
                PREFIX_FIELDS[f].unwildcard(consulted, mask);
                return true;
            }
        }
        false
    }

    /// Chooses which of [`PREFIX_FIELDS`] get a prefix trie (OVS's
    /// `prefixes` column), rebuilding the tries.
    pub fn set_prefixes(&mut self, fields: &[Field]) {
        let rules = self.rules();
        for (f, pf) in PREFIX_FIELDS.iter().enumerate() {
            self.prefixes[f] = fields.contains(pf);
            self.tries[f] = PrefixTrie::default();
            if self.prefixes[f] {
                for r in &rules {
                    if let Some((v, len)) = rule_prefix(r, f) {
                        self.tries[f].insert(v, len);
                    }
                }
            }
        }
        let prefixes = self.prefixes;
        for st in &mut self.subtables {
            st.uses_trie = uses_trie(prefixes, st);
        }
        self.reindex();
    }

    /// Rebuilds [`Self::heads`] after the subtables changed.
    fn reindex(&mut self) {
        self.heads.clear();
        self.heads.extend(self.subtables.iter().map(|s| Head {
            max_priority: s.max_priority,
            uses_trie: s.uses_trie,
        }));
        self.any_trie = self.heads.iter().any(|h| h.uses_trie);
    }

    fn subtable_mut(&mut self, mask: &Words) -> usize {
        match self.subtables.iter().position(|s| &s.mask == mask) {
            Some(i) => i,
            None => {
                let mut st = Subtable::new(*mask);
                st.uses_trie = uses_trie(self.prefixes, &st);
                self.subtables.push(st);
                self.subtables.len() - 1
            }
        }
    }

    fn resort(&mut self) {
        self.subtables.retain(|s| s.n_rules > 0);
        self.subtables
            .sort_by_key(|s| std::cmp::Reverse(s.max_priority));
        self.reindex();
    }

    fn bucket_of(&self, f: &crate::actions::FlowMod) -> Option<&Bucket> {
        self.subtables
            .iter()
            .find(|s| s.mask == f.matches.mask)?
            .get(&f.matches.value)
    }

    /// The rule with exactly this match and priority.
    pub fn find_exact(&self, f: &crate::actions::FlowMod) -> Option<&Arc<Rule>> {
        self.bucket_of(f)?
            .iter()
            .find(|r| r.priority() == f.priority)
    }

    pub(crate) fn insert(&mut self, rule: Arc<Rule>) {
        for f in 0..2 {
            if let Some((v, len)) = rule_prefix(&rule, f).filter(|_| self.prefixes[f]) {
                self.tries[f].insert(v, len);
            }
        }
        self.n_conj += usize::from(rule.conj);
        let i = self.subtable_mut(&rule.flow.matches.mask);
        let st = &mut self.subtables[i];
        let before = st.max_priority;
        st.insert(rule);
        self.n_rules += 1;
        if st.n_rules == 1 || st.max_priority != before {
            self.resort();
        }
    }

    pub(crate) fn remove(&mut self, rule: &Arc<Rule>) -> bool {
        let Some(st) = self
            .subtables
            .iter_mut()
            .find(|s| s.mask == rule.flow.matches.mask)
        else {
            return false;
        };
        let before = st.max_priority;
        if !st.remove(rule) {
            return false;
        }
        let (after, left) = (st.max_priority, st.n_rules);
        self.n_rules -= 1;
        self.n_conj -= usize::from(rule.conj);
        for f in 0..2 {
            if let Some((v, len)) = rule_prefix(rule, f).filter(|_| self.prefixes[f]) {
                self.tries[f].remove(v, len);
            }
        }
        if after != before || left == 0 {
            self.resort();
        }
        true
    }

    /// All rules, highest priority first.
    pub fn rules(&self) -> Vec<Arc<Rule>> {
        let mut v: Vec<Arc<Rule>> = self
            .subtables
            .iter()
            .flat_map(|s| s.buckets().flatten().cloned())
            .collect();
        v.sort_by(|a, b| b.priority().cmp(&a.priority()).then(a.seq.cmp(&b.seq)));
        v
    }

    /// Number of flows.
    pub fn len(&self) -> usize {
        self.n_rules
    }

    /// Whether the table has no flows.
    pub fn is_empty(&self) -> bool {
        self.n_rules == 0
    }

    /// Number of subtables (distinct masks).
    pub fn n_subtables(&self) -> usize {
        self.subtables.len()
    }

    /// Approximate heap bytes: subtables, tries and the rules themselves.
    pub(crate) fn heap_bytes(&self) -> usize {
        let per_rule = std::mem::size_of::<Rule>() + 16;
        self.subtables
            .iter()
            .map(|s| s.heap_bytes() + s.n_rules * per_rule)
            .sum::<usize>()
            + self.tries.iter().map(PrefixTrie::heap_bytes).sum::<usize>()
            + self.subtables.capacity() * std::mem::size_of::<Subtable>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flowvec::NW;
    use proptest::collection::vec;

    fn rule(s: &str, seq: u64) -> Arc<Rule> {
        let f = crate::parse_flow(s).unwrap().flow;
        Arc::new(Rule::new(f, seq, seq as u32, std::time::Duration::ZERO))
    }

    proptest::proptest! {
        /// The lookup without conjunction or trie state finds the flow,
        /// and consults the bits, that the general one does: same
        /// priority walk, early exit and tie-break (equal priorities and
        /// duplicate matches included).
        #[test]
        fn plain_scan_agrees_with_the_general_one(
            flows in vec((0u8..5, 0u16..4, 0u8..3), 1..40),
            pkts in vec((0u32..3, 0u8..3, 0u16..3, proptest::bool::ANY), 1..20),
        ) {
            let mut t = Table::default();
            for (seq, (kind, prio, v)) in flows.into_iter().enumerate() {
                let p = prio * 100;
                let text = match kind {
                    0 => format!("priority={p},in_port={v}"),
                    1 => format!("priority={p},ip,nw_dst=10.0.{v}.0/24"),
                    2 => format!("priority={p},tcp,tp_dst={v}"),
                    3 => format!("priority={p},in_port={v},tcp,tp_dst={v}"),
                    _ => format!("priority={p}"),
                };
                t.insert(rule(&format!("{text},actions=drop"), seq as u64));
            }
            proptest::prop_assert!(t.n_conj == 0 && !t.any_trie);
            for (port, net, tp, tcp) in pkts {
                let mut p = crate::Packet::default();
                p.meta.in_port = port;
                p.key.dl_type = 0x0800;
                p.key.nw_proto = if tcp { 6 } else { 17 };
                p.key.nw_dst = 0x0a00_0005 | u32::from(net) << 8;
                p.key.tp_dst = tp;
                let w = p.to_words();
                let (mut c1, mut c2) = ([0u64; NW], [0u64; NW]);
                let a = t.lookup(&w, &mut c1);
                let b = t.lookup_general(&w, &mut c2);
                proptest::prop_assert_eq!(a.map(Arc::as_ptr), b.map(Arc::as_ptr));
                proptest::prop_assert_eq!(c1, c2);
            }
        }
    }
}
