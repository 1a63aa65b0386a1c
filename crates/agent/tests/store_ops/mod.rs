//! Intent as store writes, for the agent's tests and its simulation bench
//! (the API would write the same records).
#![allow(dead_code)]

use model::{Resource, State};
use store::Op;

/// A put of one resource in its wire form.
pub fn put(r: &Resource) -> Op {
    Op::Put {
        kind: r.kind().store_name().to_owned(),
        id: r.meta().id.clone(),
        value: serde_json::to_vec(&r.to_json()).expect("json"),
    }
}

/// Puts of the groups, rules, networks, subnets and ports of `st`.
pub fn intent(st: &State) -> Vec<Op> {
    let mut v: Vec<Op> = Vec::new();
    v.extend(
        st.security_groups
            .values()
            .map(|r| put(&Resource::SecurityGroup(r.clone()))),
    );
    v.extend(
        st.rules
            .values()
            .map(|r| put(&Resource::SecurityGroupRule(r.clone()))),
    );
    v.extend(
        st.networks
            .values()
            .map(|r| put(&Resource::Network(r.clone()))),
    );
    v.extend(
        st.subnets
            .values()
            .map(|r| put(&Resource::Subnet(r.clone()))),
    );
    v.extend(st.ports.values().map(|r| put(&Resource::Port(r.clone()))));
    v
}

/// A simulated chassis: agent `name` on a dry-run switch, VXLAN from
/// underlay address `ip`, its keys in `dir`.
pub fn chassis_config(
    dir: &std::path::Path,
    name: &str,
    ip: std::net::Ipv4Addr,
    bridge_mappings: std::collections::BTreeMap<String, String>,
    lease_ttl: std::time::Duration,
) -> agent::Config {
    agent::Config {
        run_dir: dir.to_owned(),
        keys_path: agent::keys_file(dir),
        bridge_mappings,
        chassis: Some(agent::cluster::ChassisConfig {
            name: name.into(),
            underlay_ip: ip,
            encaps: vec!["vxlan".into()],
            lease_ttl,
        }),
        protection: agent::Protection::default(),
    }
}
