//! IPv6 VMs on `cloudnet serve` (shared by ipv6.rs and ipv6_routes.rs):
//! a namespace with a cloud image's IPv6 defaults on a plugged port, and
//! what the API and the kernel say about its addresses.
#![allow(dead_code)]

use std::net::Ipv6Addr;

use lab::{Lab, Netns};

use super::Serve;

/// `subnet create` options of an IPv6 subnet whose router advertises it
/// for SLAAC (RFC 4862) and hands out no addresses itself.
pub const SLAAC: &[&str] = &[
    "--ip-version",
    "6",
    "--ipv6-ra-mode",
    "slaac",
    "--ipv6-address-mode",
    "slaac",
];

/// The port's IPv6 fixed IP, as the API reports it.
pub fn port_v6(s: &Serve, port: &str) -> Ipv6Addr {
    let out = s.cli(&["port", "show", port, "-f", "json", "-c", "fixed_ips"]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("port show json");
    v["fixed_ips"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["ip_address"].as_str()?.parse::<Ipv6Addr>().ok())
        .next()
        .unwrap_or_else(|| panic!("port {port} has no IPv6 address: {out}"))
}

/// A VM namespace with the kernel's IPv6 defaults a cloud image has:
/// accept RAs, EUI-64 interface IDs, no temporary addresses; DAD off so
/// the first Router Solicitation goes out at once. Its eth0 is the TAP of
/// `port`, plugged by the CLI.
pub fn vm(lab: &Lab, s: &Serve, short: &str, port: &str) -> Netns {
    vm_with(lab, s, short, port, &[])
}

/// [`vm`] with more `net.ipv6.conf.default.*` sysctls (`extra`: key,
/// value), set before its eth0 exists so that they apply to it.
pub fn vm_with(lab: &Lab, s: &Serve, short: &str, port: &str, extra: &[(&str, &str)]) -> Netns {
    let ns = lab.netns(short).expect("netns");
    let defaults = [
        ("net.ipv6.conf.default.accept_ra", "1"),
        ("net.ipv6.conf.default.addr_gen_mode", "0"),
        ("net.ipv6.conf.default.use_tempaddr", "0"),
        ("net.ipv6.conf.default.accept_dad", "0"),
    ];
    for (k, v) in defaults.iter().chain(extra) {
        ns.set_sysctl(k, v).expect("sysctl");
    }
    let tap = s.cli(&["port", "plug", port, "--netns", ns.name()]);
    assert!(tap.starts_with("tap"), "plug printed {tap:?}");
    ns
}

/// Whether `ns`'s eth0 holds `ip` (not tentative).
pub fn has_addr(ns: &Netns, ip: Ipv6Addr) -> bool {
    ns.ip(&["-6", "addr", "show", "dev", "eth0"])
        .is_ok_and(|o| {
            o.lines()
                .any(|l| l.contains(&format!("inet6 {ip}/")) && !l.contains("tentative"))
        })
}

/// Whether `ns` has a default route learned from a Router Advertisement.
pub fn has_ra_default(ns: &Netns) -> bool {
    ns.ip(&["-6", "route", "show", "default"])
        .is_ok_and(|o| o.contains("proto ra"))
}

/// Waits (bounded) until `ns` holds `ip` by SLAAC and its RA default route.
pub fn await_slaac(ns: &Netns, ip: Ipv6Addr) {
    await_slaac_within(ns, ip, std::time::Duration::from_secs(20));
}

/// [`await_slaac`] within `within`.
pub fn await_slaac_within(ns: &Netns, ip: Ipv6Addr, within: std::time::Duration) {
    lab::wait_until("SLAAC address", within, || {
        has_addr(ns, ip) && has_ra_default(ns)
    })
    .unwrap_or_else(|e| {
        panic!(
            "{} never formed {ip} by SLAAC: {e:?}\n{}",
            ns.name(),
            ns.ip(&["-6", "addr"]).unwrap_or_default()
        )
    });
}
