//! Periodic (unsolicited) Router Advertisements (RFC 4861 §6.2.4), driven
//! only by the CLI: a VM that never sends a Router Solicitation
//! (`router_solicitations=0`) still forms its SLAAC address and default
//! route from the agent's periodic advertisements, and forms them again
//! after losing them, with the intervals shortened by
//! `--ra-max-interval` / `--ra-min-interval`.

mod common;

use std::net::Ipv6Addr;
use std::time::Duration;

use common::{bench, Serve};
use lab::Netns;

/// Whether eth0 of `ns` holds `ip` and a default route from an RA.
fn slaac_done(ns: &Netns, ip: Ipv6Addr) -> bool {
    let addr = ns
        .ip(&["-6", "addr", "show", "dev", "eth0"])
        .is_ok_and(|o| o.contains(&format!("inet6 {ip}/64")));
    let route = ns
        .ip(&["-6", "route", "show", "default"])
        .is_ok_and(|o| o.contains("proto ra"));
    addr && route
}

#[test]
fn a_vm_that_never_solicits_configures_from_periodic_ras() {
    let Some((lab, _bb, tmp, host)) = bench("ipv6_periodic_ra") else {
        return;
    };
    let s = Serve::start_with(
        &host,
        &tmp.path().join("data"),
        &["--ra-max-interval", "4", "--ra-min-interval", "3"],
    );
    s.create(&["network", "create", "n1"]);
    s.create(&[
        "subnet",
        "create",
        "s1",
        "--network",
        "n1",
        "--ip-version",
        "6",
        "--subnet-range",
        "2001:db8:5::/64",
        "--ipv6-ra-mode",
        "slaac",
        "--ipv6-address-mode",
        "slaac",
    ]);
    s.create(&["router", "create", "r1"]);
    s.cli(&["router", "add", "subnet", "r1", "s1"]);
    let p1 = s.create(&["port", "create", "p1", "--network", "n1"]);
    let out = s.cli(&["port", "show", &p1, "-f", "json", "-c", "fixed_ips"]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("port show json");
    let ip: Ipv6Addr = v["fixed_ips"][0]["ip_address"]
        .as_str()
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no IPv6 fixed IP: {out}"));

    let vm = lab.netns("vm1").expect("netns");
    for (k, v) in [
        ("net.ipv6.conf.default.accept_ra", "1"),
        ("net.ipv6.conf.default.addr_gen_mode", "0"),
        ("net.ipv6.conf.default.use_tempaddr", "0"),
        ("net.ipv6.conf.default.accept_dad", "0"),
        // Never solicit: only unsolicited advertisements can configure it.
        ("net.ipv6.conf.default.router_solicitations", "0"),
    ] {
        vm.set_sysctl(k, v).expect("sysctl");
    }
    let tap = s.cli(&["port", "plug", &p1, "--netns", vm.name()]);
    assert!(tap.starts_with("tap"), "plug printed {tap:?}");
    assert_eq!(
        vm.sysctl("net.ipv6.conf.eth0.router_solicitations")
            .expect("sysctl")
            .trim(),
        "0"
    );
    lab::wait_until("SLAAC from a periodic RA", Duration::from_secs(25), || {
        slaac_done(&vm, ip)
    })
    .unwrap_or_else(|e| {
        panic!(
            "{ip} never formed: {e:?}\n{}",
            vm.ip(&["-6", "addr"]).unwrap_or_default()
        )
    });
    assert_eq!(
        s.flow_packets(14, "icmpv6_type=133"),
        0,
        "the VM solicited after all"
    );

    // Gone, and back with the next advertisement (3-4 s apart now).
    vm.ip(&["-6", "addr", "del", &format!("{ip}/64"), "dev", "eth0"])
        .expect("addr del");
    vm.ip(&["-6", "route", "flush", "proto", "ra"])
        .expect("route flush");
    assert!(!slaac_done(&vm, ip));
    lab::wait_until("the next periodic RA", Duration::from_secs(10), || {
        slaac_done(&vm, ip)
    })
    .expect("a later advertisement configures the VM again");
    assert_eq!(
        s.flow_packets(14, "icmpv6_type=133"),
        0,
        "the VM solicited after all"
    );
}
