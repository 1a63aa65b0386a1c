//! Small integer identities the flows need: datapath keys (`metadata`),
//! logical port keys (`reg14`/`reg15`), conntrack zones, conjunction IDs.
//!
//! Allocation is sequential (lowest free number), like ovn-northd's tunnel
//! keys and ovn-controller's ct zones. The assignments are state the caller
//! persists and hands back on restart ([`Keys::snapshot`] /
//! [`Keys::restore`], as ovn-controller keeps zones in the bridge's
//! external_ids), so flows are identical across restarts and a full
//! recompile with the same keys equals the incremental result.

use std::collections::BTreeSet;

use hashbrown::HashMap;

use crate::CompileError;

/// One identifier space: name → number, lowest free number first.
#[derive(Debug, Clone, Default)]
pub struct Space {
    /// Hashed: looked up several times per port and rule on every compile.
    by_name: HashMap<String, u32>,
    used: BTreeSet<u32>,
    min: u32,
    max: u32,
    /// Assignments made or freed so far ([`Keys::generation`]); not part
    /// of the value (equality compares the assignments).
    changes: u64,
}

impl PartialEq for Space {
    fn eq(&self, o: &Space) -> bool {
        (&self.by_name, &self.used, self.min, self.max) == (&o.by_name, &o.used, o.min, o.max)
    }
}

impl Eq for Space {}

impl Space {
    fn new(min: u32, max: u32) -> Space {
        Space {
            min,
            max,
            ..Space::default()
        }
    }

    /// The number of `name`, allocating one if it has none.
    pub fn get_or_alloc(&mut self, name: &str, what: &'static str) -> Result<u32, CompileError> {
        if let Some(&k) = self.by_name.get(name) {
            return Ok(k);
        }
        // Lowest free: walk the used set from `min` (dense in practice, so
        // the first gap is found quickly after frees; appends are O(log n)
        // via `last`).
        let next = match self.used.last() {
            Some(&l) if l < self.max && self.used.len() as u32 == l - self.min + 1 => l + 1,
            None => self.min,
            _ => (self.min..=self.max)
                .find(|k| !self.used.contains(k))
                .ok_or(CompileError::Exhausted(what))?,
        };
        self.used.insert(next);
        self.by_name.insert(name.to_string(), next);
        self.changes += 1;
        Ok(next)
    }

    pub fn get(&self, name: &str) -> Option<u32> {
        self.by_name.get(name).copied()
    }

    pub fn free(&mut self, name: &str) {
        if let Some(k) = self.by_name.remove(name) {
            self.used.remove(&k);
            self.changes += 1;
        }
    }

    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// The assignments, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, u32)> {
        let mut v: Vec<(&str, u32)> = self.by_name.iter().map(|(n, &k)| (n.as_str(), k)).collect();
        v.sort_unstable();
        v.into_iter()
    }
}

/// All identifier spaces of one host's pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    /// Logical datapaths (networks, routers): the `metadata` value.
    pub datapaths: Space,
    /// Logical ports: `reg14`/`reg15` values.
    pub ports: Space,
    /// Conntrack zones (16 bits; 0 is the default zone and never used).
    pub zones: Space,
    /// `conjunction` IDs of security-group rules.
    pub conj: Space,
}

impl Default for Keys {
    fn default() -> Self {
        Keys {
            datapaths: Space::new(1, (1 << 24) - 1),
            ports: Space::new(1, u32::MAX - 1),
            zones: Space::new(1, u16::MAX as u32),
            conj: Space::new(1, u32::MAX - 1),
        }
    }
}

/// Serializable form of [`Keys`]: (space, name, number) triples.
pub type Snapshot = Vec<(String, String, u32)>;

impl Keys {
    /// A number that grows with every assignment made or freed: a caller
    /// that persists the keys takes a [`Keys::snapshot`] only when it
    /// moved, not after every compile.
    pub fn generation(&self) -> u64 {
        self.spaces().iter().map(|(_, s)| s.changes).sum()
    }

    pub fn snapshot(&self) -> Snapshot {
        let mut v = Vec::new();
        for (space, s) in self.spaces() {
            v.extend(s.iter().map(|(n, k)| (space.to_string(), n.to_string(), k)));
        }
        v
    }

    /// Rebuild from a snapshot; unknown space names are ignored.
    pub fn restore(snap: &Snapshot) -> Keys {
        let mut keys = Keys::default();
        for (space, name, k) in snap {
            let s = match space.as_str() {
                "datapaths" => &mut keys.datapaths,
                "ports" => &mut keys.ports,
                "zones" => &mut keys.zones,
                "conj" => &mut keys.conj,
                _ => continue,
            };
            s.by_name.insert(name.clone(), *k);
            s.used.insert(*k);
        }
        keys
    }

    fn spaces(&self) -> [(&'static str, &Space); 4] {
        [
            ("datapaths", &self.datapaths),
            ("ports", &self.ports),
            ("zones", &self.zones),
            ("conj", &self.conj),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowest_free_is_reused_and_names_are_stable() {
        let mut s = Space::new(1, 3);
        assert_eq!(s.get_or_alloc("a", "x").unwrap(), 1);
        assert_eq!(s.get_or_alloc("b", "x").unwrap(), 2);
        assert_eq!(s.get_or_alloc("a", "x").unwrap(), 1);
        s.free("a");
        assert_eq!(s.get_or_alloc("c", "x").unwrap(), 1);
        assert_eq!(s.get_or_alloc("d", "x").unwrap(), 3);
        assert_eq!(
            s.get_or_alloc("e", "zone"),
            Err(CompileError::Exhausted("zone"))
        );
    }

    #[test]
    fn snapshot_round_trips() {
        let mut k = Keys::default();
        k.zones.get_or_alloc("net-1", "zone").unwrap();
        k.ports.get_or_alloc("p", "port").unwrap();
        assert_eq!(Keys::restore(&k.snapshot()), k);
    }
}
