//! A real DHCP client (busybox `udhcpc`) in a VM namespace gets its address
//! from `DhcpServer` through the VM's TAP, then pings the router address,
//! answered by the ARP and ICMP echo responders. The test process plays the
//! switch: it reads the TAP and writes the responders' replies back.
//!
//! Needs root (lab) and busybox (`scripts/deps.sh` installs the `busybox`
//! package): without it the test skips, or fails under `CI=true`.

use std::net::{IpAddr, Ipv4Addr};
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
    let Some(busybox) = lab::dhcp::busybox("udhcpc_gets_its_address_and_pings_the_router") else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("{}udhcpc-{}", lab.prefix(), std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();

    let config = lab::VmConfig {
        mac: Some(lab::Mac(VM_MAC)),
        ..Default::default()
    };
    let vm = lab.vm("vm", config).unwrap();
    let tap = vm.tap().expect("the lab holds the VM's TAP");
    let server = server();
    let stop = AtomicBool::new(false);
    let echoes = AtomicU64::new(0);

    let (counters, lease) = std::thread::scope(|s| {
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

        let udhcpc = lab::dhcp::udhcpc(
            vm.ns(),
            &busybox,
            "eth0",
            &["mtu", "staticroutes", "domain"],
            &dir,
            Duration::from_secs(30),
        );
        let ping = udhcpc
            .as_ref()
            .ok()
            .map(|_| lab::ping(vm.ns(), IpAddr::V4(ROUTER_IP), 3));
        stop.store(true, Ordering::Relaxed);
        let counters = switch.join().unwrap();
        let lease = udhcpc.expect("udhcpc gets a lease");
        let stats = ping.unwrap().expect("ping ran");
        assert!(stats.all_received(), "{stats:?}");
        (counters, lease)
    });

    eprintln!("responder counters: {counters:?}");
    let _ = std::fs::remove_dir_all(&dir);
    let env = lease.raw();
    let get = |k: &str| {
        lease
            .get(k)
            .unwrap_or_else(|| panic!("udhcpc did not export {k}: {env}"))
    };
    assert_eq!(get("ip"), VM_IP.to_string());
    assert_eq!(get("mask"), "24");
    assert_eq!(get("router"), ROUTER_IP.to_string());
    assert_eq!(get("serverid"), SERVER_IP.to_string());
    assert_eq!(get("dns"), "10.77.0.53");
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
