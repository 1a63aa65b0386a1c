//! A small blocking client for the Networking API: requests, NeutronError
//! decoding and name-or-ID lookup (as the openstack CLI's `find_resource`).

use anyhow::{anyhow, bail, Context};
use serde_json::Value;

/// Where and as whom to talk.
pub struct Client {
    pub endpoint: String,
    pub token: Option<String>,
    agent: ureq::Agent,
}

impl Client {
    pub fn new(endpoint: &str, token: Option<String>) -> Client {
        let agent = ureq::AgentBuilder::new()
            .timeout(std::time::Duration::from_secs(60))
            .build();
        Client {
            endpoint: endpoint.trim_end_matches('/').to_string(),
            token,
            agent,
        }
    }

    /// One request; errors carry the server's NeutronError message.
    pub fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Option<Value>> {
        let url = format!("{}/v2.0/{path}", self.endpoint);
        let mut req = self.agent.request(method, &url);
        if let Some(t) = &self.token {
            req = req.set("X-Auth-Token", t);
        }
        let res = match body {
            Some(b) => req.send_json(b.clone()),
            None => req.call(),
        };
        let resp = match res {
            Ok(r) => r,
            Err(ureq::Error::Status(code, r)) => {
                let text = r.into_string().unwrap_or_default();
                let msg = serde_json::from_str::<Value>(&text)
                    .ok()
                    .and_then(|v| v["NeutronError"]["message"].as_str().map(str::to_string))
                    .unwrap_or(text);
                bail!("{msg} (HTTP {code})");
            }
            Err(e) => return Err(anyhow!(e)).with_context(|| format!("{method} {url}")),
        };
        let text = resp.into_string().context("reading response")?;
        if text.trim().is_empty() {
            return Ok(None);
        }
        Ok(Some(
            serde_json::from_str(&text).with_context(|| format!("bad JSON from {url}"))?,
        ))
    }

    pub fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.call("GET", path, None)?
            .ok_or_else(|| anyhow!("empty response from GET {path}"))
    }

    /// Resolve a name or ID in a collection to an ID.
    pub fn find(
        &self,
        path: &str,
        plural: &str,
        title: &str,
        name_or_id: &str,
    ) -> anyhow::Result<String> {
        if let Ok(Some(_)) = self.call("GET", &format!("{path}/{name_or_id}"), None) {
            return Ok(name_or_id.to_string());
        }
        let q = serde_urlencoded_pair("name", name_or_id);
        let v = self.get(&format!("{path}?{q}"))?;
        let items = v[plural].as_array().cloned().unwrap_or_default();
        match items.as_slice() {
            [one] => one["id"]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| anyhow!("{title} without id")),
            [] => bail!("No {title} found for {name_or_id}"),
            _ => bail!("More than one {title} exists with the name '{name_or_id}'."),
        }
    }
}

/// `key=value`, percent-encoded.
pub fn serde_urlencoded_pair(k: &str, v: &str) -> String {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                b => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    format!("{}={}", enc(k), enc(v))
}
