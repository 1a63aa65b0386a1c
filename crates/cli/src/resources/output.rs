//! Output as the openstack CLI prints it: a table by default, or
//! `-f json|yaml|value`, with `-c COLUMN` to choose columns.

use serde_json::{Map, Value};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
    Yaml,
    Value,
}

fn cell(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().map(cell).collect::<Vec<_>>().join(", "),
        // As the openstack CLI prints dicts: key='value', ...
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => format!("{k}='{s}'"),
                v => format!("{k}={v}"),
            })
            .collect::<Vec<_>>()
            .join(", "),
        v => v.to_string(),
    }
}

fn table(headers: &[String], rows: &[Vec<String>]) -> String {
    let mut w: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let sep = format!(
        "+{}+",
        w.iter()
            .map(|n| "-".repeat(n + 2))
            .collect::<Vec<_>>()
            .join("+")
    );
    let line = |cells: &[String]| {
        let parts: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!(" {c:<width$} ", width = w[i]))
            .collect();
        format!("|{}|", parts.join("|"))
    };
    let mut out = vec![sep.clone(), line(headers), sep.clone()];
    out.extend(rows.iter().map(|r| line(r)));
    out.push(sep);
    out.join("\n")
}

fn emit_structured(v: &Value, f: Format) -> anyhow::Result<String> {
    Ok(match f {
        Format::Yaml => serde_yaml::to_string(v)?.trim_end().to_string(),
        _ => serde_json::to_string_pretty(v)?,
    })
}

/// One resource: Field/Value pairs.
pub fn show(obj: &Value, f: Format, columns: &[String]) -> anyhow::Result<String> {
    let mut m: Vec<(String, Value)> = obj
        .as_object()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .collect();
    m.sort_by(|a, b| a.0.cmp(&b.0));
    if !columns.is_empty() {
        m.retain(|(k, _)| columns.contains(k));
    }
    match f {
        Format::Table => {
            let rows: Vec<Vec<String>> = m.iter().map(|(k, v)| vec![k.clone(), cell(v)]).collect();
            Ok(table(&["Field".into(), "Value".into()], &rows))
        }
        Format::Value => Ok(m
            .iter()
            .map(|(_, v)| cell(v))
            .collect::<Vec<_>>()
            .join("\n")),
        _ => emit_structured(&Value::Object(m.into_iter().collect::<Map<_, _>>()), f),
    }
}

/// A list: `cols` are `(attribute, header)`.
pub fn list(
    items: &[Value],
    cols: &[(&str, &str)],
    f: Format,
    columns: &[String],
) -> anyhow::Result<String> {
    let cols: Vec<(&str, &str)> = if columns.is_empty() {
        cols.to_vec()
    } else {
        cols.iter()
            .copied()
            .filter(|(a, h)| columns.iter().any(|c| c == a || c == h))
            .collect()
    };
    let rows: Vec<Vec<Value>> = items
        .iter()
        .map(|i| cols.iter().map(|(a, _)| i[*a].clone()).collect())
        .collect();
    match f {
        Format::Table => {
            let headers: Vec<String> = cols.iter().map(|(_, h)| h.to_string()).collect();
            let rows: Vec<Vec<String>> =
                rows.iter().map(|r| r.iter().map(cell).collect()).collect();
            Ok(table(&headers, &rows))
        }
        Format::Value => Ok(rows
            .iter()
            .map(|r| r.iter().map(cell).collect::<Vec<_>>().join(" "))
            .collect::<Vec<_>>()
            .join("\n")),
        _ => {
            let arr: Vec<Value> = rows
                .into_iter()
                .map(|r| Value::Object(cols.iter().map(|(_, h)| h.to_string()).zip(r).collect()))
                .collect();
            emit_structured(&Value::Array(arr), f)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn table_and_value_output() {
        let items = vec![json!({"id": "1", "name": "a", "subnets": ["s1", "s2"]})];
        let t = list(
            &items,
            &[("id", "ID"), ("name", "Name"), ("subnets", "Subnets")],
            Format::Table,
            &[],
        )
        .unwrap();
        assert!(t.contains("| ID | Name | Subnets |"), "{t}");
        assert!(t.contains("s1, s2"));
        let ips = vec![json!({"fixed_ips": [{"ip_address": "10.0.0.9", "subnet_id": "s"}]})];
        let v = list(
            &ips,
            &[("fixed_ips", "Fixed IP Addresses")],
            Format::Value,
            &[],
        )
        .unwrap();
        assert_eq!(v, "ip_address='10.0.0.9', subnet_id='s'");
        let v = list(
            &items,
            &[("id", "ID"), ("name", "Name")],
            Format::Value,
            &["name".into()],
        )
        .unwrap();
        assert_eq!(v, "a");
        let s = show(&json!({"b": null, "a": true}), Format::Value, &[]).unwrap();
        assert_eq!(s, "true\nNone");
        let y = show(&json!({"a": 1}), Format::Yaml, &[]).unwrap();
        assert_eq!(y, "a: 1");
    }
}
