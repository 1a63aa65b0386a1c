//! One classifier subtable: the flows of one table that share a mask, in a
//! hash table keyed on the masked packet words, with OVS's *staged lookup*
//! (lib/classifier.c, "staged lookup"; Pfaff et al., "The Design and
//! Implementation of Open vSwitch", NSDI 2015, §5.3).
//!
//! The mask's words are visited stage by stage — metadata, L2, L3, L4 —
//! hashing as they go. At the end of every stage but the last, the hash so
//! far is looked up in a small index of the flows' partial hashes: if no
//! flow agrees with the packet on the stages seen, the subtable cannot
//! match, and only those stages' bits join the megaflow mask. A packet
//! that misses on `in_port` then yields a megaflow that does not care about
//! its addresses or ports.

use crate::classifier::Rule;
use crate::flowvec::*;
use crate::tuple::{fmix, mix};
use hashbrown::HashTable;
use smallvec::SmallVec;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The stage a word belongs to (0 metadata, 1 L2, 2 L3, 3 L4). Words added
/// later default to metadata, which only affects how early a miss is seen.
fn stage_of(word: usize) -> u8 {
    match word {
        W_DL_DST | W_DL_SRC => 1,
        W_NW_ADDR | W_NW_MISC | W_ARP_SHA | W_ARP_THA => 2,
        _ if (W_IPV6_SRC..W_ND_TARGET).contains(&word) => 2,
        W_TP => 3,
        _ if (W_ND_TARGET..W_ND_TARGET + 2).contains(&word) => 3,
        _ => 0,
    }
}

/// Flows with the same masked value, best (highest priority, oldest) first.
/// Almost every bucket holds one flow: keeping it inline in the hash entry
/// saves the lookup a dependent load (the miss path is bound by memory
/// latency: control bytes, entry, rule).
pub(crate) type Bucket = SmallVec<[Arc<Rule>; 1]>;

/// A word index ([`Words`]) as a type whose values all lie below [`NW`]:
/// indexing a packet or mask with it needs no bounds check, which was two
/// of the dozen or so instructions per word a probe hashes (the crate has
/// no `unsafe` to skip it otherwise).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
enum Wi {
    W0,
    W1,
    W2,
    W3,
    W4,
    W5,
    W6,
    W7,
    W8,
    W9,
    W10,
    W11,
    W12,
    W13,
    W14,
    W15,
    W16,
    W17,
    W18,
    W19,
    W20,
    W21,
    W22,
    W23,
    W24,
    W25,
    W26,
    W27,
    W28,
    W29,
    W30,
    W31,
    W32,
    W33,
    W34,
    W35,
    W36,
    W37,
    W38,
    W39,
    W40,
    W41,
    W42,
    W43,
    W44,
}

const _: () = assert!(NW == 45, "Wi has one variant per word");

impl Wi {
    const ALL: [Wi; NW] = [
        Wi::W0,
        Wi::W1,
        Wi::W2,
        Wi::W3,
        Wi::W4,
        Wi::W5,
        Wi::W6,
        Wi::W7,
        Wi::W8,
        Wi::W9,
        Wi::W10,
        Wi::W11,
        Wi::W12,
        Wi::W13,
        Wi::W14,
        Wi::W15,
        Wi::W16,
        Wi::W17,
        Wi::W18,
        Wi::W19,
        Wi::W20,
        Wi::W21,
        Wi::W22,
        Wi::W23,
        Wi::W24,
        Wi::W25,
        Wi::W26,
        Wi::W27,
        Wi::W28,
        Wi::W29,
        Wi::W30,
        Wi::W31,
        Wi::W32,
        Wi::W33,
        Wi::W34,
        Wi::W35,
        Wi::W36,
        Wi::W37,
        Wi::W38,
        Wi::W39,
        Wi::W40,
        Wi::W41,
        Wi::W42,
        Wi::W43,
        Wi::W44,
    ];

    fn new(i: u8) -> Wi {
        Wi::ALL[usize::from(i)]
    }

    #[inline(always)]
    fn get(self) -> usize {
        self as usize
    }
}

/// One step of a probe ([`Subtable::find`]), 24 bytes: hash in masked
/// word `word` (mask `mask`), marking its bits consulted, then run the
/// test `check`. A stage check rides on the last word of its stage rather
/// than being a step of its own, so the probe loop has no dispatch per
/// step (it runs about 20 times per miss).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Step {
    mask: u64,
    /// The partial hash for [`Check::ONLY`].
    only: u64,
    word: Wi,
    check: Check,
    /// The stage for [`Check::INDEX`] (index into `stages`).
    stage: u8,
}

/// The test after a [`Step`]'s word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Check(u8);

impl Check {
    /// Not the end of a stage (or the end of the last one).
    const NONE: Check = Check(0);
    /// End of a stage whose flows all share one partial hash: the hash so
    /// far must equal `Step::only` (a compare instead of a probe).
    const ONLY: Check = Check(1);
    /// End of stage `Step::stage`: the hash so far must be one of its
    /// partial hashes.
    const INDEX: Check = Check(2);
}

/// The partial hashes of the flows up to one stage boundary, with counts.
struct StageIndex {
    /// Number of entries of `words` the stage covers (a prefix).
    end: usize,
    hashes: HashTable<(u64, u32)>,
    /// The only partial hash, when there is exactly one (typically a stage
    /// that is just `dl_type=0x0800`): a compare instead of a probe.
    only: Option<u64>,
}

impl StageIndex {
    #[inline]
    fn contains(&self, h: u64) -> bool {
        match self.only {
            Some(o) => o == h,
            None => self.hashes.find(fmix(h), |e| e.0 == h).is_some(),
        }
    }

    fn refresh(&mut self) {
        self.only = if self.hashes.len() == 1 {
            self.hashes.iter().next().map(|e| e.0)
        } else {
            None
        };
    }

    fn add(&mut self, h: u64) {
        match self.hashes.find_mut(fmix(h), |e| e.0 == h) {
            Some(e) => e.1 += 1,
            None => {
                self.hashes.insert_unique(fmix(h), (h, 1), |e| fmix(e.0));
            }
        }
        self.refresh();
    }

    fn sub(&mut self, h: u64) {
        if let Ok(mut e) = self.hashes.find_entry(fmix(h), |e| e.0 == h) {
            e.get_mut().1 -= 1;
            if e.get().1 == 0 {
                e.remove();
            }
        }
        self.refresh();
    }
}

/// What a probe reads comes first and fills exactly one cache line
/// (`repr(C, align(64))`): the hash table's header and the two slices'
/// pointers. The table keeps the priorities the search order needs in an
/// array of its own ([`crate::table::Table`]), so subtables that are not
/// probed are not touched at all.
#[repr(C, align(64))]
pub(crate) struct Subtable {
    /// Non-empty buckets, keyed on their flows' (common) masked value,
    /// which is read from the first flow rather than stored again.
    table: HashTable<Bucket>,
    /// The probe as one contiguous program: `words` with the stage checks
    /// between them (one slice, so a probe reads a line or two of it and
    /// no stage index unless a stage has several partial hashes).
    steps: Box<[Step]>,
    /// The best flow of `all` (the catch-all subtable's), in this line:
    /// [`Self::find_best`] on the catch-all reads it and the flow, not the
    /// hash table's control bytes and entry as well (a miss probes the
    /// catch-all in every table where no other flow matched).
    all_best: Option<Arc<Rule>>,
    /// The flows of the catch-all subtable (no mask word, no `steps`: one
    /// bucket), here rather than in `table`. Empty in every other subtable.
    all: Bucket,
    /// The non-zero words of the mask as `(index, mask)`, in stage order.
    words: Box<[(u8, u64)]>,
    stages: Box<[StageIndex]>,
    pub(crate) mask: Words,
    pub(crate) max_priority: u16,
    pub(crate) n_rules: usize,
    /// Prefix length of the CIDR mask on `nw_src` / `nw_dst`, if the mask
    /// there is a non-empty CIDR prefix (these subtables can be skipped by
    /// the table's prefix tries).
    pub(crate) plens: [Option<u8>; 2],
    /// Whether one of `plens` has a trie in the owning table (kept by
    /// [`crate::table::Table`]): one test on the lookup path.
    pub(crate) uses_trie: bool,
    /// Number of flows at each priority, so that removing a flow of the
    /// highest priority finds the next one without walking every flow:
    /// a subtable of a compiled pipeline often holds tens of thousands of
    /// flows of one priority, and the walk made each strict delete cost
    /// as much as the subtable's size.
    priorities: BTreeMap<u16, u32>,
}

/// The CIDR prefix length of a 32-bit mask, if it is one.
pub(crate) fn cidr_len(mask: u32) -> Option<u8> {
    let n = mask.leading_ones();
    (n > 0 && mask.checked_shl(n).unwrap_or(0) == 0).then_some(n as u8)
}

impl Subtable {
    pub(crate) fn new(mask: Words) -> Subtable {
        let mut words: Vec<(u8, u64)> = (0..NW)
            .filter(|&i| mask[i] != 0)
            .map(|i| (i as u8, mask[i]))
            .collect();
        words.sort_by_key(|&(i, _)| (stage_of(i as usize), i));
        let mut stages = Vec::new();
        for k in 1..words.len() {
            if stage_of(words[k].0 as usize) != stage_of(words[k - 1].0 as usize) {
                stages.push(StageIndex {
                    end: k,
                    hashes: HashTable::new(),
                    only: None,
                });
            }
        }
        let plens = [crate::fields::Field::NwSrc, crate::fields::Field::NwDst]
            .map(|f| cidr_len(f.get(&mask) as u32));
        let steps: Vec<Step> = words
            .iter()
            .enumerate()
            .map(|(k, &(i, m))| {
                let stage = stages.iter().position(|st| st.end == k + 1);
                Step {
                    mask: m,
                    only: 0,
                    word: Wi::new(i),
                    check: if stage.is_some() {
                        Check::INDEX
                    } else {
                        Check::NONE
                    },
                    stage: stage.unwrap_or(0) as u8,
                }
            })
            .collect();
        Subtable {
            mask,
            steps: steps.into(),
            words: words.into(),
            stages: stages.into(),
            table: HashTable::new(),
            all: Bucket::new(),
            all_best: None,
            max_priority: 0,
            n_rules: 0,
            plens,
            uses_trie: false,
            priorities: BTreeMap::new(),
        }
    }

    /// Hash of the masked words `words[from..to]`, continuing from `h`.
    #[inline]
    fn hash_range(&self, mut h: u64, w: &Words, from: usize, to: usize) -> u64 {
        for &(i, m) in &self.words[from..to] {
            h = mix(h, w[i as usize] & m);
        }
        h
    }

    /// Whether `w` has the bucket's value in the masked words.
    #[inline]
    fn eq(words: &[(u8, u64)], w: &Words, b: &Bucket) -> bool {
        b.first().is_some_and(|r| {
            let v = &r.flow.matches.value;
            words
                .iter()
                .all(|&(i, m)| w[i as usize] & m == v[i as usize])
        })
    }

    /// Hash of a bucket (for rehashing).
    fn bucket_hash(words: &[(u8, u64)], b: &Bucket) -> u64 {
        let v = b.first().map(|r| r.flow.matches.value).unwrap_or([0; NW]);
        fmix(words.iter().fold(0, |h, &(i, m)| mix(h, v[i as usize] & m)))
    }

    /// The flows whose masked value equals the packet's, ORing into
    /// `consulted` the bits the answer depended on (only the stages looked
    /// at when a stage check rules the subtable out).
    #[inline]
    pub(crate) fn find(&self, w: &Words, consulted: &mut Words) -> Option<&Bucket> {
        if self.steps.is_empty() {
            return (!self.all.is_empty()).then_some(&self.all);
        }
        let mut h = 0;
        for s in self.steps.iter() {
            let i = s.word.get();
            consulted[i] |= s.mask;
            h = mix(h, w[i] & s.mask);
            if s.check != Check::NONE {
                let pass = if s.check == Check::ONLY {
                    s.only == h
                } else {
                    self.stages[s.stage as usize].contains(h)
                };
                if !pass {
                    return None;
                }
            }
        }
        let steps = &self.steps;
        self.table.find(fmix(h), |b| {
            b.first().is_some_and(|r| {
                let v = &r.flow.matches.value;
                steps
                    .iter()
                    .all(|s| w[s.word.get()] & s.mask == v[s.word.get()])
            })
        })
    }

    /// The best flow of [`Self::find`]'s bucket.
    #[inline]
    pub(crate) fn find_best(&self, w: &Words, consulted: &mut Words) -> Option<&Arc<Rule>> {
        if self.steps.is_empty() {
            return self.all_best.as_ref();
        }
        self.find(w, consulted).and_then(|b| b.first())
    }

    /// Points each stage check at its stage's current partial hashes.
    fn refresh_steps(&mut self) {
        for (j, st) in self.stages.iter().enumerate() {
            if let Some(s) = self.steps.get_mut(st.end - 1) {
                (s.check, s.only, s.stage) = match st.only {
                    Some(o) => (Check::ONLY, o, j as u8),
                    None => (Check::INDEX, 0, j as u8),
                };
            }
        }
    }

    /// The bucket for exactly this (masked) value, without touching a
    /// megaflow mask.
    pub(crate) fn get(&self, value: &Words) -> Option<&Bucket> {
        if self.words.is_empty() {
            return (!self.all.is_empty()).then_some(&self.all);
        }
        let h = fmix(self.hash_range(0, value, 0, self.words.len()));
        self.table.find(h, |b| Self::eq(&self.words, value, b))
    }

    /// The partial hash of `value` at each stage boundary.
    fn stage_hashes(&self, value: &Words) -> Vec<u64> {
        let mut h = 0;
        let mut from = 0;
        self.stages
            .iter()
            .map(|st| {
                h = self.hash_range(h, value, from, st.end);
                from = st.end;
                h
            })
            .collect()
    }

    /// Adds `rule` (whose match has this subtable's mask) in priority
    /// order within its bucket.
    pub(crate) fn insert(&mut self, rule: Arc<Rule>) {
        let value = rule.flow.matches.value;
        let hs = self.stage_hashes(&value);
        for (st, h) in self.stages.iter_mut().zip(hs) {
            st.add(h);
        }
        self.refresh_steps();
        let bucket = if self.words.is_empty() {
            &mut self.all
        } else {
            let h = fmix(self.hash_range(0, &value, 0, self.words.len()));
            let words = &self.words;
            self.table
                .entry(
                    h,
                    |b| Self::eq(words, &value, b),
                    |b| Self::bucket_hash(words, b),
                )
                .or_insert_with(SmallVec::new)
                .into_mut()
        };
        let pos = bucket
            .iter()
            .position(|r| rule.beats(r))
            .unwrap_or(bucket.len());
        let p = rule.priority();
        bucket.insert(pos, rule);
        self.all_best = self.all.first().cloned();
        self.n_rules += 1;
        *self.priorities.entry(p).or_insert(0) += 1;
        self.max_priority = p.max(self.max_priority);
    }

    /// Removes exactly `rule`; false if it is not here.
    pub(crate) fn remove(&mut self, rule: &Arc<Rule>) -> bool {
        let value = rule.flow.matches.value;
        if self.words.is_empty() {
            let Some(pos) = self.all.iter().position(|r| Arc::ptr_eq(r, rule)) else {
                return false;
            };
            self.all.remove(pos);
            self.all_best = self.all.first().cloned();
        } else {
            let h = fmix(self.hash_range(0, &value, 0, self.words.len()));
            let words = &self.words;
            let Ok(mut entry) = self.table.find_entry(h, |b| Self::eq(words, &value, b)) else {
                return false;
            };
            let bucket = entry.get_mut();
            let Some(pos) = bucket.iter().position(|r| Arc::ptr_eq(r, rule)) else {
                return false;
            };
            bucket.remove(pos);
            if bucket.is_empty() {
                entry.remove();
            }
        }
        let hs = self.stage_hashes(&value);
        for (st, h) in self.stages.iter_mut().zip(hs) {
            st.sub(h);
        }
        self.refresh_steps();
        self.n_rules -= 1;
        self.forget_priority(rule.priority());
        true
    }

    /// One flow of priority `p` is gone: `max_priority` is the highest
    /// priority left (0 when empty).
    fn forget_priority(&mut self, p: u16) {
        if let std::collections::btree_map::Entry::Occupied(mut e) = self.priorities.entry(p) {
            *e.get_mut() -= 1;
            if *e.get() == 0 {
                e.remove();
            }
        }
        self.max_priority = self.priorities.keys().next_back().copied().unwrap_or(0);
    }

    pub(crate) fn buckets(&self) -> impl Iterator<Item = &Bucket> {
        self.table
            .iter()
            .chain(std::iter::once(&self.all).filter(|b| !b.is_empty()))
    }

    /// Approximate heap bytes (for the memory benchmark).
    pub(crate) fn heap_bytes(&self) -> usize {
        let entry = std::mem::size_of::<Bucket>() + 1;
        self.table.capacity() * entry
            + self
                .buckets()
                .filter(|b| b.spilled())
                .map(|b| b.capacity() * 8)
                .sum::<usize>()
            + self
                .stages
                .iter()
                .map(|s| s.hashes.capacity() * 17)
                .sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fields::Field;

    #[test]
    fn probe_fields_share_the_first_cache_line() {
        assert_eq!(std::mem::align_of::<Subtable>(), 64);
        assert!(std::mem::offset_of!(Subtable, steps) + 16 <= 64);
        assert!(std::mem::offset_of!(Subtable, all_best) + 8 <= 64);
        assert_eq!(std::mem::size_of::<Step>(), 24);
    }

    fn rule(s: &str, seq: u64) -> Arc<Rule> {
        let f = crate::parse_flow(s).unwrap().flow;
        Arc::new(Rule::new(f, seq, seq as u32, std::time::Duration::ZERO))
    }

    /// The stage checks as (kind, stage).
    fn checks(st: &Subtable) -> Vec<(Check, u8)> {
        st.steps
            .iter()
            .filter(|s| s.check != Check::NONE)
            .map(|s| (s.check, s.stage))
            .collect()
    }

    #[test]
    fn stage_checks_compare_or_probe_as_the_stages_fill() {
        let a = rule("in_port=1,ip,nw_dst=10.0.0.0/24,actions=drop", 0);
        let b = rule("in_port=1,ip,nw_dst=10.0.1.0/24,actions=drop", 1);
        let c = rule("in_port=2,ip,nw_dst=10.0.2.0/24,actions=drop", 2);
        let mut st = Subtable::new(a.flow.matches.mask);
        st.insert(a.clone());
        st.insert(b.clone());
        // One in_port and one (in_port, dl_type) among the flows: compares.
        assert!(checks(&st).iter().all(|s| s.0 == Check::ONLY));
        assert_eq!(checks(&st).len(), 2);
        st.insert(c.clone());
        assert_eq!(checks(&st), [(Check::INDEX, 0), (Check::INDEX, 1)]);

        let mut p = crate::Packet::default();
        p.meta.in_port = 2;
        p.key.dl_type = 0x0800;
        p.key.nw_dst = 0x0a00_0205;
        let mut consulted = [0; NW];
        let found = st.find(&p.to_words(), &mut consulted).unwrap();
        assert!(Arc::ptr_eq(&found[0], &c));
        assert_eq!(consulted, st.mask);
        // A port no flow has: only in_port was consulted.
        p.meta.in_port = 3;
        let mut consulted = [0; NW];
        assert!(st.find(&p.to_words(), &mut consulted).is_none());
        let mut only_port = [0; NW];
        Field::InPort.unwildcard(&mut only_port, u32::MAX as u128);
        assert_eq!(consulted, only_port);

        assert!(st.remove(&c));
        assert!(checks(&st).iter().all(|s| s.0 == Check::ONLY));
        p.meta.in_port = 1;
        p.key.nw_dst = 0x0a00_0105;
        let found = st.find(&p.to_words(), &mut [0; NW]).unwrap();
        assert!(Arc::ptr_eq(&found[0], &b));
    }

    /// The highest priority as the walk over every flow computed it
    /// before the per-priority counts.
    fn walked_max(st: &Subtable) -> u16 {
        st.buckets()
            .flatten()
            .map(|r| r.priority())
            .max()
            .unwrap_or(0)
    }

    proptest::proptest! {
        /// Any sequence of inserts and removes leaves `max_priority` what
        /// walking the flows gives (and the flows findable by value).
        #[test]
        fn max_priority_is_the_walked_one(
            ops in proptest::collection::vec((0u8..16, 0u16..4, proptest::bool::ANY), 1..200),
        ) {
            let mask = rule("in_port=1,actions=drop", 0).flow.matches.mask;
            let mut st = Subtable::new(mask);
            let mut live: Vec<Arc<Rule>> = Vec::new();
            for (seq, (port, prio, add)) in ops.into_iter().enumerate() {
                let text = format!("priority={},in_port={port},actions=drop", prio * 100);
                match live.iter().position(|r| r.flow.matches.value == rule(&text, 0).flow.matches.value
                    && r.priority() == prio * 100) {
                    Some(i) if !add => {
                        proptest::prop_assert!(st.remove(&live.swap_remove(i)));
                    }
                    None if add => {
                        let r = rule(&text, seq as u64);
                        st.insert(r.clone());
                        live.push(r);
                    }
                    _ => {}
                }
                proptest::prop_assert_eq!(st.max_priority, walked_max(&st));
                proptest::prop_assert_eq!(st.n_rules, live.len());
                for r in &live {
                    let b = st.get(&r.flow.matches.value).expect("bucket");
                    proptest::prop_assert!(b.iter().any(|x| Arc::ptr_eq(x, r)));
                }
            }
        }
    }

    #[test]
    fn cidr_lengths() {
        assert_eq!(cidr_len(0xffff_ff00), Some(24));
        assert_eq!(cidr_len(u32::MAX), Some(32));
        assert_eq!(cidr_len(0), None);
        assert_eq!(cidr_len(0xff00_ff00), None);
    }

    #[test]
    fn stages_follow_metadata_l2_l3_l4() {
        let mut m = [0u64; NW];
        Field::TpDst.unwildcard(&mut m, 0xffff);
        Field::InPort.unwildcard(&mut m, u32::MAX as u128);
        Field::DlType.unwildcard(&mut m, 0xffff);
        Field::NwDst.unwildcard(&mut m, 0xffff_ff00);
        let st = Subtable::new(m);
        let order: Vec<u8> = st
            .words
            .iter()
            .map(|&(i, _)| stage_of(i as usize))
            .collect();
        assert_eq!(order, [0, 1, 2, 3]);
        assert_eq!(st.stages.len(), 3);
        assert_eq!(st.plens, [None, Some(24)]);
    }
}
