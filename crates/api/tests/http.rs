//! The API over HTTP (in-process): CRUD of every resource, list queries,
//! error bodies, If-Match, bulk, tags, discovery documents.

mod common;

use common::{etype, T};
use serde_json::{json, Value};

#[tokio::test]
async fn discovery_documents() {
    let t = T::new();
    let (st, v) = t.get("/").await;
    assert_eq!(st, 200);
    assert_eq!(
        v["versions"][0]["links"][0]["href"],
        "http://cloud.test:9696/v2.0/"
    );
    let (_, v) = t.get("/v2.0/").await;
    let colls: Vec<&str> = v["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["collection"].as_str().unwrap())
        .collect();
    assert!(colls.contains(&"security_groups") && colls.contains(&"policies"));
    let (_, v) = t.get("/v2.0/extensions").await;
    assert!(v["extensions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["alias"] == "router"));
    assert_eq!(t.get("/v2.0/extensions/router").await.0, 200);
    assert_eq!(t.get("/v2.0/extensions/dvr").await.0, 404);
    let (st, v) = t.get("/openapi.json").await;
    assert_eq!(st, 200);
    assert!(v["paths"]["/v2.0/security-groups"].is_object(), "{v}");
}

#[tokio::test]
async fn network_crud_and_errors() {
    let t = T::new();
    let (st, v) = t
        .post(
            "/v2.0/networks",
            json!({"network": {"name": "n1", "tags": ["blue"]}}),
        )
        .await;
    assert_eq!(st, 201);
    let n = v["network"]["id"].as_str().unwrap().to_string();
    assert_eq!(v["network"]["subnets"], json!([]), "lists are never null");
    assert_eq!(v["network"]["tenant_id"], v["network"]["project_id"]);
    assert!(v["network"]["created_at"].as_str().unwrap().ends_with('Z'));
    let (st, v) = t
        .get(&format!("/v2.0/networks/{n}?fields=name&fields=id"))
        .await;
    assert_eq!(st, 200);
    assert_eq!(v["network"].as_object().unwrap().len(), 2);
    let (st, v) = t
        .put(
            &format!("/v2.0/networks/{n}"),
            json!({"network": {"name": "n2"}}),
        )
        .await;
    assert_eq!(
        (
            st,
            v["network"]["name"].as_str(),
            v["network"]["revision_number"].as_u64()
        ),
        (200, Some("n2"), Some(2))
    );
    let (st, v) = t.raw("POST", "/v2.0/networks", "{not json").await;
    assert_eq!((st, etype(&v)), (400, "HTTPBadRequest"));
    let (st, v) = t
        .post("/v2.0/networks", json!({"network": {"mtu": "x"}}))
        .await;
    assert_eq!(st, 400, "{v}");
    assert!(v["NeutronError"]["message"]
        .as_str()
        .unwrap()
        .contains("mtu"));
    let (st, v) = t.get("/v2.0/networks/nope").await;
    assert_eq!((st, etype(&v)), (404, "NetworkNotFound"));
    assert_eq!(t.delete(&format!("/v2.0/networks/{n}")).await, 204);
    assert_eq!(t.delete(&format!("/v2.0/networks/{n}")).await, 404);
    let (_, v) = t.get("/v2.0/networks").await;
    assert_eq!(v["networks"], json!([]));
}

#[tokio::test]
async fn subnet_port_crud_and_validation() {
    let t = T::new();
    let n = t.create("networks", "network", json!({"name": "n"})).await;
    let s = t
        .create(
            "subnets",
            "subnet",
            json!({"network_id": n, "cidr": "10.0.0.0/24", "dns_nameservers": ["192.0.2.53"]}),
        )
        .await;
    let (st, v) = t
        .post(
            "/v2.0/subnets",
            json!({"subnet": {"network_id": n, "cidr": "10.0.0.0/16"}}),
        )
        .await;
    assert_eq!((st, etype(&v)), (400, "InvalidInput"));
    let (st, _) = t
        .post(
            "/v2.0/subnets",
            json!({"subnet": {"network_id": n, "cidr": "10.1.0.0/24", "gateway_ip": "10.2.0.1"}}),
        )
        .await;
    assert_eq!(st, 400);
    let (_, v) = t.get(&format!("/v2.0/networks/{n}")).await;
    assert_eq!(v["network"]["subnets"], json!([s]));
    let p = t
        .create(
            "ports",
            "port",
            json!({"network_id": n, "name": "vm1", "fixed_ips": [{"ip_address": "10.0.0.10"}]}),
        )
        .await;
    let (st, v) = t
        .post(
            "/v2.0/ports",
            json!({"port": {"network_id": n, "fixed_ips": [{"ip_address": "10.0.0.10"}]}}),
        )
        .await;
    assert_eq!((st, etype(&v)), (409, "IpAddressAlreadyAllocated"));
    let (_, v) = t.get(&format!("/v2.0/ports/{p}")).await;
    let mac = v["port"]["mac_address"].as_str().unwrap().to_string();
    assert!(mac.starts_with("fa:16:3e:"));
    let (st, v) = t
        .post(
            "/v2.0/ports",
            json!({"port": {"network_id": n, "mac_address": mac}}),
        )
        .await;
    assert_eq!((st, etype(&v)), (409, "MacAddressInUse"));
    let (st, v) = t
        .put(
            &format!("/v2.0/ports/{p}"),
            json!({"port": {"fixed_ips": [{"ip_address": "10.0.0.11"}], "binding:host_id": "h1"}}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["port"]["fixed_ips"][0]["ip_address"], "10.0.0.11");
    let (st, v) = t
        .req("DELETE", &format!("/v2.0/networks/{n}"), None, &[])
        .await;
    assert_eq!((st, etype(&v)), (409, "NetworkInUse"));
    let (st, _) = t
        .put(
            &format!("/v2.0/subnets/{s}"),
            json!({"subnet": {"name": "renamed", "enable_dhcp": false}}),
        )
        .await;
    assert_eq!(st, 200);
    assert_eq!(t.delete(&format!("/v2.0/ports/{p}")).await, 204);
    assert_eq!(t.delete(&format!("/v2.0/networks/{n}")).await, 204);
    assert_eq!(
        t.get(&format!("/v2.0/subnets/{s}")).await.0,
        404,
        "subnet deleted with its network"
    );
}

#[tokio::test]
async fn filters_sorting_pagination() {
    let t = T::new();
    let mut ids = Vec::new();
    for i in 0..7 {
        ids.push(t.create("networks", "network", json!({"name": format!("net{i}"), "tags": if i % 2 == 0 { json!(["even"]) } else { json!(["odd"]) }})).await);
    }
    let (_, v) = t.get("/v2.0/networks?name=net1&name=net3").await;
    assert_eq!(
        v["networks"].as_array().unwrap().len(),
        2,
        "repeated keys OR"
    );
    let (_, v) = t.get("/v2.0/networks?name=net1&admin_state_up=false").await;
    assert_eq!(
        v["networks"].as_array().unwrap().len(),
        0,
        "different keys AND"
    );
    let (_, v) = t.get("/v2.0/networks?tags=even").await;
    assert_eq!(v["networks"].as_array().unwrap().len(), 4);
    let (_, v) = t.get("/v2.0/networks?not-tags=even").await;
    assert_eq!(v["networks"].as_array().unwrap().len(), 3);
    let (_, v) = t
        .get("/v2.0/networks?sort_key=name&sort_dir=desc&fields=name")
        .await;
    let names: Vec<&str> = v["networks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["net6", "net5", "net4", "net3", "net2", "net1", "net0"]
    );
    // Walk all pages through the next links.
    let mut url = "/v2.0/networks?limit=3&sort_key=name".to_string();
    let mut seen = Vec::new();
    for _ in 0..5 {
        let (st, v) = t.get(&url).await;
        assert_eq!(st, 200);
        seen.extend(
            v["networks"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n["name"].as_str().unwrap().to_string()),
        );
        let next = v["networks_links"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["rel"] == "next")
            .map(|l| l["href"].as_str().unwrap().to_string());
        match next {
            Some(h) => url = h.trim_start_matches("http://cloud.test:9696").to_string(),
            None => break,
        }
    }
    assert_eq!(seen, (0..7).map(|i| format!("net{i}")).collect::<Vec<_>>());
    let (st, _) = t.get("/v2.0/networks?limit=abc").await;
    assert_eq!(st, 400);
    let (_, v) = t
        .get(&format!(
            "/v2.0/networks?limit=2&marker={}&page_reverse=True",
            {
                let (_, v) = t.get("/v2.0/networks?sort_key=id").await;
                v["networks"][6]["id"].as_str().unwrap().to_string()
            }
        ))
        .await;
    assert_eq!(v["networks"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn bulk_create_is_atomic() {
    let t = T::new();
    let n = t.create("networks", "network", json!({})).await;
    t.create(
        "subnets",
        "subnet",
        json!({"network_id": n, "cidr": "10.0.0.0/24"}),
    )
    .await;
    let (st, v) = t
        .post(
            "/v2.0/ports",
            json!({"ports": [{"network_id": n}, {"network_id": n}]}),
        )
        .await;
    assert_eq!(st, 201);
    let ips: Vec<&str> = v["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["fixed_ips"][0]["ip_address"].as_str().unwrap())
        .collect();
    assert_eq!(ips, ["10.0.0.2", "10.0.0.3"]);
    let (st, _) = t
        .post(
            "/v2.0/ports",
            json!({"ports": [{"network_id": n, "name": "ok"}, {"network_id": "missing"}]}),
        )
        .await;
    assert_eq!(st, 404);
    let (_, v) = t.get("/v2.0/ports?name=ok").await;
    assert_eq!(
        v["ports"],
        json!([]),
        "nothing stored by a failed bulk request"
    );
}

#[tokio::test]
async fn if_match_and_concurrent_writers() {
    let t = T::new();
    let n = t.create("networks", "network", json!({})).await;
    let path = format!("/v2.0/networks/{n}");
    let body = json!({"network": {"name": "x"}});
    let (st, v) = t
        .req(
            "PUT",
            &path,
            Some(&body),
            &[("If-Match", "revision_number=7")],
        )
        .await;
    assert_eq!((st, etype(&v)), (412, "RevisionNumberConstraintFailed"));
    // Two writers holding revision 1: exactly one wins.
    let mut handles = Vec::new();
    for name in ["a", "b"] {
        let router = t.router.clone();
        let path = path.clone();
        handles.push(tokio::spawn(async move {
            use tower::ServiceExt;
            let req = axum::http::Request::builder()
                .method("PUT")
                .uri(&path)
                .header("If-Match", "revision_number=1")
                .body(axum::body::Body::from(
                    json!({"network": {"name": name}}).to_string(),
                ))
                .unwrap();
            router.oneshot(req).await.unwrap().status().as_u16()
        }));
    }
    let mut codes = Vec::new();
    for h in handles {
        codes.push(h.await.unwrap());
    }
    codes.sort();
    assert_eq!(codes, [200, 412]);
    let (_, v) = t.get(&path).await;
    assert_eq!(v["network"]["revision_number"], 2);
    let (st, _) = t
        .req("DELETE", &path, None, &[("If-Match", "revision_number=1")])
        .await;
    assert_eq!(st, 412);
}

#[tokio::test]
async fn tags_endpoints() {
    let t = T::new();
    let n = t.create("networks", "network", json!({})).await;
    let base = format!("/v2.0/networks/{n}/tags");
    assert_eq!(t.req("PUT", &format!("{base}/red"), None, &[]).await.0, 201);
    assert_eq!(t.req("GET", &format!("{base}/red"), None, &[]).await.0, 204);
    assert_eq!(
        t.req("GET", &format!("{base}/blue"), None, &[]).await.0,
        404
    );
    let (st, v) = t.put(&base, json!({"tags": ["a", "b"]})).await;
    assert_eq!((st, v["tags"].clone()), (200, json!(["a", "b"])));
    assert_eq!(t.delete(&format!("{base}/a")).await, 204);
    assert_eq!(t.delete(&format!("{base}/a")).await, 404);
    let (_, v) = t.get(&base).await;
    assert_eq!(v["tags"], json!(["b"]));
    assert_eq!(t.delete(&base).await, 204);
    let p = t
        .create("qos/policies", "policy", json!({"name": "q"}))
        .await;
    assert_eq!(
        t.req("PUT", &format!("/v2.0/policies/{p}/tags/gold"), None, &[])
            .await
            .0,
        201
    );
    let (_, v) = t.get("/v2.0/qos/policies?tags=gold").await;
    assert_eq!(v["policies"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn routers_floating_ips_and_security_groups() {
    let t = T::new();
    let ext = t
        .create("networks", "network", json!({"router:external": true}))
        .await;
    t.create(
        "subnets",
        "subnet",
        json!({"network_id": ext, "cidr": "198.51.100.0/24"}),
    )
    .await;
    let n = t.create("networks", "network", json!({})).await;
    let s = t
        .create(
            "subnets",
            "subnet",
            json!({"network_id": n, "cidr": "10.0.0.0/24"}),
        )
        .await;
    let r = t
        .create(
            "routers",
            "router",
            json!({"name": "r", "external_gateway_info": {"network_id": ext}}),
        )
        .await;
    let (st, v) = t
        .put(
            &format!("/v2.0/routers/{r}/add_router_interface"),
            json!({"subnet_id": s}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let iface = v["port_id"].as_str().unwrap().to_string();
    let (_, v) = t
        .get(&format!(
            "/v2.0/ports?device_id={r}&device_owner=network:router_interface"
        ))
        .await;
    assert_eq!(v["ports"][0]["id"], iface.as_str());
    let vm = t.create("ports", "port", json!({"network_id": n})).await;
    let (st, v) = t
        .post(
            "/v2.0/floatingips",
            json!({"floatingip": {"floating_network_id": ext, "port_id": vm}}),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let fip = v["floatingip"]["id"].as_str().unwrap().to_string();
    assert_eq!(v["floatingip"]["router_id"], r.as_str());
    let (st, v) = t
        .put(
            &format!("/v2.0/floatingips/{fip}"),
            json!({"floatingip": {"port_id": null}}),
        )
        .await;
    assert_eq!(
        (st, v["floatingip"]["fixed_ip_address"].clone()),
        (200, Value::Null)
    );
    assert_eq!(t.delete(&format!("/v2.0/floatingips/{fip}")).await, 204);
    let (st, _) = t.put(&format!("/v2.0/routers/{r}"), json!({"router": {"routes": [{"destination": "192.0.2.0/24", "nexthop": "10.0.0.50"}]}})).await;
    assert_eq!(st, 200);
    let (st, _) = t.put(&format!("/v2.0/routers/{r}"), json!({"router": {"routes": [{"destination": "192.0.2.0/24", "nexthop": "172.16.0.1"}]}})).await;
    assert_eq!(st, 400);
    assert_eq!(t.delete(&format!("/v2.0/routers/{r}")).await, 409);
    let (st, _) = t
        .put(
            &format!("/v2.0/routers/{r}/remove_router_interface"),
            json!({"subnet_id": s}),
        )
        .await;
    assert_eq!(st, 200);
    assert_eq!(
        t.get(&format!("/v2.0/ports/{iface}")).await.0,
        404,
        "interface port deleted"
    );
    assert_eq!(t.delete(&format!("/v2.0/routers/{r}")).await, 204);

    let g = t
        .create("security-groups", "security_group", json!({"name": "web"}))
        .await;
    let (st, v) = t.post("/v2.0/security-group-rules", json!({"security_group_rule": {"security_group_id": g, "direction": "ingress", "protocol": "tcp", "port_range_min": "80", "port_range_max": 80}})).await;
    assert_eq!(st, 201, "{v}");
    let rule = v["security_group_rule"]["id"].as_str().unwrap().to_string();
    let (_, v) = t.get(&format!("/v2.0/security-groups/{g}")).await;
    assert_eq!(
        v["security_group"]["security_group_rules"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let (_, v) = t
        .get(&format!(
            "/v2.0/security-group-rules?security_group_id={g}&direction=ingress"
        ))
        .await;
    assert_eq!(v["security_group_rules"].as_array().unwrap().len(), 1);
    assert_eq!(
        t.delete(&format!("/v2.0/security-group-rules/{rule}"))
            .await,
        204
    );
    let (_, v) = t.get("/v2.0/security-groups?name=default").await;
    assert_eq!(v["security_groups"].as_array().unwrap().len(), 1);
    assert_eq!(t.delete(&format!("/v2.0/security-groups/{g}")).await, 204);
}

#[tokio::test]
async fn qos_policy_and_rules() {
    let t = T::new();
    let p = t
        .create("qos/policies", "policy", json!({"name": "gold"}))
        .await;
    let base = format!("/v2.0/qos/policies/{p}");
    let (st, v) = t
        .post(
            &format!("{base}/bandwidth_limit_rules"),
            json!({"bandwidth_limit_rule": {"max_kbps": 1000, "max_burst_kbps": 800}}),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let rid = v["bandwidth_limit_rule"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (st, v) = t
        .post(
            &format!("{base}/dscp_marking_rules"),
            json!({"dscp_marking_rule": {"dscp_mark": 9}}),
        )
        .await;
    assert_eq!(st, 400, "{v}");
    let (st, _) = t
        .post(
            &format!("{base}/dscp_marking_rules"),
            json!({"dscp_marking_rule": {"dscp_mark": 26}}),
        )
        .await;
    assert_eq!(st, 201);
    let (_, v) = t.get(&format!("{base}/bandwidth_limit_rules")).await;
    assert_eq!(v["bandwidth_limit_rules"].as_array().unwrap().len(), 1);
    let (st, v) = t
        .put(
            &format!("{base}/bandwidth_limit_rules/{rid}"),
            json!({"bandwidth_limit_rule": {"max_kbps": 2000}}),
        )
        .await;
    assert_eq!(
        (st, v["bandwidth_limit_rule"]["max_kbps"].as_u64()),
        (200, Some(2000))
    );
    assert_eq!(
        t.get(&format!("{base}/dscp_marking_rules/{rid}")).await.0,
        404,
        "wrong type"
    );
    let (_, v) = t.get(&base).await;
    assert_eq!(v["policy"]["rules"].as_array().unwrap().len(), 2);
    let (_, v) = t.get("/v2.0/qos/rule-types").await;
    assert_eq!(v["rule_types"].as_array().unwrap().len(), 3);
    assert_eq!(
        t.delete(&format!("{base}/bandwidth_limit_rules/{rid}"))
            .await,
        204
    );
    assert_eq!(t.delete(&base).await, 204);
}

#[tokio::test]
async fn state_survives_restart() {
    let t = T::new();
    let n = t
        .create("networks", "network", json!({"name": "keep"}))
        .await;
    t.put(
        &format!("/v2.0/networks/{n}"),
        json!({"network": {"name": "kept"}}),
    )
    .await;
    let path = t.dir.path().join("db");
    drop(t.router);
    drop(t.app);
    let store = store::RedbStore::open(&path).unwrap();
    let app = api::App::new(
        std::sync::Arc::new(store),
        model::IpamConfig::default(),
        api::AuthMode::NoAuth,
        std::sync::Arc::new(api::SystemClock),
        None,
    )
    .unwrap();
    let v = app.read(|s| s.networks[&n].clone()).unwrap();
    assert_eq!((v.name.as_str(), v.meta.revision_number), ("kept", 2));
}

#[tokio::test]
async fn validation_cases_over_http() {
    let t = T::new();
    let vlan = |id: Value| json!({"network": {"provider:network_type": "vlan", "provider:physical_network": "physnet1", "provider:segmentation_id": id}});
    let (st, v) = t.post("/v2.0/networks", vlan(json!(4095))).await;
    assert_eq!((st, etype(&v)), (400, "InvalidInput"));
    assert_eq!(
        t.post("/v2.0/networks", vlan(json!("300"))).await.0,
        201,
        "numeric string accepted"
    );
    let (st, v) = t.post("/v2.0/networks", vlan(json!(300))).await;
    assert_eq!((st, etype(&v)), (409, "VlanIdInUse"));
    let vx = json!({"network": {"provider:network_type": "vxlan", "provider:segmentation_id": 16_777_216}});
    assert_eq!(t.post("/v2.0/networks", vx).await.0, 400);
    let n = t.create("networks", "network", json!({})).await;
    t.create(
        "subnets",
        "subnet",
        json!({"network_id": n, "cidr": "10.0.0.0/30"}),
    )
    .await;
    let (st, _) = t
        .post(
            "/v2.0/ports",
            json!({"port": {"network_id": n, "bogus": 1}}),
        )
        .await;
    assert_eq!(st, 400);
    assert_eq!(
        t.post("/v2.0/ports", json!({"port": {"network_id": n}}))
            .await
            .0,
        201
    );
    let (st, v) = t
        .post("/v2.0/ports", json!({"port": {"network_id": n}}))
        .await;
    assert_eq!((st, etype(&v)), (409, "IpAddressGenerationFailure"));
    let (st, v) = t
        .post(
            "/v2.0/ports",
            json!({"port": {"network_id": n, "admin_state_up": [1]}}),
        )
        .await;
    assert_eq!((st, etype(&v)), (400, "HTTPBadRequest"));
    let (_, v) = t.get(&format!("/v2.0/ports?network_id={n}")).await;
    assert_eq!(
        v["ports"].as_array().unwrap().len(),
        1,
        "failed requests stored nothing"
    );
    let (st, v) = t.post("/v2.0/subnets", json!({"subnet": {"network_id": n, "cidr": "10.1.0.0/24", "allocation_pools": [{"start": "10.1.0.1", "end": "10.1.0.9"}]}})).await;
    assert_eq!((st, etype(&v)), (409, "GatewayConflictWithAllocationPools"));
    assert_eq!(t.get("/v2.0/nothing-here").await.0, 404);
    assert_eq!(t.req("PATCH", "/v2.0/networks", None, &[]).await.0, 405);
}
