//! `cloudnet trace` against `cloudnet serve` (API, store, switch, agent) in
//! a test host namespace: two projects with security groups, ports bound
//! by `port plug`, and traces of an allowed path and of drops by a
//! security group, by port security and by the lack of a route between
//! projects. No traffic is needed: the trace runs on br-int's real tables.

use std::time::Duration;

use lab::Lab;

mod common;

use common::Serve;

#[test]
fn trace_explains_allowed_and_dropped_paths() {
    let Some(lab) = Lab::new_or_skip("trace_explains") else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let host = lab.netns("host").expect("host");
    // An uplink for physnet1 (its far end stays down: nothing is sent).
    let inet = lab.netns("inet").expect("inet");
    let _link = lab.veth(&host, "uplink", &inet, "eth0").expect("veth");
    host.link_up("uplink").expect("up");
    let s = Serve::start_with(
        &host,
        &tmp.path().join("data"),
        &["--bridge-mapping", "physnet1:uplink"],
    );

    // Project A: web and db behind router ra; db admits 3306 from web only.
    s.create(&["network", "create", "neta"]);
    s.subnet("suba", "neta", "10.0.0.0/24", &[]);
    let web = s.create(&["security", "group", "create", "web"]);
    let db = s.create(&["security", "group", "create", "db"]);
    s.create(&[
        "security",
        "group",
        "rule",
        "create",
        "web",
        "--ingress",
        "--protocol",
        "tcp",
        "--dst-port",
        "80",
    ]);
    let rule = s.create(&[
        "security",
        "group",
        "rule",
        "create",
        "db",
        "--ingress",
        "--protocol",
        "tcp",
        "--dst-port",
        "3306",
        "--remote-group",
        "web",
    ]);
    let fixed = |ip: &str| format!("subnet=suba,ip-address={ip}");
    let web1 = s.create(&[
        "port",
        "create",
        "web1",
        "--network",
        "neta",
        "--security-group",
        "web",
        "--fixed-ip",
        &fixed("10.0.0.4"),
    ]);
    let db1 = s.create(&[
        "port",
        "create",
        "db1",
        "--network",
        "neta",
        "--security-group",
        "db",
        "--fixed-ip",
        &fixed("10.0.0.5"),
    ]);
    let ra = s.create(&["router", "create", "ra"]);
    s.cli(&["router", "add", "subnet", "ra", "suba"]);
    // Project B: its own network, joined to nothing of A's.
    s.create(&["network", "create", "netb", "--project", "projb"]);
    s.subnet("subb", "netb", "10.1.0.0/24", &["--project", "projb"]);
    let pb1 = s.create(&[
        "port",
        "create",
        "pb1",
        "--network",
        "netb",
        "--project",
        "projb",
        "--fixed-ip",
        "subnet=subb,ip-address=10.1.0.5",
    ]);
    let mut vms = Vec::new();
    for (short, port) in [("vm1", &web1), ("vm2", &db1), ("vm3", &pb1)] {
        let ns = lab.netns(short).expect("netns");
        s.cli(&["port", "plug", port, "--netns", ns.name()]);
        vms.push(ns);
    }
    lab::wait_until("ports ACTIVE", Duration::from_secs(10), || {
        [&web1, &db1, &pb1].iter().all(|p| {
            s.cli(&["port", "show", p, "-f", "value", "-c", "status"])
                .trim()
                == "ACTIVE"
        })
    })
    .expect("bound ports become ACTIVE");

    // Allowed: every stage on the way, db's rule named, delivered to db1.
    let out = s.cli(&["trace", "--from", "web1", "--to", "db1", "tcp,tp_dst=3306"]);
    let stages = [
        "ls_in_port_sec_l2",
        "ls_in_port_sec_ip",
        "ls_in_pre_stateful",
        "ls_in_acl",
        "ls_in_l2_lkp",
        "ls_out_pre_stateful",
        "ls_out_acl",
        "ls_out_port_sec",
    ];
    let mut at = 0;
    for st in stages {
        let i = out[at..]
            .find(st)
            .unwrap_or_else(|| panic!("stage {st} missing or out of order:\n{out}"));
        at += i;
    }
    assert!(
        out.contains(&format!("security group rule {rule}")),
        "{out}"
    );
    assert!(out.contains(&format!("from group web ({web})")), "{out}");
    assert!(out.contains("+trk+new"), "conntrack state shown:\n{out}");
    assert!(
        out.contains(&format!("Verdict: output to port db1 ({db1})")),
        "{out}"
    );
    assert!(
        out.contains("Physical flows:") && out.contains("Datapath actions:"),
        "{out}"
    );

    // The same packet as part of an established connection, the other way.
    let out = s.cli(&[
        "trace",
        "--from",
        "db1",
        "--to",
        "web1",
        "tcp,tp_src=3306,tp_dst=40000",
        "--ct-state",
        "est",
    ]);
    assert!(
        out.contains(&format!("Verdict: output to port web1 ({web1})")),
        "{out}"
    );

    // Denied port: db's group on db1 is named.
    let out = s.cli(&["trace", "--from", "web1", "--to", "db1", "tcp,tp_dst=22"]);
    let want = format!(
        "dropped in ls_out_acl: no ingress rule of security groups [db ({db})] on port db1 ({db1}) admits tcp/22 from 10.0.0.4"
    );
    assert!(out.contains(&want), "{want}\n{out}");

    // Spoofed source: web1's port security.
    let out = s.cli(&[
        "trace",
        "--from",
        &web1,
        "--to",
        "db1",
        "tcp,nw_src=10.0.0.9,tp_dst=3306",
    ]);
    let want = format!(
        "dropped in ls_in_port_sec_ip: source 10.0.0.9 is not a fixed IP or allowed address pair of port web1 ({web1})"
    );
    assert!(out.contains(&want), "{want}\n{out}");

    // Cross-project: router ra has no route; where 10.1.0.5 lives is said.
    let out = s.cli(&["trace", "--from", "web1", "--to", "pb1", "tcp,tp_dst=80"]);
    assert!(
        out.contains(&format!(
            "dropped in lr_in_ip_routing: router ra ({ra}) has no route to 10.1.0.5"
        )),
        "{out}"
    );
    assert!(out.contains(&format!("port pb1 ({pb1})")), "{out}");
    // And from project B, whose network has no router at all.
    let out = s.cli(&["trace", "--from", "pb1", "icmp,nw_dst=10.0.0.4"]);
    assert!(out.contains("dropped in ls_in_l2_lkp"), "{out}");
    assert!(out.contains("no router connects"), "{out}");

    // JSON for scripts; errors name the bad input.
    let v: serde_json::Value = serde_json::from_str(&s.cli(&[
        "trace",
        "--from",
        "web1",
        "--to",
        "db1",
        "tcp,tp_dst=22",
        "--json",
    ]))
    .expect("json");
    assert_eq!(v["trace"]["verdict"]["kind"], "drop");
    assert_eq!(v["trace"]["verdict"]["resource"]["id"], db1.as_str());
    assert!(v["trace"]["verdict"]["reason"]
        .as_str()
        .unwrap_or("")
        .contains(&db));
    let out = s.run(&["trace", "--from", "nope", "tcp,nw_dst=10.0.0.5"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope"));
    let out = s.run(&["trace", "--from", "web1", "tcp,nw_dst=10.0.0.500"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("10.0.0.500"));
    let out = s.run(&["trace", "--from", "web1", "--to", "db1", "tcp,tp_dts=22"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("tp_dts") && err.contains("HTTP 400"), "{err}");

    // From the outside to web1's floating IP: the DNAT names it.
    common::internet::ext_network("203.0.113.254", |a| s.create(a));
    s.cli(&["router", "set", "ra", "--external-gateway", "ext"]);
    let fip = s.cli(&[
        "floating",
        "ip",
        "create",
        "ext",
        "--port",
        &web1,
        "-f",
        "value",
        "-c",
        "floating_ip_address",
    ]);
    let flow = format!("tcp,nw_src=198.51.100.7,nw_dst={fip},tp_dst=80");
    let mut out = String::new();
    lab::wait_until("the floating IP's flows", Duration::from_secs(5), || {
        out = s.cli(&["trace", "--from-physnet", "physnet1", &flow]);
        out.contains("Verdict: output to port web1")
    })
    .unwrap_or_else(|e| panic!("{e}\n{out}"));
    assert!(out.contains("lr_in_dnat"), "{out}");
    assert!(out.contains(&format!("{fip} ↔ 10.0.0.4")), "{out}");
    assert!(out.contains("Trace from uplink physnet1"), "{out}");
    drop(vms);
}
