//! The control socket against bad and hostile input, and the persistence of
//! the configuration across a restart of the switch. Runs the switch in
//! this process (no traffic, so no root needed: ports that cannot open just
//! stay down).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use vswitch::proto::socket_path;
use vswitch::{call, server, Options, Request, Switch};

/// Run a switch on `dir` in a thread of its own, in a fresh network
/// namespace when root (so internal ports never appear on the machine);
/// the threads it spawns inherit that namespace, which vanishes with them.
fn start(dir: &Path, persist_flows: bool) -> std::thread::JoinHandle<()> {
    let dir = dir.to_owned();
    let (tx, rx) = std::sync::mpsc::channel();
    let h = std::thread::spawn(move || {
        let _ = nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET);
        let listener = server::bind(&dir).expect("bind");
        // The previous switch on `dir` may still be closing its database.
        let sw = lab::wait_for("database free", Duration::from_secs(5), || {
            Switch::open(Options {
                run_dir: dir.clone(),
                persist_flows,
                dp_threads: 0,
            })
            .ok()
        })
        .expect("open");
        sw.start().expect("start");
        tx.send(()).expect("ready");
        server::serve(listener, Arc::new(sw)).expect("serve")
    });
    rx.recv_timeout(Duration::from_secs(10))
        .expect("switch started");
    h
}

fn stop(dir: &Path, h: std::thread::JoinHandle<()>) {
    call(dir, &Request::Exit, Duration::from_secs(5)).expect("exit");
    h.join().expect("server thread");
}

fn raw(dir: &Path, lines: &[&[u8]]) -> Vec<String> {
    let s = UnixStream::connect(socket_path(dir)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut w = s.try_clone().unwrap();
    let mut r = BufReader::new(s);
    let mut out = Vec::new();
    for l in lines {
        w.write_all(l).unwrap();
        w.write_all(b"\n").unwrap();
        let mut resp = String::new();
        r.read_line(&mut resp).unwrap();
        out.push(resp);
    }
    out
}

#[test]
fn bad_requests_get_errors_and_the_connection_lives_on() {
    let dir = tempfile::tempdir().unwrap();
    let h = start(dir.path(), false);
    let deep = "[".repeat(10_000);
    let replies = raw(
        dir.path(),
        &[
            b"not json",
            br#"{"version":7,"method":"version"}"#,
            br#"{"version":1,"method":"drop-tables"}"#,
            br#"{"version":1,"method":"vsctl","params":{"args":"add-br"}}"#,
            deep.as_bytes(),
            br#"{"version":1,"method":"vsctl","params":{"args":["add-br","br-x","--","frob"]}}"#,
            br#"{"version":1,"method":"dump-flows","params":{"bridge":"nobr","match":null}}"#,
            br#"{"version":1,"method":"version"}"#,
            b"\xff\xfe{}",
            br#"{"version":1,"method":"flush-conntrack","params":{"zone":3,"tuple":"ct_nw_dst=10.0.0.5,ct_tp_dst=99999"}}"#,
            br#"{"version":1,"method":"flush-conntrack","params":{"zone":3,"tuple":"ct_nw_dst=10.0.0.5,ct_nw_proto=6"}}"#,
        ],
    );
    // A bad ct-tuple (protocol 1.4) is refused naming its token.
    assert!(replies[9].contains("ct_tp_dst=99999"), "{}", replies[9]);
    assert!(replies[10].contains("\"ok\""), "{}", replies[10]);
    assert!(replies[8].contains("UTF-8"), "{}", replies[8]);
    assert!(replies[0].contains("\"error\""), "{}", replies[0]);
    assert!(replies[1].contains("version 7"), "{}", replies[1]);
    assert!(replies[2].contains("drop-tables"), "{}", replies[2]);
    assert!(replies[3].contains("\"error\""), "{}", replies[3]);
    assert!(replies[4].contains("\"error\""), "{}", replies[4]);
    assert!(replies[5].contains("frob"), "{}", replies[5]);
    assert!(replies[6].contains("nobr"), "{}", replies[6]);
    assert!(replies[7].contains("\"ok\""), "{}", replies[7]);
    // The failed transaction left nothing behind.
    let out = call(
        dir.path(),
        &Request::Vsctl {
            args: vec!["list-br".into()],
        },
        Duration::from_secs(5),
    )
    .unwrap();
    assert_eq!(out, "");
    stop(dir.path(), h);
}

#[test]
fn config_and_persisted_flows_survive_restart() {
    let dir = tempfile::tempdir().unwrap();
    let vs = |args: &str| {
        call(
            dir.path(),
            &Request::Vsctl {
                args: args.split_whitespace().map(String::from).collect(),
            },
            Duration::from_secs(5),
        )
    };
    let h = start(dir.path(), true);
    vs("add-br cnctl0 -- add-port cnctl0 p1 tag=5 -- set Interface p1 type=patch options:peer=p2")
        .unwrap();
    call(
        dir.path(),
        &Request::AddFlows {
            bridge: "cnctl0".into(),
            flows: vec!["priority=9,in_port=1,actions=drop".into()],
        },
        Duration::from_secs(5),
    )
    .unwrap();
    let err = call(
        dir.path(),
        &Request::AddFlows {
            bridge: "cnctl0".into(),
            flows: vec![
                "priority=1,actions=drop".into(),
                "in_port=zz,actions=drop".into(),
            ],
        },
        Duration::from_secs(5),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("zz"), "{err}");
    stop(dir.path(), h);

    let h = start(dir.path(), true);
    assert_eq!(vs("get Port p1 tag").unwrap(), "5\n");
    assert_eq!(vs("get Interface p1 options:peer").unwrap(), "p2\n");
    let flows = call(
        dir.path(),
        &Request::DumpFlows {
            bridge: "cnctl0".into(),
            matches: None,
        },
        Duration::from_secs(5),
    )
    .unwrap();
    assert!(
        flows.contains("priority=9,in_port=1 actions=drop"),
        "{flows}"
    );
    assert!(
        !flows.contains("priority=1,"),
        "half a batch was added: {flows}"
    );
    vs("del-br cnctl0").unwrap();
    stop(dir.path(), h);
}

#[test]
fn second_daemon_on_same_run_dir_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let h = start(dir.path(), false);
    let err = server::bind(dir.path()).unwrap_err();
    assert!(matches!(err, server::BindError::InUse(_)), "{err}");
    stop(dir.path(), h);
}

/// `flow-mods` (1.7): strict deletes then adds, one transaction; a bad
/// entry changes nothing.
#[test]
fn flow_mods_delete_and_add_in_one_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let h = start(dir.path(), false);
    let req = |r: Request| call(dir.path(), &r, Duration::from_secs(5));
    let mods = |del: &[&str], add: &[&str]| Request::FlowMods {
        bridge: "cnfm0".into(),
        delete_strict: del.iter().map(|s| s.to_string()).collect(),
        add: add.iter().map(|s| s.to_string()).collect(),
    };
    req(Request::Vsctl {
        args: vec!["add-br".into(), "cnfm0".into()],
    })
    .unwrap();
    req(mods(
        &[],
        &[
            "table=1,priority=5,in_port=1,actions=drop",
            "table=1,priority=6,in_port=1,actions=drop",
        ],
    ))
    .unwrap();
    // Strict: only the flow of priority 5 goes; the other is replaced.
    req(mods(
        &["table=1,priority=5,in_port=1"],
        &["table=1,priority=6,in_port=1,actions=output:2"],
    ))
    .unwrap();
    let dump = || {
        req(Request::DumpFlows {
            bridge: "cnfm0".into(),
            matches: None,
        })
        .unwrap()
    };
    let flows = dump();
    assert!(!flows.contains("priority=5"), "{flows}");
    assert!(
        flows.contains("priority=6,in_port=1 actions=output:2"),
        "{flows}"
    );
    let err = req(mods(
        &["table=1,priority=6,in_port=1"],
        &["in_port=zz,actions=drop"],
    ))
    .unwrap_err()
    .to_string();
    assert!(err.contains("zz"), "{err}");
    let after = dump();
    assert!(
        after.contains("priority=6,in_port=1 actions=output:2"),
        "a failed flow-mods deleted a flow: {after}"
    );
    assert_eq!(after.lines().count(), flows.lines().count(), "{after}");
    stop(dir.path(), h);
}
