//! Body of the `control` cargo-fuzz target (`fuzz/`), kept in the crate so
//! the corpus replay test (`tests/fuzz_corpus.rs`) runs exactly what the
//! fuzzer runs. It panics when an invariant breaks — the fuzzer's signal,
//! never reachable from production callers.
//!
//! It covers the daemon's input handling that needs no datapath: a request
//! line as the control socket reads it ([`crate::server`]: UTF-8 check,
//! [`decode_request`]), and ovs-vsctl(8) command lines ([`vsctl::parse`],
//! then [`vsctl::execute`] against a configuration with a bridge and ports,
//! as the daemon runs them before committing).
//!
//! Input layout: byte 0 selects the mode, the rest is the input.
//!
//! | selector | the rest is |
//! |---|---|
//! | even | one control-socket request line (JSON) |
//! | odd | vsctl arguments separated by NUL bytes |

use std::collections::BTreeMap;
use std::sync::OnceLock;

use crate::proto::{decode_request, encode_reply, Envelope, Reply, Request, VERSION};
use crate::schema::Config;
use crate::vsctl;

/// The configuration every fuzzed vsctl command line runs against: a
/// bridge with an internal port and a TAP port, and an empty second bridge.
pub fn base_config() -> &'static Config {
    static BASE: OnceLock<Config> = OnceLock::new();
    BASE.get_or_init(|| {
        let line = "add-br br0 -- add-port br0 p1 -- set Interface p1 type=internal \
                    -- add-port br0 tap1 -- set Interface tap1 type=tap -- add-br br1";
        let args: Vec<String> = line.split(' ').map(String::from).collect();
        let cmds = vsctl::parse(&args).expect("base command line parses");
        let mut cfg = Config::default();
        vsctl::execute(&mut cfg, &cmds, &no_stats).expect("base command line runs");
        cfg
    })
}

fn no_stats(_: &str) -> Option<BTreeMap<String, u64>> {
    Some(BTreeMap::from([("rx_packets".to_owned(), 1)]))
}

/// Target `control`: decoding never panics; a decoded request re-encodes to
/// a line that decodes to the same request; a vsctl line that parses runs
/// without panicking, and a configuration it produces survives the JSON
/// round trip the database uses and passes a second `show`.
pub fn control_target(data: &[u8]) {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    if sel & 1 == 0 {
        request_line(rest);
    } else {
        let args: Vec<String> = rest
            .split(|&b| b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        vsctl_line(&args);
    }
}

fn request_line(raw: &[u8]) {
    // As `server::client`: non-UTF-8 is an error reply, not a parse.
    let Ok(line) = std::str::from_utf8(raw) else {
        return;
    };
    let req = match decode_request(line.trim_end()) {
        Ok(req) => req,
        Err(e) => {
            let reply = encode_reply(&Reply::Error {
                message: e.to_string(),
            });
            assert!(!reply.contains('\n'), "a reply must stay one line");
            return;
        }
    };
    let again = serde_json::to_string(&Envelope {
        version: VERSION,
        body: &req,
    })
    .expect("a decoded request encodes");
    assert_eq!(
        decode_request(&again).as_ref().ok(),
        Some(&req),
        "request does not survive a round trip: {again}"
    );
    if let Request::Vsctl { args } = req {
        vsctl_line(&args);
    }
}

fn vsctl_line(args: &[String]) {
    let Ok(cmds) = vsctl::parse(args) else {
        return;
    };
    let mut cfg = base_config().clone();
    if vsctl::execute(&mut cfg, &cmds, &no_stats).is_err() {
        return;
    }
    let json = serde_json::to_string(&cfg).expect("config encodes");
    let back: Config = serde_json::from_str(&json).expect("config decodes");
    assert_eq!(back, cfg, "config does not survive the database round trip");
    vsctl::execute(&mut cfg, &[vsctl::Command::Show], &no_stats)
        .expect("show on a committed config");
}
