//! Discovery documents: `GET /` (versions), `GET /v2.0/` (resources),
//! `/v2.0/extensions` (only what is implemented), `/openapi.json`.

use serde_json::{json, Value};
use utoipa::openapi::path::{
    HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn, PathItemBuilder,
};
use utoipa::openapi::{
    InfoBuilder, OpenApi, OpenApiBuilder, PathsBuilder, Required, ResponseBuilder,
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

const COLLECTIONS: [Kind; 8] = [
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

fn op(summary: String, ok: &str) -> utoipa::openapi::path::Operation {
    OperationBuilder::new()
        .summary(Some(summary))
        .response(ok, ResponseBuilder::new().description("success"))
        .response(
            "400",
            ResponseBuilder::new().description("NeutronError: invalid input"),
        )
        .response(
            "404",
            ResponseBuilder::new().description("NeutronError: not found"),
        )
        .build()
}

fn id_param() -> utoipa::openapi::path::Parameter {
    ParameterBuilder::new()
        .name("id")
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .build()
}

/// The OpenAPI 3.1 document of every collection.
pub fn openapi() -> OpenApi {
    let mut paths = PathsBuilder::new();
    for k in COLLECTIONS {
        let p = url_path(k);
        let (one, many) = (k.singular(), k.plural());
        paths = paths.path(
            format!("/v2.0/{p}"),
            PathItemBuilder::new()
                .operation(
                    HttpMethod::Get,
                    op(
                        format!("List {many} (filters, fields, sort_key/sort_dir, limit/marker)"),
                        "200",
                    ),
                )
                .operation(
                    HttpMethod::Post,
                    op(format!("Create a {one} (or bulk create {many})"), "201"),
                )
                .build(),
        );
        let mut get = op(format!("Show a {one}"), "200");
        get.parameters = Some(vec![id_param()]);
        let mut put = op(
            format!("Update a {one} (If-Match: revision_number=N)"),
            "200",
        );
        put.parameters = Some(vec![id_param()]);
        let mut del = op(format!("Delete a {one}"), "204");
        del.parameters = Some(vec![id_param()]);
        paths = paths.path(
            format!("/v2.0/{p}/{{id}}"),
            PathItemBuilder::new()
                .operation(HttpMethod::Get, get)
                .operation(HttpMethod::Put, put)
                .operation(HttpMethod::Delete, del)
                .build(),
        );
    }
    for action in ["add_router_interface", "remove_router_interface"] {
        let mut o = op(format!("{action} by subnet_id or port_id"), "200");
        o.parameters = Some(vec![id_param()]);
        paths = paths.path(
            format!("/v2.0/routers/{{id}}/{action}"),
            PathItemBuilder::new().operation(HttpMethod::Put, o).build(),
        );
    }
    for ty in ["bandwidth_limit", "minimum_bandwidth", "dscp_marking"] {
        paths = paths.path(
            format!("/v2.0/qos/policies/{{id}}/{ty}_rules"),
            PathItemBuilder::new()
                .operation(HttpMethod::Get, op(format!("List {ty} rules"), "200"))
                .operation(HttpMethod::Post, op(format!("Create a {ty} rule"), "201"))
                .build(),
        );
    }
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("cloudnet — OpenStack Networking API v2.0")
                .version(env!("CARGO_PKG_VERSION"))
                .build(),
        )
        .paths(paths.build())
        .build()
}
