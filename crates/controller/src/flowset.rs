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

use hashbrown::{HashMap, HashSet};
use std::fmt;

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
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
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
/// Nearly always one entry, so a vector (one small allocation) rather than
/// a map; a shared conjunction dimension (one remote CIDR in thousands of
/// rules) may have many, so insertion is a push, not a sorted insert.
type Contribs = Vec<(u64, String)>;

/// All flows, by owner and by key.
#[derive(Debug, Clone, Default)]
pub struct FlowSet {
    by_owner: HashMap<Owner, Vec<Key>>,
    by_key: HashMap<Key, Contribs>,
    /// Keys where two owners contributed non-conjunction actions (a bug in
    /// the intent or the compiler; the lowest cookie wins).
    pub conflicts: u64,
}

fn is_conj(a: &str) -> bool {
    a.starts_with("conjunction(")
}

impl FlowSet {
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
            for k in old {
                if let Some(c) = self.by_key.get_mut(&k) {
                    c.retain(|(ck, _)| *ck != cookie);
                    if c.is_empty() {
                        self.by_key.remove(&k);
                    }
                }
                if let Some(t) = touched.as_deref_mut() {
                    t.insert(k);
                }
            }
        }
        let mut keys = Vec::with_capacity(flows.len());
        for f in flows {
            let k = Key {
                table: f.table,
                priority: f.priority,
                matches: f.matches,
            };
            let c = match self.by_key.get_mut(&k) {
                Some(c) => c,
                None => self.by_key.entry(k.clone()).or_default(),
            };
            match c.iter_mut().find(|(ck, _)| *ck == cookie) {
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
                None => c.push((cookie, f.actions)),
            }
            if let Some(t) = touched.as_deref_mut() {
                t.insert(k.clone());
            }
            keys.push(k);
        }
        if !keys.is_empty() {
            self.by_owner.insert(owner.clone(), keys);
        }
    }

    /// The installed flow for `key`, if any.
    pub fn get(&self, key: &Key) -> Option<Flow> {
        let c = self.by_key.get(key)?;
        let (cookie, first) = c.iter().min_by_key(|(ck, _)| *ck)?;
        let actions = if c.len() == 1 {
            // One owner: its conjunctions are distinct by construction.
            first.replace('\n', ",")
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
            key: key.clone(),
            actions,
        })
    }

    /// Count of keys with conflicting (non-conjunction) contributions.
    pub fn count_conflicts(&self) -> usize {
        self.by_key
            .values()
            .filter(|c| c.len() > 1 && !c.iter().all(|(_, a)| is_conj(a)))
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
        self.by_key.keys().filter_map(|k| self.get(k)).collect()
    }

    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// The keys of the flows one owner produced.
    pub fn owned(&self, owner: &Owner) -> &[Key] {
        self.by_owner.get(owner).map_or(&[], |v| v.as_slice())
    }

    pub fn owners(&self) -> impl Iterator<Item = &Owner> {
        self.by_owner.keys()
    }
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
