//! The compiled flows: who produced each one (its [`Owner`], whose cookie it
//! carries), the merge of conjunctive flows contributed by several owners,
//! and the delta between two versions.
//!
//! Cookie encoding: the top byte is the owner kind ([`Owner::tag`]), the
//! low 56 bits a 64-bit FNV-1a hash of the resource ID truncated. It is a
//! pure function of the resource, so `ovs-ofctl dump-flows
//! br-int cookie=C/-1` finds a resource's flows after any restart, and
//! [`crate::Compiler::owner_of`] maps a cookie back to the resource.

use std::collections::BTreeSet;
use std::fmt;
use std::hash::BuildHasher;

use hashbrown::hash_table::{Entry, HashTable};
use hashbrown::{DefaultHashBuilder, HashMap, HashSet};
use smallvec::SmallVec;

/// The resource (or resource aspect) a flow comes from: the unit of
/// incremental recompilation.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Owner {
    /// Table defaults (priority-0 continuations and drops).
    Global,
    /// A logical switch: its uplink, broadcast and unknown-unicast flows.
    Network(String),
    /// A port's own flows: binding, port security, ARP/ND/DHCP, L2.
    Port(String),
    /// A port's security-group membership: its `reg14`/`reg15` conjunction
    /// dimension and its addresses in remote-group address sets.
    PortAcl(String),
    /// One security-group rule: its conjunction (`conj_id`) and L4
    /// dimension flows.
    Rule(String),
    /// A logical router: admission, IP input, routing, SNAT, delivery.
    Router(String),
    /// A floating IP: its DNAT/SNAT flows and ARP answer.
    Fip(String),
}

impl Owner {
    /// The cookie's top byte.
    pub fn tag(&self) -> u8 {
        match self {
            Owner::Global => 1,
            Owner::Network(_) => 2,
            Owner::Port(_) => 3,
            Owner::PortAcl(_) => 4,
            Owner::Rule(_) => 5,
            Owner::Router(_) => 6,
            Owner::Fip(_) => 7,
        }
    }

    /// The resource ID ("" for [`Owner::Global`]).
    pub fn id(&self) -> &str {
        match self {
            Owner::Global => "",
            Owner::Network(s)
            | Owner::Port(s)
            | Owner::PortAcl(s)
            | Owner::Rule(s)
            | Owner::Router(s)
            | Owner::Fip(s) => s,
        }
    }

    /// The 64-bit cookie (see the module docs).
    pub fn cookie(&self) -> u64 {
        const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
        const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;
        let h = self
            .id()
            .bytes()
            .fold(FNV_OFFSET, |h, b| (h ^ b as u64).wrapping_mul(FNV_PRIME));
        (self.tag() as u64) << 56 | (h & 0x00ff_ffff_ffff_ffff)
    }
}

/// Cookie tag of the MAC bindings a router learns at run time (table
/// [`crate::tables::MAC_BINDING`]): they belong to no compiled owner, so a
/// full reconcile drops them and they are learned again.
pub const MAC_BINDING_TAG: u8 = 8;

/// The cookie of the MAC bindings router `router` learns: the router's
/// cookie with tag [`MAC_BINDING_TAG`], so `dump-flows cookie=C/-1` (or
/// `del-flows`) finds exactly one router's bindings.
pub fn mac_binding_cookie(router: &str) -> u64 {
    let c = Owner::Router(router.to_owned()).cookie();
    (MAC_BINDING_TAG as u64) << 56 | (c & 0x00ff_ffff_ffff_ffff)
}

/// A flow as one owner produces it. `matches` and `actions` are ovs-ofctl(8)
/// text (what [`flow::parse_flow`] reads).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LFlow {
    pub table: u8,
    pub priority: u16,
    pub matches: String,
    pub actions: String,
}

impl LFlow {
    pub fn new(
        table: u8,
        priority: u16,
        matches: impl Into<String>,
        actions: impl Into<String>,
    ) -> LFlow {
        LFlow {
            table,
            priority,
            matches: matches.into(),
            actions: actions.into(),
        }
    }
}

/// What identifies a flow in a table (OpenFlow: table, priority, match).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    pub table: u8,
    pub priority: u16,
    pub matches: String,
}

impl Key {
    /// The `del-flows --strict` argument for this flow.
    pub fn to_strict_filter(&self) -> String {
        let sep = if self.matches.is_empty() { "" } else { "," };
        format!(
            "table={},priority={}{sep}{}",
            self.table, self.priority, self.matches
        )
    }
}

/// A flow as installed: the merge of every owner's contribution to one key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Flow {
    pub cookie: u64,
    pub key: Key,
    pub actions: String,
}

impl fmt::Display for Flow {
    /// ovs-ofctl(8) `add-flow` text.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sep = if self.key.matches.is_empty() { "" } else { "," };
        write!(
            f,
            "cookie={:#x},table={},priority={}{sep}{},actions={}",
            self.cookie, self.key.table, self.key.priority, self.key.matches, self.actions
        )
    }
}

/// What to change on the switch: flows to delete (strictly, by key) and to
/// add (an add replaces the actions and cookie of an existing key, as
/// `ovs-ofctl add-flow` does), deletes first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delta {
    pub delete: Vec<Key>,
    pub add: Vec<Flow>,
}

impl Delta {
    pub fn is_empty(&self) -> bool {
        self.delete.is_empty() && self.add.is_empty()
    }
}

/// Contributions to one key: (owner cookie, actions), in arrival order.
/// Nearly always one entry, kept inline (no allocation); a shared
/// conjunction dimension (one remote CIDR in thousands of rules) may have
/// many, so insertion is a push, not a sorted insert.
type Contribs = SmallVec<[(u64, String); 1]>;

/// One installed key and who contributed to it.
#[derive(Debug, Clone, Default)]
struct Slot {
    key: Key,
    contribs: Contribs,
}

/// All flows, by owner and by key.
///
/// The keys live once, in `slots`; the hash index and the owners' lists
/// hold slot numbers. A full compile at scale (issue 9: over half a
/// million flows) thus stores each match string once, hashes it once, and
/// growing the index never rehashes a string (the hash is kept beside the
/// slot number).
#[derive(Debug, Clone, Default)]
pub struct FlowSet {
    slots: Vec<Slot>,
    /// Slots whose key has no contribution left, for reuse.
    free: Vec<u32>,
    /// (hash of the slot's key, slot) for every live slot.
    index: HashTable<(u64, u32)>,
    hasher: DefaultHashBuilder,
    by_owner: HashMap<Owner, Vec<u32>>,
    /// Keys where two owners contributed non-conjunction actions (a bug in
    /// the intent or the compiler; the lowest cookie wins).
    pub conflicts: u64,
}

fn is_conj(a: &str) -> bool {
    a.starts_with("conjunction(")
}

/// The flows one owner produced (see [`FlowSet::owned`]).
#[derive(Debug, Clone, Copy)]
pub struct Owned<'a> {
    slots: &'a [Slot],
    ids: &'a [u32],
}

impl<'a> Owned<'a> {
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// The keys, in the order the owner produced them.
    pub fn iter(&self) -> OwnedIter<'a> {
        OwnedIter {
            slots: self.slots,
            ids: self.ids.iter(),
        }
    }
}

impl<'a> IntoIterator for Owned<'a> {
    type Item = &'a Key;
    type IntoIter = OwnedIter<'a>;

    fn into_iter(self) -> OwnedIter<'a> {
        self.iter()
    }
}

/// Iterator over the keys of an [`Owned`].
#[derive(Debug, Clone)]
pub struct OwnedIter<'a> {
    slots: &'a [Slot],
    ids: std::slice::Iter<'a, u32>,
}

impl<'a> Iterator for OwnedIter<'a> {
    type Item = &'a Key;

    fn next(&mut self) -> Option<&'a Key> {
        self.ids.next().map(|&i| &self.slots[i as usize].key)
    }
}

impl FlowSet {
    fn slot_of(&self, key: &Key) -> Option<u32> {
        let h = self.hasher.hash_one(key);
        self.index
            .find(h, |&(eh, i)| eh == h && self.slots[i as usize].key == *key)
            .map(|&(_, i)| i)
    }

    /// Drop slot `i` (no contribution left) from the index and recycle it.
    fn release(&mut self, i: u32) {
        let slot = std::mem::take(&mut self.slots[i as usize]);
        let h = self.hasher.hash_one(&slot.key);
        if let Ok(e) = self.index.find_entry(h, |&(_, j)| j == i) {
            e.remove();
        }
        self.free.push(i);
    }

    /// Replace `owner`'s flows, recording in `touched` (if given) the keys
    /// whose merged flow may have changed.
    pub fn replace(
        &mut self,
        owner: &Owner,
        flows: Vec<LFlow>,
        mut touched: Option<&mut HashSet<Key>>,
    ) {
        let cookie = owner.cookie();
        if let Some(old) = self.by_owner.remove(owner) {
            for i in old {
                let slot = &mut self.slots[i as usize];
                slot.contribs.retain(|(ck, _)| *ck != cookie);
                if let Some(t) = touched.as_deref_mut() {
                    t.insert(slot.key.clone());
                }
                if slot.contribs.is_empty() {
                    self.release(i);
                }
            }
        }
        let mut ids = Vec::with_capacity(flows.len());
        for f in flows {
            let key = Key {
                table: f.table,
                priority: f.priority,
                matches: f.matches,
            };
            let h = self.hasher.hash_one(&key);
            let FlowSet {
                slots, free, index, ..
            } = self;
            let found = index.entry(
                h,
                |&(eh, i)| eh == h && slots[i as usize].key == key,
                |&(eh, _)| eh,
            );
            let i = match found {
                Entry::Occupied(e) => e.get().1,
                Entry::Vacant(e) => {
                    let i = match free.pop() {
                        Some(i) => i,
                        None => {
                            slots.push(Slot::default());
                            (slots.len() - 1) as u32
                        }
                    };
                    e.insert((h, i));
                    slots[i as usize].key = key;
                    i
                }
            };
            let slot = &mut slots[i as usize];
            // The owner's earlier contributions were removed above and no
            // other owner adds during this call, so one of its own to this
            // key can only be the last: no scan of a shared dimension's
            // thousands of contributors.
            match slot.contribs.last_mut().filter(|(ck, _)| *ck == cookie) {
                // One owner emitting two conjunction flows with one key
                // (e.g. two rules' dimensions): concatenate.
                Some((_, a)) => {
                    if is_conj(a) && is_conj(&f.actions) {
                        a.push('\n');
                        a.push_str(&f.actions);
                    } else if *a != f.actions {
                        // Same key, different actions from one owner: the
                        // first wins (counted; a compiler bug).
                        self.conflicts += 1;
                    }
                    continue;
                }
                None => slot.contribs.push((cookie, f.actions)),
            }
            if let Some(t) = touched.as_deref_mut() {
                t.insert(slot.key.clone());
            }
            ids.push(i);
        }
        if !ids.is_empty() {
            self.by_owner.insert(owner.clone(), ids);
        }
    }

    /// The installed flow for `key`, if any.
    pub fn get(&self, key: &Key) -> Option<Flow> {
        merged(&self.slots[self.slot_of(key)? as usize])
    }

    /// Count of keys with conflicting (non-conjunction) contributions.
    pub fn count_conflicts(&self) -> usize {
        self.slots
            .iter()
            .filter(|s| s.contribs.len() > 1 && !s.contribs.iter().all(|(_, a)| is_conj(a)))
            .count()
    }

    /// Every installed flow, sorted by table, priority and match.
    pub fn flows(&self) -> Vec<Flow> {
        let mut v = self.flows_unsorted();
        v.sort_unstable_by(|a, b| a.key.cmp(&b.key));
        v
    }

    /// Every installed flow, in no particular order.
    pub fn flows_unsorted(&self) -> Vec<Flow> {
        let mut v = Vec::with_capacity(self.len());
        v.extend(self.slots.iter().filter_map(merged));
        v
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// The keys of the flows one owner produced.
    pub fn owned(&self, owner: &Owner) -> Owned<'_> {
        Owned {
            slots: &self.slots,
            ids: self.by_owner.get(owner).map_or(&[], |v| v.as_slice()),
        }
    }

    pub fn owners(&self) -> impl Iterator<Item = &Owner> {
        self.by_owner.keys()
    }
}

/// The flow installed for one slot (`None` for a free one): the lowest
/// cookie's, with the `conjunction` actions of every contributor merged.
fn merged(s: &Slot) -> Option<Flow> {
    let c = &s.contribs;
    let (cookie, first) = c.iter().min_by_key(|(ck, _)| *ck)?;
    let actions = if c.len() == 1 {
        // One owner: its conjunctions are distinct by construction.
        if first.contains('\n') {
            first.replace('\n', ",")
        } else {
            first.clone()
        }
    } else if c.iter().all(|(_, a)| is_conj(a)) {
        // OVS merges conjunctive flows with equal match and priority
        // into one flow with all the `conjunction` actions
        // (ovs-fields(7), "Conjunctive Match Fields").
        let all: BTreeSet<&str> = c.iter().flat_map(|(_, a)| a.split('\n')).collect();
        all.into_iter().collect::<Vec<_>>().join(",")
    } else {
        first.clone()
    };
    Some(Flow {
        cookie: *cookie,
        key: s.key.clone(),
        actions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conjunctions_from_two_owners_merge_and_unmerge() {
        let mut s = FlowSet::default();
        let mut t = HashSet::new();
        let mut t = Some(&mut t);
        let a = Owner::PortAcl("a".into());
        let b = Owner::PortAcl("b".into());
        s.replace(
            &a,
            vec![LFlow::new(
                42,
                2000,
                "ip,nw_src=10.0.0.5",
                "conjunction(2,2/3)",
            )],
            t.as_deref_mut(),
        );
        s.replace(
            &b,
            vec![LFlow::new(
                42,
                2000,
                "ip,nw_src=10.0.0.5",
                "conjunction(1,2/3)",
            )],
            t.as_deref_mut(),
        );
        let f = s.flows();
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].actions, "conjunction(1,2/3),conjunction(2,2/3)");
        s.replace(&a, vec![], t);
        assert_eq!(s.flows()[0].actions, "conjunction(1,2/3)");
        assert_eq!(s.flows()[0].cookie, b.cookie());
    }

    #[test]
    fn cookies_carry_the_kind_and_differ_by_id() {
        let p = Owner::Port("x".into());
        assert_eq!(p.cookie() >> 56, 3);
        assert_ne!(p.cookie(), Owner::Port("y".into()).cookie());
        assert_ne!(p.cookie(), Owner::PortAcl("x".into()).cookie());
    }
}
