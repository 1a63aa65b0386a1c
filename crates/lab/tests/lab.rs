//! Self-tests of the lab against the real kernel (root). Each test has its
//! own [`lab::Lab`], so they run in parallel without sharing names.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use lab::{Lab, Mac, Tap, TapOptions, VmConfig};

fn ip(s: &str) -> IpAddr {
    s.parse().expect("address literal")
}

fn net(s: &str) -> ipnet::IpNet {
    s.parse().expect("prefix literal")
}

#[test]
fn veth_pair_ping_tcp_udp() {
    let Some(lab) = Lab::new_or_skip("veth_pair_ping_tcp_udp") else {
        return;
    };
    let a = lab.netns("a").unwrap();
    let b = lab.netns("b").unwrap();
    let pair = lab.veth(&a, "eth0", &b, "eth0").unwrap();
    assert_eq!(pair.b(), (b.name(), "eth0"));
    for (ns, v4, v6) in [
        (&a, "10.0.0.1/24", "fd00::1/64"),
        (&b, "10.0.0.2/24", "fd00::2/64"),
    ] {
        ns.add_addr("eth0", net(v4)).unwrap();
        ns.add_addr("eth0", net(v6)).unwrap();
        ns.link_up("eth0").unwrap();
    }

    let stats = a.ping(ip("10.0.0.2"), 3).unwrap();
    assert_eq!((stats.transmitted, stats.received), (3, 3), "{stats:?}");
    assert!(stats.rtt_max().unwrap() < Duration::from_secs(1));
    let stats6 = b.ping(ip("fd00::1"), 2).unwrap();
    assert!(stats6.all_received(), "{stats6:?}");

    lab::tcp_check(&a, &b, "10.0.0.2:5001".parse().unwrap(), 200_000).unwrap();
    lab::tcp_check(&b, &a, "[fd00::1]:5001".parse().unwrap(), 1000).unwrap();
    lab::udp_check(&a, &b, "10.0.0.2:5002".parse().unwrap()).unwrap();

    // Nothing answers at .9: no reply, and no error either.
    let lost = lab::ping_with(
        &a,
        ip("10.0.0.9"),
        lab::PingOptions {
            count: 1,
            reply_timeout: Duration::from_millis(300),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!((lost.transmitted, lost.received), (1, 0));
    // With b's link down, a's connection attempt cannot complete: the
    // check fails within its bound, naming the address.
    b.ip(&["link", "set", "eth0", "down"]).unwrap();
    let t0 = Instant::now();
    let err = lab::tcp_check_timeout(
        &a,
        &b,
        "10.0.0.2:5003".parse().unwrap(),
        10,
        Duration::from_millis(500),
    )
    .unwrap_err();
    assert!(t0.elapsed() < Duration::from_secs(3), "check not bounded");
    assert!(err.to_string().contains("10.0.0.2:5003"), "{err}");
}

#[test]
fn exec_output_timeout_and_background() {
    let Some(lab) = Lab::new_or_skip("exec_output_timeout_and_background") else {
        return;
    };
    let ns = lab.netns("x").unwrap();
    let out = ns.exec(&["ip", "-o", "link"]).unwrap();
    assert!(out.contains("lo:"), "{out}");
    assert!(!out.contains("eth0"), "host links visible inside: {out}");
    let err = ns
        .exec_output(&["sleep", "10"], Duration::from_millis(200))
        .unwrap_err();
    assert!(matches!(err, lab::LabError::Timeout { .. }), "{err}");
    let err = ns.exec(&["sh", "-c", "echo boom >&2; exit 4"]).unwrap_err();
    assert!(err.to_string().contains("boom"), "{err}");

    let mut bg = ns.spawn(&["sleep", "30"]).unwrap();
    assert!(bg.is_running());
    let pid = bg.id().to_string();
    let listed = lab::run_ok(&["ip", "netns", "pids", ns.name()], lab::IP_TIMEOUT).unwrap();
    assert!(listed.split_whitespace().any(|p| p == pid), "{listed}");
    drop(bg);
    let listed = lab::run_ok(&["ip", "netns", "pids", ns.name()], lab::IP_TIMEOUT).unwrap();
    assert!(
        !listed.split_whitespace().any(|p| p == pid),
        "still running: {listed}"
    );
}

const GW_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];

/// Read frames from `tap` until `pick` accepts one, for at most 5 s.
fn read_until<T>(tap: &Tap, mut pick: impl FnMut(&[u8]) -> Option<T>) -> T {
    let mut buf = vec![0u8; 65536];
    lab::wait_for("a frame from the VM", Duration::from_secs(5), || {
        if !tap.wait_readable(Duration::from_millis(50)).unwrap() {
            return None;
        }
        let n = tap.read(&mut buf).unwrap();
        pick(&buf[..n])
    })
    .unwrap()
}

/// An ARP request (RFC 826) for `target`: returns (sender MAC, sender IP).
fn arp_request_for(f: &[u8], target: [u8; 4]) -> Option<([u8; 6], [u8; 4])> {
    let is_req = f.len() >= 42 && f[12..14] == [8, 6] && f[20..22] == [0, 1];
    (is_req && f[38..42] == target).then(|| {
        (
            f[22..28].try_into().expect("6 bytes"),
            f[28..32].try_into().expect("4 bytes"),
        )
    })
}

fn arp_reply(req: &[u8], mac: [u8; 6]) -> Vec<u8> {
    let mut r = req[..42].to_vec();
    r[0..6].copy_from_slice(&req[6..12]);
    r[6..12].copy_from_slice(&mac);
    r[21] = 2; // op = reply
    r[22..28].copy_from_slice(&mac);
    r[28..32].copy_from_slice(&req[38..42]);
    r[32..38].copy_from_slice(&req[22..28]);
    r[38..42].copy_from_slice(&req[28..32]);
    r
}

/// RFC 1071 checksum.
fn csum(data: &[u8]) -> u16 {
    let mut s: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

/// The echo reply to an ICMP echo request frame (no IP options): swap
/// addresses (the IPv4 header checksum is unchanged by a swap), type 0, new
/// ICMP checksum.
fn echo_reply(req: &[u8]) -> Vec<u8> {
    let mut r = req.to_vec();
    r[0..6].copy_from_slice(&req[6..12]);
    r[6..12].copy_from_slice(&req[0..6]);
    r[26..30].copy_from_slice(&req[30..34]);
    r[30..34].copy_from_slice(&req[26..30]);
    r[34] = 0;
    r[36..38].copy_from_slice(&[0, 0]);
    let c = csum(&r[34..]);
    r[36..38].copy_from_slice(&c.to_be_bytes());
    r
}

#[test]
fn vm_with_held_tap_resolves_and_pings_its_gateway() {
    let Some(lab) = Lab::new_or_skip("vm_with_held_tap") else {
        return;
    };
    let vm_mac = Mac::local(5);
    let vm = lab
        .vm(
            "vm1",
            VmConfig::new(net("10.1.0.5/24"))
                .mac(vm_mac)
                .gateway(ip("10.1.0.1"))
                .mtu(1400),
        )
        .unwrap();
    assert_eq!(vm.mac(), vm_mac);
    assert_eq!(vm.ipv4(), Some(ip("10.1.0.5")));
    let link = vm.ip(&["-o", "link", "show", "eth0"]).unwrap();
    assert!(link.contains("mtu 1400") && link.contains("UP"), "{link}");
    let tap = vm.tap().expect("lab-held TAP");

    std::thread::scope(|s| {
        // The VM pings its gateway (through the default route, to an address
        // outside its subnet: 203.0.113.7) while the test plays the gateway.
        let pinger = s.spawn(|| {
            lab::ping_with(
                &vm,
                ip("203.0.113.7"),
                lab::PingOptions {
                    count: 1,
                    reply_timeout: Duration::from_secs(5),
                    ..Default::default()
                },
            )
        });
        let (sha, spa) = read_until(tap, |f| {
            arp_request_for(f, [10, 1, 0, 1]).inspect(|_| {
                tap.write(&arp_reply(f, GW_MAC)).unwrap();
            })
        });
        assert_eq!(sha, vm_mac.octets(), "ARP sender MAC is the VM's eth0");
        assert_eq!(spa, [10, 1, 0, 5], "ARP sender IP is the VM's address");
        let req = read_until(tap, |f| {
            let is_echo = f.len() >= 42 && f[12..14] == [8, 0] && f[23] == 1 && f[34] == 8;
            is_echo.then(|| f.to_vec())
        });
        assert_eq!(
            req[0..6],
            GW_MAC,
            "sent to the gateway's MAC (learnt by ARP)"
        );
        assert_eq!(req[6..12], vm_mac.octets());
        assert_eq!(req[26..30], [10, 1, 0, 5]);
        assert_eq!(req[30..34], [203, 0, 113, 7]);
        tap.write(&echo_reply(&req)).unwrap();
        let stats = pinger.join().unwrap().unwrap();
        assert!(stats.all_received(), "VM got no reply: {stats:?}");
    });
}

#[test]
fn vm_on_foreign_tap_becomes_its_eth0() {
    let Some(lab) = Lab::new_or_skip("vm_on_foreign_tap") else {
        return;
    };
    // Someone else (here: this test, standing in for the switch) creates a
    // TAP in the host namespace under a lab name and holds its fd.
    let name = lab.tap_name("t1").unwrap();
    assert!(name.len() <= 15 && name.starts_with(lab.prefix()));
    let tap = Tap::open(&name, &TapOptions::default()).unwrap();
    let vm = lab
        .vm_on_tap("vm2", &name, VmConfig::new(net("10.2.0.5/24")))
        .unwrap();
    assert!(vm.tap().is_none());
    assert!(vm.links().unwrap().contains(&"eth0".to_string()));
    assert!(
        !lab::names::list_links_in(None).unwrap().contains(&name),
        "TAP still in the host namespace"
    );
    vm.exec(&["bash", "-c", "echo x > /dev/udp/10.2.0.9/9"])
        .unwrap();
    let (sha, spa) = read_until(&tap, |f| arp_request_for(f, [10, 2, 0, 9]));
    assert_eq!(sha, vm.mac().octets());
    assert_eq!(spa, [10, 2, 0, 5]);
    // A frame written to the fd is received by the VM's eth0.
    let before = vm.link_counter("eth0", "rx_packets").unwrap();
    let mut frame = vec![0xff; 6];
    frame.extend_from_slice(&[2, 0, 0, 0, 0, 9, 0x88, 0xb5]);
    frame.resize(60, 0);
    tap.write(&frame).unwrap();
    lab::wait_until("eth0 rx_packets to grow", Duration::from_secs(2), || {
        vm.link_counter("eth0", "rx_packets").unwrap() > before
    })
    .unwrap();
}

#[test]
fn hosts_on_the_underlay_reach_each_other() {
    let Some(lab) = Lab::new_or_skip("hosts_on_underlay") else {
        return;
    };
    let h1 = lab.host_with_ip("h1", net("10.200.0.1/24")).unwrap();
    let mut h2 = lab.host("h2").unwrap();
    h2.set_underlay_ip(net("10.200.0.2/24")).unwrap();
    assert_eq!(h2.underlay_ip(), Some(ip("10.200.0.2")));
    let ports = lab
        .underlay()
        .unwrap()
        .ip(&["-o", "link", "show", "master", lab::UNDERLAY_BRIDGE])
        .unwrap();
    assert!(ports.contains("h1@") && ports.contains("h2@"), "{ports}");

    let stats = h1.ping(h2.underlay_ip().unwrap(), 3).unwrap();
    assert!(stats.all_received(), "{stats:?}");
    lab::tcp_check(&h2, &h1, "10.200.0.1:4789".parse().unwrap(), 50_000).unwrap();
    lab::udp_check(&h1, &h2, "10.200.0.2:4789".parse().unwrap()).unwrap();
}

/// Build one of everything; returns nothing, everything lives in `lab`'s
/// scope of the caller.
fn populate(lab: &Lab) -> Vec<Box<dyn std::any::Any>> {
    let a = lab.netns("a").unwrap();
    let b = lab.netns("b").unwrap();
    let pair = lab.veth(&a, "v0", &b, "v0").unwrap();
    let vm = lab.vm("vm", VmConfig::new(net("10.3.0.5/24"))).unwrap();
    let h = lab.host_with_ip("h", net("10.201.0.1/24")).unwrap();
    let bg = a.spawn(&["sleep", "30"]).unwrap();
    vec![
        Box::new(bg),
        Box::new(pair),
        Box::new(a),
        Box::new(b),
        Box::new(vm),
        Box::new(h),
    ]
}

#[test]
fn teardown_leaves_nothing_even_on_panic() {
    if !lab::require_root("teardown_leaves_nothing_even_on_panic") {
        return;
    }
    // Normal drop, objects dropped after the lab (the lab's sweep removes
    // everything; the objects' own drops then find nothing to do).
    let lab = Lab::new("teardown").unwrap();
    let prefix = lab.prefix().to_owned();
    let things = populate(&lab);
    assert_eq!(lab.leftovers().unwrap().netns.len(), 5, "a, b, vm, ul, h");
    let claim = std::path::Path::new(lab::names::CLAIM_DIR).join(&prefix);
    assert!(claim.exists());
    drop(lab);
    assert!(lab::find_leftovers(Some(&prefix)).unwrap().is_empty());
    assert!(!claim.exists(), "prefix claim not released");
    drop(things);

    // A panicking test body.
    let prefix = std::sync::Mutex::new(String::new());
    let r = std::panic::catch_unwind(|| {
        let lab = Lab::new("teardown_panic").unwrap();
        *prefix.lock().unwrap() = lab.prefix().to_owned();
        let _things = populate(&lab);
        panic!("deliberate panic inside a lab");
    });
    assert!(r.is_err());
    let prefix = prefix.into_inner().unwrap();
    assert!(lab::names::is_lab_name(&prefix), "{prefix}");
    let left = lab::find_leftovers(Some(&prefix)).unwrap();
    assert!(left.is_empty(), "left after panic: {left:?}");
}

#[test]
fn clean_removes_leftovers_of_a_killed_test() {
    if !lab::require_root("clean_removes_leftovers_of_a_killed_test") {
        return;
    }
    // Simulate a killed process: guards that never run.
    let lab = Lab::new("killed").unwrap();
    let prefix = lab.prefix().to_owned();
    let name = lab.tap_name("tap").unwrap();
    let tap = Tap::open(
        &name,
        &TapOptions {
            persist: Some(true),
            ..TapOptions::default()
        },
    )
    .unwrap();
    drop(tap); // persistent: the netdev stays in the host namespace
    let ns = lab.netns("gone").unwrap();
    let bg = ns.spawn(&["sleep", "30"]).unwrap();
    let pid = bg.id();
    std::mem::forget(bg);
    std::mem::forget(ns);
    std::mem::forget(lab);

    let found = lab::find_leftovers(Some(&prefix)).unwrap();
    assert_eq!(found.netns, vec![format!("{prefix}gone")]);
    assert_eq!(found.links, vec![name]);
    let claim = std::path::Path::new(lab::names::CLAIM_DIR).join(&prefix);
    let owner = std::fs::read_to_string(&claim).unwrap();
    assert_eq!(owner, format!("{} killed\n", std::process::id()));
    let removed = lab::clean(Some(&prefix)).unwrap();
    assert_eq!(removed, found);
    assert!(!claim.exists(), "prefix claim not released");
    assert!(lab::find_leftovers(Some(&prefix)).unwrap().is_empty());
    // The process inside was killed (it may linger as a zombie of ours).
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    assert!(
        stat.is_empty() || stat.split_whitespace().nth(2) == Some("Z"),
        "process in the namespace survived: {stat}"
    );
}

#[test]
fn names_are_checked_before_anything_is_made() {
    let Some(lab) = Lab::new_or_skip("names_are_checked") else {
        return;
    };
    let err = lab.netns("waytoolong").unwrap_err().to_string();
    assert!(err.contains("waytoolong") && err.contains("15"), "{err}");
    assert!(lab.netns("Bad").is_err());
    assert!(lab.host("ul").is_err());
    assert!(lab.netns("ul").is_err());
    let a = lab.netns("a").unwrap();
    let err = lab.veth(&a, "sixteen-chars-xx", &a, "y").unwrap_err();
    assert!(err.to_string().contains("sixteen-chars-xx"), "{err}");
    assert_eq!(lab.leftovers().unwrap().netns, vec![a.name().to_string()]);
}

#[test]
fn router_namespace_forwards_between_two_subnets() {
    let Some(lab) = Lab::new_or_skip("router_forwards") else {
        return;
    };
    let a = lab.netns("a").unwrap();
    let r = lab.netns("r").unwrap();
    let b = lab.netns("b").unwrap();
    let _ar = lab.veth(&a, "eth0", &r, "ra").unwrap();
    let _rb = lab.veth(&r, "rb", &b, "eth0").unwrap();
    for (ns, dev, addr) in [
        (&a, "eth0", "10.10.1.2/24"),
        (&r, "ra", "10.10.1.1/24"),
        (&r, "rb", "10.10.2.1/24"),
        (&b, "eth0", "10.10.2.2/24"),
    ] {
        ns.add_addr(dev, net(addr)).unwrap();
        ns.link_up(dev).unwrap();
    }
    a.default_route(ip("10.10.1.1")).unwrap();
    b.add_route(net("10.10.1.0/24"), ip("10.10.2.1")).unwrap();

    assert_eq!(r.sysctl("net.ipv4.ip_forward").unwrap(), "0");
    let blocked = lab::ping_with(
        &a,
        ip("10.10.2.2"),
        lab::PingOptions {
            count: 1,
            reply_timeout: Duration::from_millis(300),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(blocked.received, 0, "forwarded before ip_forward=1");
    r.set_sysctl("net.ipv4.ip_forward", "1").unwrap();
    assert_eq!(r.sysctl("net.ipv4.ip_forward").unwrap(), "1");
    assert_eq!(
        a.sysctl("net.ipv4.ip_forward").unwrap(),
        "0",
        "sysctl leaked"
    );
    assert!(a.ping(ip("10.10.2.2"), 2).unwrap().all_received());
    lab::tcp_check(&a, &b, "10.10.2.2:80".parse().unwrap(), 10_000).unwrap();
}

#[test]
fn vm_on_a_tap_made_inside_a_host() {
    let Some(lab) = Lab::new_or_skip("vm_on_tap_in_host") else {
        return;
    };
    let host = lab.host_with_ip("hv", net("10.200.1.1/24")).unwrap();
    // "The switch" runs inside the host and makes a persistent TAP there.
    let tap = host
        .run(|| {
            Tap::open(
                "tapvm3",
                &TapOptions {
                    persist: Some(true),
                    ..TapOptions::default()
                },
            )
        })
        .unwrap()
        .unwrap();
    assert!(host.has_link("tapvm3").unwrap());
    let vm = lab
        .vm_on_tap_from("vm3", &host, "tapvm3", VmConfig::new(net("10.4.0.5/24")))
        .unwrap();
    assert!(!host.has_link("tapvm3").unwrap());
    assert!(vm.has_link("eth0").unwrap());
    vm.exec(&["bash", "-c", "echo x > /dev/udp/10.4.0.9/9"])
        .unwrap();
    let (_, spa) = read_until(&tap, |f| arp_request_for(f, [10, 4, 0, 9]));
    assert_eq!(spa, [10, 4, 0, 5]);
}

#[test]
fn fixed_prefix_is_exclusive_and_cleaned_by_name() {
    if !lab::require_root("fixed_prefix_is_exclusive_and_cleaned_by_name") {
        return;
    }
    // A prefix no other test uses (lab prefixes are `cn` + 4 hex + `-`).
    const P: &str = "cnzt-";
    assert!(Lab::with_prefix("", "t").is_err(), "empty prefix");
    assert!(Lab::with_prefix("Bad_", "t").is_err(), "bad characters");
    assert!(Lab::with_prefix("toolong-", "t").is_err(), "over 7 bytes");
    let lab = Lab::with_prefix(P, "fixed").expect("claim");
    assert!(
        Lab::with_prefix(P, "again").is_err(),
        "a claimed prefix is refused"
    );
    let ns = lab.netns("a").expect("netns");
    assert_eq!(ns.name(), "cnzt-a");
    // Forgotten guards (a demo kept up) leave it in place ...
    std::mem::forget(ns);
    std::mem::forget(lab);
    assert!(Lab::with_prefix(P, "busy").is_err(), "namespaces exist");
    // ... until a clean by that prefix removes namespace and claim.
    let gone = lab::clean(Some(P)).expect("clean");
    assert_eq!(gone.netns, ["cnzt-a"]);
    drop(Lab::with_prefix(P, "after").expect("free again"));
    assert!(lab::find_leftovers(Some(P)).expect("list").is_empty());
}
