//! A real DHCP client (busybox `udhcpc`) in a VM namespace gets its address
//! from `DhcpServer` through the VM's TAP, then pings the router address,
//! answered by the ARP and ICMP echo responders. The test process plays the
//! switch: it reads the TAP and writes the responders' replies back.
//!
//! Needs root (lab) and busybox (`scripts/deps.sh` installs the `busybox`
//! package): without it the test skips, or fails under `CI=true`.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use responder::dhcp::{Binding, DhcpServer, SubnetOptions, MAX_REPLY_LEN};
use responder::{arp, echo, Counters};

const VM_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x0a, 0x05];
const VM_IP: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 5);
const ROUTER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x0a, 0x01];
const ROUTER_IP: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
const SERVER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x0a, 0x02];
const SERVER_IP: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 2);

fn busybox() -> Option<PathBuf> {
    let found = ["/usr/bin/busybox", "/bin/busybox", "/usr/sbin/busybox"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists());
    if found.is_none() {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!(
                "busybox (udhcpc) is missing: scripts/deps.sh must install the `busybox` package"
            );
        }
        eprintln!("skipping: busybox (udhcpc) is not installed (apt-get install busybox)");
    }
    found
}

/// The udhcpc hook: applies the lease and dumps what udhcpc exported.
fn write_script(dir: &Path) -> PathBuf {
    let env = dir.join("lease.env");
    let script = dir.join("udhcpc.sh");
    let body = format!(
        "#!/bin/sh\n\
         case \"$1\" in\n\
         bound|renew)\n\
           ip addr add \"$ip/$mask\" dev \"$interface\"\n\
           [ -n \"$router\" ] && ip route add default via \"$router\" dev \"$interface\"\n\
           env | grep -E '^(ip|mask|subnet|router|dns|domain|mtu|staticroutes|lease|serverid)=' > {env}\n\
           ;;\n\
         esac\n\
         exit 0\n",
        env = env.display()
    );
    std::fs::write(&script, body).unwrap();
    let mut perm = std::fs::metadata(&script).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o755);
    std::fs::set_permissions(&script, perm).unwrap();
    script
}

fn server() -> DhcpServer {
    let mut s = SubnetOptions::new(SERVER_IP, SERVER_MAC, 24);
    s.router = Some(ROUTER_IP);
    s.dns_servers = vec![Ipv4Addr::new(10, 77, 0, 53)];
    s.domain_name = Some("cloudnet.test".into());
    s.mtu = Some(1450);
    s.routes = vec![(
        "192.168.77.0/24".parse().unwrap(),
        Ipv4Addr::new(10, 77, 0, 9),
    )];
    s.lease_time = 600;
    let mut server = DhcpServer::new();
    server
        .insert(
            VM_MAC,
            Binding {
                ip: VM_IP,
                subnet: Arc::new(s),
            },
        )
        .unwrap();
    server
}

#[test]
fn udhcpc_gets_its_address_and_pings_the_router() {
    let Some(lab) = lab::Lab::new_or_skip("responder_udhcpc") else {
        return;
    };
    let Some(busybox) = busybox() else { return };
    let dir = std::env::temp_dir().join(format!("{}udhcpc-{}", lab.prefix(), std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let script = write_script(&dir);

    let config = lab::VmConfig {
        mac: Some(lab::Mac(VM_MAC)),
        ..Default::default()
    };
    let vm = lab.vm("vm", config).unwrap();
    let tap = vm.tap().expect("the lab holds the VM's TAP");
    let server = server();
    let stop = AtomicBool::new(false);
    let echoes = AtomicU64::new(0);

    let counters = std::thread::scope(|s| {
        // The "switch": a bounded loop answering from the TAP.
        let switch = s.spawn(|| {
            let mut counters = Counters::default();
            let deadline = Instant::now() + Duration::from_secs(60);
            let mut frame = [0u8; 2048];
            let mut out = [0u8; MAX_REPLY_LEN];
            let table = |ip: Ipv4Addr| match ip {
                ROUTER_IP => Some(ROUTER_MAC),
                SERVER_IP => Some(SERVER_MAC),
                _ => None,
            };
            let is_router = |ip: IpAddr| ip == IpAddr::V4(ROUTER_IP);
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                if !tap.wait_readable(Duration::from_millis(50)).unwrap() {
                    continue;
                }
                let n = match tap.read(&mut frame) {
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                    Err(e) => panic!("reading the TAP: {e}"),
                };
                let f = &frame[..n];
                let reply = server
                    .respond(f, &mut out)
                    .or_else(|_| arp::respond(f, &table, &mut out))
                    .or_else(|_| {
                        let r = echo::respond(f, is_router, &mut out);
                        if r.is_ok() {
                            echoes.fetch_add(1, Ordering::Relaxed);
                        }
                        r
                    });
                if let Ok(len) = counters.record(reply) {
                    tap.write(&out[..len]).unwrap();
                }
            }
            counters
        });

        let udhcpc = vm.ns().exec_output(
            &[
                busybox.to_str().unwrap(),
                "udhcpc",
                "-i",
                "eth0",
                "-f",
                "-q",
                "-n",
                "-t",
                "5",
                "-T",
                "1",
                "-O",
                "mtu",
                "-O",
                "staticroutes",
                "-O",
                "domain",
                "-s",
                script.to_str().unwrap(),
            ],
            Duration::from_secs(30),
        );
        let ping = udhcpc
            .as_ref()
            .ok()
            .filter(|o| o.success())
            .map(|_| lab::ping(vm.ns(), IpAddr::V4(ROUTER_IP), 3));
        stop.store(true, Ordering::Relaxed);
        let counters = switch.join().unwrap();
        let out = udhcpc.expect("udhcpc ran");
        assert!(out.success(), "udhcpc failed: {out:?}");
        let stats = ping.unwrap().expect("ping ran");
        assert!(stats.all_received(), "{stats:?}");
        counters
    });

    eprintln!("responder counters: {counters:?}");
    let env = std::fs::read_to_string(dir.join("lease.env")).expect("udhcpc ran the bound hook");
    let _ = std::fs::remove_dir_all(&dir);
    let get = |k: &str| {
        env.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")).map(str::to_owned))
            .unwrap_or_else(|| panic!("udhcpc did not export {k}: {env}"))
    };
    assert_eq!(get("ip"), VM_IP.to_string());
    assert_eq!(get("mask"), "24");
    assert_eq!(get("router").trim(), ROUTER_IP.to_string());
    assert_eq!(get("serverid"), SERVER_IP.to_string());
    assert_eq!(get("dns").trim(), "10.77.0.53");
    assert_eq!(get("domain"), "cloudnet.test");
    assert_eq!(get("mtu"), "1450");
    assert_eq!(get("lease"), "600");
    eprintln!("udhcpc exported:\n{env}");
    let routes = get("staticroutes");
    assert!(routes.contains("192.168.77.0/24 10.77.0.9"), "{routes}");
    assert!(routes.contains("0.0.0.0/0 10.77.0.1"), "{routes}");

    let addrs = vm.ns().ip(&["-4", "addr", "show", "dev", "eth0"]).unwrap();
    assert!(addrs.contains("10.77.0.5/24"), "{addrs}");
    assert!(
        echoes.load(Ordering::Relaxed) >= 3,
        "echo replies came from the responder"
    );
    assert!(counters.replies >= 5, "{counters:?}");
}
