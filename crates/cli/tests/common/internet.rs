//! The "internet" of single-host tests: a namespace on the other end of
//! the host namespace's `uplink`, which `cloudnet serve --bridge-mapping
//! physnet1:uplink` attaches to flat provider network physnet1.
#![allow(dead_code)]

use lab::{Lab, Netns, VethPair};

/// The bridge mapping the internet is reached through.
pub const MAPPING: &str = "physnet1:uplink";

/// Namespace `inet` whose eth0 (up, no addresses yet, IPv6 DAD off) is
/// the peer of `host`'s `uplink` (up). The link goes with the guard.
pub fn internet(lab: &Lab, host: &Netns) -> (Netns, VethPair) {
    let inet = lab.netns("inet").expect("inet");
    inet.set_sysctl("net.ipv6.conf.default.accept_dad", "0")
        .expect("sysctl");
    let link = lab.veth(host, "uplink", &inet, "eth0").expect("veth");
    host.link_up("uplink").expect("up");
    inet.link_up("eth0").expect("up");
    // The switch reads the uplink with AF_PACKET: full checksums from the
    // internet side (a veth would leave TCP's to an offload that is not
    // there), as crates/vswitch/tests/rewrite.rs does.
    inet.exec(&["ethtool", "-K", "eth0", "tx", "off"])
        .expect("ethtool -K eth0 tx off");
    (inet, link)
}

/// The internet's prefix (RFC 5737 TEST-NET-3), the external subnet of
/// [`ext_network`].
pub const CIDR: &str = "203.0.113.0/24";

/// `network create` arguments of flat external network `name` on
/// physical network `physnet` (reached through a `--bridge-mapping`).
pub fn external_network_args<'a>(name: &'a str, physnet: &'a str) -> [&'a str; 8] {
    [
        "network",
        "create",
        name,
        "--external",
        "--provider-network-type",
        "flat",
        "--provider-physical-network",
        physnet,
    ]
}

/// Creates, through `create` (a client's create: arguments, then the new
/// resource's ID), flat external network `ext` on physnet1 and its subnet
/// `exts` on [`CIDR`] without DHCP, whose gateway (the internet's router)
/// is `gateway`; the network's ID.
pub fn ext_network(gateway: &str, create: impl Fn(&[&str]) -> String) -> String {
    let id = create(&external_network_args("ext", "physnet1"));
    create(&[
        "subnet",
        "create",
        "exts",
        "--network",
        "ext",
        "--subnet-range",
        CIDR,
        "--gateway",
        gateway,
        "--no-dhcp",
    ]);
    id
}
