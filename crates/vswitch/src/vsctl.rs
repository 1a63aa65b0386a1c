//! `vsctl` commands: the ovs-vsctl(8) command language over [`Config`].
//!
//! A command line is a list of commands separated by `--`, each with its own
//! options (`--may-exist`, `--if-exists`) before the command word, exactly as
//! in ovs-vsctl(8) ("Command syntax"). The daemon parses and runs the whole
//! list against a copy of the configuration and commits it only if every
//! command succeeded, so `add-port br0 p1 -- set Interface p1 type=tap` is
//! atomic, as an OVSDB transaction is.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::error::VsctlError;
use crate::schema::{
    quote, unquote, Bridge, Config, IfaceType, Interface, Port, Table, OFPP_LOCAL,
};

/// One parsed vsctl command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// `add-br BR`.
    AddBr { br: String, may_exist: bool },
    /// `del-br BR`.
    DelBr { br: String, if_exists: bool },
    /// `list-br`.
    ListBr,
    /// `br-exists BR`.
    BrExists { br: String },
    /// `add-port BR PORT [COLUMN=VALUE]...` (Port columns).
    AddPort {
        br: String,
        port: String,
        may_exist: bool,
        settings: Vec<(String, String)>,
    },
    /// `del-port [BR] PORT`.
    DelPort {
        br: Option<String>,
        port: String,
        if_exists: bool,
    },
    /// `list-ports BR`.
    ListPorts { br: String },
    /// `port-to-br PORT`.
    PortToBr { port: String },
    /// `show`.
    Show,
    /// `get TABLE RECORD COLUMN[:KEY]...`.
    Get {
        table: Table,
        record: String,
        columns: Vec<String>,
        if_exists: bool,
    },
    /// `set TABLE RECORD COLUMN[:KEY]=VALUE...`.
    Set {
        table: Table,
        record: String,
        settings: Vec<(String, String)>,
        if_exists: bool,
    },
    /// `list TABLE [RECORD]...`.
    List { table: Table, records: Vec<String> },
    /// `create`, `destroy`, `clear` (see [`crate::qos_table`]).
    Db(crate::qos_table::DbCommand),
}

fn arity(cmd: &str, why: &'static str) -> VsctlError {
    VsctlError::Arity {
        command: cmd.to_owned(),
        why,
    }
}

fn assignment(tok: &str) -> Result<(String, String), VsctlError> {
    let (c, v) = tok
        .split_once('=')
        .ok_or_else(|| VsctlError::NotAssignment(tok.to_owned()))?;
    if c.is_empty() {
        return Err(VsctlError::NotAssignment(tok.to_owned()));
    }
    Ok((c.to_owned(), v.to_owned()))
}

/// Parse a full command line (everything after the global options).
pub fn parse(args: &[String]) -> Result<Vec<Command>, VsctlError> {
    let mut out = Vec::new();
    for group in args.split(|a| a == "--") {
        if group.is_empty() {
            continue;
        }
        out.push(parse_one(group)?);
    }
    Ok(out)
}

fn parse_one(group: &[String]) -> Result<Command, VsctlError> {
    let mut may_exist = false;
    let mut if_exists = false;
    let mut db = crate::qos_table::DbOptions::default();
    let mut i = 0;
    while let Some(opt) = group.get(i).filter(|a| a.starts_with("--")) {
        match opt.as_str() {
            "--may-exist" => may_exist = true,
            "--if-exists" => if_exists = true,
            "--all" => db.all = true,
            o if o.starts_with("--id=") => db.id = Some(o["--id=".len()..].to_owned()),
            _ => return Err(VsctlError::UnknownOption(opt.clone())),
        }
        i += 1;
    }
    let Some(word) = group.get(i) else {
        return Err(arity("--", "options without a command"));
    };
    let a = &group[i + 1..];
    db.if_exists = if_exists;
    if let Some(c) = crate::qos_table::parse(word, a, &db) {
        return c;
    }
    if db.id.is_some() || db.all {
        return Err(VsctlError::UnknownOption(format!(
            "--id/--all before {word}"
        )));
    }
    let one = |why| {
        if a.len() == 1 {
            Ok(a[0].clone())
        } else {
            Err(arity(word, why))
        }
    };
    let none = || {
        if a.is_empty() {
            Ok(())
        } else {
            Err(arity(word, "takes no arguments"))
        }
    };
    Ok(match word.as_str() {
        "add-br" => Command::AddBr {
            br: one("expects BRIDGE")?,
            may_exist,
        },
        "del-br" => Command::DelBr {
            br: one("expects BRIDGE")?,
            if_exists,
        },
        "list-br" => {
            none()?;
            Command::ListBr
        }
        "br-exists" => Command::BrExists {
            br: one("expects BRIDGE")?,
        },
        "add-port" => {
            if a.len() < 2 {
                return Err(arity(word, "expects BRIDGE PORT [COLUMN=VALUE]..."));
            }
            Command::AddPort {
                br: a[0].clone(),
                port: a[1].clone(),
                may_exist,
                settings: a[2..]
                    .iter()
                    .map(|t| assignment(t))
                    .collect::<Result<_, _>>()?,
            }
        }
        "del-port" => match a {
            [p] => Command::DelPort {
                br: None,
                port: p.clone(),
                if_exists,
            },
            [b, p] => Command::DelPort {
                br: Some(b.clone()),
                port: p.clone(),
                if_exists,
            },
            _ => return Err(arity(word, "expects [BRIDGE] PORT")),
        },
        "list-ports" => Command::ListPorts {
            br: one("expects BRIDGE")?,
        },
        "port-to-br" => Command::PortToBr {
            port: one("expects PORT")?,
        },
        "show" => {
            none()?;
            Command::Show
        }
        "get" => {
            if a.len() < 3 {
                return Err(arity(word, "expects TABLE RECORD COLUMN[:KEY]..."));
            }
            Command::Get {
                table: Table::parse(&a[0])?,
                record: a[1].clone(),
                columns: a[2..].to_vec(),
                if_exists,
            }
        }
        "set" => {
            if a.len() < 3 {
                return Err(arity(word, "expects TABLE RECORD COLUMN[:KEY]=VALUE..."));
            }
            Command::Set {
                table: Table::parse(&a[0])?,
                record: a[1].clone(),
                settings: a[2..]
                    .iter()
                    .map(|t| assignment(t))
                    .collect::<Result<_, _>>()?,
                if_exists,
            }
        }
        "list" => {
            if a.is_empty() {
                return Err(arity(word, "expects TABLE [RECORD]..."));
            }
            Command::List {
                table: Table::parse(&a[0])?,
                records: a[1..].to_vec(),
            }
        }
        _ => return Err(VsctlError::UnknownCommand(word.clone())),
    })
}

/// Per-interface counters the daemon supplies for `statistics`.
pub type StatsFn<'a> = &'a dyn Fn(&str) -> Option<BTreeMap<String, u64>>;

fn check_name(name: &str, netdev: bool) -> Result<(), VsctlError> {
    if netdev {
        netio::tap::check_ifname(name).map_err(|e| match e {
            netio::tap::TapError::InvalidName { why, .. } => VsctlError::BadName {
                name: name.to_owned(),
                why,
            },
            _ => VsctlError::BadName {
                name: name.to_owned(),
                why: "not a valid interface name",
            },
        })
    } else if name.is_empty() {
        Err(VsctlError::BadName {
            name: name.to_owned(),
            why: "empty",
        })
    } else {
        Ok(())
    }
}

fn bridge_of(cfg: &Config, port: &str) -> Option<String> {
    cfg.bridges
        .values()
        .find(|b| b.ports.iter().any(|p| p == port))
        .map(|b| b.name.clone())
}

fn del_port(cfg: &mut Config, br: &str, port: &str) {
    if let Some(b) = cfg.bridges.get_mut(br) {
        b.ports.retain(|p| p != port);
    }
    cfg.ports.remove(port);
    cfg.interfaces.remove(port);
}

/// Run `cmds` against `cfg`; the caller commits `cfg` only on `Ok`. Returns
/// the text each command prints, concatenated.
pub fn execute(
    cfg: &mut Config,
    cmds: &[Command],
    stats: StatsFn<'_>,
) -> Result<String, VsctlError> {
    execute_with_ids(cfg, cmds, stats, &mut rand::random::<u128>)
}

/// As [`execute`], with the source of new rows' UUIDs injected.
pub fn execute_with_ids(
    cfg: &mut Config,
    cmds: &[Command],
    stats: StatsFn<'_>,
    ids: &mut dyn FnMut() -> u128,
) -> Result<String, VsctlError> {
    let cmds = crate::qos_table::resolve_ids(cmds, ids)?;
    let mut out = String::new();
    for c in &cmds {
        run_one(cfg, c, stats, &mut out)?;
    }
    assign_ofports(cfg)?;
    crate::qos_table::check(cfg)?;
    Ok(out)
}

fn run_one(
    cfg: &mut Config,
    c: &Command,
    stats: StatsFn<'_>,
    out: &mut String,
) -> Result<(), VsctlError> {
    match c {
        Command::AddBr { br, may_exist } => {
            if cfg.bridges.contains_key(br) {
                return if *may_exist {
                    Ok(())
                } else {
                    Err(VsctlError::BridgeExists(br.clone()))
                };
            }
            check_name(br, true)?;
            if cfg.ports.contains_key(br) {
                return Err(VsctlError::PortExists(br.clone()));
            }
            cfg.bridges.insert(
                br.clone(),
                Bridge {
                    name: br.clone(),
                    ports: vec![br.clone()],
                    ..Default::default()
                },
            );
            cfg.ports.insert(
                br.clone(),
                Port {
                    name: br.clone(),
                    ..Default::default()
                },
            );
            cfg.interfaces.insert(
                br.clone(),
                Interface {
                    name: br.clone(),
                    kind: IfaceType::Internal,
                    ofport: Some(OFPP_LOCAL),
                    ..Default::default()
                },
            );
        }
        Command::DelBr { br, if_exists } => {
            let Some(b) = cfg.bridges.remove(br) else {
                return if *if_exists {
                    Ok(())
                } else {
                    Err(VsctlError::NoBridge(br.clone()))
                };
            };
            for p in &b.ports {
                cfg.ports.remove(p);
                cfg.interfaces.remove(p);
            }
        }
        Command::ListBr => {
            for b in cfg.bridges.keys() {
                let _ = writeln!(out, "{b}");
            }
        }
        Command::BrExists { br } => {
            if !cfg.bridges.contains_key(br) {
                return Err(VsctlError::BridgeMissing(br.clone()));
            }
        }
        Command::AddPort {
            br,
            port,
            may_exist,
            settings,
        } => {
            if !cfg.bridges.contains_key(br) {
                return Err(VsctlError::NoBridge(br.clone()));
            }
            if cfg.ports.contains_key(port) {
                if *may_exist && bridge_of(cfg, port).as_deref() == Some(br) {
                    return Ok(());
                }
                return Err(VsctlError::PortExists(port.clone()));
            }
            check_name(port, false)?;
            let mut p = Port {
                name: port.clone(),
                ..Default::default()
            };
            for (col, v) in settings {
                p.set(col, v)?;
            }
            cfg.ports.insert(port.clone(), p);
            cfg.interfaces.insert(
                port.clone(),
                Interface {
                    name: port.clone(),
                    ..Default::default()
                },
            );
            if let Some(b) = cfg.bridges.get_mut(br) {
                b.ports.push(port.clone());
            }
        }
        Command::DelPort {
            br,
            port,
            if_exists,
        } => {
            let owner = bridge_of(cfg, port);
            match (owner, br) {
                (None, _) if *if_exists => {}
                (None, _) => return Err(VsctlError::NoPort(port.clone())),
                (Some(o), Some(b)) if &o != b => {
                    return Err(VsctlError::NoPort(format!("{port} (in bridge {b})")))
                }
                (Some(o), _) if &o == port => {
                    return Err(VsctlError::BadName {
                        name: port.clone(),
                        why: "is a bridge's own port; use del-br",
                    })
                }
                (Some(o), _) => del_port(cfg, &o, port),
            }
        }
        Command::ListPorts { br } => {
            let b = cfg
                .bridges
                .get(br)
                .ok_or_else(|| VsctlError::NoBridge(br.clone()))?;
            let mut ports: Vec<&String> = b.ports.iter().filter(|p| *p != br).collect();
            ports.sort();
            for p in ports {
                let _ = writeln!(out, "{p}");
            }
        }
        Command::PortToBr { port } => {
            let b = bridge_of(cfg, port).ok_or_else(|| VsctlError::NoPort(port.clone()))?;
            let _ = writeln!(out, "{b}");
        }
        Command::Show => show(cfg, out),
        Command::Get {
            table,
            record,
            columns,
            if_exists,
        } => {
            for col in columns {
                let v = match get(cfg, *table, record, col, stats) {
                    Err(VsctlError::NoRecord(..)) if *if_exists => return Ok(()),
                    r => r?,
                };
                let _ = writeln!(out, "{v}");
            }
        }
        Command::Set {
            table,
            record,
            settings,
            if_exists,
        } => {
            for (col, v) in settings {
                match set(cfg, *table, record, col, v) {
                    Err(VsctlError::NoRecord(..)) if *if_exists => return Ok(()),
                    r => r?,
                }
            }
        }
        Command::List { table, records } => list(cfg, *table, records, stats, out)?,
        Command::Db(c) => crate::qos_table::run(cfg, c, out)?,
    }
    Ok(())
}

fn get(
    cfg: &Config,
    table: Table,
    rec: &str,
    col: &str,
    stats: StatsFn<'_>,
) -> Result<String, VsctlError> {
    match table {
        Table::Bridge => cfg
            .bridges
            .get(rec)
            .ok_or_else(|| VsctlError::NoRecord(rec.to_owned(), "Bridge"))?
            .get(col),
        Table::Port => cfg
            .ports
            .get(rec)
            .ok_or_else(|| VsctlError::NoRecord(rec.to_owned(), "Port"))?
            .get(col),
        Table::Interface => {
            let i = cfg
                .interfaces
                .get(rec)
                .ok_or_else(|| VsctlError::NoRecord(rec.to_owned(), "Interface"))?;
            let (c, key) = col
                .split_once(':')
                .map_or((col, None), |(c, k)| (c, Some(k)));
            if c == "statistics" {
                let s = stats(rec).unwrap_or_default();
                return match key {
                    None => {
                        let parts: Vec<String> =
                            s.iter().map(|(k, v)| format!("{k}={v}")).collect();
                        Ok(format!("{{{}}}", parts.join(", ")))
                    }
                    Some(k) => s
                        .get(k)
                        .map(|v| v.to_string())
                        .ok_or_else(|| VsctlError::NoKey {
                            column: c.to_owned(),
                            key: k.to_owned(),
                        }),
                };
            }
            i.get(col)
        }
        Table::Qos | Table::Queue => crate::qos_table::get(cfg, table, rec, col),
    }
}

fn set(cfg: &mut Config, table: Table, rec: &str, col: &str, v: &str) -> Result<(), VsctlError> {
    match table {
        Table::Bridge => cfg
            .bridges
            .get_mut(rec)
            .ok_or_else(|| VsctlError::NoRecord(rec.to_owned(), "Bridge"))?
            .set(col, v),
        Table::Port => cfg
            .ports
            .get_mut(rec)
            .ok_or_else(|| VsctlError::NoRecord(rec.to_owned(), "Port"))?
            .set(col, v),
        Table::Interface => {
            let i = cfg
                .interfaces
                .get_mut(rec)
                .ok_or_else(|| VsctlError::NoRecord(rec.to_owned(), "Interface"))?;
            i.set(col, v)?;
            if i.kind != IfaceType::Patch && col == "type" {
                check_name(rec, true)?;
            }
            Ok(())
        }
        Table::Qos | Table::Queue => crate::qos_table::set(cfg, table, rec, col, v),
    }
}

fn list(
    cfg: &Config,
    table: Table,
    records: &[String],
    stats: StatsFn<'_>,
    out: &mut String,
) -> Result<(), VsctlError> {
    let (names, cols): (Vec<String>, Vec<&str>) = match table {
        Table::Bridge => (
            cfg.bridges.keys().cloned().collect(),
            Bridge::COLUMNS.to_vec(),
        ),
        Table::Port => (cfg.ports.keys().cloned().collect(), Port::COLUMNS.to_vec()),
        Table::Interface => {
            let mut c = Interface::COLUMNS.to_vec();
            c.push("statistics");
            (cfg.interfaces.keys().cloned().collect(), c)
        }
        Table::Qos | Table::Queue => return crate::qos_table::list(cfg, table, records, out),
    };
    let chosen: Vec<String> = if records.is_empty() {
        names
    } else {
        records.to_vec()
    };
    for (n, rec) in chosen.iter().enumerate() {
        if n > 0 {
            out.push('\n');
        }
        for col in &cols {
            let v = get(cfg, table, rec, col, stats)?;
            let _ = writeln!(out, "{col:<20}: {v}");
        }
    }
    Ok(())
}

fn show(cfg: &Config, out: &mut String) {
    for b in cfg.bridges.values() {
        let _ = writeln!(out, "    Bridge {}", quote(&b.name));
        let mut ports = b.ports.clone();
        ports.sort();
        for p in ports {
            let _ = writeln!(out, "        Port {}", quote(&p));
            if let Some(port) = cfg.ports.get(&p) {
                if let Some(t) = port.tag {
                    let _ = writeln!(out, "            tag: {t}");
                }
                if !port.trunks.is_empty() {
                    let _ = writeln!(out, "            trunks: {:?}", port.trunks);
                }
            }
            let _ = writeln!(out, "            Interface {}", quote(&p));
            if let Some(i) = cfg.interfaces.get(&p) {
                if i.kind != IfaceType::System {
                    let _ = writeln!(out, "                type: {}", i.kind.as_str());
                }
                if !i.options.is_empty() {
                    let _ = writeln!(
                        out,
                        "                options: {}",
                        crate::schema::fmt_map(&i.options)
                    );
                }
                if let Some(line) = crate::dp::tunnel_cfg::show_line(i) {
                    let _ = writeln!(out, "                {line}");
                }
            }
        }
    }
}

/// Give every interface an OpenFlow port number: the bridge's own interface
/// gets `LOCAL`; others keep the number they have, else take
/// `ofport_request`, else the lowest free number from 1 (as OVS does). A
/// changed `ofport_request` moves the port.
pub fn assign_ofports(cfg: &mut Config) -> Result<(), VsctlError> {
    for b in cfg.bridges.values() {
        let mut used = std::collections::BTreeSet::new();
        // Requests first, so an automatic number never steals one.
        for p in &b.ports {
            let Some(i) = cfg.interfaces.get_mut(p) else {
                continue;
            };
            if p == &b.name {
                i.ofport = Some(OFPP_LOCAL);
                continue;
            }
            if let Some(r) = i.ofport_request {
                if !used.insert(r) {
                    return Err(VsctlError::OfportInUse(r, p.clone()));
                }
                i.ofport = Some(r);
            }
        }
        for p in &b.ports {
            let Some(i) = cfg.interfaces.get_mut(p) else {
                continue;
            };
            if p == &b.name || i.ofport_request.is_some() {
                continue;
            }
            match i.ofport {
                Some(n) if n != OFPP_LOCAL && used.insert(n) => {}
                _ => {
                    let n = (1u16..0xff00).find(|n| !used.contains(n)).unwrap_or(0xfeff);
                    used.insert(n);
                    i.ofport = Some(n);
                }
            }
        }
    }
    Ok(())
}

/// Strip the quotes ovs-vsctl users type around values (`type="tap"`).
pub fn clean(v: &str) -> &str {
    unquote(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    fn run(cfg: &mut Config, s: &str) -> Result<String, VsctlError> {
        let cmds = parse(&args(s))?;
        let mut work = cfg.clone();
        let out = execute(&mut work, &cmds, &|_| None)?;
        *cfg = work;
        Ok(out)
    }

    #[test]
    fn seed_brctl_equivalent() {
        let mut c = Config::default();
        run(&mut c, "add-br br0").unwrap();
        run(
            &mut c,
            "add-port br0 tap0 tag=10 -- set Interface tap0 type=tap options:netns=vm1",
        )
        .unwrap();
        run(&mut c, "add-port br0 tap1 tag=20").unwrap();
        assert_eq!(run(&mut c, "list-br").unwrap(), "br0\n");
        assert_eq!(run(&mut c, "list-ports br0").unwrap(), "tap0\ntap1\n");
        assert_eq!(run(&mut c, "get Port tap0 tag").unwrap(), "10\n");
        assert_eq!(
            run(&mut c, "get Interface tap0 type options:netns").unwrap(),
            "tap\nvm1\n"
        );
        assert_eq!(run(&mut c, "get Interface tap0 ofport").unwrap(), "1\n");
        assert_eq!(run(&mut c, "get Interface tap1 ofport").unwrap(), "2\n");
        assert_eq!(run(&mut c, "get Interface br0 ofport").unwrap(), "65534\n");
        let show = run(&mut c, "show").unwrap();
        assert!(show.contains("Port tap0\n            tag: 10"), "{show}");
        run(&mut c, "del-port br0 tap0").unwrap();
        assert_eq!(run(&mut c, "list-ports br0").unwrap(), "tap1\n");
        run(&mut c, "del-br br0").unwrap();
        assert!(c.ports.is_empty() && c.interfaces.is_empty());
    }

    #[test]
    fn transaction_is_atomic_and_errors_name_tokens() {
        let mut c = Config::default();
        run(&mut c, "add-br br0").unwrap();
        let e = run(&mut c, "add-port br0 p1 -- set Interface p1 type=bogus").unwrap_err();
        assert!(e.to_string().contains("bogus"), "{e}");
        assert!(!c.ports.contains_key("p1"), "failed transaction leaked");
        let e = run(&mut c, "frob br0").unwrap_err();
        assert_eq!(e, VsctlError::UnknownCommand("frob".into()));
        let e = run(&mut c, "add-port br9 p1").unwrap_err();
        assert!(e.to_string().contains("br9"), "{e}");
        let e = run(&mut c, "add-port br0 p1 tag").unwrap_err();
        assert!(e.to_string().contains("\"tag\""), "{e}");
        let e = run(&mut c, "--frob add-br x").unwrap_err();
        assert!(e.to_string().contains("--frob"), "{e}");
        assert!(run(&mut c, "br-exists br1").is_err());
        run(&mut c, "--may-exist add-br br0").unwrap();
        run(&mut c, "--if-exists del-br nope").unwrap();
        assert!(run(&mut c, "add-br br0").is_err());
    }

    #[test]
    fn ofport_request_is_honoured_and_checked() {
        let mut c = Config::default();
        run(&mut c, "add-br br0").unwrap();
        run(&mut c, "add-port br0 a -- set Interface a ofport_request=5").unwrap();
        run(&mut c, "add-port br0 b").unwrap();
        assert_eq!(run(&mut c, "get Interface a ofport").unwrap(), "5\n");
        assert_eq!(run(&mut c, "get Interface b ofport").unwrap(), "1\n");
        let e = run(&mut c, "add-port br0 d -- set Interface d ofport_request=5").unwrap_err();
        assert_eq!(e, VsctlError::OfportInUse(5, "d".into()));
        // A port keeps its number when others come and go.
        run(&mut c, "add-port br0 x").unwrap();
        run(&mut c, "del-port b -- add-port br0 y").unwrap();
        assert_eq!(run(&mut c, "get Interface x ofport").unwrap(), "2\n");
        assert_eq!(run(&mut c, "get Interface y ofport").unwrap(), "1\n");
    }

    #[test]
    fn list_prints_columns() {
        let mut c = Config::default();
        run(
            &mut c,
            "add-br br0 -- set Bridge br0 other_config:mac-aging-time=60",
        )
        .unwrap();
        let l = run(&mut c, "list Bridge br0").unwrap();
        assert!(
            l.contains("other_config        : {mac-aging-time=\"60\"}"),
            "{l}"
        );
        assert_eq!(c.bridges["br0"].mac_aging_secs(), 60);
        assert!(run(&mut c, "set Bridge br0 other_config:mac-aging-time=x").is_err());
    }

    proptest::proptest! {
        /// Any command line, however hostile, either applies whole or
        /// leaves the configuration as it was, and never panics.
        #[test]
        fn random_command_lines_are_atomic(
            toks in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::strategy::Just("--".to_owned()),
                    proptest::strategy::Just("add-br".to_owned()),
                    proptest::strategy::Just("add-port".to_owned()),
                    proptest::strategy::Just("del-port".to_owned()),
                    proptest::strategy::Just("set".to_owned()),
                    proptest::strategy::Just("Interface".to_owned()),
                    proptest::strategy::Just("br0".to_owned()),
                    proptest::strategy::Just("p1".to_owned()),
                    proptest::strategy::Just("tag=10".to_owned()),
                    proptest::strategy::Just("ofport_request=1".to_owned()),
                    "[a-z_:=,{}\\[\\]0-9\"-]{0,12}",
                ],
                0..12,
            )
        ) {
            let mut c = Config::default();
            run(&mut c, "add-br br0").unwrap();
            let before = c.clone();
            match parse(&toks) {
                Err(_) => {}
                Ok(cmds) => {
                    let mut work = c.clone();
                    if execute(&mut work, &cmds, &|_| None).is_err() {
                        proptest::prop_assert_eq!(&c, &before);
                    } else {
                        // Every interface on a bridge has a unique ofport.
                        for b in work.bridges.values() {
                            let mut seen = std::collections::BTreeSet::new();
                            for p in &b.ports {
                                let n = work.interfaces[p].ofport;
                                proptest::prop_assert!(n.is_some() && seen.insert(n));
                            }
                        }
                    }
                }
            }
        }
    }
}
