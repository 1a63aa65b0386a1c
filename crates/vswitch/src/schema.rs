//! The switch configuration: the Bridge, Port and Interface tables of the
//! Open vSwitch database (ovs-vswitchd.conf.db(5)), reduced to the columns
//! cloudnet implements, with `get`/`set` by column name as `ovs-vsctl(8)`
//! does ("Database Values").
//!
//! As in OVS a bridge lists its ports and a port lists its interfaces; here
//! every port has exactly one interface of the same name (OVS bonds are not
//! implemented), so the Port and Interface records share a key.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::error::VsctlError;

/// OpenFlow port number of a bridge's own (internal) interface,
/// `OFPP_LOCAL` (OpenFlow 1.0 §5.2.1, written `LOCAL` by ovs-ofctl(8)).
pub const OFPP_LOCAL: u16 = 0xfffe;

/// Highest VLAN ID (IEEE 802.1Q; 4095 is reserved).
pub const MAX_VID: u16 = 4094;

/// Default MAC aging time, seconds (ovs-vswitchd.conf.db(5),
/// `other_config:mac-aging-time`).
pub const DEFAULT_MAC_AGING_SECS: u64 = 300;

/// A bridge (ovs-vswitchd.conf.db(5) "Bridge TABLE").
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bridge {
    /// Bridge name; also the name of its internal port.
    pub name: String,
    /// Names of its ports, in the order they were added.
    pub ports: Vec<String>,
    /// `external_ids`: free-form key/value pairs for controllers.
    pub external_ids: BTreeMap<String, String>,
    /// `other_config`: `mac-aging-time`, `mac-table-size`.
    pub other_config: BTreeMap<String, String>,
}

impl Bridge {
    /// MAC aging time in seconds from `other_config:mac-aging-time`.
    pub fn mac_aging_secs(&self) -> u64 {
        self.other_config
            .get("mac-aging-time")
            .and_then(|v| v.parse().ok())
            .unwrap_or(DEFAULT_MAC_AGING_SECS)
    }
}

/// A port (ovs-vswitchd.conf.db(5) "Port TABLE").
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Port {
    /// Port name (equal to its one interface's name).
    pub name: String,
    /// `tag`: access VLAN; frames enter untagged and are placed in it.
    pub tag: Option<u16>,
    /// `trunks`: VLANs a trunk port carries; empty means all.
    pub trunks: Vec<u16>,
    /// `external_ids`.
    pub external_ids: BTreeMap<String, String>,
    /// `qos`: UUID of the QoS record shaping this port's egress.
    #[serde(default)]
    pub qos: Option<String>,
}

/// Interface types cloudnet implements (ovs-vswitchd.conf.db(5) `type`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IfaceType {
    /// An existing netdev, attached through AF_PACKET (OVS's `""`/`system`).
    #[default]
    System,
    /// The bridge's own host interface (a TAP named as the bridge).
    Internal,
    /// A TAP the switch creates or adopts: a VM's NIC.
    Tap,
    /// A link to another bridge of the same daemon (`options:peer`).
    Patch,
    /// VXLAN tunnel (RFC 7348), options in `dp::tunnel_cfg`.
    Vxlan,
    /// Geneve tunnel (RFC 8926).
    Geneve,
    /// Ethernet over GRE with the RFC 2890 key.
    Gre,
}

impl IfaceType {
    /// Parse the `type` column value.
    pub fn parse(s: &str) -> Option<IfaceType> {
        Some(match s {
            "" | "system" => IfaceType::System,
            "internal" => IfaceType::Internal,
            "tap" => IfaceType::Tap,
            "patch" => IfaceType::Patch,
            "vxlan" => IfaceType::Vxlan,
            "geneve" => IfaceType::Geneve,
            "gre" => IfaceType::Gre,
            _ => return None,
        })
    }

    /// Whether this is a tunnel type (no netdev: the datapath does the
    /// encapsulation).
    pub fn is_tunnel(self) -> bool {
        matches!(self, IfaceType::Vxlan | IfaceType::Geneve | IfaceType::Gre)
    }

    /// The `type` column value.
    pub fn as_str(self) -> &'static str {
        match self {
            IfaceType::System => "system",
            IfaceType::Internal => "internal",
            IfaceType::Tap => "tap",
            IfaceType::Patch => "patch",
            IfaceType::Vxlan => "vxlan",
            IfaceType::Geneve => "geneve",
            IfaceType::Gre => "gre",
        }
    }
}

/// An interface (ovs-vswitchd.conf.db(5) "Interface TABLE").
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interface {
    /// Interface name (a netdev name except for patch ports).
    pub name: String,
    /// `type`.
    #[serde(rename = "type")]
    pub kind: IfaceType,
    /// `options`: `peer` (patch), `netns` (tap: open the TAP inside the
    /// named network namespace, /run/netns/NAME).
    pub options: BTreeMap<String, String>,
    /// `ofport_request`: the OpenFlow port number asked for.
    pub ofport_request: Option<u16>,
    /// `ofport`: the number in use, assigned once and kept across restarts.
    pub ofport: Option<u16>,
    /// `ingress_policing_rate` in kbit/s (0: off).
    pub ingress_policing_rate: u64,
    /// `ingress_policing_burst` in kbit (0: default).
    pub ingress_policing_burst: u64,
    /// `mtu_request`.
    pub mtu_request: Option<u32>,
    /// `external_ids`.
    pub external_ids: BTreeMap<String, String>,
    /// `other_config`: `storm-control-pps`, `storm-control-burst`
    /// (broadcast/multicast storm control, see `dp::storm`), `ct-new-pps`,
    /// `ct-new-burst` (new connections per second, see `dp::ct`).
    #[serde(default)]
    pub other_config: BTreeMap<String, String>,
}

/// The whole configuration, persisted as one record.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    /// Bridges by name.
    pub bridges: BTreeMap<String, Bridge>,
    /// Ports by name.
    pub ports: BTreeMap<String, Port>,
    /// Interfaces by name.
    pub interfaces: BTreeMap<String, Interface>,
    /// QoS records by UUID (see [`crate::qos_table`]).
    #[serde(default)]
    pub qos: BTreeMap<String, crate::qos_table::Qos>,
    /// Queue records by UUID.
    #[serde(default)]
    pub queues: BTreeMap<String, crate::qos_table::Queue>,
    /// `cloudnet tc` trees by port name (see [`crate::tc`]).
    #[serde(default)]
    pub tc: BTreeMap<String, crate::tc::TcTree>,
    /// Geneve TLV maps by bridge name (`ofctl add-tlv-map`, [`crate::tlv`]).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tlv_maps: BTreeMap<String, crate::tlv::TlvMap>,
}

/// The three tables `get`/`set`/`list` address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Table {
    /// `Bridge`.
    Bridge,
    /// `Port`.
    Port,
    /// `Interface`.
    Interface,
    /// `QoS`.
    Qos,
    /// `Queue`.
    Queue,
}

impl Table {
    /// Parse a table name; ovs-vsctl accepts any case and unique prefixes
    /// of the lower-case name ("br", "int").
    pub fn parse(s: &str) -> Result<Table, VsctlError> {
        let l = s.to_ascii_lowercase();
        let cands = [
            ("bridge", Table::Bridge),
            ("port", Table::Port),
            ("interface", Table::Interface),
            ("qos", Table::Qos),
            ("queue", Table::Queue),
        ];
        cands
            .iter()
            .find(|(n, _)| !l.is_empty() && n.starts_with(&l))
            .map(|(_, t)| *t)
            .ok_or_else(|| VsctlError::UnknownTable(s.to_owned()))
    }
}

/// Render a map as ovs-vsctl does: `{a="1", b=x}`.
pub fn fmt_map(m: &BTreeMap<String, String>) -> String {
    let mut s = String::from("{");
    for (i, (k, v)) in m.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        let _ = write!(s, "{}={}", k, quote(v));
    }
    s.push('}');
    s
}

/// Quote a string value the way the OVSDB text format does when needed.
pub fn quote(v: &str) -> String {
    let plain = !v.is_empty()
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
        && !v.starts_with(|c: char| c.is_ascii_digit() || c == '-');
    if plain {
        v.to_owned()
    } else {
        format!("{v:?}")
    }
}

fn fmt_opt<T: std::fmt::Display>(v: &Option<T>) -> String {
    match v {
        Some(x) => x.to_string(),
        None => "[]".to_owned(),
    }
}

fn fmt_list<T: std::fmt::Display>(v: &[T]) -> String {
    let parts: Vec<String> = v.iter().map(|x| x.to_string()).collect();
    format!("[{}]", parts.join(", "))
}

/// Strip one level of `"..."` quoting from a value typed on the command line.
pub fn unquote(v: &str) -> &str {
    v.strip_prefix('"')
        .and_then(|x| x.strip_suffix('"'))
        .unwrap_or(v)
}

/// Parse a map value `{k=v, k2=v2}` or a bare `k=v`.
pub(crate) fn parse_map(col: &str, v: &str) -> Result<BTreeMap<String, String>, VsctlError> {
    let inner = v
        .strip_prefix('{')
        .and_then(|x| x.strip_suffix('}'))
        .unwrap_or(v);
    let mut m = BTreeMap::new();
    for part in inner.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, val) = part.split_once('=').ok_or_else(|| VsctlError::BadValue {
            column: col.to_owned(),
            value: part.to_owned(),
            why: "expected KEY=VALUE",
        })?;
        m.insert(unquote(k.trim()).to_owned(), unquote(val.trim()).to_owned());
    }
    Ok(m)
}

fn parse_num<T: std::str::FromStr>(col: &str, v: &str) -> Result<T, VsctlError> {
    unquote(v).parse().map_err(|_| VsctlError::BadValue {
        column: col.to_owned(),
        value: v.to_owned(),
        why: "not a number in range",
    })
}

fn parse_opt_num<T: std::str::FromStr>(col: &str, v: &str) -> Result<Option<T>, VsctlError> {
    if v == "[]" {
        Ok(None)
    } else {
        parse_num(col, v).map(Some)
    }
}

/// Parse a VLAN ID, 0..=4094.
pub fn parse_vid(col: &str, v: &str) -> Result<u16, VsctlError> {
    let n: u16 = parse_num(col, v)?;
    if n > MAX_VID {
        return Err(VsctlError::BadValue {
            column: col.to_owned(),
            value: v.to_owned(),
            why: "VLAN ID must be 0..4094",
        });
    }
    Ok(n)
}

/// Parse a `trunks` value: `[10,20]`, `10,20` or `"10 20"`.
pub fn parse_trunks(v: &str) -> Result<Vec<u16>, VsctlError> {
    let inner = unquote(v);
    let inner = inner
        .strip_prefix('[')
        .and_then(|x| x.strip_suffix(']'))
        .unwrap_or(inner);
    let mut out = Vec::new();
    for p in inner
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|p| !p.is_empty())
    {
        out.push(parse_vid("trunks", p)?);
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// A column reference `col` or `col:key`.
fn split_key(spec: &str) -> (&str, Option<&str>) {
    match spec.split_once(':') {
        Some((c, k)) => (c, Some(k)),
        None => (spec, None),
    }
}

pub(crate) fn map_get(
    m: &BTreeMap<String, String>,
    col: &str,
    key: Option<&str>,
) -> Result<String, VsctlError> {
    match key {
        None => Ok(fmt_map(m)),
        Some(k) => m.get(k).map(|v| quote(v)).ok_or_else(|| VsctlError::NoKey {
            column: col.to_owned(),
            key: k.to_owned(),
        }),
    }
}

pub(crate) fn map_set(
    m: &mut BTreeMap<String, String>,
    col: &str,
    key: Option<&str>,
    v: &str,
) -> Result<(), VsctlError> {
    match key {
        None => *m = parse_map(col, v)?,
        Some(k) => {
            m.insert(k.to_owned(), unquote(v).to_owned());
        }
    }
    Ok(())
}

fn no_column(table: &str, col: &str) -> VsctlError {
    VsctlError::UnknownColumn {
        table: table.to_owned(),
        column: col.to_owned(),
    }
}

fn no_key_allowed(col: &str, key: Option<&str>) -> Result<(), VsctlError> {
    match key {
        Some(k) => Err(VsctlError::NoKey {
            column: col.to_owned(),
            key: k.to_owned(),
        }),
        None => Ok(()),
    }
}

impl Bridge {
    /// Columns `list` prints, in order.
    pub const COLUMNS: &'static [&'static str] = &["name", "ports", "external_ids", "other_config"];

    /// Read a column (`col` or `col:key`).
    pub fn get(&self, spec: &str) -> Result<String, VsctlError> {
        let (col, key) = split_key(spec);
        match col {
            "name" => no_key_allowed(col, key).map(|_| quote(&self.name)),
            "ports" => no_key_allowed(col, key).map(|_| fmt_list(&self.ports)),
            "external_ids" => map_get(&self.external_ids, col, key),
            "other_config" => map_get(&self.other_config, col, key),
            _ => Err(no_column("Bridge", col)),
        }
    }

    /// Write a column (`col` or `col:key`).
    pub fn set(&mut self, spec: &str, v: &str) -> Result<(), VsctlError> {
        let (col, key) = split_key(spec);
        match col {
            "external_ids" => map_set(&mut self.external_ids, col, key, v),
            "other_config" => {
                map_set(&mut self.other_config, col, key, v)?;
                if let Some(a) = self.other_config.get("mac-aging-time") {
                    parse_num::<u64>("other_config:mac-aging-time", a)?;
                }
                Ok(())
            }
            "name" | "ports" => Err(VsctlError::ReadOnly(col.to_owned())),
            _ => Err(no_column("Bridge", col)),
        }
    }
}

impl Port {
    /// Columns `list` prints, in order.
    pub const COLUMNS: &'static [&'static str] =
        &["name", "interfaces", "qos", "tag", "trunks", "external_ids"];

    /// Read a column.
    pub fn get(&self, spec: &str) -> Result<String, VsctlError> {
        let (col, key) = split_key(spec);
        match col {
            "name" => no_key_allowed(col, key).map(|_| quote(&self.name)),
            "interfaces" => no_key_allowed(col, key).map(|_| format!("[{}]", self.name)),
            "tag" => no_key_allowed(col, key).map(|_| fmt_opt(&self.tag)),
            "trunks" => no_key_allowed(col, key).map(|_| fmt_list(&self.trunks)),
            "qos" => no_key_allowed(col, key).map(|_| fmt_opt(&self.qos)),
            "external_ids" => map_get(&self.external_ids, col, key),
            _ => Err(no_column("Port", col)),
        }
    }

    /// Write a column.
    pub fn set(&mut self, spec: &str, v: &str) -> Result<(), VsctlError> {
        let (col, key) = split_key(spec);
        match col {
            "tag" => {
                no_key_allowed(col, key)?;
                self.tag = if v == "[]" {
                    None
                } else {
                    Some(parse_vid(col, v)?)
                };
                Ok(())
            }
            "trunks" => {
                no_key_allowed(col, key)?;
                self.trunks = parse_trunks(v)?;
                Ok(())
            }
            "qos" => {
                // The reference is checked when the transaction ends.
                no_key_allowed(col, key)?;
                self.qos = (v != "[]").then(|| unquote(v).to_owned());
                Ok(())
            }
            "external_ids" => map_set(&mut self.external_ids, col, key, v),
            "name" | "interfaces" => Err(VsctlError::ReadOnly(col.to_owned())),
            _ => Err(no_column("Port", col)),
        }
    }
}

impl Interface {
    /// Columns `list` prints, in order (`statistics` is added by the daemon).
    pub const COLUMNS: &'static [&'static str] = &[
        "name",
        "type",
        "options",
        "ofport",
        "ofport_request",
        "ingress_policing_rate",
        "ingress_policing_burst",
        "mtu_request",
        "external_ids",
        "other_config",
    ];

    /// Read a column (not `statistics`, which lives in the datapath).
    pub fn get(&self, spec: &str) -> Result<String, VsctlError> {
        let (col, key) = split_key(spec);
        let plain = |s: String| no_key_allowed(col, key).map(|_| s);
        match col {
            "name" => plain(quote(&self.name)),
            "type" => plain(if self.kind == IfaceType::System {
                "\"\"".to_owned()
            } else {
                self.kind.as_str().to_owned()
            }),
            "options" => map_get(&self.options, col, key),
            "ofport" => plain(self.ofport.map(i32::from).unwrap_or(-1).to_string()),
            "ofport_request" => plain(fmt_opt(&self.ofport_request)),
            "ingress_policing_rate" => plain(self.ingress_policing_rate.to_string()),
            "ingress_policing_burst" => plain(self.ingress_policing_burst.to_string()),
            "mtu_request" => plain(fmt_opt(&self.mtu_request)),
            "external_ids" => map_get(&self.external_ids, col, key),
            "other_config" => map_get(&self.other_config, col, key),
            _ => Err(no_column("Interface", col)),
        }
    }

    /// Write a column.
    pub fn set(&mut self, spec: &str, v: &str) -> Result<(), VsctlError> {
        let (col, key) = split_key(spec);
        match col {
            "type" => {
                no_key_allowed(col, key)?;
                self.kind = IfaceType::parse(unquote(v)).ok_or_else(|| VsctlError::BadValue {
                    column: col.to_owned(),
                    value: v.to_owned(),
                    why: "type must be system, internal, tap or patch",
                })?;
            }
            "options" => map_set(&mut self.options, col, key, v)?,
            "ofport_request" => {
                no_key_allowed(col, key)?;
                let r: Option<u16> = parse_opt_num(col, v)?;
                if matches!(r, Some(0) | Some(0xff00..)) {
                    return Err(VsctlError::BadValue {
                        column: col.to_owned(),
                        value: v.to_owned(),
                        why: "OpenFlow port must be 1..65279",
                    });
                }
                self.ofport_request = r;
            }
            "ingress_policing_rate" => {
                no_key_allowed(col, key)?;
                self.ingress_policing_rate = parse_num(col, v)?;
            }
            "ingress_policing_burst" => {
                no_key_allowed(col, key)?;
                self.ingress_policing_burst = parse_num(col, v)?;
            }
            "mtu_request" => {
                no_key_allowed(col, key)?;
                self.mtu_request = parse_opt_num(col, v)?;
            }
            "external_ids" => map_set(&mut self.external_ids, col, key, v)?,
            "other_config" => {
                map_set(&mut self.other_config, col, key, v)?;
                use crate::dp::{ct, perdst, pps::PpsCfg, storm};
                for (rate, burst) in [
                    (storm::PPS_KEY, storm::BURST_KEY),
                    (ct::CT_NEW_PPS_KEY, ct::CT_NEW_BURST_KEY),
                    (ct::UPCALL_PPS_KEY, ct::UPCALL_BURST_KEY),
                    (
                        perdst::CT_NEW_PPS_PER_DST_KEY,
                        perdst::CT_NEW_BURST_PER_DST_KEY,
                    ),
                    (
                        perdst::UPCALL_PPS_PER_DST_KEY,
                        perdst::UPCALL_BURST_PER_DST_KEY,
                    ),
                ] {
                    PpsCfg::from_other_config(&self.other_config, rate, burst).map_err(|e| {
                        VsctlError::BadValue {
                            column: format!("other_config:{}", e.key),
                            value: e.value,
                            why: e.why,
                        }
                    })?;
                }
            }
            "name" | "ofport" | "statistics" => return Err(VsctlError::ReadOnly(col.to_owned())),
            _ => return Err(no_column("Interface", col)),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_prefixes() {
        assert_eq!(Table::parse("Interface").unwrap(), Table::Interface);
        assert_eq!(Table::parse("br").unwrap(), Table::Bridge);
        assert!(Table::parse("Flow")
            .unwrap_err()
            .to_string()
            .contains("Flow"));
        assert!(Table::parse("").is_err());
    }

    #[test]
    fn port_columns_roundtrip() {
        let mut p = Port {
            name: "p1".into(),
            ..Default::default()
        };
        p.set("tag", "10").unwrap();
        assert_eq!(p.get("tag").unwrap(), "10");
        p.set("trunks", "[20,10,20]").unwrap();
        assert_eq!(p.get("trunks").unwrap(), "[10, 20]");
        let e = p.set("tag", "4095").unwrap_err().to_string();
        assert!(e.contains("4095"), "{e}");
        let e = p.set("trunks", "10,x").unwrap_err().to_string();
        assert!(e.contains("\"x\""), "{e}");
        let e = p.get("bogus").unwrap_err().to_string();
        assert!(e.contains("bogus"), "{e}");
        p.set("tag", "[]").unwrap();
        assert_eq!(p.tag, None);
    }

    #[test]
    fn interface_storm_control_is_checked_when_set() {
        let mut i = Interface::default();
        i.set("other_config:storm-control-pps", "500").unwrap();
        assert_eq!(i.get("other_config:storm-control-pps").unwrap(), "\"500\"");
        let e = i
            .set("other_config:storm-control-burst", "lots")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("storm-control-burst") && e.contains("lots"),
            "{e}"
        );
        // (A failed set leaves its value; the transaction is discarded.)
        let e = Interface::default()
            .set("other_config:ct-new-pps", "1e3")
            .unwrap_err()
            .to_string();
        assert!(e.contains("ct-new-pps") && e.contains("1e3"), "{e}");
    }

    #[test]
    fn interface_maps_and_types() {
        let mut i = Interface::default();
        i.set("type", "patch").unwrap();
        i.set("options:peer", "patch-b").unwrap();
        assert_eq!(i.get("options:peer").unwrap(), "patch-b");
        i.set("external_ids", "{vm=\"a b\", k=v}").unwrap();
        assert_eq!(i.get("external_ids").unwrap(), "{k=v, vm=\"a b\"}");
        assert!(i
            .get("options:nokey")
            .unwrap_err()
            .to_string()
            .contains("nokey"));
        assert!(i
            .set("type", "vxlan9")
            .unwrap_err()
            .to_string()
            .contains("vxlan9"));
        assert!(i.set("ofport_request", "0").is_err());
        i.set("ofport_request", "7").unwrap();
        assert_eq!(i.get("ofport_request").unwrap(), "7");
        assert!(i.set("ofport", "3").is_err());
    }
}
