//! Discovery documents: `GET /` (versions), `GET /v2.0/` (resources),
//! `/v2.0/extensions` (only what is implemented), `/openapi.json`.

use serde_json::{json, Value};
use utoipa::openapi::path::{
    HttpMethod, Operation, OperationBuilder, ParameterBuilder, ParameterIn, PathItemBuilder,
};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::{
    ComponentsBuilder, Content, ContentBuilder, InfoBuilder, OpenApi, OpenApiBuilder, PathsBuilder,
    Ref, RefOr, Required, ResponseBuilder, Schema,
};

use crate::routes::url_path;
use model::Kind;

/// `GET /`: the versions document, `self` built from the Host header.
pub fn versions(base: &str) -> Value {
    json!({"versions": [{
        "id": "v2.0",
        "status": "CURRENT",
        "links": [{"rel": "self", "href": format!("{base}/v2.0/")}],
    }]})
}

/// The collections under `/v2.0/`, in URL order.
pub(crate) const COLLECTIONS: [Kind; 8] = [
    Kind::Network,
    Kind::Subnet,
    Kind::Port,
    Kind::Router,
    Kind::FloatingIp,
    Kind::SecurityGroup,
    Kind::SecurityGroupRule,
    Kind::QosPolicy,
];

/// `GET /v2.0/`: one entry per collection.
pub fn resources(base: &str) -> Value {
    let r: Vec<Value> = COLLECTIONS
        .iter()
        .map(|k| {
            json!({"name": k.singular(), "collection": k.plural(),
                   "links": [{"rel": "self", "href": format!("{base}/v2.0/{}", url_path(*k))}]})
        })
        .collect();
    json!({"resources": r})
}

/// The Neutron extensions whose behaviour cloudnet implements.
pub fn extensions() -> Vec<Value> {
    const EXT: [(&str, &str, &str); 21] = [
        ("external-net", "Neutron external network", "Adds external network attribute to network resource."),
        ("provider", "Provider Network", "Expose mapping of virtual networks to physical networks"),
        ("router", "Neutron L3 Router", "Router abstraction for basic L3 forwarding between L2 Neutron networks and access to external networks via a NAT gateway."),
        ("ext-gw-mode", "Neutron L3 Configurable external gateway mode", "Extension of the router abstraction for specifying whether SNAT should occur on the external gateway"),
        ("extraroute", "Neutron Extra Route", "Extra routes configuration for L3 router"),
        ("security-group", "security-group", "The security groups extension."),
        ("binding", "Port Binding", "Expose port bindings of a virtual port to external application"),
        ("port-security", "Port Security", "Provides port security"),
        ("allowed-address-pairs", "Allowed Address Pairs", "Provides allowed address pairs"),
        ("net-mtu", "Network MTU", "Provides MTU attribute for a network resource."),
        ("qos", "Quality of Service", "The Quality of Service extension."),
        ("qos-bw-limit-direction", "Direction for QoS bandwidth limit rule", "Allow to configure QoS bandwidth limit rule with specific direction: ingress or egress"),
        ("standard-attr-tag", "Tag support for resources with standard attribute: subnet, trunk, network_segment_range, router, network, policy, subnetpool, port, security_group, floatingip", "Enables to set tag on resources with standard attribute."),
        ("standard-attr-revisions", "Resource revision numbers", "This extension will display the revision number of neutron resources."),
        ("standard-attr-timestamp", "Resource timestamps", "Adds created_at and updated_at fields to all Neutron resources that have Neutron standard attributes."),
        ("standard-attr-description", "standard-attr-description", "Extension to add descriptions to standard attributes"),
        ("revision-if-match", "If-Match constraints based on revision_number", "Extension indicating that If-Match based on revision_number is supported."),
        ("project-id", "project_id field enabled", "Extension that indicates that project_id field is enabled."),
        ("pagination", "Pagination support", "Extension that indicates that pagination is enabled."),
        ("sorting", "Sorting support", "Extension that indicates that sorting is enabled."),
        ("extra_dhcp_opt", "Neutron Extra DHCP options", "Extra options configuration for DHCP."),
    ];
    EXT.iter()
        .map(|(alias, name, desc)| {
            json!({"alias": alias, "name": name, "description": desc, "updated": "2013-01-01T00:00:00-00:00", "links": []})
        })
        .collect()
}

/// A schema written as JSON (a literal, so it always parses).
fn schema(v: Value) -> RefOr<Schema> {
    serde_json::from_value(v).unwrap_or_else(|e| unreachable!("literal schema: {e}"))
}

fn json_content(v: Value) -> Content {
    ContentBuilder::new().schema(Some(schema(v))).build()
}

/// `{"<key>": {...}}`, the envelope of every Neutron resource body.
fn one_of_key(key: &str) -> Value {
    json!({"type": "object", "required": [key],
           "properties": {key: {"type": "object"}}})
}

/// An operation answering `ok` with a body of `ok_body` (none when
/// `None`), and any 4xx with a NeutronError body (`error::ApiError`).
fn op(summary: String, ok: &str, ok_body: Option<Value>) -> Operation {
    let mut success = ResponseBuilder::new().description("success");
    if let Some(b) = ok_body {
        success = success.content("application/json", json_content(b));
    }
    OperationBuilder::new()
        .summary(Some(summary))
        .response(ok, success)
        .response(
            "4XX",
            ResponseBuilder::new()
                .description("NeutronError: invalid input, not authorized, not found, conflict")
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("NeutronError")))
                        .build(),
                ),
        )
        .build()
}

/// `op` with a required JSON request body.
fn op_with_body(summary: String, ok: &str, ok_body: Option<Value>, body: Value) -> Operation {
    let mut o = op(summary, ok, ok_body);
    o.request_body = Some(
        RequestBodyBuilder::new()
            .content("application/json", json_content(body))
            .required(Some(Required::True))
            .build(),
    );
    o
}

fn id_param() -> utoipa::openapi::path::Parameter {
    ParameterBuilder::new()
        .name("id")
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .schema(Some(schema(json!({"type": "string"}))))
        .build()
}

/// Operation IDs the create links point at: `show_network`, ...
fn named(mut o: Operation, verb: &str, one: &str) -> Operation {
    o.operation_id = Some(format!("{verb}_{one}"));
    o
}

fn with_id(mut o: Operation) -> Operation {
    o.parameters = Some(vec![id_param()]);
    o
}

/// The OpenAPI 3.1 document of every collection, as served at
/// `/openapi.json`. Bodies are described down to their envelope
/// (`{"network": {...}}`); the attributes inside are validated by `model`
/// and documented in the Networking API reference.
pub fn openapi() -> Value {
    let mut doc = serde_json::to_value(document())
        .unwrap_or_else(|e| unreachable!("an OpenAPI document serializes: {e}"));
    finish(&mut doc);
    doc
}

/// What utoipa 5 cannot express, patched into the serialized document:
/// - a create body is one resource or a bulk list (`anyOf`);
/// - "Link Objects" (OpenAPI 3.1 §4.8.20) from a create's response to the
///   new item's show, update and delete operations, so that clients and
///   testers can follow a created ID (utoipa serializes `operationId` as
///   `operation_id`, which no tool reads).
fn finish(doc: &mut Value) {
    for k in COLLECTIONS {
        let (one, many) = (k.singular(), k.plural());
        let create = &mut doc["paths"][format!("/v2.0/{}", url_path(k))]["post"];
        let alternatives = json!({"type": "object", "anyOf": [
            {"required": [one], "properties": {one: {"type": "object"}}},
            {"required": [many], "properties": {many: {"type": "array", "items": {"type": "object"}}}},
        ]});
        create["requestBody"]["content"]["application/json"]["schema"] = alternatives.clone();
        let created = &mut create["responses"]["201"];
        created["content"]["application/json"]["schema"] = alternatives;
        let links: serde_json::Map<String, Value> = ["show", "update", "delete"]
            .into_iter()
            .map(|verb| {
                let link = json!({"operationId": format!("{verb}_{one}"),
                    "parameters": {"id": format!("$response.body#/{one}/id")}});
                (format!("{verb}_{one}"), link)
            })
            .collect();
        created["links"] = Value::Object(links);
    }
}

fn document() -> OpenApi {
    let mut paths = PathsBuilder::new();
    for k in COLLECTIONS {
        let p = url_path(k);
        let (one, many) = (k.singular(), k.plural());
        let list_body = json!({"type": "object", "required": [many],
            "properties": {many: {"type": "array", "items": {"type": "object"}}}});
        // Single or bulk create (`routes::create`); `finish` adds the
        // alternatives, which utoipa's schema type cannot hold beside
        // `type`.
        let create_body = json!({"type": "object"});
        paths = paths.path(
            format!("/v2.0/{p}"),
            PathItemBuilder::new()
                .operation(
                    HttpMethod::Get,
                    op(
                        format!("List {many} (filters, fields, sort_key/sort_dir, limit/marker)"),
                        "200",
                        Some(list_body),
                    ),
                )
                .operation(
                    HttpMethod::Post,
                    op_with_body(
                        format!("Create a {one} (or bulk create {many})"),
                        "201",
                        Some(create_body.clone()),
                        create_body,
                    ),
                )
                .build(),
        );
        let show = op(format!("Show a {one}"), "200", Some(one_of_key(one)));
        let put = op_with_body(
            format!("Update a {one} (If-Match: revision_number=N)"),
            "200",
            Some(one_of_key(one)),
            one_of_key(one),
        );
        let del = op(format!("Delete a {one}"), "204", None);
        let (show, put, del) = (
            named(show, "show", one),
            named(put, "update", one),
            named(del, "delete", one),
        );
        paths = paths.path(
            format!("/v2.0/{p}/{{id}}"),
            PathItemBuilder::new()
                .operation(HttpMethod::Get, with_id(show))
                .operation(HttpMethod::Put, with_id(put))
                .operation(HttpMethod::Delete, with_id(del))
                .build(),
        );
    }
    let interface = json!({"type": "object", "properties": {
        "subnet_id": {"type": "string"}, "port_id": {"type": "string"}}});
    for action in ["add_router_interface", "remove_router_interface"] {
        let o = op_with_body(
            format!("{action} by subnet_id or port_id"),
            "200",
            Some(json!({"type": "object"})),
            interface.clone(),
        );
        paths = paths.path(
            format!("/v2.0/routers/{{id}}/{action}"),
            PathItemBuilder::new()
                .operation(HttpMethod::Put, with_id(o))
                .build(),
        );
    }
    for ty in ["bandwidth_limit", "minimum_bandwidth", "dscp_marking"] {
        let (one, many) = (format!("{ty}_rule"), format!("{ty}_rules"));
        let list_body = json!({"type": "object", "required": [many],
            "properties": {many.as_str(): {"type": "array", "items": {"type": "object"}}}});
        paths = paths.path(
            format!("/v2.0/qos/policies/{{id}}/{many}"),
            PathItemBuilder::new()
                .operation(
                    HttpMethod::Get,
                    with_id(op(format!("List {ty} rules"), "200", Some(list_body))),
                )
                .operation(
                    HttpMethod::Post,
                    with_id(op_with_body(
                        format!("Create a {ty} rule"),
                        "201",
                        Some(one_of_key(&one)),
                        one_of_key(&one),
                    )),
                )
                .build(),
        );
    }
    // cloudnet's extension for the topology page (`crate::ui`).
    let counters = json!({"type": "object", "additionalProperties": {"type": "object",
        "properties": {"rx_packets": {"type": "integer"}, "rx_bytes": {"type": "integer"},
            "rx_dropped": {"type": "integer"}, "rx_errors": {"type": "integer"},
            "tx_packets": {"type": "integer"}, "tx_bytes": {"type": "integer"},
            "tx_dropped": {"type": "integer"}, "tx_errors": {"type": "integer"}}}});
    let stats = op(
        "Live counters of the ports the caller may see, by port ID".into(),
        "200",
        Some(json!({"type": "object", "required": ["port_stats"],
            "properties": {"port_stats": counters}})),
    );
    paths = paths.path(
        "/v2.0/cloudnet/port-stats",
        PathItemBuilder::new()
            .operation(HttpMethod::Get, stats)
            .build(),
    );
    let neutron_error = json!({"type": "object", "required": ["NeutronError"],
        "properties": {"NeutronError": {"type": "object",
            "required": ["type", "message", "detail"],
            "properties": {"type": {"type": "string"}, "message": {"type": "string"},
                           "detail": {"type": "string"}}}}});
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("cloudnet — OpenStack Networking API v2.0")
                .version(env!("CARGO_PKG_VERSION"))
                .build(),
        )
        .paths(paths.build())
        .components(Some(
            ComponentsBuilder::new()
                .schema("NeutronError", schema(neutron_error))
                .build(),
        ))
        .build()
}
