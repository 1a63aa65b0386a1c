//! The seed's tc tree (chapter 3) through `cloudnet tc` on a switch port,
//! with real traffic: root 100kbps, classes 30/10/60kbps with ceil 100kbps,
//! pfifo / SFQ leaves, a u32 filter by source IP and destination port.
//! Packets to UDP port 80 from the filtered source land in class 1:10,
//! the rest in the default class 1:12, and the port never exceeds the
//! root rate.
//!
//! Run: `cargo test --release -p vswitch --test qos_tc` (as root).

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::{pings, vm, Daemon};
use lab::Lab;
use vswitch::{call, Request};

fn tc(dir: &std::path::Path, line: &str) -> Result<String, vswitch::ProtoError> {
    let args = line.split_whitespace().map(String::from).collect();
    call(dir, &Request::Tc { args }, Duration::from_secs(10))
}

/// `Sent N bytes M pkt` of class `id` in `tc -s class show` output.
fn class_sent(show: &str, id: &str) -> (u64, u64) {
    let mut lines = show.lines();
    while let Some(l) = lines.next() {
        if l.starts_with(&format!("class htb {id} ")) {
            let s: Vec<&str> = lines.next().unwrap_or("").split_whitespace().collect();
            let n = |i: usize| s.get(i).and_then(|v| v.parse().ok()).unwrap_or(0);
            return (n(1), n(3));
        }
    }
    panic!("class {id} not in:\n{show}");
}

#[test]
fn seed_tc_tree_classifies_and_shapes() {
    let Some(lab) = Lab::new_or_skip("qos_tc") else {
        return;
    };
    let host = lab.netns("h").expect("host netns");
    let dir = tempfile::tempdir().expect("tempdir");
    let sw = Daemon::start(&host, dir.path(), &[]);
    sw.vs("add-br br0");
    let r = vm(&lab, &sw, "br0", "r", "10.0.4.10/24", "");
    let s = vm(&lab, &sw, "br0", "s", "10.0.4.1/24", "");
    assert!(pings(&s, "10.0.4.10"), "no connectivity");
    let p = lab.name("r").unwrap();
    let d = dir.path();
    for c in [
        format!("qdisc add dev {p} root handle 1: htb default 12"),
        format!("class add dev {p} parent 1: classid 1:1 htb rate 100kbps ceil 100kbps"),
        format!("class add dev {p} parent 1:1 classid 1:10 htb rate 30kbps ceil 100kbps"),
        format!("class add dev {p} parent 1:1 classid 1:11 htb rate 10kbps ceil 100kbps"),
        format!("class add dev {p} parent 1:1 classid 1:12 htb rate 60kbps ceil 100kbps"),
        format!("qdisc add dev {p} parent 1:10 handle 20: pfifo limit 5"),
        format!("qdisc add dev {p} parent 1:11 handle 30: pfifo limit 5"),
        format!("qdisc add dev {p} parent 1:12 handle 40: sfq perturb 10"),
        format!("filter add dev {p} protocol ip parent 1:0 prio 1 u32 match ip src 10.0.4.1/32 match ip dport 80 0xffff flowid 1:10"),
    ] {
        tc(d, &c).unwrap_or_else(|e| panic!("{c}: {e}"));
    }
    let e = tc(
        d,
        &format!("class add dev {p} parent 1:9 classid 1:20 htb rate 1kbit"),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("1:9"), "{e}");
    assert!(tc(d, "qdisc show dev nosuchport").is_err());
    let q = tc(d, &format!("qdisc show dev {p}")).unwrap();
    assert!(
        q.starts_with("qdisc htb 1:") && q.contains("default 0x12"),
        "{q}"
    );

    // 1 s of 400 kbit/s each to port 80 and port 81: both classes are
    // backlogged; the port sends at most 800 kbit/s.
    let rx80 = r.udp_socket("10.0.4.10:80".parse().unwrap()).unwrap();
    let rx81 = r.udp_socket("10.0.4.10:81".parse().unwrap()).unwrap();
    let tx = s.udp_socket("10.0.4.1:4000".parse().unwrap()).unwrap();
    let buf = [7u8; 958]; // 1000 bytes on the wire
    let t0 = Instant::now();
    let mut sent = 0u32;
    while t0.elapsed() < Duration::from_secs(1) {
        for port in [80u16, 81] {
            let to = SocketAddr::from(([10, 0, 4, 10], port));
            let _ = tx.send_to(&buf, to);
        }
        sent += 2;
        let due = Duration::from_millis(20) * sent / 2;
        if let Some(w) = due.checked_sub(t0.elapsed()) {
            std::thread::sleep(w);
        }
    }
    // Count what arrives within 2 s of the start.
    let mut got = 0u64;
    let mut b = [0u8; 2048];
    for s in [&rx80, &rx81] {
        s.set_nonblocking(false).unwrap();
    }
    let deadline = t0 + Duration::from_secs(2);
    while Instant::now() < deadline {
        for sock in [&rx80, &rx81] {
            sock.set_read_timeout(Some(Duration::from_millis(20)))
                .unwrap();
            if let Ok(n) = sock.recv(&mut b) {
                got += n as u64 + 42;
            }
        }
    }
    let rate = got as f64 * 8.0 / 2.0;
    assert!(
        rate <= 800_000.0 * 1.1,
        "port sent {rate} bit/s over 100kbps"
    );
    assert!(rate >= 800_000.0 * 0.5, "port sent only {rate} bit/s");

    let show = tc(d, &format!("-s class show dev {p}")).unwrap();
    let (b10, p10) = class_sent(&show, "1:10");
    let (_, p12) = class_sent(&show, "1:12");
    let (_, p11) = class_sent(&show, "1:11");
    assert!(
        p10 > 20 && p12 > 20,
        "filter did not split the traffic:\n{show}"
    );
    assert_eq!(p11, 0, "nothing matches 1:11:\n{show}");
    assert!(b10 >= p10 * 1000, "{show}");
    let f = tc(d, &format!("filter show dev {p}")).unwrap();
    assert!(
        f.contains("match ip src 10.0.4.1/32 match ip dport 80 0xffff"),
        "{f}"
    );

    // Removing the tree restores the unshaped port, and it is persisted.
    tc(d, &format!("qdisc del dev {p} root")).unwrap();
    let q = tc(d, &format!("qdisc show dev {p}")).unwrap();
    assert!(q.starts_with("qdisc noqueue"), "{q}");
}
