//! Periodic (unsolicited) Router Advertisements (RFC 4861 §6.2.4), driven
//! only by the CLI: a VM that never sends a Router Solicitation
//! (`router_solicitations=0`) still forms its SLAAC address and default
//! route from the agent's periodic advertisements, and forms them again
//! after losing them, with the intervals shortened by
//! `--ra-max-interval` / `--ra-min-interval`.

mod common;

use std::time::Duration;

use common::v6::{await_slaac_within, has_addr, has_ra_default, port_v6, vm_with, SLAAC};
use common::{bench, Serve};

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
    s.subnet("s1", "n1", "2001:db8:5::/64", SLAAC);
    s.create(&["router", "create", "r1"]);
    s.cli(&["router", "add", "subnet", "r1", "s1"]);
    let p1 = s.create(&["port", "create", "p1", "--network", "n1"]);
    let ip = port_v6(&s, &p1);

    // Never solicit: only unsolicited advertisements can configure it.
    let never = [("net.ipv6.conf.default.router_solicitations", "0")];
    let vm = vm_with(&lab, &s, "vm1", &p1, &never);
    assert_eq!(
        vm.sysctl("net.ipv6.conf.eth0.router_solicitations")
            .expect("sysctl")
            .trim(),
        "0"
    );
    await_slaac_within(&vm, ip, Duration::from_secs(25));
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
    assert!(!(has_addr(&vm, ip) && has_ra_default(&vm)));
    await_slaac_within(&vm, ip, Duration::from_secs(10));
    assert_eq!(
        s.flow_packets(14, "icmpv6_type=133"),
        0,
        "the VM solicited after all"
    );
}
