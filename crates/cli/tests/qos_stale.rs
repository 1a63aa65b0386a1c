//! No stale QoS state in the switch after a QoS policy changes: `cloudnet
//! serve` driven by the CLI, the switch's QoS and Queue tables and the
//! TAP's policing read back with `cloudnet vsctl` after each change — a
//! bandwidth limit changed, the policy detached, the port deleted. QoS and
//! Queue are root tables (ovs-vswitchd.conf.db(5)): rows the agent does
//! not destroy would stay forever.

mod common;

use std::time::Duration;

use common::Serve;

/// What the switch holds for the port's TAP.
#[derive(Debug, PartialEq, Eq)]
struct Held {
    qos_rows: usize,
    queue_rows: usize,
    /// `other_config` of the Queue rows.
    queues: Vec<String>,
    policing_kbps: String,
    port_qos: String,
}

fn held(s: &Serve, tap: &str) -> Held {
    let rows = |table: &str| s.cli(&["vsctl", "list", table]);
    let (qos, queue) = (rows("QoS"), rows("Queue"));
    let count = |t: &str| t.lines().filter(|l| l.starts_with("_uuid")).count();
    Held {
        qos_rows: count(&qos),
        queue_rows: count(&queue),
        queues: queue
            .lines()
            .filter(|l| l.starts_with("other_config"))
            .map(|l| l.split_once(':').map_or("", |x| x.1).trim().to_string())
            .collect(),
        policing_kbps: s.cli(&["vsctl", "get", "Interface", tap, "ingress_policing_rate"]),
        port_qos: s.cli(&["vsctl", "--if-exists", "get", "Port", tap, "qos"]),
    }
}

/// Wait until the switch holds what `ok` accepts; the last reading.
fn await_held(s: &Serve, tap: &str, what: &str, ok: impl Fn(&Held) -> bool) -> Held {
    let mut last = None;
    let r = lab::wait_until(what, Duration::from_secs(10), || {
        let h = held(s, tap);
        let done = ok(&h);
        last = Some(h);
        done
    });
    let last = last.expect("read at least once");
    assert!(r.is_ok(), "{what}: the switch holds {last:?}");
    last
}

#[test]
fn no_stale_qos_after_policy_changes() {
    let Some(lab) = lab::Lab::new_or_skip("qos_stale") else {
        return;
    };
    let host = lab.netns("host").expect("host");
    let tmp = tempfile::tempdir().expect("tempdir");
    let s = Serve::start(&host, &tmp.path().join("data"));
    s.network("n", "10.7.0.0/24");
    s.create(&["qos", "policy", "create", "lim"]);
    let limit = |kbps: &str, dir: &str| {
        s.create(&[
            "qos",
            "rule",
            "create",
            "lim",
            "--type",
            "bandwidth-limit",
            "--max-kbps",
            kbps,
            "--max-burst-kbits",
            "1000",
            dir,
        ])
    };
    // Shaping of what the VM receives (HTB QoS + Queue), policing of what
    // it sends (the Interface).
    let shape = limit("10000", "--ingress");
    limit("5000", "--egress");
    let p = s.create(&[
        "port",
        "create",
        "q",
        "--network",
        "n",
        "--qos-policy",
        "lim",
    ]);
    let tap = s.cli(&["port", "plug", &p]);

    let h = await_held(&s, &tap, "QoS applied", |h| {
        h.qos_rows == 1 && h.policing_kbps == "5000"
    });
    assert_eq!(h.queue_rows, 1, "{h:?}");
    assert!(h.queues[0].contains("max-rate=\"10000000\""), "{h:?}");
    assert_ne!(h.port_qos, "[]", "{h:?}");

    // A changed limit replaces the rows: still one QoS and one Queue.
    s.cli(&["qos", "rule", "set", "lim", &shape, "--max-kbps", "20000"]);
    let h = await_held(&s, &tap, "new limit", |h| {
        h.queues.iter().any(|q| q.contains("max-rate=\"20000000\""))
    });
    assert_eq!(
        (h.qos_rows, h.queue_rows, h.queues.len()),
        (1, 1, 1),
        "{h:?}"
    );

    // Detached: no rows, no policing, the Port names no QoS.
    s.cli(&["port", "set", &p, "--no-qos-policy"]);
    let h = await_held(&s, &tap, "policy detached", |h| h.qos_rows == 0);
    assert_eq!(
        (h.queue_rows, h.policing_kbps.as_str(), h.port_qos.as_str()),
        (0, "0", "[]"),
        "{h:?}"
    );

    // Attached again, then the port deleted (its TAP still plugged).
    s.cli(&["port", "set", &p, "--qos-policy", "lim"]);
    await_held(&s, &tap, "policy attached again", |h| h.qos_rows == 1);
    s.cli(&["port", "delete", &p]);
    let h = await_held(&s, &tap, "port deleted", |h| h.qos_rows == 0);
    assert_eq!((h.queue_rows, h.port_qos.as_str()), (0, "[]"), "{h:?}");
}
