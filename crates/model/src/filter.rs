//! Cheap pre-filtering of lists on plain string attributes, before the
//! (costlier) rendering to JSON. Only a fast path: the API still applies
//! every filter to the rendered resource.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::resources::*;
use crate::state::{Ctx, State};
use crate::Kind;

fn meta_attr<'a>(m: &'a Meta, key: &str) -> Option<Option<&'a str>> {
    Some(Some(match key {
        "id" => &m.id,
        "project_id" => &m.project_id,
        "tenant_id" => &m.tenant_id,
        "description" => &m.description,
        _ => return None,
    }))
}

/// Plain string attributes of a stored resource, for pre-filtering and
/// indexing.
pub(crate) trait Attr {
    fn meta(&self) -> &Meta;
    /// `Some(value)` for a known string attribute (`Some(None)` when null),
    /// `None` when the attribute is not handled here.
    fn own(&self, key: &str) -> Option<Option<&str>>;
    fn attr(&self, key: &str) -> Option<Option<&str>> {
        meta_attr(self.meta(), key).or_else(|| self.own(key))
    }
}

/// String or nullable string attribute.
trait AsOptStr {
    fn as_opt(&self) -> Option<&str>;
}

impl AsOptStr for String {
    fn as_opt(&self) -> Option<&str> {
        Some(self)
    }
}

impl AsOptStr for Option<String> {
    fn as_opt(&self) -> Option<&str> {
        self.as_deref()
    }
}

macro_rules! attrs {
    ($t:ty { $($key:literal => $f:ident),* }) => {
        impl $t {
            /// Attributes [`State::list_filtered`] can test without rendering.
            pub const CHEAP_FILTERS: &'static [&'static str] = &["id", "project_id", "tenant_id", "description", $($key),*];
        }
        impl Attr for $t {
            fn meta(&self) -> &Meta {
                &self.meta
            }
            fn own(&self, key: &str) -> Option<Option<&str>> {
                match key {
                    $($key => Some(AsOptStr::as_opt(&self.$f)),)*
                    _ => None,
                }
            }
        }
    };
}

attrs!(Network { "name" => name, "status" => status });
attrs!(Subnet { "name" => name, "network_id" => network_id, "cidr" => cidr });
attrs!(Port { "name" => name, "network_id" => network_id, "device_id" => device_id, "device_owner" => device_owner, "mac_address" => mac_address, "status" => status });
attrs!(Router { "name" => name, "status" => status });
attrs!(FloatingIp { "floating_network_id" => floating_network_id, "floating_ip_address" => floating_ip_address, "port_id" => port_id, "router_id" => router_id });
attrs!(SecurityGroup { "name" => name });
attrs!(SecurityGroupRule { "security_group_id" => security_group_id, "direction" => direction, "ethertype" => ethertype });
attrs!(QosPolicy { "name" => name });
attrs!(QosRule { "qos_policy_id" => qos_policy_id });

fn pass<T: Attr>(x: &T, filters: &[(String, Vec<String>)]) -> bool {
    filters.iter().all(|(key, wanted)| match x.attr(key) {
        None => true,
        Some(Some(v)) => wanted.iter().any(|w| w == v),
        Some(None) => wanted
            .iter()
            .any(|w| w.is_empty() || w.eq_ignore_ascii_case("none")),
    })
}

/// The attributes of a kind that pre-filtering fully decides.
pub fn cheap_filters(k: Kind) -> &'static [&'static str] {
    match k {
        Kind::Network => Network::CHEAP_FILTERS,
        Kind::Subnet => Subnet::CHEAP_FILTERS,
        Kind::Port => Port::CHEAP_FILTERS,
        Kind::Router => Router::CHEAP_FILTERS,
        Kind::FloatingIp => FloatingIp::CHEAP_FILTERS,
        Kind::SecurityGroup => SecurityGroup::CHEAP_FILTERS,
        Kind::SecurityGroupRule => SecurityGroupRule::CHEAP_FILTERS,
        Kind::QosPolicy => QosPolicy::CHEAP_FILTERS,
        Kind::QosRule => QosRule::CHEAP_FILTERS,
    }
}

/// The resources of `map` among `candidates` (from an index), or all of
/// them; in ID order either way.
fn candidates_or_all<'a, T>(
    map: &'a BTreeMap<String, T>,
    candidates: &'a Option<BTreeSet<&str>>,
) -> Box<dyn Iterator<Item = &'a T> + 'a> {
    match candidates {
        Some(ids) => Box::new(ids.iter().filter_map(|id| map.get(*id))),
        None => Box::new(map.values()),
    }
}

impl State {
    /// IDs (in ID order) of the resources visible to `ctx` matching
    /// `filters`, all of which must be in [`cheap_filters`]; nothing is
    /// rendered, so a page can be cut before rendering.
    pub fn ids_filtered(
        &self,
        ctx: &Ctx,
        k: Kind,
        filters: &[(String, Vec<String>)],
    ) -> Vec<String> {
        let mut out = Vec::new();
        let candidates = self.idx.candidates(k, filters);
        macro_rules! scan {
            ($map:expr, $variant:ident) => {
                for x in candidates_or_all(&$map, &candidates).filter(|x| pass(*x, filters)) {
                    let mine = ctx.is_admin || x.meta.project_id == ctx.project_id;
                    if mine || self.visible(ctx, &Resource::$variant(x.clone())) {
                        out.push(x.meta.id.clone());
                    }
                }
            };
        }
        match k {
            Kind::Network => scan!(self.networks, Network),
            Kind::Subnet => scan!(self.subnets, Subnet),
            Kind::Port => scan!(self.ports, Port),
            Kind::Router => scan!(self.routers, Router),
            Kind::FloatingIp => scan!(self.floating_ips, FloatingIp),
            Kind::SecurityGroup => scan!(self.security_groups, SecurityGroup),
            Kind::SecurityGroupRule => scan!(self.rules, SecurityGroupRule),
            Kind::QosPolicy => scan!(self.qos_policies, QosPolicy),
            Kind::QosRule => scan!(self.qos_rules, QosRule),
        }
        out
    }

    /// Rendered resources of a kind visible to `ctx` that may match
    /// `filters` (`(attribute, accepted values)`; values OR, attributes AND).
    pub fn list_filtered(
        &self,
        ctx: &Ctx,
        k: Kind,
        filters: &[(String, Vec<String>)],
    ) -> Vec<Value> {
        let mut out = Vec::new();
        let candidates = self.idx.candidates(k, filters);
        macro_rules! scan {
            ($map:expr, $variant:ident) => {
                // Borrow-only check first; clone only the survivors.
                for x in candidates_or_all(&$map, &candidates).filter(|x| pass(*x, filters)) {
                    let r = Resource::$variant(x.clone());
                    if self.visible(ctx, &r) {
                        out.push(self.render(&r));
                    }
                }
            };
        }
        match k {
            Kind::Network => scan!(self.networks, Network),
            Kind::Subnet => scan!(self.subnets, Subnet),
            Kind::Port => scan!(self.ports, Port),
            Kind::Router => scan!(self.routers, Router),
            Kind::FloatingIp => scan!(self.floating_ips, FloatingIp),
            Kind::SecurityGroup => scan!(self.security_groups, SecurityGroup),
            Kind::SecurityGroupRule => scan!(self.rules, SecurityGroupRule),
            Kind::QosPolicy => scan!(self.qos_policies, QosPolicy),
            Kind::QosRule => scan!(self.qos_rules, QosRule),
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ops, Env, IpamConfig};
    use rand::SeedableRng;
    use serde_json::json;

    #[test]
    fn prefilter_keeps_matches_and_unknown_keys_pass() {
        let mut st = State::default();
        let cfg = IpamConfig::default();
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let ctx = Ctx::admin("p");
        for name in ["a", "b", "c"] {
            let mut env = Env {
                now: "t".into(),
                rng: &mut rng,
                config: &cfg,
            };
            let o = ops::create(
                &st,
                &ctx,
                &mut env,
                Kind::Network,
                &json!({"name": name}),
                None,
            )
            .unwrap();
            st.apply(&o.changes);
        }
        let f = |k: &str, v: &[&str]| {
            vec![(
                k.to_string(),
                v.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            )]
        };
        assert_eq!(
            st.list_filtered(&ctx, Kind::Network, &f("name", &["a", "c"]))
                .len(),
            2
        );
        assert_eq!(
            st.list_filtered(&ctx, Kind::Network, &f("name", &["zz"]))
                .len(),
            0
        );
        assert_eq!(
            st.list_filtered(&ctx, Kind::Network, &f("mtu", &["1"]))
                .len(),
            3,
            "left to the full filter"
        );
        assert_eq!(
            st.list_filtered(&Ctx::member("q"), Kind::Network, &[])
                .len(),
            0
        );
    }
}
