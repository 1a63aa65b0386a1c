//! The seed's QoS experiment (chapter 3 of the first seed) with real
//! traffic: three sender VMs to one receiver whose port has the seed's
//! linux-htb QoS (10 Mbit/s, queues min 3/1/6 Mbit/s, max 10), flows
//! `in_port=S,actions=enqueue:R:Q`. Shares are measured at the receiver.
//! Then ingress policing at 10 Mbit/s on a TCP flow.
//!
//! Senders are bounded Rust UDP senders paced at 15 Mbit/s each (so every
//! active queue is backlogged); the receiver counts bytes per source in a
//! fixed window after a warm-up.
//!
//! Run: `cargo test --release -p vswitch --test qos_htb` (as root).

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{pings, vm, Daemon};
use lab::{Lab, Netns};
use vswitch::Request;

const PAYLOAD: usize = 1400;
/// Offered load per sender, bit/s.
const OFFER: u64 = 15_000_000;
const WARM: Duration = Duration::from_millis(600);
const WINDOW: Duration = Duration::from_millis(2000);
const SEED_QOS: &str = "-- --id=@newqos create qos type=linux-htb other-config:max-rate=10000000 \
    queues=0=@q0,1=@q1,2=@q2 -- --id=@q0 create queue other-config:min-rate=3000000 \
    other-config:max-rate=10000000 -- --id=@q1 create queue other-config:min-rate=1000000 \
    other-config:max-rate=10000000 -- --id=@q2 create queue other-config:min-rate=6000000 \
    other-config:max-rate=10000000";

/// Paced UDP from `sock` to `to` until `stop` (bounded by `limit`).
fn sender(sock: UdpSocket, to: SocketAddr, stop: Arc<AtomicBool>, limit: Duration) {
    let buf = [0x5au8; PAYLOAD];
    let gap = Duration::from_nanos(PAYLOAD as u64 * 8 * 1_000_000_000 / OFFER);
    let t0 = Instant::now();
    let mut n: u32 = 0;
    while !stop.load(Ordering::Relaxed) && t0.elapsed() < limit {
        let _ = sock.send_to(&buf, to);
        n += 1;
        let due = gap * n;
        let now = t0.elapsed();
        if due > now {
            std::thread::sleep(due - now);
        }
    }
}

/// Receives until `WARM + WINDOW` has passed; returns bit/s per source
/// address counted in the window (UDP payload + 42 bytes of headers).
fn receive(sock: &UdpSocket) -> BTreeMap<IpAddr, f64> {
    let mut buf = [0u8; 2048];
    let mut bytes: BTreeMap<IpAddr, u64> = BTreeMap::new();
    let t0 = Instant::now();
    sock.set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    while t0.elapsed() < WARM + WINDOW {
        if let Ok((n, from)) = sock.recv_from(&mut buf) {
            if t0.elapsed() >= WARM {
                *bytes.entry(from.ip()).or_default() += n as u64 + 42;
            }
        }
    }
    bytes
        .into_iter()
        .map(|(ip, b)| (ip, b as f64 * 8.0 / WINDOW.as_secs_f64()))
        .collect()
}

/// Reads until the link has been quiet for 300 ms (queued frames of the
/// previous phase drained), bounded at 10 s.
fn drain(sock: &UdpSocket) {
    let mut buf = [0u8; 2048];
    sock.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(10) && sock.recv_from(&mut buf).is_ok() {}
}

/// Runs senders `active` (indices into `senders`) and measures.
fn phase(
    senders: &[(Netns, SocketAddr)],
    rx: &UdpSocket,
    to: SocketAddr,
    active: &[usize],
) -> Vec<f64> {
    let stop = Arc::new(AtomicBool::new(false));
    let handles: Vec<_> = active
        .iter()
        .map(|&i| {
            let sock = senders[i]
                .0
                .udp_socket(senders[i].1)
                .expect("sender socket");
            let stop = stop.clone();
            std::thread::spawn(move || sender(sock, to, stop, WARM + WINDOW * 2))
        })
        .collect();
    let got = receive(rx);
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        h.join().expect("sender thread");
    }
    drain(rx);
    let r: Vec<f64> = senders
        .iter()
        .map(|(_, a)| got.get(&a.ip()).copied().unwrap_or(0.0))
        .collect();
    eprintln!(
        "active {active:?}: {:.2?} Mbit/s",
        r.iter().map(|x| x / 1e6).collect::<Vec<_>>()
    );
    r
}

fn assert_shares(got: &[f64], want: &[f64], what: &str) {
    let gs: f64 = got.iter().sum();
    let ws: f64 = want.iter().sum();
    for (g, w) in got.iter().zip(want) {
        let share = g / gs;
        let expect = w / ws;
        assert!(
            (share - expect).abs() <= 0.10 * expect,
            "{what}: shares {:?} Mbit/s, want ratio {want:?}",
            got.iter().map(|x| x / 1e6).collect::<Vec<_>>()
        );
    }
}

#[test]
fn seed_htb_3_1_6_and_ingress_policing() {
    let Some(lab) = Lab::new_or_skip("qos_htb") else {
        return;
    };
    let host = lab.netns("h").expect("host netns");
    let dir = tempfile::tempdir().expect("tempdir");
    let sw = Daemon::start(&host, dir.path(), &[]);
    sw.vs("add-br br0");
    let r = vm(&lab, &sw, "br0", "r", "10.0.3.10/24", "");
    let names = ["s0", "s1", "s2"];
    let senders: Vec<(Netns, SocketAddr)> = names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let ip = format!("10.0.3.{}", i + 1);
            let ns = vm(&lab, &sw, "br0", n, &format!("{ip}/24"), "");
            (ns, format!("{ip}:4000").parse().unwrap())
        })
        .collect();
    for (s, _) in &senders {
        assert!(pings(s, "10.0.3.10"), "sender cannot reach the receiver");
    }
    let rport = lab.name("r").unwrap();
    let out = sw.vs(&format!("set port {rport} qos=@newqos {SEED_QOS}"));
    assert_eq!(out.lines().count(), 4, "{out}");
    let ofport = |n: &str| {
        sw.vs(&format!("get Interface {} ofport", lab.name(n).unwrap()))
            .trim()
            .to_owned()
    };
    let rp = ofport("r");
    let flows: Vec<String> = names
        .iter()
        .enumerate()
        .map(|(q, n)| format!("priority=10,in_port={},actions=enqueue:{rp}:{q}", ofport(n)))
        .collect();
    sw.of(Request::AddFlows {
        bridge: "br0".into(),
        flows,
    });

    let to: SocketAddr = "10.0.3.10:5000".parse().unwrap();
    let rx = r.udp_socket(to).expect("receiver socket");
    let want = [3.0, 1.0, 6.0];

    let all = phase(&senders, &rx, to, &[0, 1, 2]);
    assert_shares(&all, &want, "all three");
    let total: f64 = all.iter().sum();
    assert!(
        (9.0e6..=10.5e6).contains(&total),
        "total {total} bit/s for a 10 Mbit/s port"
    );
    for i in 0..3 {
        let alone = phase(&senders, &rx, to, &[i]);
        assert!(
            (9.0e6..=10.5e6).contains(&alone[i]),
            "queue {i} alone: {} bit/s",
            alone[i]
        );
    }
    for (a, b) in [(0usize, 1usize), (0, 2), (1, 2)] {
        let got = phase(&senders, &rx, to, &[a, b]);
        assert_shares(
            &[got[a], got[b]],
            &[want[a], want[b]],
            &format!("pair {a},{b}"),
        );
    }
    let tables = sw.of(Request::DumpTables {
        bridge: "br0".into(),
    });
    assert!(tables.contains("qos_queue_full="), "{tables}");

    // Ingress policing: 10 Mbit/s on s0's port; a TCP flow to the receiver
    // (its QoS removed) holds the rate once the burst is spent.
    sw.vs(&format!(
        "clear port {rport} qos -- --all destroy qos -- --all destroy queue"
    ));
    // A non-strict del-flows ignores priority (ovs-ofctl(8)): delete all,
    // then restore the learning switch.
    sw.of(Request::DelFlows {
        bridge: "br0".into(),
        matches: None,
        strict: false,
    });
    sw.of(Request::AddFlows {
        bridge: "br0".into(),
        flows: vec!["priority=0,actions=NORMAL".into()],
    });
    let s0 = lab.name("s0").unwrap();
    sw.vs(&format!(
        "set Interface {s0} ingress_policing_rate=10000 ingress_policing_burst=1000"
    ));
    let addr: SocketAddr = "10.0.3.10:5001".parse().unwrap();
    let listener = r.tcp_listener(addr).expect("listen");
    let reader = std::thread::spawn(move || {
        let (mut c, _) = lab::accept_within(&listener, Duration::from_secs(5)).expect("accept");
        c.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let mut buf = vec![0u8; 1 << 16];
        let t0 = Instant::now();
        let (warm, end) = (Duration::from_millis(1500), Duration::from_millis(4500));
        let mut bytes = 0u64;
        while t0.elapsed() < end {
            match c.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) if t0.elapsed() >= warm => bytes += n as u64,
                Ok(_) => {}
            }
        }
        bytes as f64 * 8.0 / (end - warm).as_secs_f64()
    });
    let mut c = senders[0]
        .0
        .tcp_connect(addr, Duration::from_secs(3))
        .expect("connect");
    c.set_write_timeout(Some(Duration::from_secs(1))).unwrap();
    let chunk = vec![0x33u8; 1 << 16];
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_millis(4700) {
        if c.write_all(&chunk).is_err() {
            break;
        }
    }
    drop(c);
    let rate = reader.join().expect("reader");
    eprintln!("policed TCP: {:.2} Mbit/s", rate / 1e6);
    assert!(rate <= 11.0e6, "policed TCP at {rate} bit/s");
    assert!(rate >= 3.0e6, "policed TCP collapsed to {rate} bit/s");
}
