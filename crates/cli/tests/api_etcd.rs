//! `cloudnet api --store etcd://…`: two stateless API server processes on
//! one etcd; a network made through one is served by the other. And
//! `cloudnet serve --store etcd://…` sees the port statuses standalone
//! agents write to the store.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A `cloudnet api` process, killed on drop.
struct ApiServer(Child);

impl Drop for ApiServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Start `cloudnet api` on `store`; its base URL once it listens.
fn api_server(store: &str) -> (ApiServer, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cloudnet"))
        .args(["api", "--listen", "127.0.0.1:0", "--store", store])
        .stderr(Stdio::piped())
        .spawn()
        .expect("start cloudnet api");
    let stderr = child.stderr.take().expect("piped");
    let server = ApiServer(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            match line.strip_prefix("cloudnet api: listening on ") {
                Some(url) => {
                    let _ = tx.send(Ok(url.to_string()));
                }
                None => {
                    let _ = tx.send(Err(line));
                }
            }
        }
    });
    let mut said = Vec::new();
    loop {
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(Ok(url)) => return (server, url),
            Ok(Err(line)) => said.push(line),
            Err(_) => panic!("cloudnet api did not start: {said:?}"),
        }
    }
}

#[test]
fn api_servers_on_one_etcd_serve_each_others_writes() {
    let Some(etcd) = lab::etcd::Cluster::start_or_skip("api_servers_on_one_etcd", 1) else {
        return;
    };
    let spec = format!("{}/clitest", etcd.endpoints());
    let (_a, a) = api_server(&spec);
    let (_b, b) = api_server(&spec);
    let created: serde_json::Value = ureq::post(&format!("{a}/v2.0/networks"))
        .send_json(serde_json::json!({"network": {"name": "shared-intent"}}))
        .expect("create through A")
        .into_json()
        .unwrap();
    let id = created["network"]["id"].as_str().unwrap().to_string();
    lab::wait_until(
        "B serves the network made through A",
        Duration::from_secs(10),
        || {
            ureq::get(&format!("{b}/v2.0/networks/{id}"))
                .call()
                .ok()
                .and_then(|r| r.into_json::<serde_json::Value>().ok())
                .is_some_and(|v| v["network"]["name"] == "shared-intent")
        },
    )
    .unwrap();
    // A bad spec is refused with the offending text.
    let out = Command::new(env!("CARGO_BIN_EXE_cloudnet"))
        .args(["api", "--store", "etcd://nohostport"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("etcd://nohostport"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A standalone agent (`cloudnet agent`) writes port status straight to
/// the store; `cloudnet serve` on the same etcd follows the store, so its
/// API shows it (issue 10: "status written by a standalone agent is not
/// seen by an in-process API that does not follow the store").
#[test]
fn serve_sees_statuses_written_by_standalone_agents() {
    let Some(etcd) = lab::etcd::Cluster::start_or_skip("serve_sees_agent_status", 1) else {
        return;
    };
    let spec = format!("{}/statustest", etcd.endpoints());
    let data = tempfile::tempdir().unwrap();
    let (_serve, url) = common::start_api_only_with(data.path(), &["--store", &spec]);
    let post = |path: &str, body: serde_json::Value| -> serde_json::Value {
        ureq::post(&format!("{url}/v2.0/{path}"))
            .send_json(body)
            .unwrap_or_else(|e| panic!("POST {path}: {e}"))
            .into_json()
            .unwrap()
    };
    let net = post("networks", serde_json::json!({"network": {"name": "n"}}));
    let net = net["network"]["id"].as_str().unwrap().to_string();
    let port = post(
        "ports",
        serde_json::json!({"port": {"network_id": net, "device_owner": "compute:nova"}}),
    );
    let port = port["port"]["id"].as_str().unwrap().to_string();
    let status = || {
        ureq::get(&format!("{url}/v2.0/ports/{port}"))
            .call()
            .ok()
            .and_then(|r| r.into_json::<serde_json::Value>().ok())
            .and_then(|v| v["port"]["status"].as_str().map(str::to_string))
    };
    assert_ne!(status().as_deref(), Some("ACTIVE"));
    // What `cloudnet agent` does once the port's flows are in.
    let store = store::open(&spec).expect("etcd store");
    agent::StatusSink::set_status(&agent::StoreStatus(store), &port, "ACTIVE")
        .expect("status written to the store");
    lab::wait_until(
        "serve's API shows the agent's status",
        Duration::from_secs(10),
        || status().as_deref() == Some("ACTIVE"),
    )
    .unwrap();
}
