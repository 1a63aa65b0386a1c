//! Regression tests for what schemathesis (scripts/schemathesis.sh) found in
//! `/openapi.json`: path parameters without a `schema` (invalid OpenAPI
//! 3.1, so no tool could generate an `{id}`), QoS rule paths that did not
//! declare their `{id}` at all, and error responses that did not document
//! their NeutronError body.

mod common;

use common::T;
use serde_json::Value;

async fn doc() -> Value {
    let (st, v) = T::new().get("/openapi.json").await;
    assert_eq!(st, 200);
    v
}

/// Template names in a path: `/v2.0/qos/policies/{id}/x` -> `["id"]`.
fn templates(path: &str) -> Vec<&str> {
    path.split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .collect()
}

fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            out.push((path.clone(), method.clone(), op.clone()));
        }
    }
    out
}

#[tokio::test]
async fn every_path_template_is_a_declared_parameter_with_a_schema() {
    let doc = doc().await;
    let ops = operations(&doc);
    assert!(ops.len() >= 40, "{} operations", ops.len());
    for (path, method, op) in ops {
        let params = op["parameters"].as_array().cloned().unwrap_or_default();
        for name in templates(&path) {
            let p = params
                .iter()
                .find(|p| p["name"] == name && p["in"] == "path")
                .unwrap_or_else(|| panic!("{method} {path}: no path parameter {name}"));
            assert_eq!(p["required"], true, "{method} {path}: {p}");
            assert!(
                p["schema"].is_object(),
                "{method} {path}: parameter {name} has no schema"
            );
        }
    }
}

#[tokio::test]
async fn errors_are_documented_as_neutron_errors() {
    let doc = doc().await;
    let schema = &doc["components"]["schemas"]["NeutronError"];
    let required = &schema["properties"]["NeutronError"]["required"];
    for k in ["type", "message", "detail"] {
        assert!(
            required.as_array().unwrap().iter().any(|r| r == k),
            "{schema}"
        );
    }
    for (path, method, op) in operations(&doc) {
        let r = &op["responses"]["4XX"]["content"]["application/json"]["schema"]["$ref"];
        assert_eq!(
            r, "#/components/schemas/NeutronError",
            "{method} {path}: 4XX not documented"
        );
    }
}

#[tokio::test]
async fn creates_link_to_the_new_item_and_write_operations_take_a_body() {
    let doc = doc().await;
    let ids: Vec<String> = operations(&doc)
        .iter()
        .filter_map(|(_, _, op)| op["operationId"].as_str().map(String::from))
        .collect();
    for (path, method, op) in operations(&doc) {
        if method == "post" || (method == "put" && !path.ends_with("/tags")) {
            assert!(
                op["requestBody"]["content"]["application/json"]["schema"].is_object(),
                "{method} {path}: no request body schema"
            );
        }
        if method == "post" && templates(&path).is_empty() {
            let links = op["responses"]["201"]["links"]
                .as_object()
                .unwrap_or_else(|| panic!("{path}: create without links"));
            assert_eq!(links.len(), 3, "{path}");
            for l in links.values() {
                let target = l["operationId"].as_str().expect("operationId, camelCase");
                assert!(ids.iter().any(|i| i == target), "{path}: link to {target}");
            }
        }
    }
}
