//! The single-host cloud end to end: `cloudnet serve` (API, store, switch,
//! agent) in a test host namespace, driven only by the CLI a user runs —
//! networks, subnets, ports, `port plug`, security groups — and checked
//! with real traffic between namespace VMs that get their addresses from a
//! real DHCP client (busybox udhcpc).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use lab::{Lab, Netns};

mod common;
use common::{pings, tcp, BIN};

/// `cloudnet serve` in the host namespace, killed when dropped.
struct Serve {
    child: Child,
    host: String,
    endpoint: String,
    run_dir: PathBuf,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Serve {
    fn start(host: &Netns, data: &Path) -> Serve {
        Serve::start_with(host, data, &[])
    }

    fn start_with(host: &Netns, data: &Path, extra: &[&str]) -> Serve {
        let mut child = Command::new("ip")
            .args(["netns", "exec", host.name(), BIN, "serve", "--bind"])
            .arg("127.0.0.1:0")
            .args(extra)
            .arg("--data-dir")
            .arg(data)
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn cloudnet serve");
        let stderr = child.stderr.take().expect("piped");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(u) = line.strip_prefix("cloudnet serve: listening on ") {
                    let _ = tx.send(u.to_string());
                } else {
                    eprintln!("serve: {line}");
                }
            }
        });
        let endpoint = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("cloudnet serve did not start");
        Serve {
            child,
            host: host.name().to_string(),
            endpoint,
            run_dir: data.join("run"),
        }
    }

    /// Run a `cloudnet` command line in the host namespace; its stdout.
    fn cli(&self, args: &[&str]) -> String {
        common::cloudnet(&self.host, &self.endpoint, &self.run_dir, args)
    }

    /// Create a resource; its ID.
    fn create(&self, args: &[&str]) -> String {
        self.cli(&common::id_args(args))
    }

    /// The bridge's flows without counters, sorted.
    fn flows(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .cli(&["ofctl", "dump-flows", "br-int"])
            .lines()
            .filter(|l| l.contains("cookie="))
            .map(|l| {
                l.trim()
                    .split(", ")
                    .filter(|t| {
                        !["duration=", "n_packets=", "n_bytes="]
                            .iter()
                            .any(|p| t.starts_with(p))
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .collect();
        v.sort();
        v
    }

    fn flows_with_cookie(&self, cookie: u64) -> usize {
        let c = format!("cookie={cookie:#x}/-1");
        self.cli(&["ofctl", "dump-flows", "br-int", &c])
            .lines()
            .filter(|l| l.contains("cookie="))
            .count()
    }
}

/// A namespace VM on port `port`: TAP plugged by the CLI (`port plug`, or
/// `lab vm create` when `lab_vm`), address by DHCP.
fn vm_with(
    lab: &Lab,
    s: &Serve,
    bb: &Path,
    short: &str,
    port: &str,
    dir: &Path,
    lab_vm: bool,
) -> (Netns, IpAddr) {
    let ns = lab.netns(short).expect("netns");
    let tap = if lab_vm {
        s.cli(&["lab", "vm", "create", ns.name(), "--port", port])
    } else {
        s.cli(&["port", "plug", port, "--netns", ns.name()])
    };
    assert!(tap.starts_with("tap"), "plug printed {tap:?}");
    let d = dir.join(short);
    std::fs::create_dir_all(&d).expect("dir");
    let lease =
        lab::dhcp::udhcpc(&ns, bb, "eth0", &[], &d, Duration::from_secs(15)).expect("DHCP lease");
    let ip: IpAddr = lease.get("ip").expect("ip").parse().expect("ip");
    (ns, ip)
}

/// The lab, busybox, a temporary dir and the host namespace; `None` to
/// skip (not root, or no busybox outside CI).
fn bench(label: &str) -> Option<(Lab, PathBuf, tempfile::TempDir, Netns)> {
    let lab = Lab::new_or_skip(label)?;
    let bb = lab::dhcp::busybox(label)?;
    let tmp = tempfile::tempdir().expect("tempdir");
    let host = lab.netns("host").expect("host");
    Some((lab, bb, tmp, host))
}

fn vm(lab: &Lab, s: &Serve, bb: &Path, short: &str, port: &str, dir: &Path) -> (Netns, IpAddr) {
    vm_with(lab, s, bb, short, port, dir, false)
}

#[test]
fn single_host_cloud() {
    let Some((lab, bb, tmp, host)) = bench("single_host_cloud") else {
        return;
    };
    let s = Serve::start(&host, &tmp.path().join("data"));

    // Project A: one network with DHCP, two VMs in the default group.
    s.create(&["network", "create", "neta"]);
    s.create(&[
        "subnet",
        "create",
        "suba",
        "--network",
        "neta",
        "--subnet-range",
        "10.0.0.0/24",
    ]);
    let p1 = s.create(&["port", "create", "pa1", "--network", "neta"]);
    let p2 = s.create(&["port", "create", "pa2", "--network", "neta"]);
    let (vm1, ip1) = vm(&lab, &s, &bb, "vm1", &p1, tmp.path());
    let (vm2, ip2) = vm_with(&lab, &s, &bb, "vm2", &p2, tmp.path(), true);
    assert_ne!(ip1, ip2);
    lab::wait_until("ports ACTIVE", Duration::from_secs(5), || {
        s.cli(&["port", "show", &p1, "-f", "value", "-c", "status"]) == "ACTIVE"
    })
    .expect("a bound port becomes ACTIVE");
    assert!(pings(&vm1, ip2), "same-network ping");
    assert!(pings(&vm2, ip1), "same-network ping back");
    assert!(tcp(&vm1, &vm2, ip2, 80), "TCP inside the default group");

    // A group that allows only TCP 22 in.
    let web = s.create(&["security", "group", "create", "web"]);
    s.create(&[
        "security",
        "group",
        "rule",
        "create",
        &web,
        "--ingress",
        "--protocol",
        "tcp",
        "--dst-port",
        "22",
    ]);
    s.cli(&["port", "set", &p2, "--security-group", &web]);
    lab::wait_until("TCP 80 to vm2 refused", Duration::from_secs(5), || {
        !tcp(&vm1, &vm2, ip2, 80)
    })
    .expect("TCP 80 blocked by the web group");
    assert!(tcp(&vm1, &vm2, ip2, 22), "TCP 22 allowed by the web group");
    assert!(!pings(&vm1, ip2), "ICMP to vm2 blocked by the web group");
    assert!(
        !tcp(&vm2, &vm1, ip1, 8080),
        "vm1's default group admits only its own members"
    );

    // Project B reuses 10.0.0.0/24 and has no path to project A.
    s.create(&["network", "create", "netb", "--project", "projb"]);
    s.create(&[
        "subnet",
        "create",
        "subb",
        "--network",
        "netb",
        "--subnet-range",
        "10.0.0.0/24",
        "--project",
        "projb",
    ]);
    let p3 = s.create(&[
        "port",
        "create",
        "pb1",
        "--network",
        "netb",
        "--project",
        "projb",
    ]);
    let (vm3, ip3) = vm(&lab, &s, &bb, "vm3", &p3, tmp.path());
    // vm3 may hold vm1's address: test the other VM of project A then.
    let (other_vm, other) = if ip3 == ip1 { (&vm2, ip2) } else { (&vm1, ip1) };
    assert!(!pings(&vm3, other), "no path from project B to project A");
    assert!(
        !tcp(&vm3, other_vm, other, 22),
        "no TCP path from project B to project A"
    );

    // A restart loses nothing and installs the same flows.
    let before = s.flows();
    drop(s);
    let s = Serve::start(&host, &tmp.path().join("data"));
    lab::wait_until("same flows after restart", Duration::from_secs(10), || {
        s.flows() == before
    })
    .expect("identical flows after a restart");
    assert!(tcp(&vm1, &vm2, ip2, 22), "TCP 22 after the restart");

    // Deleting a port removes its flows.
    let cookie = controller::Owner::Port(p2.clone()).cookie();
    assert!(s.flows_with_cookie(cookie) > 0, "port has flows");
    s.cli(&["port", "unplug", &p2]);
    s.cli(&["port", "delete", &p2]);
    lab::wait_until("port flows removed", Duration::from_secs(5), || {
        s.flows_with_cookie(cookie) == 0
    })
    .expect("no flow carries the deleted port's cookie");
    drop(vm3);
}

#[test]
fn router_snat_floating_ip() {
    let Some((lab, bb, tmp, host)) = bench("router_snat_floating_ip") else {
        return;
    };
    // The "internet": a namespace behind the host's uplink (physnet1).
    let inet = lab.netns("inet").expect("inet");
    let _link = lab.veth(&host, "uplink", &inet, "eth0").expect("veth");
    host.link_up("uplink").expect("up");
    inet.add_addr("eth0", "203.0.113.100/24".parse().expect("cidr"))
        .expect("addr");
    inet.link_up("eth0").expect("up");
    // The switch reads the uplink with AF_PACKET: full checksums from the
    // internet side (a veth would leave TCP's to an offload that is not
    // there), as crates/vswitch/tests/rewrite.rs does.
    inet.exec(&["ethtool", "-K", "eth0", "tx", "off"])
        .expect("ethtool -K eth0 tx off");
    let s = Serve::start_with(
        &host,
        &tmp.path().join("data"),
        &["--bridge-mapping", "physnet1:uplink"],
    );

    // Two subnets joined by a router.
    s.create(&["network", "create", "n1"]);
    s.create(&[
        "subnet",
        "create",
        "s1",
        "--network",
        "n1",
        "--subnet-range",
        "10.1.0.0/24",
    ]);
    s.create(&["network", "create", "n2"]);
    s.create(&[
        "subnet",
        "create",
        "s2",
        "--network",
        "n2",
        "--subnet-range",
        "10.2.0.0/24",
    ]);
    s.create(&["router", "create", "r1"]);
    s.cli(&["router", "add", "subnet", "r1", "s1"]);
    s.cli(&["router", "add", "subnet", "r1", "s2"]);
    let p1 = s.create(&["port", "create", "q1", "--network", "n1"]);
    let p2 = s.create(&["port", "create", "q2", "--network", "n2"]);
    let (vm1, _ip1) = vm(&lab, &s, &bb, "vm1", &p1, tmp.path());
    let (_vm2, ip2) = vm(&lab, &s, &bb, "vm2", &p2, tmp.path());
    assert!(pings(&vm1, ip2), "cross-subnet ping through the router");

    // SNAT to the internet through the bridge mapping.
    s.create(&[
        "network",
        "create",
        "ext",
        "--external",
        "--provider-network-type",
        "flat",
        "--provider-physical-network",
        "physnet1",
    ]);
    s.create(&[
        "subnet",
        "create",
        "exts",
        "--network",
        "ext",
        "--subnet-range",
        "203.0.113.0/24",
        "--gateway",
        "203.0.113.1",
        "--no-dhcp",
    ]);
    s.cli(&["router", "set", "r1", "--external-gateway", "ext"]);
    let internet: IpAddr = "203.0.113.100".parse().expect("ip");
    lab::wait_until("vm1 reaches the internet", Duration::from_secs(5), || {
        pings(&vm1, internet)
    })
    .expect("SNAT to the internet namespace");
    // The internet has no route to 10.1.0.0/24: it sees the gateway's
    // address as the source. (UDP: the router does not resolve next hops
    // on the external network yet and sends to the broadcast MAC, which
    // Linux's TCP refuses; see controller PIPELINE.md "Limits".)
    let rx = inet
        .udp_socket("0.0.0.0:9999".parse().expect("addr"))
        .expect("udp");
    rx.set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    let tx = vm1
        .udp_socket("0.0.0.0:0".parse().expect("addr"))
        .expect("udp");
    let mut peer = None;
    for _ in 0..3 {
        tx.send_to(b"hello", SocketAddr::new(internet, 9999))
            .expect("send");
        let mut b = [0u8; 16];
        if let Ok((5, from)) = rx.recv_from(&mut b) {
            peer = Some(from);
            break;
        }
    }
    let peer = peer.expect("UDP through SNAT");
    let gw_net: ipnet::IpNet = "203.0.113.0/24".parse().expect("cidr");
    assert!(gw_net.contains(&peer.ip()), "SNAT source {peer}");

    // A floating IP on vm2, reachable from the internet (ICMP opened in
    // the default group).
    s.create(&[
        "security",
        "group",
        "rule",
        "create",
        "default",
        "--ingress",
        "--protocol",
        "icmp",
    ]);
    let fip = s.cli(&[
        "floating",
        "ip",
        "create",
        "ext",
        "--port",
        &p2,
        "-f",
        "value",
        "-c",
        "floating_ip_address",
    ]);
    let fip: IpAddr = fip.parse().expect("floating IP address");
    lab::wait_until(
        "internet reaches the floating IP",
        Duration::from_secs(5),
        || pings(&inet, fip),
    )
    .expect("floating IP reachable from the internet");
}

/// Bytes per second `server` receives on `port` over `[warm, warm+span]`
/// while `client` sends to `to` as fast as it can.
fn tcp_rate(client: &Netns, server: &Netns, to: IpAddr, warm: Duration, span: Duration) -> f64 {
    let l = server
        .tcp_listener(SocketAddr::new("0.0.0.0".parse().expect("ip"), 5201))
        .expect("listen");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut c = client
        .tcp_connect(SocketAddr::new(to, 5201), Duration::from_secs(2))
        .expect("connect");
    let st = stop.clone();
    let sender = std::thread::spawn(move || {
        let buf = [0u8; 16384];
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !st.load(std::sync::atomic::Ordering::Relaxed) && std::time::Instant::now() < deadline
        {
            if c.write_all(&buf).is_err() {
                break;
            }
        }
    });
    let (mut s, _) = l.accept().expect("accept");
    s.set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    let mut buf = [0u8; 65536];
    let t0 = std::time::Instant::now();
    let mut counted = 0u64;
    let mut start = None;
    while t0.elapsed() < warm + span {
        let n = s.read(&mut buf).unwrap_or(0);
        if n == 0 {
            break;
        }
        if t0.elapsed() >= warm {
            start.get_or_insert_with(std::time::Instant::now);
            counted += n as u64;
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    drop(s);
    let _ = sender.join();
    let secs = start.map_or(0.0, |t| t.elapsed().as_secs_f64());
    assert!(secs > 0.5, "too short a measurement ({secs} s)");
    counted as f64 / secs
}

#[test]
fn qos_bandwidth_limit() {
    let Some((lab, bb, tmp, host)) = bench("qos_bandwidth_limit") else {
        return;
    };
    let s = Serve::start(&host, &tmp.path().join("data"));
    s.create(&["network", "create", "n"]);
    s.create(&[
        "subnet",
        "create",
        "sn",
        "--network",
        "n",
        "--subnet-range",
        "10.3.0.0/24",
    ]);
    s.create(&["qos", "policy", "create", "ten"]);
    // Neutron's direction is the VM's: ingress is what the VM receives.
    s.cli(&[
        "qos",
        "rule",
        "create",
        "ten",
        "--type",
        "bandwidth-limit",
        "--max-kbps",
        "10000",
        "--max-burst-kbits",
        "1000",
        "--ingress",
    ]);
    let p1 = s.create(&["port", "create", "b1", "--network", "n"]);
    let p2 = s.create(&[
        "port",
        "create",
        "b2",
        "--network",
        "n",
        "--qos-policy",
        "ten",
    ]);
    let (vm1, _) = vm(&lab, &s, &bb, "vm1", &p1, tmp.path());
    let (vm2, ip2) = vm(&lab, &s, &bb, "vm2", &p2, tmp.path());
    assert!(pings(&vm1, ip2), "same-network ping");
    let bps = 8.0
        * tcp_rate(
            &vm1,
            &vm2,
            ip2,
            Duration::from_secs(1),
            Duration::from_secs(3),
        );
    // TCP payload on 1514-byte frames is 1448/1514 of the shaped rate.
    let expect = 10e6 * 1448.0 / 1514.0;
    assert!(
        (bps - expect).abs() <= 0.10 * expect,
        "goodput {:.2} Mbit/s, want {:.2} ± 10%",
        bps / 1e6,
        expect / 1e6
    );
    eprintln!("qos_bandwidth_limit: goodput {:.2} Mbit/s", bps / 1e6);
}
