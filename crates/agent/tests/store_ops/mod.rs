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
