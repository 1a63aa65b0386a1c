//! IPv6 end to end, driven only by the CLI: VMs (namespaces on TAPs) get
//! their addresses from the switch — by SLAAC from its Router
//! Advertisements on a `slaac` subnet, from its DHCPv6 server (a real
//! client, ISC dhclient) on a `dhcpv6-stateful` one — exactly the fixed IPs
//! the API gave their ports, ping6 each other and across a router, and a
//! Router Advertisement a VM sends reaches nobody.

mod common;

use std::net::{IpAddr, Ipv6Addr, SocketAddrV6};
use std::path::Path;
use std::time::Duration;

use common::v6::{await_slaac, has_addr, has_ra_default, port_v6, vm, SLAAC};
use common::{bench, pings, Serve};
use lab::Netns;

/// Runs dhclient -6 once on eth0 of `ns` with a hook that adds the bound
/// address; the address bound.
fn dhclient6(ns: &Netns, dir: &Path) -> Ipv6Addr {
    let hook = dir.join("dhclient6.sh");
    let env = dir.join("lease6.env");
    std::fs::write(
        &hook,
        format!(
            "#!/bin/sh\n\
             case \"$reason\" in\n\
             BOUND6|REBOOT6|RENEW6|REBIND6)\n\
               ip -6 addr add \"$new_ip6_address/64\" dev \"$interface\" nodad\n\
               env | grep -E '^new_(ip6_address|dhcp6_name_servers)=' > {env}\n\
               ;;\n\
             esac\n\
             exit 0\n",
            env = env.display()
        ),
    )
    .expect("hook");
    lab::run_ok(
        &["chmod", "755", &hook.to_string_lossy()],
        Duration::from_secs(5),
    )
    .expect("chmod");
    let (lf, pf) = (dir.join("dhclient6.leases"), dir.join("dhclient6.pid"));
    let out = ns
        .exec_output(
            &[
                "timeout",
                "20",
                "dhclient",
                "-6",
                "-1",
                "-v",
                "-sf",
                &hook.to_string_lossy(),
                "-lf",
                &lf.to_string_lossy(),
                "-pf",
                &pf.to_string_lossy(),
                "eth0",
            ],
            Duration::from_secs(25),
        )
        .expect("run dhclient");
    // dhclient forks into the background once bound; stop it (its pid file).
    if let Ok(pid) = std::fs::read_to_string(&pf) {
        let _ = lab::run(&["kill", pid.trim()], Duration::from_secs(5));
    }
    let lease = std::fs::read_to_string(&env)
        .unwrap_or_else(|_| panic!("dhclient -6 bound nothing: {}{}", out.stdout, out.stderr));
    let addr = lease
        .lines()
        .find_map(|l| l.strip_prefix("new_ip6_address="))
        .expect("new_ip6_address");
    assert!(
        lease.contains("new_dhcp6_name_servers=2001:db8::53"),
        "DNS from DHCPv6: {lease}"
    );
    addr.parse().expect("IPv6 address")
}

/// Sends `n` Router Advertisements for prefix 2001:db8:99::/64 (A flag)
/// from `ns`'s eth0 to all-nodes, as a rogue router would.
fn rogue_ra(ns: &Netns, n: usize) {
    let ifindex: u32 = ns
        .ip(&["-o", "link", "show", "eth0"])
        .expect("link")
        .split(':')
        .next()
        .and_then(|i| i.trim().parse().ok())
        .expect("ifindex");
    let mut ra = vec![134u8, 0, 0, 0, 64, 0, 0x07, 0x08, 0, 0, 0, 0, 0, 0, 0, 0];
    ra.extend([3, 4, 64, 0xc0]);
    ra.extend(3600u32.to_be_bytes());
    ra.extend(3600u32.to_be_bytes());
    ra.extend([0; 4]);
    ra.extend("2001:db8:99::".parse::<Ipv6Addr>().expect("ip").octets());
    ns.run(move || {
        use socket2::{Domain, Protocol, SockAddr, Socket, Type};
        let s = Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::ICMPV6)).expect("raw socket");
        s.set_multicast_hops_v6(255).expect("hops");
        s.set_multicast_if_v6(ifindex).expect("if");
        let to = SockAddr::from(SocketAddrV6::new(
            "ff02::1".parse().expect("ip"),
            0,
            0,
            ifindex,
        ));
        for _ in 0..n {
            s.send_to(&ra, &to).expect("send RA");
        }
    })
    .expect("in netns");
}

#[test]
fn ipv6_slaac_dhcpv6_routing() {
    let Some((lab, _bb, tmp, host)) = bench("ipv6_slaac_dhcpv6") else {
        return;
    };
    if lab::run(&["dhclient", "--version"], Duration::from_secs(5)).is_err() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "dhclient is not installed: run scripts/deps.sh (isc-dhcp-client)"
        );
        eprintln!("skipping ipv6_slaac_dhcpv6_routing: no dhclient (run scripts/deps.sh)");
        return;
    }
    let s = Serve::start(&host, &tmp.path().join("data"));
    s.create(&["network", "create", "n1"]);
    s.subnet("s1", "n1", "2001:db8:1::/64", SLAAC);
    s.create(&["network", "create", "n2"]);
    s.subnet(
        "s2",
        "n2",
        "2001:db8:2::/64",
        &[
            "--ip-version",
            "6",
            "--dns-nameserver",
            "2001:db8::53",
            "--ipv6-ra-mode",
            "dhcpv6-stateful",
            "--ipv6-address-mode",
            "dhcpv6-stateful",
        ],
    );
    s.create(&["router", "create", "r1"]);
    s.cli(&["router", "add", "subnet", "r1", "s1"]);
    s.cli(&["router", "add", "subnet", "r1", "s2"]);
    let p1 = s.create(&["port", "create", "p1", "--network", "n1"]);
    let p2 = s.create(&["port", "create", "p2", "--network", "n1"]);
    let p3 = s.create(&["port", "create", "p3", "--network", "n2"]);
    let (ip1, ip2, ip3) = (port_v6(&s, &p1), port_v6(&s, &p2), port_v6(&s, &p3));

    // SLAAC from the switch's RA: the address the API computed (EUI-64).
    let vm1 = vm(&lab, &s, "vm1", &p1);
    let vm2 = vm(&lab, &s, "vm2", &p2);
    for (ns, ip) in [(&vm1, ip1), (&vm2, ip2)] {
        await_slaac(ns, ip);
    }
    assert!(pings(&vm1, IpAddr::V6(ip2)), "ping6 on the slaac subnet");
    assert!(pings(&vm2, IpAddr::V6(ip1)), "ping6 back");

    // DHCPv6 (stateful) from the switch's server: the port's fixed IP.
    let vm3 = vm(&lab, &s, "vm3", &p3);
    lab::wait_until("RA with M flag", Duration::from_secs(20), || {
        has_ra_default(&vm3)
    })
    .expect("vm3 learns its router from the RA");
    let got = dhclient6(&vm3, tmp.path());
    assert_eq!(got, ip3, "DHCPv6 leases the port's fixed IP");
    assert!(has_addr(&vm3, ip3));

    // Across the router: hop limit decremented, next hop resolved.
    lab::wait_until("ping6 across the router", Duration::from_secs(10), || {
        pings(&vm1, IpAddr::V6(ip3))
    })
    .expect("vm1 → vm3 through r1");
    assert!(pings(&vm3, IpAddr::V6(ip2)), "vm3 → vm2 through r1");

    // A rogue RA from vm2 is dropped at port security and never reaches vm1.
    let before = s.flow_packets(9, "icmpv6_type=134");
    rogue_ra(&vm2, 5);
    lab::wait_until("rogue RAs counted", Duration::from_secs(5), || {
        s.flow_packets(9, "icmpv6_type=134") >= before + 5
    })
    .unwrap_or_else(|e| {
        panic!(
            "the RA guard flow drops vm2's advertisements: {e:?}\n{}",
            s.cli(&["ofctl", "dump-flows", "br-int", "table=9"])
        )
    });
    let addrs = vm1
        .ip(&["-6", "addr", "show", "dev", "eth0"])
        .expect("addr");
    assert!(
        !addrs.contains("2001:db8:99:"),
        "vm1 took the rogue prefix: {addrs}"
    );
}
