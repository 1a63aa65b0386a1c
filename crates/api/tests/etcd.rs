//! Stateless API servers on one etcd: what one writes the other serves,
//! and of two conflicting writes through two servers exactly one wins.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

/// An API server on `spec`, following the store, served on loopback.
fn server(rt: &tokio::runtime::Runtime, spec: &str) -> String {
    let store = store::open(spec).unwrap();
    let app = Arc::new(
        api::App::new(
            store.clone(),
            model::IpamConfig::default(),
            api::AuthMode::NoAuth,
            Arc::new(api::SystemClock),
            None,
        )
        .unwrap(),
    );
    api::follow::start(&app, store).unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    rt.spawn(api::serve_on(listener, app));
    format!("http://{addr}/v2.0")
}

/// Status and body of a request.
fn call(method: &str, url: &str, body: Option<Value>, if_match: Option<u64>) -> (u16, Value) {
    let mut req = ureq::request(method, url).timeout(Duration::from_secs(30));
    if let Some(n) = if_match {
        req = req.set("If-Match", &format!("revision_number={n}"));
    }
    let res = match body {
        Some(b) => req.send_json(b),
        None => req.call(),
    };
    match res {
        Ok(r) => (r.status(), r.into_json().unwrap_or(Value::Null)),
        Err(ureq::Error::Status(s, r)) => (s, r.into_json().unwrap_or(Value::Null)),
        Err(e) => panic!("{method} {url}: {e}"),
    }
}

fn name_on(base: &str, net: &str) -> Option<String> {
    let (st, v) = call("GET", &format!("{base}/networks/{net}"), None, None);
    (st == 200).then(|| v["network"]["name"].as_str().unwrap_or("").to_string())
}

#[test]
fn two_api_servers_share_one_etcd() {
    let Some(etcd) = lab::etcd::Cluster::start_or_skip("two_api_servers_share_one_etcd", 1) else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let a = server(&rt, &etcd.endpoints());
    let b = server(&rt, &etcd.endpoints());

    // A write through one is seen by the other.
    let (st, v) = call(
        "POST",
        &format!("{a}/networks"),
        Some(json!({"network": {"name": "n0"}})),
        None,
    );
    assert_eq!(st, 201, "{v}");
    let net = v["network"]["id"].as_str().unwrap().to_string();
    lab::wait_until(
        "B serves the network made through A",
        Duration::from_secs(10),
        || name_on(&b, &net).as_deref() == Some("n0"),
    )
    .unwrap();

    // Conflicting updates through both at once: exactly one wins, each
    // round, and both servers then agree on the winner.
    for round in 1..=4u64 {
        let names = [format!("a{round}"), format!("b{round}")];
        let results: Vec<(u16, Value)> = std::thread::scope(|sc| {
            let hs: Vec<_> = [&a, &b]
                .into_iter()
                .zip(&names)
                .map(|(base, name)| {
                    let url = format!("{base}/networks/{net}");
                    sc.spawn(move || {
                        call(
                            "PUT",
                            &url,
                            Some(json!({"network": {"name": name}})),
                            Some(round),
                        )
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let statuses: Vec<u16> = results.iter().map(|r| r.0).collect();
        let wins: Vec<usize> = (0..2).filter(|i| statuses[*i] == 200).collect();
        assert_eq!(wins.len(), 1, "round {round}: {results:?}");
        let loser = 1 - wins[0];
        assert_eq!(statuses[loser], 412, "round {round}: {results:?}");
        let winner = names[wins[0]].clone();
        for base in [&a, &b] {
            lab::wait_until(
                "both servers show the winner",
                Duration::from_secs(10),
                || name_on(base, &net).as_deref() == Some(winner.as_str()),
            )
            .unwrap();
        }
        // Nothing half-applied: one version step per round in the store.
        let s = store::open(&etcd.endpoints()).unwrap();
        let rec = s.get("networks", &net).unwrap().unwrap();
        assert_eq!(rec.version, round + 1);
        let stored: Value = serde_json::from_slice(&rec.value).unwrap();
        assert_eq!(stored["name"], winner.as_str());
    }

    // A delete through B disappears from A.
    let (st, _) = call("DELETE", &format!("{b}/networks/{net}"), None, None);
    assert_eq!(st, 204);
    lab::wait_until(
        "A forgets the deleted network",
        Duration::from_secs(10),
        || name_on(&a, &net).is_none(),
    )
    .unwrap();
}
