//! The unmodified `openstack` CLI (python-openstackclient, installed into a
//! venv by scripts/openstack-venv.sh) against `cloudnet serve`: create, list,
//! show and delete every resource type.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

fn openstack_bin() -> Option<PathBuf> {
    let venv = std::env::var("OPENSTACK_VENV")
        .unwrap_or_else(|_| "/var/cache/cloudnet/openstack-venv".into());
    let bin = PathBuf::from(venv).join("bin/openstack");
    bin.exists().then_some(bin)
}

struct Os {
    bin: PathBuf,
    endpoint: String,
}

impl Os {
    fn run(&self, args: &str) -> String {
        let argv: Vec<&str> = args.split_whitespace().collect();
        let out = Command::new(&self.bin)
            .args(["--os-auth-type", "none", "--os-endpoint", &self.endpoint])
            .args(&argv)
            .output()
            .expect("run openstack");
        assert!(
            out.status.success(),
            "openstack {args} failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn json(&self, args: &str) -> serde_json::Value {
        let s = self.run(&format!("{args} -f json"));
        serde_json::from_str(&s).unwrap_or_else(|e| panic!("openstack {args}: bad JSON {e}: {s}"))
    }

    fn names(&self, args: &str) -> Vec<String> {
        self.json(args)
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|r| r["Name"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[test]
fn openstack_cli_scenario() {
    let Some(bin) = openstack_bin() else {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("the openstack CLI venv is missing: run scripts/openstack-venv.sh");
        }
        eprintln!("skipping: openstack CLI venv missing (run scripts/openstack-venv.sh)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let (_server, endpoint) = common::start_api_only(dir.path());
    let os = Os { bin, endpoint };

    // Networks and subnets.
    let net = os.json("network create net1 --tag blue");
    assert_eq!(net["name"], "net1");
    os.run("network create --external ext");
    assert_eq!(os.names("network list --tags blue"), ["net1"]);
    let sub = os.json("subnet create --network net1 --subnet-range 10.0.0.0/24 sub1");
    assert_eq!(sub["gateway_ip"], "10.0.0.1");
    os.run("subnet create --network ext --subnet-range 203.0.113.0/24 extsub");
    assert!(os.names("subnet list").contains(&"sub1".to_string()));
    assert_eq!(os.json("subnet show sub1")["cidr"], "10.0.0.0/24");

    // Ports.
    let port = os.json("port create --network net1 --fixed-ip ip-address=10.0.0.20 port1");
    assert!(port["mac_address"]
        .as_str()
        .unwrap()
        .starts_with("fa:16:3e:"));
    os.run("port set --name vm1 port1");
    assert_eq!(os.names("port list --network net1"), ["vm1"]);

    // Routers and floating IPs.
    os.run("router create r1");
    os.run("router set --external-gateway ext r1");
    os.run("router add subnet r1 sub1");
    assert!(os.json("router show r1")["external_gateway_info"]["network_id"].is_string());
    let fip = os.json("floating ip create --port vm1 ext");
    assert_eq!(fip["fixed_ip_address"], "10.0.0.20");
    let addr = fip["floating_ip_address"].as_str().unwrap().to_string();
    assert_eq!(os.json("floating ip list").as_array().unwrap().len(), 1);
    assert_eq!(
        os.json(&format!("floating ip show {addr}"))["port_id"],
        port["id"]
    );

    // Security groups.
    os.run("security group create web");
    let rule = os.json(
        "security group rule create --protocol tcp --dst-port 22 --remote-ip 203.0.113.0/24 web",
    );
    assert_eq!(rule["port_range_min"], 22);
    assert_eq!(
        os.json("security group rule list web")
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert_eq!(os.json("security group show web")["name"], "web");

    // QoS.
    os.run("network qos policy create gold");
    os.run("network qos rule create --type bandwidth-limit --max-kbps 1000 --max-burst-kbits 100 --egress gold");
    os.run("network qos rule create --type dscp-marking --dscp-mark 26 gold");
    os.run("network qos rule create --type minimum-bandwidth --min-kbps 500 --egress gold");
    assert_eq!(
        os.json("network qos rule list gold")
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert_eq!(os.json("network qos policy show gold")["name"], "gold");

    // Delete everything, in dependency order.
    os.run(&format!("floating ip delete {addr}"));
    os.run(&format!(
        "security group rule delete {}",
        rule["id"].as_str().unwrap()
    ));
    os.run("security group delete web");
    os.run("router remove subnet r1 sub1");
    os.run("router unset --external-gateway r1");
    os.run("router delete r1");
    os.run("port delete vm1");
    os.run("subnet delete sub1");
    os.run("network delete net1");
    os.run("network qos policy delete gold");
    assert_eq!(os.names("network list"), ["ext"]);
    assert!(os.json("router list").as_array().unwrap().is_empty());
    assert!(os
        .json("port list --network ext --device-owner network:floatingip")
        .as_array()
        .unwrap()
        .is_empty());
    eprintln!("openstack CLI scenario took {:?}", started.elapsed());
}
