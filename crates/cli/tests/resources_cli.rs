//! `cloudnet network|subnet|port|router|floating ip|security group|qos ...`
//! against `cloudnet serve` on a free loopback port.

mod common;

use std::process::Command;

fn cn(endpoint: &str, args: &str) -> Result<String, String> {
    let out = Command::new(env!("CARGO_BIN_EXE_cloudnet"))
        .args(args.split_whitespace())
        .env("OS_ENDPOINT", endpoint)
        .output()
        .expect("run cloudnet");
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

#[test]
fn resource_commands_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, ep) = common::start_api_only(dir.path());
    let ok = |a: &str| cn(&ep, a).unwrap_or_else(|e| panic!("cloudnet {a}: {e}"));
    let id = ok("network create n1 --tag blue -f value -c id");
    assert_eq!(id.len(), 36);
    ok("network create ext --external");
    let sub: serde_json::Value = serde_json::from_str(&ok(
        "subnet create s1 --network n1 --subnet-range 10.0.0.0/24 -f json",
    ))
    .unwrap();
    assert_eq!(sub["gateway_ip"], "10.0.0.1");
    ok("subnet create es --network ext --subnet-range 203.0.113.0/24");
    assert_eq!(
        ok("port create p1 --network n1 --fixed-ip ip-address=10.0.0.9 -f value -c fixed_ips"),
        format!(
            "ip_address='10.0.0.9', subnet_id='{}'",
            sub["id"].as_str().unwrap()
        )
    );
    ok("port set p1 --description web --no-security-group --disable-port-security");
    assert_eq!(ok("port show p1 -f value -c description"), "web");
    assert_eq!(
        ok("port show p1 -f value -c port_security_enabled"),
        "false"
    );
    let table = ok("port list");
    assert!(
        table.starts_with("+--") && table.contains("| p1 "),
        "{table}"
    );
    ok("router create r1 --external-gateway ext");
    ok("router add subnet r1 s1");
    let y = ok("floating ip create ext --port p1 -f yaml -c fixed_ip_address");
    assert_eq!(y, "fixed_ip_address: 10.0.0.9");
    ok("security group create web");
    assert_eq!(ok("security group rule create web --protocol tcp --dst-port 80:81 -f value -c port_range_max"), "81");
    assert_eq!(
        ok("security group rule list web -f value -c direction")
            .lines()
            .count(),
        3
    );
    ok("qos policy create gold");
    assert_eq!(ok("qos rule create gold --type bandwidth-limit --max-kbps 1000 --egress -f value -c max_kbps"), "1000");
    assert_eq!(ok("qos rule list gold -f value -c type"), "bandwidth_limit");
    assert_eq!(ok("network list --tags blue -f value -c name"), "n1");
    ok("network set n1 --name n2");
    let err = cn(&ep, "network delete n2").unwrap_err();
    assert!(
        err.contains("ports still in use") || err.contains("HTTP 409"),
        "{err}"
    );
    let err = cn(&ep, "network show nope").unwrap_err();
    assert!(err.contains("No Network found for nope"), "{err}");
    let fip = ok("floating ip list -f value -c id");
    ok(&format!("floating ip delete {fip}"));
    ok("router remove subnet r1 s1");
    ok("router set r1 --no-external-gateway");
    ok("router delete r1");
    ok("port delete p1");
    ok("network delete n2");
    ok("security group delete web");
    ok("qos policy delete gold");
    assert_eq!(ok("network list -f value -c name"), "ext");
}
