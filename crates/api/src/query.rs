//! List queries as Neutron reads them (neutron `api/api_common.py`):
//! attribute filters (repeated keys OR), tag filters, `fields=`,
//! `sort_key`/`sort_dir`, `limit`/`marker`/`page_reverse` with
//! `<collection>_links`.

use std::cmp::Ordering;

use serde_json::{json, Map, Value};

use crate::error::ApiError;

/// Query keys that are not attribute filters.
const RESERVED: [&str; 10] = [
    "fields",
    "limit",
    "marker",
    "page_reverse",
    "sort_key",
    "sort_dir",
    "tags",
    "tags-any",
    "not-tags",
    "not-tags-any",
];

/// A parsed list query.
#[derive(Debug, Default, Clone)]
pub struct ListQuery {
    pub pairs: Vec<(String, String)>,
}

impl ListQuery {
    pub fn parse(raw: Option<&str>) -> Result<ListQuery, ApiError> {
        let pairs: Vec<(String, String)> = match raw {
            Some(q) => serde_urlencoded::from_str(q).map_err(|e| {
                ApiError::new(400, "HTTPBadRequest", format!("Invalid query string: {e}"))
            })?,
            None => Vec::new(),
        };
        Ok(ListQuery { pairs })
    }

    fn all(&self, key: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    fn one(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Attribute filters grouped by key (values OR), for pre-filtering.
    pub fn attribute_filters(&self) -> Vec<(String, Vec<String>)> {
        let mut out: Vec<(String, Vec<String>)> = Vec::new();
        for (k, v) in self
            .pairs
            .iter()
            .filter(|(k, _)| !RESERVED.contains(&k.as_str()))
        {
            match out.iter_mut().find(|(key, _)| key == k) {
                Some((_, vals)) => vals.push(v.clone()),
                None => out.push((k.clone(), vec![v.clone()])),
            }
        }
        out
    }

    /// A paginated query in default (ID) order without tag filters: it can
    /// be paged over IDs before rendering.
    pub fn pages_by_id(&self) -> bool {
        self.one("limit").is_some()
            && self.all("sort_key").is_empty()
            && !self.pairs.iter().any(|(k, _)| k.contains("tags"))
    }

    /// Requested `fields=`, empty for all.
    pub fn fields(&self) -> Vec<String> {
        self.all("fields")
            .iter()
            .flat_map(|f| f.split(','))
            .filter(|f| !f.is_empty())
            .map(str::to_string)
            .collect()
    }

    /// Does a rendered resource pass every filter?
    pub fn matches(&self, v: &Value) -> bool {
        let mut keys: Vec<&str> = self
            .pairs
            .iter()
            .map(|(k, _)| k.as_str())
            .filter(|k| !RESERVED.contains(k))
            .collect();
        keys.sort_unstable();
        keys.dedup();
        for k in keys {
            // Unknown attributes are ignored, as Neutron does without
            // strict filter validation.
            let Some(attr) = v.get(k) else { continue };
            if !self.all(k).iter().any(|want| value_matches(attr, want)) {
                return false;
            }
        }
        let tags: Vec<&str> = v
            .get("tags")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let list = |key: &str| -> Vec<&str> {
            self.all(key)
                .into_iter()
                .flat_map(|s| s.split(','))
                .filter(|s| !s.is_empty())
                .collect()
        };
        let (all, any, not_all, not_any) = (
            list("tags"),
            list("tags-any"),
            list("not-tags"),
            list("not-tags-any"),
        );
        if !all.iter().all(|t| tags.contains(t)) {
            return false;
        }
        if !any.is_empty() && !any.iter().any(|t| tags.contains(t)) {
            return false;
        }
        if !not_all.is_empty() && not_all.iter().all(|t| tags.contains(t)) {
            return false;
        }
        if not_any.iter().any(|t| tags.contains(t)) {
            return false;
        }
        true
    }

    /// Filter, sort and page `items`; returns the page and its links.
    pub fn apply(
        &self,
        mut items: Vec<Value>,
        base_url: &str,
        plural: &str,
    ) -> Result<(Vec<Value>, Option<Vec<Value>>), ApiError> {
        items.retain(|v| self.matches(v));
        let keys = self.all("sort_key");
        let dirs = self.all("sort_dir");
        if !keys.is_empty() {
            let mut spec = Vec::new();
            for (i, k) in keys.iter().enumerate() {
                let dir = dirs.get(i).copied().unwrap_or("asc");
                let desc = match dir {
                    "asc" => false,
                    "desc" => true,
                    d => {
                        return Err(ApiError::new(
                            400,
                            "HTTPBadRequest",
                            format!(
                            "{d} is invalid value for sort_dir, valid values are 'asc' and 'desc'"
                        ),
                        ))
                    }
                };
                if let Some(first) = items.first() {
                    if first.get(*k).is_none() {
                        return Err(ApiError::new(
                            400,
                            "HTTPBadRequest",
                            format!("{k} is an invalid attribute for sort_keys"),
                        ));
                    }
                }
                spec.push((k.to_string(), desc));
            }
            spec.push(("id".to_string(), spec.last().map(|s| s.1).unwrap_or(false)));
            items.sort_by(|a, b| {
                for (k, desc) in &spec {
                    let o = compare(a.get(k.as_str()), b.get(k.as_str()));
                    let o = if *desc { o.reverse() } else { o };
                    if o != Ordering::Equal {
                        return o;
                    }
                }
                Ordering::Equal
            });
        }
        let limit = match self.one("limit") {
            None => None,
            Some(l) => match l.parse::<i64>() {
                Ok(n) if n > 0 => Some(n as usize),
                Ok(0) => None,
                _ => {
                    return Err(ApiError::new(
                        400,
                        "HTTPBadRequest",
                        format!("Limit must be an integer 0 or greater and not '{l}'"),
                    ))
                }
            },
        };
        let reverse = self
            .one("page_reverse")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let marker = self.one("marker");
        let id_of = |v: &Value| {
            v.get("id")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_default()
        };
        let pos = match marker {
            Some(m) => Some(
                items
                    .iter()
                    .position(|v| v.get("id").and_then(Value::as_str) == Some(m))
                    .ok_or_else(|| {
                        ApiError::not_found(format!("Marker {m} could not be found."))
                    })?,
            ),
            None => None,
        };
        let (page, more_after, more_before) = if reverse {
            let end = pos.unwrap_or(items.len());
            let start = limit.map(|l| end.saturating_sub(l)).unwrap_or(0);
            (items[start..end].to_vec(), end < items.len(), start > 0)
        } else {
            let start = pos.map(|p| p + 1).unwrap_or(0);
            let end = limit
                .map(|l| (start + l).min(items.len()))
                .unwrap_or(items.len());
            (items[start..end].to_vec(), end < items.len(), start > 0)
        };
        let links = limit.map(|l| {
            let keep: Vec<(String, String)> = self
                .pairs
                .iter()
                .filter(|(k, _)| !["limit", "marker", "page_reverse"].contains(&k.as_str()))
                .cloned()
                .collect();
            let href = |marker: &str, rev: bool| {
                let mut q = keep.clone();
                q.push(("limit".into(), l.to_string()));
                q.push(("marker".into(), marker.to_string()));
                if rev {
                    q.push(("page_reverse".into(), "True".into()));
                }
                format!(
                    "{base_url}?{}",
                    serde_urlencoded::to_string(&q).unwrap_or_default()
                )
            };
            let mut links = Vec::new();
            let (first, last) = (page.first().map(id_of), page.last().map(id_of));
            if let (Some(last), true) = (
                &last,
                if reverse {
                    marker.is_some()
                } else {
                    more_after
                },
            ) {
                links.push(json!({"rel": "next", "href": href(last, false)}));
            }
            if let (Some(first), true) = (
                &first,
                if reverse {
                    more_before
                } else {
                    marker.is_some()
                },
            ) {
                links.push(json!({"rel": "previous", "href": href(first, true)}));
            }
            let _ = plural;
            links.into_iter().collect::<Vec<Value>>()
        });
        Ok((page, links))
    }
}

/// Keep only `fields` of a resource (all when empty).
pub fn project(v: Value, fields: &[String]) -> Value {
    if fields.is_empty() {
        return v;
    }
    match v {
        Value::Object(m) => {
            let out: Map<String, Value> = m
                .into_iter()
                .filter(|(k, _)| fields.iter().any(|f| f == k))
                .collect();
            Value::Object(out)
        }
        v => v,
    }
}

fn compare(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    match (a, b) {
        (Some(Value::Number(x)), Some(Value::Number(y))) => x
            .as_f64()
            .unwrap_or(0.0)
            .partial_cmp(&y.as_f64().unwrap_or(0.0))
            .unwrap_or(Ordering::Equal),
        (Some(Value::String(x)), Some(Value::String(y))) => x.cmp(y),
        (Some(Value::Bool(x)), Some(Value::Bool(y))) => x.cmp(y),
        (None | Some(Value::Null), None | Some(Value::Null)) => Ordering::Equal,
        (None | Some(Value::Null), _) => Ordering::Less,
        (_, None | Some(Value::Null)) => Ordering::Greater,
        (Some(x), Some(y)) => x.to_string().cmp(&y.to_string()),
    }
}

/// One filter value against one attribute. Lists match when any element
/// does; list-of-object attributes take `key=value` (`fixed_ips=ip_address=X`).
fn value_matches(attr: &Value, want: &str) -> bool {
    match attr {
        Value::String(s) => s == want,
        Value::Bool(b) => model::input::to_bool(&Value::String(want.to_string())) == Some(*b),
        Value::Number(n) => n.to_string() == want || want.parse::<f64>().ok() == n.as_f64(),
        Value::Null => want.is_empty() || want.eq_ignore_ascii_case("none"),
        Value::Array(items) => items.iter().any(|item| match item {
            Value::Object(o) => match want.split_once('=') {
                Some((k, v)) => o.get(k).and_then(Value::as_str) == Some(v),
                None => false,
            },
            other => value_matches(other, want),
        }),
        Value::Object(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> ListQuery {
        ListQuery::parse(Some(s)).unwrap()
    }

    #[test]
    fn repeated_keys_are_or_and_different_keys_and() {
        let v = json!({"id": "1", "name": "a", "admin_state_up": true, "tags": ["x", "y"]});
        assert!(q("name=a&name=b").matches(&v));
        assert!(!q("name=b").matches(&v));
        assert!(q("name=a&admin_state_up=True").matches(&v));
        assert!(!q("name=a&admin_state_up=false").matches(&v));
        assert!(q("tags=x,y").matches(&v));
        assert!(!q("tags=x,z").matches(&v));
        assert!(q("tags-any=z,y").matches(&v));
        assert!(!q("not-tags-any=y").matches(&v));
        assert!(!q("not-tags=x,y").matches(&v));
        assert!(q("not-tags=x,z").matches(&v));
    }

    #[test]
    fn fixed_ips_filter() {
        let v = json!({"fixed_ips": [{"subnet_id": "s", "ip_address": "10.0.0.5"}]});
        assert!(q("fixed_ips=ip_address%3D10.0.0.5").matches(&v));
        assert!(!q("fixed_ips=ip_address%3D10.0.0.6").matches(&v));
    }

    #[test]
    fn paging_forward_and_back() {
        let items: Vec<Value> = (0..5).map(|i| json!({"id": format!("{i}")})).collect();
        let (p, links) = q("limit=2")
            .apply(items.clone(), "http://h/v2.0/networks", "networks")
            .unwrap();
        assert_eq!(p.len(), 2);
        let links = links.unwrap();
        assert_eq!(links.len(), 1);
        assert!(links[0]["href"].as_str().unwrap().contains("marker=1"));
        let (p, links) = q("limit=2&marker=3")
            .apply(items.clone(), "u", "n")
            .unwrap();
        assert_eq!(p, vec![json!({"id": "4"})]);
        assert_eq!(links.unwrap().len(), 1, "only previous");
        let (p, _) = q("limit=2&marker=3&page_reverse=True")
            .apply(items.clone(), "u", "n")
            .unwrap();
        assert_eq!(p, vec![json!({"id": "1"}), json!({"id": "2"})]);
        assert_eq!(
            q("marker=zz")
                .apply(items.clone(), "u", "n")
                .unwrap_err()
                .status,
            404
        );
        assert_eq!(q("limit=x").apply(items, "u", "n").unwrap_err().status, 400);
    }

    #[test]
    fn sorting() {
        let items = vec![
            json!({"id": "a", "mtu": 1500}),
            json!({"id": "b", "mtu": 1450}),
            json!({"id": "c", "mtu": 9000}),
        ];
        let (p, _) = q("sort_key=mtu&sort_dir=desc")
            .apply(items.clone(), "u", "n")
            .unwrap();
        let ids: Vec<&str> = p.iter().map(|v| v["id"].as_str().unwrap()).collect();
        assert_eq!(ids, ["c", "a", "b"]);
        assert_eq!(
            q("sort_key=mtu&sort_dir=up")
                .apply(items.clone(), "u", "n")
                .unwrap_err()
                .status,
            400
        );
        assert_eq!(
            q("sort_key=nope")
                .apply(items, "u", "n")
                .unwrap_err()
                .status,
            400
        );
    }
}
