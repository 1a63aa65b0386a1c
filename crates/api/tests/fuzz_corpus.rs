//! Replays the committed `requests` fuzz corpus (`fuzz/corpus/requests/*`:
//! seeds plus any crash inputs the fuzzer found) through the exact code the
//! cargo-fuzz target runs (`api::fuzzing`), so CI catches regressions on
//! stable.

use api::fuzzing::{base_ids, requests_target};
use model::Kind;
use serde_json::json;

#[test]
fn requests_corpus_replays() {
    let n = fuzzcorpus::replay(env!("CARGO_MANIFEST_DIR"), "requests", requests_target);
    assert!(n >= 20, "requests corpus unexpectedly small: {n} files");
}

/// The snapshot the target starts from holds every kind the routes address.
#[test]
fn base_snapshot_has_every_kind() {
    for k in Kind::ALL {
        assert!(!base_ids(k).is_empty(), "no {k:?} in the fuzz snapshot");
    }
}

/// Route byte: collection index (0-7) | shape << 3 (see `api::fuzzing::route`).
const POST: u8 = 0;
const GET: u8 = 1 << 3;
const PUT: u8 = 2 << 3;
const DELETE: u8 = 3 << 3;
const ADD_IF: u8 = 5 << 3;
const QOS_RULE: u8 = 7 << 3;
const TAG: u8 = 9 << 3;
/// Caller byte: ID index << 2 | token (0 admin, 1 alice, 2 bob).
const ADMIN: u8 = 0;
const ALICE: u8 = 1;
const BOB: u8 = 2;

fn one(route: u8, who: u8, body: &str) -> Vec<u8> {
    [&[route, who][..], body.as_bytes()].concat()
}

fn seeds() -> Vec<(String, Vec<u8>)> {
    let net = &base_ids(Kind::Network)[0];
    let sub = &base_ids(Kind::Subnet)[0];
    let sg = &base_ids(Kind::SecurityGroup)[0];
    let list: Vec<(&str, Vec<u8>)> = vec![
        ("net_create", one(POST, ALICE, &json!({"network": {"name": "n", "mtu": 1400, "tags": ["a"]}}).to_string())),
        ("net_bulk", one(POST, ADMIN, &json!({"networks": [{"name": "a"}, {"name": "b", "shared": true}]}).to_string())),
        ("net_bad_mtu", one(POST, ALICE, r#"{"network": {"mtu": -1}}"#)),
        ("net_update", one(PUT, 1 << 2 | ALICE, r#"{"network": {"name": "x", "admin_state_up": false}}"#)),
        ("net_delete_other", one(DELETE, 1 << 2 | BOB, "")),
        ("net_list_query", one(GET, ALICE, "fields=id&sort_key=name&sort_dir=desc&limit=1&marker=zz")),
        ("subnet_create", one(POST | 1, ALICE, &json!({"subnet": {"network_id": net, "cidr": "10.9.0.0/24", "ip_version": 4, "allocation_pools": [{"start": "10.9.0.10", "end": "10.9.0.20"}], "host_routes": [{"destination": "0.0.0.0/0", "nexthop": "10.9.0.1"}], "dns_nameservers": ["10.9.0.53"]}}).to_string())),
        ("subnet_v6", one(POST | 1, ALICE, &json!({"subnet": {"network_id": net, "cidr": "2001:db8::/64", "ip_version": 6}}).to_string())),
        ("subnet_overlap", one(POST | 1, ALICE, &json!({"subnet": {"network_id": net, "cidr": "10.0.0.0/25", "ip_version": 4}}).to_string())),
        ("port_create", one(POST | 2, ALICE, &json!({"port": {"network_id": net, "fixed_ips": [{"subnet_id": sub, "ip_address": "10.0.0.77"}], "allowed_address_pairs": [{"ip_address": "10.0.0.0/24"}], "port_security_enabled": true, "security_groups": [sg]}}).to_string())),
        ("port_mac", one(POST | 2, ALICE, &json!({"port": {"network_id": net, "mac_address": "fa:16:3e:00:00:01", "extra_dhcp_opts": [{"opt_name": "mtu", "opt_value": "1400"}]}}).to_string())),
        ("port_update_ips", one(PUT | 2, ALICE, &json!({"port": {"fixed_ips": [{"subnet_id": sub}], "binding:host_id": "h1"}}).to_string())),
        ("router_create", one(POST | 3, ALICE, &json!({"router": {"name": "r2", "routes": [{"destination": "192.168.0.0/16", "nexthop": "10.0.0.9"}]}}).to_string())),
        ("router_add_if", one(ADD_IF, ALICE, &json!({"subnet_id": sub}).to_string())),
        ("router_update_gw", one(PUT | 3, ALICE, r#"{"router": {"external_gateway_info": {"enable_snat": false}}}"#)),
        ("fip_create", one(POST | 4, ALICE, &json!({"floatingip": {"floating_network_id": base_ids(Kind::Network)[1]}}).to_string())),
        ("sg_create", one(POST | 5, BOB, r#"{"security_group": {"name": "db", "stateful": false}}"#)),
        ("sg_rule_create", one(POST | 6, ALICE, &json!({"security_group_rule": {"security_group_id": sg, "direction": "egress", "ethertype": "IPv6", "protocol": "icmp", "port_range_min": 8, "port_range_max": 0, "remote_ip_prefix": "::/0"}}).to_string())),
        ("sg_rule_remote_group", one(POST | 6, ALICE, &json!({"security_group_rule": {"security_group_id": sg, "direction": "ingress", "remote_group_id": sg}}).to_string())),
        ("qos_create", one(POST | 7, ADMIN, r#"{"policy": {"name": "p", "shared": false}}"#)),
        ("qos_rule", one(QOS_RULE | 1, ADMIN, r#"{"minimum_bandwidth_rule": {"min_kbps": 100, "direction": "egress"}}"#)),
        ("tag_add", one(TAG, ALICE, "")),
        ("not_json", one(POST, ALICE, "{not json")),
        ("wrong_type", one(POST, ALICE, r#"{"network": []}"#)),
    ];
    let mut out: Vec<(String, Vec<u8>)> =
        list.into_iter().map(|(n, v)| (n.to_string(), v)).collect();
    // A sequence: create, update, delete in one input.
    let seq = [
        one(POST, ALICE, r#"{"network": {"name": "s"}}"#),
        one(PUT, ALICE, r#"{"network": {"description": "d"}}"#),
        one(DELETE | 2, ALICE, ""),
        one(DELETE | 6, ALICE, ""),
    ]
    .join(&0xffu8);
    out.push(("sequence".into(), seq));
    out
}

/// Regenerates the seed files: `cargo test -p api --test fuzz_corpus --
/// --ignored write_seeds`. Fuzzer-found inputs (`crash-*`) live beside them.
#[test]
#[ignore]
fn write_seeds() {
    fuzzcorpus::write_seeds(env!("CARGO_MANIFEST_DIR"), "requests", seeds());
}
