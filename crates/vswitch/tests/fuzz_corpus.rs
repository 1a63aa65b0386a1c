//! Replays the committed `control` fuzz corpus (`fuzz/corpus/control/*`:
//! seeds plus any crash inputs the fuzzer found) through the exact code the
//! cargo-fuzz target runs (`vswitch::fuzzing`), so CI catches regressions
//! on stable.

use vswitch::fuzzing::{base_config, control_target};
use vswitch::proto::{Envelope, Request, VERSION};

#[test]
fn control_corpus_replays() {
    let n = fuzzcorpus::replay(env!("CARGO_MANIFEST_DIR"), "control", control_target);
    assert!(n >= 20, "control corpus unexpectedly small: {n} files");
}

/// The base configuration the vsctl inputs run against has what the seeds
/// address, so they reach `execute` rather than stopping at "no such bridge".
#[test]
fn base_config_has_the_seeded_records() {
    let cfg = base_config();
    assert!(cfg.bridges.contains_key("br0") && cfg.bridges.contains_key("br1"));
    assert!(cfg.interfaces.contains_key("p1") && cfg.interfaces.contains_key("tap1"));
}

/// vsctl command lines the seeds carry, both as NUL-separated arguments and
/// inside a `vsctl` request.
const VSCTL: [&str; 14] = [
    "show",
    "list-br",
    "add-br br2",
    "--may-exist add-br br0",
    "--if-exists del-br nope",
    "del-br br1",
    "add-port br0 p2 tag=7 -- set Interface p2 type=internal ofport_request=9",
    "del-port br0 p1",
    "port-to-br tap1",
    "list-ports br0",
    "get Interface p1 ofport type external_ids:iface-id",
    "set Port p1 tag=100 external_ids:k=v -- set Interface p1 mtu_request=1400",
    "set Interface tap1 ingress_policing_rate=1000 ingress_policing_burst=100",
    "list int tap1 -- br-exists br0 -- get Interface tap1 statistics",
];

fn request(req: &Request) -> Vec<u8> {
    let line = serde_json::to_string(&Envelope {
        version: VERSION,
        body: req,
    })
    .expect("encodes");
    [&[0u8][..], line.as_bytes()].concat()
}

fn seeds() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for (i, line) in VSCTL.iter().enumerate() {
        let args: Vec<String> = line.split(' ').map(String::from).collect();
        out.push((
            format!("args-{i:02}"),
            [&[1u8][..], args.join("\0").as_bytes()].concat(),
        ));
        out.push((format!("vsctl-{i:02}"), request(&Request::Vsctl { args })));
    }
    let br = || "br0".to_string();
    let others = [
        Request::Version,
        Request::Exit,
        Request::AddFlows {
            bridge: br(),
            flows: vec!["priority=1,actions=normal".into()],
        },
        Request::ModFlows {
            bridge: br(),
            flow: "in_port=1,actions=drop".into(),
            strict: true,
        },
        Request::DelFlows {
            bridge: br(),
            matches: Some("in_port=1".into()),
            strict: false,
        },
        Request::DumpFlows {
            bridge: br(),
            matches: None,
        },
        Request::Show { bridge: br() },
        Request::DumpPorts {
            bridge: br(),
            port: Some("1".into()),
        },
        Request::DumpTables { bridge: br() },
        Request::Trace {
            bridge: br(),
            flow: "in_port=1,dl_dst=02:00:00:00:00:01".into(),
        },
    ];
    for (i, r) in others.iter().enumerate() {
        out.push((format!("req-{i:02}"), request(r)));
    }
    for (name, line) in [
        ("bad_version", r#"{"version":2,"method":"version"}"#),
        ("no_version", r#"{"method":"version"}"#),
        ("unknown_method", r#"{"version":1,"method":"frobnicate"}"#),
        ("not_json", "not json"),
    ] {
        out.push((name.to_string(), [&[0u8][..], line.as_bytes()].concat()));
    }
    out
}

/// Regenerates the seed files: `cargo test -p vswitch --test fuzz_corpus --
/// --ignored write_seeds`. Fuzzer-found inputs (`crash-*`) live beside them.
#[test]
#[ignore]
fn write_seeds() {
    fuzzcorpus::write_seeds(env!("CARGO_MANIFEST_DIR"), "control", seeds());
}
