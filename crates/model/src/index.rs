//! Secondary indexes of the in-memory [`State`](crate::State): for the
//! attributes lists are commonly filtered on (Neutron clients ask for the
//! ports of a network or a device, the subnets of a network, the rules of a
//! group, a resource by name as `openstack port show NAME` does), the IDs of the resources holding each value. A filtered list then
//! touches only the resources that can match instead of scanning the kind.
//!
//! The index is kept by [`State::put`](crate::State::put) and removal, the
//! only ways to change a [`State`](crate::State); it decides nothing by
//! itself: candidates are still checked with the full filter, so results
//! are identical to a scan (see the proptest in `tests/index.rs`).

use std::collections::{BTreeSet, HashMap};

use std::net::IpAddr;

use crate::filter::Attr;
use crate::resources::Port;
use crate::Kind;

/// The indexed attributes of a kind (all of them plain string attributes of
/// [`crate::filter::cheap_filters`]).
pub fn indexed(k: Kind) -> &'static [&'static str] {
    match k {
        Kind::Port => &[
            "network_id",
            "device_id",
            "device_owner",
            "mac_address",
            "project_id",
            "name",
        ],
        Kind::Subnet => &["network_id", "project_id", "name"],
        Kind::FloatingIp => &["floating_network_id", "port_id", "router_id", "project_id"],
        Kind::SecurityGroupRule => &["security_group_id", "project_id"],
        Kind::QosRule => &["qos_policy_id", "project_id"],
        Kind::Network | Kind::Router | Kind::SecurityGroup | Kind::QosPolicy => {
            &["project_id", "name"]
        }
    }
}

/// Value (`None` for null) → IDs holding it, in ID order.
type Postings = HashMap<Option<String>, BTreeSet<String>>;

/// Every index of a [`State`](crate::State).
#[derive(Debug, Clone, Default)]
pub(crate) struct Indexes {
    by: HashMap<(Kind, &'static str), Postings>,
    /// Subnet ID → fixed IPs held by ports on it (with a count, so a
    /// transiently doubled address is not lost), for IP allocation.
    fixed_ips: HashMap<String, HashMap<IpAddr, u32>>,
}

impl Indexes {
    /// Replace `old` (the stored version, if any) by `new` (if any; `None`
    /// for a removal) in every index of kind `k`.
    pub fn update(&mut self, k: Kind, old: Option<&dyn Attr>, new: Option<&dyn Attr>) {
        for &attr in indexed(k) {
            let ov = old.and_then(|o| Some((o.meta().id.as_str(), o.attr(attr)?)));
            let nv = new.and_then(|n| Some((n.meta().id.as_str(), n.attr(attr)?)));
            if ov == nv {
                continue;
            }
            let postings = self.by.entry((k, attr)).or_default();
            if let Some((id, v)) = ov {
                let key = v.map(str::to_string);
                if let Some(ids) = postings.get_mut(&key) {
                    ids.remove(id);
                    if ids.is_empty() {
                        postings.remove(&key);
                    }
                }
            }
            if let Some((id, v)) = nv {
                postings
                    .entry(v.map(str::to_string))
                    .or_default()
                    .insert(id.to_string());
            }
        }
    }

    /// The sets of IDs matching one of `wanted` for `attr`, as the filter
    /// does: a value equal to a wanted one, or null when an empty string or
    /// `none` is wanted. `None` if `attr` is not indexed for `k`.
    fn postings<'a>(
        &'a self,
        k: Kind,
        attr: &str,
        wanted: &'a [String],
    ) -> Option<impl Iterator<Item = &'a BTreeSet<String>> + 'a> {
        let &attr = indexed(k).iter().find(|a| **a == attr)?;
        let postings = self.by.get(&(k, attr));
        Some(wanted.iter().flat_map(move |w| {
            let null = w.is_empty() || w.eq_ignore_ascii_case("none");
            let value = postings.and_then(|p| p.get(&Some(w.clone())));
            let nulls = if null {
                postings.and_then(|p| p.get(&None))
            } else {
                None
            };
            value.into_iter().chain(nulls)
        }))
    }

    /// Candidate IDs (in ID order, a superset of the matches) for
    /// `filters` (`(attribute, accepted values)`, values OR, attributes
    /// AND), from the most selective indexed filter; `None` when no filter
    /// is indexed and the caller has to scan.
    pub fn candidates<'a>(
        &'a self,
        k: Kind,
        filters: &'a [(String, Vec<String>)],
    ) -> Option<BTreeSet<&'a str>> {
        let (_, attr, wanted) = filters
            .iter()
            .filter_map(|(attr, wanted)| {
                let n: usize = self.postings(k, attr, wanted)?.map(BTreeSet::len).sum();
                Some((n, attr, wanted))
            })
            .min_by_key(|(n, _, _)| *n)?;
        Some(
            self.postings(k, attr, wanted)?
                .flatten()
                .map(String::as_str)
                .collect(),
        )
    }

    /// Replace `old`'s fixed IPs by `new`'s in the per-subnet address index.
    pub fn update_fixed_ips(&mut self, old: Option<&Port>, new: Option<&Port>) {
        for f in old.into_iter().flat_map(|p| &p.fixed_ips) {
            let Ok(ip) = f.ip_address.parse::<IpAddr>() else {
                continue;
            };
            if let Some(ips) = self.fixed_ips.get_mut(&f.subnet_id) {
                if let Some(n) = ips.get_mut(&ip) {
                    *n -= 1;
                    if *n == 0 {
                        ips.remove(&ip);
                    }
                }
                if ips.is_empty() {
                    self.fixed_ips.remove(&f.subnet_id);
                }
            }
        }
        for f in new.into_iter().flat_map(|p| &p.fixed_ips) {
            let Ok(ip) = f.ip_address.parse::<IpAddr>() else {
                continue;
            };
            *self
                .fixed_ips
                .entry(f.subnet_id.clone())
                .or_default()
                .entry(ip)
                .or_default() += 1;
        }
    }

    /// Whether a port holds `ip` on subnet `subnet_id`.
    pub fn ip_in_use(&self, subnet_id: &str, ip: &IpAddr) -> bool {
        self.fixed_ips
            .get(subnet_id)
            .is_some_and(|ips| ips.contains_key(ip))
    }

    /// IDs of resources of kind `k` whose `attr` equals `value` (in ID
    /// order); `None` if `attr` is not indexed for `k`.
    pub fn ids_with<'a>(
        &'a self,
        k: Kind,
        attr: &str,
        value: &str,
    ) -> Option<impl Iterator<Item = &'a str> + 'a> {
        let &attr = indexed(k).iter().find(|a| **a == attr)?;
        let ids = self
            .by
            .get(&(k, attr))
            .and_then(|p| p.get(&Some(value.to_string())));
        Some(ids.into_iter().flatten().map(String::as_str))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ops, Ctx, Env, IpamConfig, State};
    use rand::SeedableRng;
    use serde_json::json;

    fn ids(st: &State, attr: &str, value: &str) -> Vec<String> {
        st.idx
            .ids_with(Kind::Port, attr, value)
            .into_iter()
            .flatten()
            .map(str::to_string)
            .collect()
    }

    /// Postings are exact: an update moves the ID, a delete drops it, and
    /// no empty value sets are left behind.
    #[test]
    fn postings_follow_updates_and_deletes() {
        let mut st = State::default();
        let cfg = IpamConfig::default();
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let ctx = Ctx::admin("p");
        let mut run =
            |st: &mut State, f: &dyn Fn(&State, &mut Env) -> crate::Result<ops::Outcome>| {
                let mut env = Env {
                    now: "t".into(),
                    rng: &mut rng,
                    config: &cfg,
                };
                let o = f(st, &mut env).expect("operation");
                st.apply(&o.changes);
                o.id
            };
        let net = run(&mut st, &|s, e| {
            ops::create(s, &ctx, e, Kind::Network, &json!({}), None)
        });
        let body = json!({"network_id": net, "device_id": "vm1"});
        let port = run(&mut st, &|s, e| {
            ops::create(s, &ctx, e, Kind::Port, &body, None)
        });
        assert_eq!(ids(&st, "device_id", "vm1"), vec![port.clone()]);
        let upd = json!({"device_id": "vm2"});
        run(&mut st, &|s, e| {
            ops::update(s, &ctx, e, Kind::Port, &port, &upd, None)
        });
        assert!(ids(&st, "device_id", "vm1").is_empty());
        assert_eq!(ids(&st, "device_id", "vm2"), vec![port.clone()]);
        assert_eq!(ids(&st, "network_id", &net), vec![port.clone()]);
        run(&mut st, &|s, e| {
            ops::delete(s, &ctx, e, Kind::Port, &port, None)
        });
        assert!(ids(&st, "device_id", "vm2").is_empty());
        assert!(ids(&st, "network_id", &net).is_empty());
        let left = st
            .idx
            .by
            .iter()
            .filter(|((k, _), p)| *k == Kind::Port && !p.is_empty())
            .count();
        assert_eq!(left, 0, "no port postings left");
        assert!(
            st.idx.ids_with(Kind::Network, "status", "x").is_none(),
            "not indexed"
        );
    }
}
