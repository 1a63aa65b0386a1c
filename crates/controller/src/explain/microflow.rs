//! A microflow as `ofproto/trace` takes it (ovs-vswitchd(8)): `key=value`
//! tokens and protocol keywords, comma separated, in ovs-ofctl(8) field
//! syntax. Kept as tokens so defaults can be filled without overriding
//! what the user wrote; synonyms are folded to one name (ovs-fields(7)).

use std::fmt;

/// ovs-fields(7) synonyms → the name this module uses.
const SYNONYMS: [(&str, &str); 10] = [
    ("eth_src", "dl_src"),
    ("eth_dst", "dl_dst"),
    ("eth_type", "dl_type"),
    ("ip_src", "nw_src"),
    ("ip_dst", "nw_dst"),
    ("ip_ttl", "nw_ttl"),
    ("tcp_src", "tp_src"),
    ("tcp_dst", "tp_dst"),
    ("udp_src", "tp_src"),
    ("udp_dst", "tp_dst"),
];

/// Protocol keywords (ovs-fields(7) "shorthand notation").
pub const PROTOCOLS: [&str; 12] = [
    "ip", "ipv6", "icmp", "icmp6", "tcp", "tcp6", "udp", "udp6", "sctp", "sctp6", "arp", "rarp",
];

/// Ordered tokens of a microflow.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Microflow {
    toks: Vec<(String, Option<String>)>,
}

impl Microflow {
    /// Split `s` into tokens (commas or white space separate them).
    pub fn parse(s: &str) -> Microflow {
        let toks = s
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|t| !t.is_empty())
            .map(|t| match t.split_once('=') {
                Some((k, v)) => {
                    let k = SYNONYMS
                        .iter()
                        .find(|(a, _)| *a == k)
                        .map_or(k, |(_, b)| *b);
                    (k.to_string(), Some(v.to_string()))
                }
                None => (t.to_string(), None),
            })
            .collect();
        Microflow { toks }
    }

    /// The value of field `k`.
    pub fn get(&self, k: &str) -> Option<&str> {
        self.toks
            .iter()
            .find(|(a, _)| a == k)
            .and_then(|(_, v)| v.as_deref())
    }

    pub fn has(&self, k: &str) -> bool {
        self.toks.iter().any(|(a, _)| a == k)
    }

    /// Set `k` to `v`, replacing a previous value.
    pub fn set(&mut self, k: &str, v: impl Into<String>) {
        let v = Some(v.into());
        match self.toks.iter_mut().find(|(a, _)| a == k) {
            Some(t) => t.1 = v,
            None => self.toks.push((k.to_string(), v)),
        }
    }

    /// Set `k` unless the user gave it.
    pub fn default(&mut self, k: &str, v: impl Into<String>) {
        if !self.has(k) {
            self.set(k, v);
        }
    }

    pub fn remove(&mut self, k: &str) {
        self.toks.retain(|(a, _)| a != k);
    }

    /// The protocol keyword, if any (`tcp`, `icmp`, …).
    pub fn protocol(&self) -> Option<&str> {
        self.toks
            .iter()
            .find(|(k, v)| v.is_none() && PROTOCOLS.contains(&k.as_str()))
            .map(|(k, _)| k.as_str())
    }

    /// Put a protocol keyword first (where ovs-ofctl(8) prints it).
    pub fn set_protocol(&mut self, p: &str) {
        self.toks.insert(0, (p.to_string(), None));
    }
}

impl fmt::Display for Microflow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (k, v)) in self.toks.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            match v {
                Some(v) => write!(f, "{k}={v}")?,
                None => f.write_str(k)?,
            }
        }
        Ok(())
    }
}
