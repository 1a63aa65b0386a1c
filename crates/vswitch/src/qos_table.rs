//! The QoS and Queue tables of the switch database (ovs-vswitchd.conf.db(5),
//! "QoS TABLE" and "Queue TABLE") and the generic ovs-vsctl(8) database
//! commands that reach them: `create`, `destroy` (`--all`), `clear`, and
//! `--id=@name` row references across `--` clauses.
//!
//! As in OVSDB, rows of these tables are named by UUID; `create` prints the
//! new row's UUID (ovs-vsctl(8) "Database Commands"), a command may refer
//! to a row created anywhere in the same command line by its `@name`
//! (before or after the `create`), and referential integrity is checked
//! when the whole transaction ends: a Port's `qos` must name a QoS row and
//! a QoS row's `queues` must name Queue rows, so `destroy qos …` fails
//! while a port still uses it unless the same transaction clears the port.
//! The contents are checked then too ([`crate::qos_spec`]): a bad
//! `other-config:max-rate` fails the command rather than the datapath.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::error::VsctlError;
use crate::schema::{map_get, map_set, parse_map, quote, unquote, Config, Table};
use crate::vsctl::Command;

/// A QoS row: the egress discipline of the ports that name it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Qos {
    /// `type`: `linux-htb`, `linux-sfq`, `linux-noop`, and cloudnet's own
    /// `linux-tbf` and `linux-pfifo-fast` (see [`crate::qos_spec`]).
    #[serde(rename = "type")]
    pub kind: String,
    /// `other_config` (`max-rate`, …; the key set depends on `type`).
    pub other_config: BTreeMap<String, String>,
    /// `queues`: OpenFlow queue number → Queue row UUID.
    pub queues: BTreeMap<u32, String>,
    /// `external_ids`.
    pub external_ids: BTreeMap<String, String>,
}

/// A Queue row: one class of a QoS (`min-rate`, `max-rate`, `burst`,
/// `priority` in `other_config`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Queue {
    /// `dscp`: DSCP value to mark packets of this queue with (stored only).
    pub dscp: Option<u8>,
    /// `other_config`.
    pub other_config: BTreeMap<String, String>,
    /// `external_ids`.
    pub external_ids: BTreeMap<String, String>,
}

/// Errors specific to the QoS / Queue tables and row references.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum QosTableError {
    /// `@name` used but no `--id=@name create` in the command line.
    #[error("row id {0:?} is referenced but never created (add `-- --id={0} create ...`)")]
    UnknownId(String),
    /// Two `--id=@name` with the same name.
    #[error("row id {0:?} is created more than once")]
    DuplicateId(String),
    /// `--id=` not followed by `@name`.
    #[error("--id={0:?}: a row id must start with '@'")]
    BadId(String),
    /// A reference to a row that does not exist when the transaction ends.
    #[error("transaction causes referential integrity violation: {0}")]
    Integrity(String),
    /// A UUID prefix matching several rows.
    #[error("{record:?} matches more than one row in table {table}")]
    Ambiguous {
        /// What was typed.
        record: String,
        /// The table.
        table: &'static str,
    },
    /// `create` / `destroy` on a table managed by add-br / add-port.
    #[error("{command} is not supported on table {table} (use add-br/add-port/del-br/del-port)")]
    NotSupported {
        /// The command word.
        command: &'static str,
        /// The table.
        table: &'static str,
    },
    /// A QoS row (or a queue of it) that cannot be turned into a scheduler.
    #[error("QoS {qos}: {why}")]
    BadQos {
        /// The row's UUID.
        qos: String,
        /// What is wrong, naming the column and value.
        why: String,
    },
}

/// The database commands of ovs-vsctl(8) beyond get/set/list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DbCommand {
    /// `[--id=@name] create TABLE COLUMN[:KEY]=VALUE...`.
    Create {
        /// The `@name` given with `--id`.
        id: Option<String>,
        /// The table.
        table: Table,
        /// Initial values.
        settings: Vec<(String, String)>,
        /// The row's UUID, chosen when the transaction starts.
        uuid: Option<String>,
    },
    /// `[--if-exists] [--all] destroy TABLE [RECORD]...`.
    Destroy {
        /// The table.
        table: Table,
        /// Rows (UUIDs or unique prefixes).
        records: Vec<String>,
        /// `--all`.
        all: bool,
        /// `--if-exists`.
        if_exists: bool,
    },
    /// `[--if-exists] clear TABLE RECORD COLUMN...`.
    Clear {
        /// The table.
        table: Table,
        /// The row.
        record: String,
        /// Columns to empty.
        columns: Vec<String>,
        /// `--if-exists`.
        if_exists: bool,
    },
}

/// Options before a command word that only these commands take.
#[derive(Clone, Debug, Default)]
pub struct DbOptions {
    /// `--id=@name`.
    pub id: Option<String>,
    /// `--all`.
    pub all: bool,
    /// `--if-exists`.
    pub if_exists: bool,
}

fn arity(cmd: &str, why: &'static str) -> VsctlError {
    VsctlError::Arity {
        command: cmd.to_owned(),
        why,
    }
}

/// Parses `create`, `destroy` and `clear`; `None` for other words.
pub fn parse(word: &str, a: &[String], o: &DbOptions) -> Option<Result<Command, VsctlError>> {
    let r = match word {
        "create" => parse_create(a, o),
        "destroy" => match a.split_first() {
            None => Err(arity(word, "expects TABLE [RECORD]...")),
            Some((t, recs)) if recs.is_empty() && !o.all => {
                let _ = t;
                Err(arity(word, "expects TABLE RECORD... (or --all)"))
            }
            Some((t, recs)) => Table::parse(t).map(|table| DbCommand::Destroy {
                table,
                records: recs.to_vec(),
                all: o.all,
                if_exists: o.if_exists,
            }),
        },
        "clear" => {
            if a.len() < 3 {
                Err(arity(word, "expects TABLE RECORD COLUMN..."))
            } else {
                Table::parse(&a[0]).map(|table| DbCommand::Clear {
                    table,
                    record: a[1].clone(),
                    columns: a[2..].to_vec(),
                    if_exists: o.if_exists,
                })
            }
        }
        _ => return None,
    };
    if o.id.is_some() && word != "create" {
        return Some(Err(VsctlError::UnknownOption(format!(
            "--id (only for create, not {word})"
        ))));
    }
    Some(r.map(Command::Db))
}

fn parse_create(a: &[String], o: &DbOptions) -> Result<DbCommand, VsctlError> {
    let Some((t, rest)) = a.split_first() else {
        return Err(arity("create", "expects TABLE COLUMN[:KEY]=VALUE..."));
    };
    if let Some(id) = &o.id {
        if !id.starts_with('@') || id.len() < 2 {
            return Err(QosTableError::BadId(id.clone()).into());
        }
    }
    let settings = rest
        .iter()
        .map(|tok| {
            tok.split_once('=')
                .filter(|(c, _)| !c.is_empty())
                .map(|(c, v)| (c.to_owned(), v.to_owned()))
                .ok_or_else(|| VsctlError::NotAssignment(tok.clone()))
        })
        .collect::<Result<_, _>>()?;
    Ok(DbCommand::Create {
        id: o.id.clone(),
        table: Table::parse(t)?,
        settings,
        uuid: None,
    })
}

/// A random (version 4, RFC 9562 §5.4) UUID in the usual text form.
pub fn format_uuid(bits: u128) -> String {
    let b = (bits & !(0xf << 76) & !(0x3 << 62)) | (0x4 << 76) | (0x2 << 62);
    let h = format!("{b:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// Gives every `create` its UUID (from `ids`) and replaces `@name`
/// references in `set` and `create` values by the UUIDs, as ovs-vsctl does
/// before it sends the transaction.
pub fn resolve_ids(
    cmds: &[Command],
    ids: &mut dyn FnMut() -> u128,
) -> Result<Vec<Command>, VsctlError> {
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    let mut out = cmds.to_vec();
    for c in &mut out {
        if let Command::Db(DbCommand::Create { id, uuid, .. }) = c {
            let u = format_uuid(ids());
            if let Some(n) = id {
                if names.insert(n.clone(), u.clone()).is_some() {
                    return Err(QosTableError::DuplicateId(n.clone()).into());
                }
            }
            *uuid = Some(u);
        }
    }
    for c in &mut out {
        let settings = match c {
            Command::Set { settings, .. } => settings,
            Command::Db(DbCommand::Create { settings, .. }) => settings,
            _ => continue,
        };
        for (_, v) in settings.iter_mut() {
            if v.contains('@') {
                *v = substitute(v, &names)?;
            }
        }
    }
    Ok(out)
}

/// Replaces each `@name` token (letters, digits, `_`, `-`) of `v`.
fn substitute(v: &str, names: &BTreeMap<String, String>) -> Result<String, VsctlError> {
    let mut out = String::with_capacity(v.len());
    let mut rest = v;
    while let Some(at) = rest.find('@') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let end = tail[1..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
            .map_or(tail.len(), |e| e + 1);
        let name = &tail[..end];
        let u = names
            .get(name)
            .ok_or_else(|| QosTableError::UnknownId(name.to_owned()))?;
        out.push_str(u);
        rest = &tail[end..];
    }
    out.push_str(rest);
    Ok(out)
}

fn table_name(t: Table) -> &'static str {
    match t {
        Table::Bridge => "Bridge",
        Table::Port => "Port",
        Table::Interface => "Interface",
        Table::Qos => "QoS",
        Table::Queue => "Queue",
    }
}

/// The UUID of the row `rec` (a full UUID or a unique prefix of at least
/// four hex digits) among `keys`.
pub fn find<'a>(
    keys: impl Iterator<Item = &'a String>,
    rec: &str,
    table: Table,
) -> Result<String, VsctlError> {
    let rec = unquote(rec);
    let mut hit: Option<&String> = None;
    for k in keys {
        if k == rec {
            return Ok(k.clone());
        }
        if rec.len() >= 4 && k.starts_with(rec) {
            if hit.is_some() {
                return Err(QosTableError::Ambiguous {
                    record: rec.to_owned(),
                    table: table_name(table),
                }
                .into());
            }
            hit = Some(k);
        }
    }
    hit.cloned()
        .ok_or_else(|| VsctlError::NoRecord(rec.to_owned(), table_name(table)))
}

fn find_row(cfg: &Config, table: Table, rec: &str) -> Result<String, VsctlError> {
    match table {
        Table::Qos => find(cfg.qos.keys(), rec, table),
        Table::Queue => find(cfg.queues.keys(), rec, table),
        _ => Err(VsctlError::NoRecord(rec.to_owned(), table_name(table))),
    }
}

/// ovs-vsctl accepts `other-config` for `other_config`.
fn column(spec: &str) -> (String, Option<&str>) {
    let (c, k) = match spec.split_once(':') {
        Some((c, k)) => (c, Some(k)),
        None => (spec, None),
    };
    (c.replace('-', "_"), k)
}

fn bad(col: &str, value: &str, why: &'static str) -> VsctlError {
    VsctlError::BadValue {
        column: col.to_owned(),
        value: value.to_owned(),
        why,
    }
}

fn plain(col: &str, key: Option<&str>) -> Result<(), VsctlError> {
    match key {
        Some(k) => Err(VsctlError::NoKey {
            column: col.to_owned(),
            key: k.to_owned(),
        }),
        None => Ok(()),
    }
}

fn unknown(table: &str, col: &str) -> VsctlError {
    VsctlError::UnknownColumn {
        table: table.to_owned(),
        column: col.to_owned(),
    }
}

impl Qos {
    /// Columns `list` prints (OVS order: `_uuid`, then alphabetical).
    pub const COLUMNS: &'static [&'static str] =
        &["_uuid", "external_ids", "other_config", "queues", "type"];

    fn get(&self, uuid: &str, spec: &str) -> Result<String, VsctlError> {
        let (col, key) = column(spec);
        match col.as_str() {
            "_uuid" => plain(&col, key).map(|_| uuid.to_owned()),
            "type" => plain(&col, key).map(|_| quote(&self.kind)),
            "other_config" => map_get(&self.other_config, &col, key),
            "external_ids" => map_get(&self.external_ids, &col, key),
            "queues" => match key {
                None => {
                    let parts: Vec<String> = self
                        .queues
                        .iter()
                        .map(|(q, u)| format!("{q}={u}"))
                        .collect();
                    Ok(format!("{{{}}}", parts.join(", ")))
                }
                Some(k) => k
                    .parse::<u32>()
                    .ok()
                    .and_then(|q| self.queues.get(&q))
                    .cloned()
                    .ok_or_else(|| VsctlError::NoKey {
                        column: col.clone(),
                        key: k.to_owned(),
                    }),
            },
            _ => Err(unknown("QoS", &col)),
        }
    }

    fn set(&mut self, spec: &str, v: &str) -> Result<(), VsctlError> {
        let (col, key) = column(spec);
        match col.as_str() {
            "type" => {
                plain(&col, key)?;
                self.kind = unquote(v).to_owned();
            }
            "other_config" => map_set(&mut self.other_config, &col, key, v)?,
            "external_ids" => map_set(&mut self.external_ids, &col, key, v)?,
            "queues" => {
                let parse_q = |k: &str| -> Result<u32, VsctlError> {
                    unquote(k.trim())
                        .parse()
                        .map_err(|_| bad(&col, k, "queue number must be 0..4294967295"))
                };
                match key {
                    Some(k) => {
                        self.queues.insert(parse_q(k)?, unquote(v).to_owned());
                    }
                    None => {
                        let mut m = BTreeMap::new();
                        for (k, u) in parse_map(&col, v)? {
                            m.insert(parse_q(&k)?, u);
                        }
                        self.queues = m;
                    }
                }
            }
            "_uuid" => return Err(VsctlError::ReadOnly(col)),
            _ => return Err(unknown("QoS", &col)),
        }
        Ok(())
    }
}

impl Queue {
    /// Columns `list` prints.
    pub const COLUMNS: &'static [&'static str] = &["_uuid", "dscp", "external_ids", "other_config"];

    fn get(&self, uuid: &str, spec: &str) -> Result<String, VsctlError> {
        let (col, key) = column(spec);
        match col.as_str() {
            "_uuid" => plain(&col, key).map(|_| uuid.to_owned()),
            "dscp" => plain(&col, key).map(|_| match self.dscp {
                Some(d) => d.to_string(),
                None => "[]".to_owned(),
            }),
            "other_config" => map_get(&self.other_config, &col, key),
            "external_ids" => map_get(&self.external_ids, &col, key),
            _ => Err(unknown("Queue", &col)),
        }
    }

    fn set(&mut self, spec: &str, v: &str) -> Result<(), VsctlError> {
        let (col, key) = column(spec);
        match col.as_str() {
            "dscp" => {
                plain(&col, key)?;
                self.dscp = if v == "[]" {
                    None
                } else {
                    let d: u8 = unquote(v)
                        .parse()
                        .ok()
                        .filter(|d| *d < 64)
                        .ok_or_else(|| bad(&col, v, "DSCP must be 0..63"))?;
                    Some(d)
                };
            }
            "other_config" => map_set(&mut self.other_config, &col, key, v)?,
            "external_ids" => map_set(&mut self.external_ids, &col, key, v)?,
            "_uuid" => return Err(VsctlError::ReadOnly(col)),
            _ => return Err(unknown("Queue", &col)),
        }
        Ok(())
    }
}

/// `get` on QoS / Queue.
pub fn get(cfg: &Config, table: Table, rec: &str, col: &str) -> Result<String, VsctlError> {
    let u = find_row(cfg, table, rec)?;
    match table {
        Table::Qos => cfg.qos.get(&u).map(|q| q.get(&u, col)),
        Table::Queue => cfg.queues.get(&u).map(|q| q.get(&u, col)),
        _ => None,
    }
    .unwrap_or_else(|| Err(VsctlError::NoRecord(rec.to_owned(), table_name(table))))
}

/// `set` on QoS / Queue.
pub fn set(
    cfg: &mut Config,
    table: Table,
    rec: &str,
    col: &str,
    v: &str,
) -> Result<(), VsctlError> {
    let u = find_row(cfg, table, rec)?;
    match table {
        Table::Qos => cfg.qos.get_mut(&u).map(|q| q.set(col, v)),
        Table::Queue => cfg.queues.get_mut(&u).map(|q| q.set(col, v)),
        _ => None,
    }
    .unwrap_or_else(|| Err(VsctlError::NoRecord(rec.to_owned(), table_name(table))))
}

/// `list` on QoS / Queue, in ovs-vsctl's `column : value` layout.
pub fn list(
    cfg: &Config,
    table: Table,
    records: &[String],
    out: &mut String,
) -> Result<(), VsctlError> {
    let (all, cols): (Vec<String>, &[&str]) = match table {
        Table::Qos => (cfg.qos.keys().cloned().collect(), Qos::COLUMNS),
        _ => (cfg.queues.keys().cloned().collect(), Queue::COLUMNS),
    };
    let chosen = if records.is_empty() {
        all
    } else {
        records
            .iter()
            .map(|r| find_row(cfg, table, r))
            .collect::<Result<_, _>>()?
    };
    for (n, u) in chosen.iter().enumerate() {
        if n > 0 {
            out.push('\n');
        }
        for col in cols {
            let v = get(cfg, table, u, col)?;
            let _ = writeln!(out, "{col:<20}: {v}");
        }
    }
    Ok(())
}

/// Runs a database command.
pub fn run(cfg: &mut Config, c: &DbCommand, out: &mut String) -> Result<(), VsctlError> {
    match c {
        DbCommand::Create {
            table,
            settings,
            uuid,
            ..
        } => {
            let u = uuid.clone().unwrap_or_else(|| format_uuid(rand::random()));
            match table {
                Table::Qos => {
                    let mut q = Qos::default();
                    for (col, v) in settings {
                        q.set(col, v)?;
                    }
                    cfg.qos.insert(u.clone(), q);
                }
                Table::Queue => {
                    let mut q = Queue::default();
                    for (col, v) in settings {
                        q.set(col, v)?;
                    }
                    cfg.queues.insert(u.clone(), q);
                }
                t => {
                    return Err(QosTableError::NotSupported {
                        command: "create",
                        table: table_name(*t),
                    }
                    .into())
                }
            }
            let _ = writeln!(out, "{u}");
        }
        DbCommand::Destroy {
            table,
            records,
            all,
            if_exists,
        } => {
            if !matches!(table, Table::Qos | Table::Queue) {
                return Err(QosTableError::NotSupported {
                    command: "destroy",
                    table: table_name(*table),
                }
                .into());
            }
            if *all {
                match table {
                    Table::Qos => cfg.qos.clear(),
                    _ => cfg.queues.clear(),
                }
            }
            for r in records.iter().filter(|_| !*all) {
                let u = match find_row(cfg, *table, r) {
                    Err(VsctlError::NoRecord(..)) if *if_exists => continue,
                    x => x?,
                };
                if *table == Table::Qos {
                    cfg.qos.remove(&u);
                } else {
                    cfg.queues.remove(&u);
                }
            }
        }
        DbCommand::Clear {
            table,
            record,
            columns,
            if_exists,
        } => {
            for col in columns {
                let (c, _) = column(col);
                let empty = if c.ends_with("_ids") || c.ends_with("config") || c == "options" {
                    "{}"
                } else {
                    "[]"
                };
                let r = match table {
                    Table::Qos | Table::Queue => set(cfg, *table, record, &c, empty),
                    Table::Port => cfg
                        .ports
                        .get_mut(record)
                        .ok_or_else(|| VsctlError::NoRecord(record.clone(), "Port"))
                        .and_then(|p| p.set(&c, empty)),
                    Table::Bridge => cfg
                        .bridges
                        .get_mut(record)
                        .ok_or_else(|| VsctlError::NoRecord(record.clone(), "Bridge"))
                        .and_then(|b| b.set(&c, empty)),
                    Table::Interface => cfg
                        .interfaces
                        .get_mut(record)
                        .ok_or_else(|| VsctlError::NoRecord(record.clone(), "Interface"))
                        .and_then(|i| i.set(&c, empty)),
                };
                match r {
                    Err(VsctlError::NoRecord(..)) if *if_exists => return Ok(()),
                    r => r?,
                }
            }
        }
    }
    Ok(())
}

/// End-of-transaction checks: every reference resolves, and every QoS row
/// describes a scheduler this switch can build.
pub fn check(cfg: &Config) -> Result<(), VsctlError> {
    for (name, p) in &cfg.ports {
        if let Some(q) = &p.qos {
            if !cfg.qos.contains_key(q) {
                return Err(QosTableError::Integrity(format!(
                    "port {name} references QoS {q}, which does not exist"
                ))
                .into());
            }
        }
    }
    for (u, q) in &cfg.qos {
        for (n, qu) in &q.queues {
            if !cfg.queues.contains_key(qu) {
                return Err(QosTableError::Integrity(format!(
                    "QoS {u} queue {n} references Queue {qu}, which does not exist"
                ))
                .into());
            }
        }
        crate::qos_spec::from_ovs(cfg, q).map_err(|why| QosTableError::BadQos {
            qos: u.clone(),
            why,
        })?;
    }
    Ok(())
}
