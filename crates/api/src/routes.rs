//! Request dispatch for `/v2.0/...`. Collections use hyphens in URLs and
//! underscores in JSON; QoS policies live at `/v2.0/qos/policies` (tags at
//! `/v2.0/policies/{id}/tags`), their rules at
//! `/v2.0/qos/policies/{id}/<type>_rules`.

use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use model::{Ctx, Kind, Resource, State, TagOp};
use serde_json::{json, Value};

use crate::app::App;
use crate::error::ApiError;
use crate::query::{project, ListQuery};

/// URL segment → kind.
pub fn collection(seg: &str) -> Option<Kind> {
    Some(match seg {
        "networks" => Kind::Network,
        "subnets" => Kind::Subnet,
        "ports" => Kind::Port,
        "routers" => Kind::Router,
        "floatingips" => Kind::FloatingIp,
        "security-groups" => Kind::SecurityGroup,
        "security-group-rules" => Kind::SecurityGroupRule,
        "policies" => Kind::QosPolicy,
        _ => return None,
    })
}

/// URL path of a collection.
pub fn url_path(kind: Kind) -> &'static str {
    match kind {
        Kind::Network => "networks",
        Kind::Subnet => "subnets",
        Kind::Port => "ports",
        Kind::Router => "routers",
        Kind::FloatingIp => "floatingips",
        Kind::SecurityGroup => "security-groups",
        Kind::SecurityGroupRule => "security-group-rules",
        Kind::QosPolicy => "qos/policies",
        Kind::QosRule => "qos/rules",
    }
}

const RULE_TYPES: [&str; 3] = ["bandwidth_limit", "minimum_bandwidth", "dscp_marking"];

/// A parsed request.
pub struct Request<'a> {
    pub method: Method,
    pub segs: Vec<&'a str>,
    pub query: Option<&'a str>,
    pub headers: HeaderMap,
    pub body: bytes::Bytes,
    /// `http://host` from the Host header.
    pub base: String,
}

fn json_body(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            400,
            "HTTPBadRequest",
            format!("Malformed request body: {e}"),
        )
    })
}

/// The resource named `key` in a JSON request body (`{"port": {...}}`).
pub(crate) fn resource_body(body: &[u8], key: &str) -> Result<Value, ApiError> {
    let mut body = json_body(body)?;
    body.get_mut(key)
        .map(Value::take)
        .ok_or_else(|| body_required(key))
}

/// Neutron's answer to a body without the resource it must carry.
fn body_required(key: &str) -> ApiError {
    ApiError::new(
        400,
        "HTTPBadRequest",
        format!("Resource body required: '{key}'"),
    )
}

/// `If-Match: revision_number=N` (Neutron's revision-if-match extension).
fn if_match(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    let Some(v) = headers.get("if-match") else {
        return Ok(None);
    };
    let s = v.to_str().unwrap_or("");
    for part in s.split(',') {
        if let Some(n) = part.trim().strip_prefix("revision_number=") {
            return n.parse().map(Some).map_err(|_| {
                ApiError::new(
                    400,
                    "HTTPBadRequest",
                    format!("Invalid If-Match revision: {n}"),
                )
            });
        }
    }
    Ok(None)
}

fn ok(status: StatusCode, v: Value) -> Response {
    (status, Json(v)).into_response()
}

fn render_one(state: &State, ctx: &Ctx, kind: Kind, id: &str) -> Result<Value, ApiError> {
    Ok(state.render(&state.find(ctx, kind, id)?))
}

/// Dispatch one request below `/v2.0/`.
pub fn handle(app: &App, req: Request) -> Result<Response, ApiError> {
    let ctx = app.auth.context(&req.headers)?;
    let segs = req.segs.clone();
    let m = &req.method;
    match segs.as_slice() {
        [] if m == Method::GET => Ok(ok(StatusCode::OK, crate::docs::resources(&req.base))),
        ["extensions"] if m == Method::GET => Ok(ok(
            StatusCode::OK,
            json!({"extensions": crate::docs::extensions()}),
        )),
        ["extensions", alias] if m == Method::GET => crate::docs::extensions()
            .into_iter()
            .find(|e| e["alias"] == *alias)
            .map(|e| ok(StatusCode::OK, json!({"extension": e})))
            .ok_or_else(|| {
                ApiError::not_found(format!("Extension with alias {alias} does not exist"))
            }),
        ["cloudnet", "trace"] => crate::trace::handle(app, &ctx, &req),
        ["cloudnet", "port-stats"] if m == Method::GET => crate::ui::port_stats(app, &ctx),
        ["qos", "rule-types"] if m == Method::GET => {
            let types: Vec<Value> = RULE_TYPES.iter().map(|t| json!({"type": t})).collect();
            Ok(ok(StatusCode::OK, json!({"rule_types": types})))
        }
        ["qos", "policies", pid, rules] if rules.ends_with("_rules") => {
            let ty = rule_type(rules)?;
            qos_rules(app, &ctx, &req, pid, ty, None)
        }
        ["qos", "policies", pid, rules, rid] if rules.ends_with("_rules") => {
            let ty = rule_type(rules)?;
            qos_rules(app, &ctx, &req, pid, ty, Some(rid))
        }
        ["qos", "policies", rest @ ..] => resource(app, &ctx, &req, Kind::QosPolicy, rest),
        ["policies", id, "tags", rest @ ..] => tags(app, &ctx, &req, Kind::QosPolicy, id, rest),
        ["routers", id, action @ ("add_router_interface" | "remove_router_interface")] => {
            if m != Method::PUT {
                return Err(ApiError::method_not_allowed());
            }
            let body = json_body(&req.body)?;
            let add = *action == "add_router_interface";
            let info = app.write(&ctx, |state, env| {
                if add {
                    model::ops::add_router_interface(state, &ctx, env, id, &body)
                } else {
                    model::ops::remove_router_interface(state, &ctx, env, id, &body)
                }
            })?;
            Ok(ok(StatusCode::OK, info))
        }
        [coll, id, "tags", rest @ ..] if collection(coll).is_some_and(|k| k != Kind::QosPolicy) => {
            let kind = collection(coll).ok_or_else(|| ApiError::not_found("no such collection"))?;
            tags(app, &ctx, &req, kind, id, rest)
        }
        [coll, rest @ ..] if collection(coll).is_some_and(|k| k != Kind::QosPolicy) => {
            let kind = collection(coll).ok_or_else(|| ApiError::not_found("no such collection"))?;
            resource(app, &ctx, &req, kind, rest)
        }
        _ => Err(ApiError::not_found("The resource could not be found.")),
    }
}

fn rule_type(seg: &str) -> Result<&'static str, ApiError> {
    let t = seg.trim_end_matches("_rules");
    RULE_TYPES
        .into_iter()
        .find(|x| *x == t)
        .ok_or_else(|| ApiError::not_found("The resource could not be found."))
}

/// Collection and member operations of one kind.
fn resource(
    app: &App,
    ctx: &Ctx,
    req: &Request,
    kind: Kind,
    rest: &[&str],
) -> Result<Response, ApiError> {
    let m = &req.method;
    match rest {
        [] if m == Method::GET => list(app, ctx, req, kind, |_| true),
        [] if m == Method::POST => create(app, ctx, req, kind, None),
        [id] if m == Method::GET => {
            let q = ListQuery::parse(req.query)?;
            let v = app.read(|s| render_one(s, ctx, kind, id))??;
            Ok(ok(
                StatusCode::OK,
                json!({ kind.singular(): project(v, &q.fields()) }),
            ))
        }
        [id] if m == Method::PUT => {
            let inner = resource_body(&req.body, kind.singular())?;
            let expected = if_match(&req.headers)?;
            let id = app.write(ctx, |state, env| {
                let o = model::ops::update(state, ctx, env, kind, id, &inner, expected)?;
                Ok((o.changes, o.id))
            })?;
            let v = app.read(|s| render_one(s, ctx, kind, &id))??;
            Ok(ok(StatusCode::OK, json!({ kind.singular(): v })))
        }
        [id] if m == Method::DELETE => {
            let expected = if_match(&req.headers)?;
            app.write(ctx, |state, env| {
                let o = model::ops::delete(state, ctx, env, kind, id, expected)?;
                Ok((o.changes, ()))
            })?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        [] | [_] => Err(ApiError::method_not_allowed()),
        _ => Err(ApiError::not_found("The resource could not be found.")),
    }
}

fn list(
    app: &App,
    ctx: &Ctx,
    req: &Request,
    kind: Kind,
    keep: impl Fn(&Value) -> bool,
) -> Result<Response, ApiError> {
    let q = ListQuery::parse(req.query)?;
    if kind == Kind::SecurityGroup {
        // Neutron creates the project's default group on first listing.
        app.write(ctx, |_, _| Ok((Vec::new(), ())))?;
    }
    let path = match kind {
        Kind::QosRule => req.segs.join("/"),
        k => url_path(k).to_string(),
    };
    let base = format!("{}/v2.0/{path}", req.base);
    let filters = q.attribute_filters();
    let (page, links) = if q.pages_by_id()
        && filters
            .iter()
            .all(|(k, _)| model::filter::cheap_filters(kind).contains(&k.as_str()))
    {
        // Fast path: page over IDs, render only the page.
        app.read(|s| -> Result<_, ApiError> {
            let ids: Vec<Value> = s
                .ids_filtered(ctx, kind, &filters)
                .into_iter()
                .map(|id| json!({ "id": id }))
                .collect();
            let (page, links) = q.apply(ids, &base, kind.plural())?;
            let page = page
                .iter()
                .filter_map(|v| v["id"].as_str())
                .filter_map(|id| s.get(kind, id))
                .map(|r| s.render(&r))
                .filter(|v| keep(v))
                .collect();
            Ok((page, links))
        })??
    } else {
        let items = app.read(|s| s.list_filtered(ctx, kind, &filters))?;
        let items: Vec<Value> = items.into_iter().filter(|v| keep(v)).collect();
        q.apply(items, &base, kind.plural())?
    };
    let fields = q.fields();
    let page: Vec<Value> = page.into_iter().map(|v| project(v, &fields)).collect();
    let mut body = serde_json::Map::new();
    body.insert(kind.plural().into(), Value::Array(page));
    if let Some(l) = links {
        body.insert(format!("{}_links", kind.plural()), Value::Array(l));
    }
    Ok(ok(StatusCode::OK, Value::Object(body)))
}

/// Single (`{"network": {...}}`) or bulk (`{"networks": [...]}`) create;
/// a bulk create is one transaction.
fn create(
    app: &App,
    ctx: &Ctx,
    req: &Request,
    kind: Kind,
    parent: Option<(&str, &str)>,
) -> Result<Response, ApiError> {
    let body = json_body(&req.body)?;
    let (items, bulk) = match (body.get(kind.singular()), body.get(kind.plural())) {
        (Some(one), _) => (vec![one.clone()], false),
        (None, Some(Value::Array(many))) if parent.is_none() => (many.clone(), true),
        _ => return Err(body_required(kind.singular())),
    };
    let ids = app.write(ctx, |state, env| {
        if !bulk {
            let o = model::ops::create(state, ctx, env, kind, &items[0], parent)?;
            return Ok((o.changes, vec![o.id]));
        }
        let mut scratch = state.clone();
        let mut all = Vec::new();
        let mut ids = Vec::new();
        for item in &items {
            let o = model::ops::create(&scratch, ctx, env, kind, item, parent)?;
            scratch.apply(&o.changes);
            all.extend(o.changes);
            ids.push(o.id);
        }
        Ok((all, ids))
    })?;
    let rendered = app.read(|s| {
        ids.iter()
            .map(|id| render_one(s, ctx, kind, id))
            .collect::<Result<Vec<_>, _>>()
    })??;
    let v = if bulk {
        json!({ kind.plural(): rendered })
    } else {
        json!({ kind.singular(): rendered.into_iter().next().unwrap_or(Value::Null) })
    };
    Ok(ok(StatusCode::CREATED, v))
}

fn qos_rules(
    app: &App,
    ctx: &Ctx,
    req: &Request,
    pid: &str,
    ty: &str,
    rid: Option<&str>,
) -> Result<Response, ApiError> {
    app.read(|s| s.find(ctx, Kind::QosPolicy, pid).map(|_| ()))??;
    let key = format!("{ty}_rule");
    let plural = format!("{ty}_rules");
    let belongs = |s: &State, id: &str| -> Result<Value, ApiError> {
        match s.find(ctx, Kind::QosRule, id)? {
            Resource::QosRule(r) if r.qos_policy_id == pid && r.spec.type_name() == ty => {
                Ok(s.render(&Resource::QosRule(r)))
            }
            _ => Err(Kind::QosRule.not_found(id).into()),
        }
    };
    let m = &req.method;
    match rid {
        None if m == Method::GET => {
            let q = ListQuery::parse(req.query)?;
            let items: Vec<Value> = app.read(|s| {
                s.list(ctx, Kind::QosRule)
                    .into_iter()
                    .filter(|v| v["qos_policy_id"] == pid && v["type"] == ty)
                    .collect()
            })?;
            let (page, links) = q.apply(
                items,
                &format!("{}/v2.0/{}", req.base, req.segs.join("/")),
                &plural,
            )?;
            let mut body = serde_json::Map::new();
            body.insert(
                plural.clone(),
                Value::Array(page.into_iter().map(|v| project(v, &q.fields())).collect()),
            );
            if let Some(l) = links {
                body.insert(format!("{plural}_links"), Value::Array(l));
            }
            Ok(ok(StatusCode::OK, Value::Object(body)))
        }
        None if m == Method::POST => {
            let inner = resource_body(&req.body, &key)?;
            let id = app.write(ctx, |state, env| {
                let o =
                    model::ops::create(state, ctx, env, Kind::QosRule, &inner, Some((pid, ty)))?;
                Ok((o.changes, o.id))
            })?;
            let v = app.read(|s| belongs(s, &id))??;
            Ok(ok(StatusCode::CREATED, json!({ key: v })))
        }
        Some(id) if m == Method::GET => Ok(ok(
            StatusCode::OK,
            json!({ key: app.read(|s| belongs(s, id))?? }),
        )),
        Some(id) if m == Method::PUT => {
            app.read(|s| belongs(s, id))??;
            let inner = resource_body(&req.body, &key)?;
            app.write(ctx, |state, env| {
                let o = model::ops::update(state, ctx, env, Kind::QosRule, id, &inner, None)?;
                Ok((o.changes, ()))
            })?;
            Ok(ok(
                StatusCode::OK,
                json!({ key: app.read(|s| belongs(s, id))?? }),
            ))
        }
        Some(id) if m == Method::DELETE => {
            app.read(|s| belongs(s, id))??;
            app.write(ctx, |state, env| {
                let o = model::ops::delete(state, ctx, env, Kind::QosRule, id, None)?;
                Ok((o.changes, ()))
            })?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}

/// The tag extension: `GET|PUT|DELETE .../tags` and `.../tags/{tag}`.
fn tags(
    app: &App,
    ctx: &Ctx,
    req: &Request,
    kind: Kind,
    id: &str,
    rest: &[&str],
) -> Result<Response, ApiError> {
    let m = &req.method;
    let current = || -> Result<Vec<String>, ApiError> {
        app.read(|s| s.find(ctx, kind, id).map(|r| r.meta().tags.clone()))?
            .map_err(Into::into)
    };
    let op = match rest {
        [] if m == Method::GET => return Ok(ok(StatusCode::OK, json!({"tags": current()?}))),
        [tag] if m == Method::GET => {
            return if current()?.iter().any(|t| t == tag) {
                Ok(StatusCode::NO_CONTENT.into_response())
            } else {
                Err(ApiError::new(
                    404,
                    "TagNotFound",
                    format!("Tag {tag} could not be found for {} {id}.", kind.singular()),
                ))
            };
        }
        [] if m == Method::PUT => {
            let body = json_body(&req.body)?;
            let tags: Vec<String> = body
                .get("tags")
                .cloned()
                .and_then(|v| serde_json::from_value(v).ok())
                .ok_or_else(|| {
                    ApiError::new(
                        400,
                        "HTTPBadRequest",
                        "Invalid input for tags. Reason: expected a list of strings.",
                    )
                })?;
            TagOp::Replace(tags)
        }
        [tag] if m == Method::PUT => TagOp::Add(tag.to_string()),
        [] if m == Method::DELETE => TagOp::Clear,
        [tag] if m == Method::DELETE => TagOp::Remove(tag.to_string()),
        _ => return Err(ApiError::method_not_allowed()),
    };
    let replace = matches!(op, TagOp::Replace(_));
    let add = matches!(op, TagOp::Add(_));
    app.write(ctx, |state, env| {
        let o = model::ops::tags(state, ctx, env, kind, id, op)?;
        Ok((o.changes, ()))
    })?;
    if replace {
        Ok(ok(StatusCode::OK, json!({"tags": current()?})))
    } else if add {
        Ok(StatusCode::CREATED.into_response())
    } else {
        Ok(StatusCode::NO_CONTENT.into_response())
    }
}
