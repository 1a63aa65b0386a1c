//! Scale benchmark of the apply path (issue 9): 1,000 networks, 10,000
//! ports, 50,000 security-group rules on one host (the controller's scale
//! intent, crates/controller/tests/common/scale.rs), measured from a
//! change to its flows being in the switch's tables: the compile of the
//! delta (`Compiler::update`) plus its application by
//! [`agent::apply_delta`] to a switch that already holds the full
//! compile's flows.
//!
//! The switch runs as `cloudnet serve` runs it: vswitchd in a thread of
//! this process, reached by the agent's [`agent::SwitchClient`] over its
//! control socket (there is no in-process shortcut in production, so
//! none here), with an Interface row per bound port as in production
//! (10,000: every control request works against that configuration).
//! Reported: the full compile and install (as
//! [`agent::Agent::start`] does it), then ~200 port adds and ~200 port
//! deletes, each on a different network, split into compile and apply
//! (p50/p99/max of wall, thread CPU and process CPU), flows on the switch,
//! resident memory and load. At the end the switch's flows must equal a
//! fresh full compile (count and set of canonical texts), or it panics.
//!
//! `cargo bench -p agent --bench apply` (`-- --quick`: a tenth of the size).

#[path = "../../controller/tests/common/mod.rs"]
mod common;
#[path = "apply/measure.rs"]
mod measure;

use std::hash::{Hash, Hasher};
use std::path::Path;
use std::sync::Arc;

use agent::{SwitchClient, BRIDGE};
use common::scale::{build, Size};
use common::Builder;
use controller::{Bindings, Changed, Compiler, Keys};
use measure::{load, rss_mib, timed, Samples, Span};
use model::Kind;
use vswitch::Switch;

/// Start the switch as `cloudnet serve` does (crates/cli host.rs
/// `start_switch`, i.e. `vswitch::daemon::run` in a thread): control
/// socket in `dir`, datapath threads running. The handle is kept to read
/// its tables directly when checking.
fn start_switch(dir: &Path) -> Arc<Switch> {
    let opts = vswitch::Options {
        run_dir: dir.to_owned(),
        persist_flows: false,
        dp_threads: 0,
    };
    let listener = vswitch::server::bind(dir).expect("bind the control socket");
    let sw = Arc::new(Switch::open(opts).expect("open the switch"));
    sw.start().expect("start the datapath");
    let s = sw.clone();
    std::thread::Builder::new()
        .name("vswitchd".into())
        .spawn(move || vswitch::server::serve(listener, s))
        .expect("spawn vswitchd");
    sw
}

/// Runs `f` on br-int's tables.
fn with_tables<T>(sw: &Switch, f: impl FnOnce(&flow::FlowTables) -> T) -> T {
    let dp = sw.datapath().lock().unwrap_or_else(|e| e.into_inner());
    f(&dp.bridge(BRIDGE).expect("br-int").tables)
}

fn switch_flows(sw: &Switch) -> usize {
    with_tables(sw, |t| t.len())
}

/// A hash of a flow's canonical text (what dump-flows prints, cookie
/// included): comparing sorted hashes compares the two sets without
/// holding 600,000 strings twice.
fn digest(f: &flow::FlowMod) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    flow::format_flow(f, None).trim().hash(&mut h);
    h.finish()
}

fn switch_digests(sw: &Switch) -> Vec<u64> {
    let mut v: Vec<u64> = with_tables(sw, |t| {
        t.read().all_rules().map(|r| digest(&r.flow)).collect()
    });
    v.sort_unstable();
    v
}

fn compiled_digests(c: &Compiler) -> Vec<u64> {
    let mut v: Vec<u64> = (c.flows().iter())
        .map(|f| {
            digest(
                &flow::parse_flow(&f.to_string())
                    .expect("compiled flow parses")
                    .flow,
            )
        })
        .collect();
    v.sort_unstable();
    v
}

/// The switch must hold exactly what a fresh full compile (with the
/// keys the incremental one allocated, as a restarted agent has them)
/// produces.
fn check(sw: &Switch, x: &Builder, b: &Bindings, c: &Compiler) {
    let mut fresh = Compiler::new(Keys::restore(&c.keys().snapshot()));
    fresh.full(&x.st, b);
    let (on_switch, want) = (switch_digests(sw), compiled_digests(&fresh));
    assert_eq!(
        on_switch.len(),
        want.len(),
        "flow count: switch vs fresh compile"
    );
    assert!(
        on_switch == want,
        "the switch's flows differ from a fresh compile"
    );
    println!(
        "check: the switch's {} flows equal a fresh full compile",
        want.len()
    );
}

/// Compile `changes` and apply the delta through the agent's path.
fn change(
    c: &mut Compiler,
    x: &Builder,
    b: &Bindings,
    sw: &SwitchClient,
    changes: &[Changed],
) -> (Span, Span, usize) {
    let (d, compile) = timed(|| c.update(&x.st, b, changes));
    let (r, apply) = timed(|| agent::apply_delta(sw, &d));
    r.expect("apply the delta");
    (compile, apply, d.add.len() + d.delete.len())
}

/// Compile, apply and their sum, over one kind of change.
#[derive(Default)]
struct Phase {
    compile: Samples,
    apply: Samples,
    total: Samples,
    flows: usize,
}

impl Phase {
    fn push(&mut self, (compile, apply, n): (Span, Span, usize)) {
        self.compile.push(compile);
        self.apply.push(apply);
        self.total.push(compile + apply);
        self.flows += n;
    }

    fn report(&self, name: &str, rounds: usize) {
        println!("{name}: mean delta {} flows", self.flows / rounds.max(1));
        println!("  {}", self.compile.report("compile"));
        println!("  {}", self.apply.report("apply"));
        println!("  {}", self.total.report("compile+apply"));
    }
}

/// One new bound port on network `i` of the rounds (a different network
/// each round), and what the agent would report as changed.
fn new_port(
    x: &mut Builder,
    b: &mut Bindings,
    nets: &[(String, String, String)],
    i: usize,
) -> (String, [Changed; 2]) {
    let (n, s, g) = &nets[(i * 37) % nets.len()];
    let base = x.st.subnets[s].cidr.trim_end_matches(".0/24").to_owned();
    let p = x.port(n, s, &format!("{base}.200"), &[g]);
    b.ports.insert(p.clone(), 100_000 + i as u32);
    let changes = [
        Changed::Resource(Kind::Port, p.clone()),
        Changed::Binding(p.clone()),
    ];
    (p, changes)
}

/// An Interface row on br-int for every bound port, as `cloudnet port
/// plug` leaves a TAP there (`external_ids:iface-id`): the switch's
/// configuration then has the size it has in production, and every
/// control request handles it. Patch interfaces without a peer: rows
/// that open no device. In transactions of 250 ports.
fn plug(sw: &SwitchClient, b: &Bindings) {
    let ids: Vec<&String> = b.ports.keys().collect();
    for chunk in ids.chunks(250) {
        let mut args: Vec<String> = Vec::new();
        for id in chunk {
            let tap = format!("tap{}", b.ports[*id]);
            let add = [
                "--",
                "add-port",
                BRIDGE,
                &tap,
                "--",
                "set",
                "Interface",
                &tap,
            ];
            args.extend(add.map(String::from));
            args.extend(["type=patch".into(), format!("external_ids:iface-id={id}")]);
        }
        let args: Vec<&str> = args.iter().skip(1).map(String::as_str).collect();
        sw.vsctl(&args).expect("add the ports' interfaces");
    }
}

/// Full compile, then its install as the agent's start does it
/// (reconcile: cookie counts, stale deletes, one add-flows).
fn install(c: &mut Compiler, x: &Builder, b: &Bindings, sw: &SwitchClient) {
    let (_, compile) = timed(|| c.full(&x.st, b));
    let flows = c.flows();
    let (r, apply) = timed(|| agent::reconcile::reconcile(sw, &flows));
    r.expect("install the full compile");
    println!("full compile:  {compile}");
    println!("full install:  {apply}");
    println!("total:         {}", compile + apply);
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let networks = if quick { 100 } else { 1000 };
    let sz = Size {
        networks,
        ports_per_net: 10,
        rules_per_group: 50,
    };
    println!("load average at start: {}", load());
    let (mut x, mut b, nets) = build(&sz);
    println!(
        "{} networks, {} ports, {} rules",
        x.st.networks.len(),
        x.st.ports.len(),
        x.st.rules.len()
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let sw = start_switch(dir.path());
    let client = SwitchClient::new(dir.path(), BRIDGE);
    client
        .vsctl(&["--may-exist", "add-br", BRIDGE])
        .expect("add-br");
    let ((), t) = timed(|| plug(&client, &b));
    let ifaces = client.interfaces().map_or(0, |v| v.len());
    println!("{ifaces} interfaces on br-int, added in {t}");
    let mut c = Compiler::new(Keys::default());
    install(&mut c, &x, &b, &client);
    println!(
        "flows: compiled {}, in the switch {}; RSS {} MiB",
        c.flow_count(),
        switch_flows(&sw),
        rss_mib()
    );
    let rounds = nets.len().min(200);
    let (mut add, mut del, mut ports) = (Phase::default(), Phase::default(), Vec::new());
    for i in 0..rounds {
        let (p, changes) = new_port(&mut x, &mut b, &nets, i);
        add.push(change(&mut c, &x, &b, &client, &changes));
        ports.push((p, changes));
    }
    println!(
        "after {rounds} adds: flows in the switch {}; RSS {} MiB",
        switch_flows(&sw),
        rss_mib()
    );
    for (p, changes) in &ports {
        x.st.apply(&[model::Change::Delete(Kind::Port, p.clone())]);
        b.ports.remove(p);
        del.push(change(&mut c, &x, &b, &client, changes));
    }
    println!(
        "after {rounds} deletes: flows in the switch {}; RSS {} MiB",
        switch_flows(&sw),
        rss_mib()
    );
    add.report("port add", rounds);
    del.report("port delete", rounds);
    println!("load average at end: {}", load());
    check(&sw, &x, &b, &c);
}
