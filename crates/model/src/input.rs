//! Reading request bodies the way Neutron's attribute validators do
//! (neutron-lib `api/validators` and `api/converters`): wrong types are a 400
//! naming the attribute, numeric strings are accepted for integers and
//! "true"/"false" strings for booleans, unknown attributes are rejected.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::{ModelError, Result};

/// The attributes of one request body, consumed key by key.
#[derive(Debug)]
pub struct Input {
    map: Map<String, Value>,
}

/// An attribute that may be absent, explicitly `null`, or set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field<T> {
    Absent,
    Null,
    Set(T),
}

impl<T> Field<T> {
    pub fn is_absent(&self) -> bool {
        matches!(self, Field::Absent)
    }
    /// Absent and null both as `None`.
    pub fn value(self) -> Option<T> {
        match self {
            Field::Set(v) => Some(v),
            _ => None,
        }
    }
}

impl Input {
    /// Unwrap `{"<singular>": {...}}`.
    pub fn from_body(body: &Value, singular: &str) -> Result<Input> {
        let inner = body
            .as_object()
            .and_then(|o| o.get(singular))
            .ok_or_else(|| {
                ModelError::bad_request(format!("Resource body required: '{singular}'"))
            })?;
        Self::from_object(inner)
    }

    pub fn from_object(v: &Value) -> Result<Input> {
        match v {
            Value::Object(m) => Ok(Input { map: m.clone() }),
            _ => Err(ModelError::bad_request(
                "Body contains invalid data: expected an object",
            )),
        }
    }

    pub fn has(&self, key: &str) -> bool {
        self.map.contains_key(key)
    }

    fn take(&mut self, key: &str) -> Field<Value> {
        match self.map.remove(key) {
            None => Field::Absent,
            Some(Value::Null) => Field::Null,
            Some(v) => Field::Set(v),
        }
    }

    /// A string attribute; `null` is rejected.
    pub fn string(&mut self, key: &str) -> Result<Option<String>> {
        match self.nullable_string(key)? {
            Field::Null => Err(ModelError::attr(key, "'None' is not a valid string")),
            f => Ok(f.value()),
        }
    }

    /// A string attribute that may be `null` (e.g. `gateway_ip`, `qos_policy_id`).
    pub fn nullable_string(&mut self, key: &str) -> Result<Field<String>> {
        Ok(match self.take(key) {
            Field::Set(Value::String(s)) => Field::Set(s),
            Field::Set(v) => {
                return Err(ModelError::attr(key, format!("{v} is not a valid string")))
            }
            Field::Null => Field::Null,
            Field::Absent => Field::Absent,
        })
    }

    /// A boolean; accepts true/false, "true"/"false" in any case and 0/1.
    pub fn bool(&mut self, key: &str) -> Result<Option<bool>> {
        match self.take(key) {
            Field::Absent => Ok(None),
            Field::Set(v) => to_bool(&v).map(Some).ok_or_else(|| {
                ModelError::attr(
                    key,
                    format!("'{}' cannot be converted to boolean", plain(&v)),
                )
            }),
            Field::Null => Err(ModelError::attr(
                key,
                "'None' cannot be converted to boolean",
            )),
        }
    }

    /// An integer; accepts numbers and numeric strings.
    pub fn int(&mut self, key: &str) -> Result<Field<i64>> {
        Ok(match self.take(key) {
            Field::Absent => Field::Absent,
            Field::Null => Field::Null,
            Field::Set(v) => Field::Set(to_int(&v).ok_or_else(|| {
                ModelError::attr(key, format!("'{}' is not an integer", plain(&v)))
            })?),
        })
    }

    /// A list deserialized into `T` (e.g. `allocation_pools`).
    pub fn list<T: DeserializeOwned>(&mut self, key: &str) -> Result<Option<Vec<T>>> {
        match self.take(key) {
            Field::Absent => Ok(None),
            Field::Null => Ok(Some(Vec::new())),
            Field::Set(v @ Value::Array(_)) => serde_json::from_value(v.clone())
                .map(Some)
                .map_err(|e| ModelError::attr(key, format!("Invalid data format for {key}: {e}"))),
            Field::Set(v) => Err(ModelError::attr(
                key,
                format!("'{}' is not a list", plain(&v)),
            )),
        }
    }

    /// A JSON object kept as is (e.g. `binding:profile`).
    pub fn object(&mut self, key: &str) -> Result<Option<Map<String, Value>>> {
        match self.take(key) {
            Field::Absent => Ok(None),
            Field::Null => Ok(Some(Map::new())),
            Field::Set(Value::Object(m)) => Ok(Some(m)),
            Field::Set(v) => Err(ModelError::attr(
                key,
                format!("'{}' is not a dictionary", plain(&v)),
            )),
        }
    }

    /// Any value kept raw (e.g. `external_gateway_info`).
    pub fn raw(&mut self, key: &str) -> Field<Value> {
        self.take(key)
    }

    /// Reject a read-only attribute present in the body.
    pub fn read_only(&mut self, keys: &[&str]) -> Result<()> {
        for k in keys {
            if self.map.contains_key(*k) {
                return Err(ModelError::bad_request(format!(
                    "Cannot update read-only attribute {k}"
                )));
            }
        }
        Ok(())
    }

    /// Fail on any attribute not consumed: Neutron answers 400 for them.
    pub fn finish(self) -> Result<()> {
        if self.map.is_empty() {
            return Ok(());
        }
        let mut keys: Vec<&str> = self.map.keys().map(String::as_str).collect();
        keys.sort_unstable();
        Err(ModelError::bad_request(format!(
            "Unrecognized attribute(s) '{}'",
            keys.join(", ")
        )))
    }
}

/// Value as Neutron prints it in messages (strings without quotes).
fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        v => v.to_string(),
    }
}

/// neutron-lib `convert_to_boolean`.
pub fn to_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => match n.as_i64() {
            Some(0) => Some(false),
            Some(1) => Some(true),
            _ => None,
        },
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "true" | "1" => Some(true),
            "false" | "0" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// neutron-lib `convert_to_int`: integers and strings of digits.
pub fn to_int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Common attributes every create accepts: `name`, `description`,
/// `tenant_id`/`project_id` (must agree), `tags`.
pub struct CommonCreate {
    pub name: Option<String>,
    pub description: Option<String>,
    pub project_id: Option<String>,
    pub tags: Option<Vec<String>>,
}

impl Input {
    pub fn common_create(&mut self) -> Result<CommonCreate> {
        let name = self.string("name")?;
        let description = self.string("description")?;
        let tenant = self.string("tenant_id")?;
        let project = self.string("project_id")?;
        let project_id = match (tenant, project) {
            (Some(t), Some(p)) if t != p => {
                return Err(ModelError::invalid(
                    "'project_id' and 'tenant_id' do not match",
                ))
            }
            (t, p) => p.or(t),
        };
        let tags = self.list::<String>("tags")?;
        Ok(CommonCreate {
            name,
            description,
            project_id,
            tags,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numeric_strings_and_bool_strings_are_accepted() {
        let mut i = Input::from_object(&json!({"mtu": "1400", "shared": "True"})).unwrap();
        assert_eq!(i.int("mtu").unwrap(), Field::Set(1400));
        assert_eq!(i.bool("shared").unwrap(), Some(true));
        i.finish().unwrap();
    }

    #[test]
    fn wrong_types_name_the_attribute() {
        let mut i = Input::from_object(&json!({"mtu": "abc", "shared": "maybe"})).unwrap();
        let e = i.int("mtu").unwrap_err();
        assert_eq!(e.status, 400);
        assert!(
            e.message.contains("mtu") && e.message.contains("abc"),
            "{}",
            e.message
        );
        let e = i.bool("shared").unwrap_err();
        assert!(e.message.contains("shared"), "{}", e.message);
    }

    #[test]
    fn unknown_attributes_are_rejected() {
        let i = Input::from_object(&json!({"bogus": 1})).unwrap();
        let e = i.finish().unwrap_err();
        assert_eq!(e.status, 400);
        assert!(e.message.contains("bogus"));
    }

    #[test]
    fn body_must_wrap_the_resource() {
        let e = Input::from_body(&json!({"net": {}}), "network").unwrap_err();
        assert_eq!(e.status, 400);
        assert!(Input::from_body(&json!([1]), "network").is_err());
    }

    #[test]
    fn tenant_and_project_must_agree() {
        let mut i = Input::from_object(&json!({"tenant_id": "a", "project_id": "b"})).unwrap();
        assert_eq!(i.common_create().err().map(|e| e.status), Some(400));
    }
}
