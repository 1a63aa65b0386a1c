//! The API on etcd, by simulation: etcd traffic per API write (events,
//! revisions and bytes a watcher receives per create), and fan-out latency
//! of one change to 100 watchers (10 clients × 10 watches, as 100 agents
//! would watch), from commit to the last watcher's receipt.
//! Run: `cargo bench -p api --bench etcd` (needs `etcd`: scripts/deps.sh).

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use serde_json::json;
use store::Store;

const WRITES: usize = 200;
const CLIENTS: usize = 10;
const WATCHES_PER_CLIENT: usize = 10;

fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort_unstable();
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Creates through the API; what one watcher sees per create.
fn traffic_per_write(spec: &str) {
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
    let router = api::router(app);
    let rt = tokio::runtime::Runtime::new().unwrap();
    // A network with a subnet, then ports on it (the common write).
    let post = |path: &str, body: serde_json::Value| -> serde_json::Value {
        use http_body_util::BodyExt;
        use tower::ServiceExt;
        let req = axum::http::Request::builder()
            .method("POST")
            .uri(path)
            .header("content-type", "application/json")
            .body(axum::body::Body::from(body.to_string()))
            .unwrap();
        rt.block_on(async {
            let res = router.clone().oneshot(req).await.unwrap();
            assert_eq!(res.status(), 201);
            let b = res.into_body().collect().await.unwrap().to_bytes();
            serde_json::from_slice(&b).unwrap()
        })
    };
    let net = post("/v2.0/networks", json!({"network": {"name": "bench"}}));
    let net_id = net["network"]["id"].as_str().unwrap().to_string();
    post(
        "/v2.0/subnets",
        json!({"subnet": {"network_id": net_id, "cidr": "10.0.0.0/16", "ip_version": 4}}),
    );
    let from = store.revision().unwrap();
    let watch = store.watch(from).unwrap();
    let start = Instant::now();
    for i in 0..WRITES {
        post(
            "/v2.0/ports",
            json!({"port": {"network_id": net_id, "name": format!("p{i}")}}),
        );
    }
    let wall = start.elapsed();
    let to = store.revision().unwrap();
    let (mut events, mut bytes) = (0usize, 0usize);
    while let Ok(Some(e)) = watch.recv_timeout(Duration::from_secs(2)) {
        events += 1;
        // What etcd sends per event: key, value and the fixed fields.
        bytes +=
            format!("/cloudnet/{}/{}", e.kind, e.id).len() + e.value.as_ref().map_or(0, Vec::len);
        if e.revision >= to {
            break;
        }
    }
    println!(
        "port create via API on etcd: {WRITES} writes in {:.2}s ({:.0}/s); per write: \
         {:.2} revisions, {:.2} events, {:.0} bytes of key+value to each watcher",
        wall.as_secs_f64(),
        WRITES as f64 / wall.as_secs_f64(),
        (to - from) as f64 / WRITES as f64,
        events as f64 / WRITES as f64,
        bytes as f64 / WRITES as f64
    );
}

/// One writer, 100 watchers: latency from commit to each receipt.
fn fan_out(spec: &str) {
    let writer = store::open(spec).unwrap();
    let from = writer.revision().unwrap();
    let clients: Vec<Arc<dyn Store>> = (0..CLIENTS).map(|_| store::open(spec).unwrap()).collect();
    let n = CLIENTS * WATCHES_PER_CLIENT;
    let ready = Arc::new(Barrier::new(n + 1));
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let s = clients[i % CLIENTS].clone();
            let ready = ready.clone();
            std::thread::spawn(move || {
                let w = s.watch(from).unwrap();
                ready.wait();
                let mut got = Vec::with_capacity(WRITES);
                while got.len() < WRITES {
                    match w.recv_timeout(Duration::from_secs(30)) {
                        Ok(Some(e)) => got.push((e.revision, Instant::now())),
                        _ => break,
                    }
                }
                got
            })
        })
        .collect();
    ready.wait();
    let mut sent = Vec::with_capacity(WRITES);
    for i in 0..WRITES {
        let t0 = Instant::now();
        let op = store::Op::Put {
            kind: "fanout".into(),
            id: format!("k{i}"),
            value: vec![b'x'; 200],
        };
        let rev = writer.commit(&[], &[op]).unwrap();
        sent.push((rev, t0));
        std::thread::sleep(Duration::from_millis(5));
    }
    let per_watcher: Vec<Vec<(u64, Instant)>> =
        handles.into_iter().map(|h| h.join().unwrap()).collect();
    let mut each = Vec::new();
    let mut last = Vec::new();
    for (rev, t0) in &sent {
        let mut worst = Duration::ZERO;
        for got in &per_watcher {
            if let Some((_, t)) = got.iter().find(|(r, _)| r == rev) {
                let d = t.duration_since(*t0);
                each.push(d);
                worst = worst.max(d);
            }
        }
        last.push(worst);
    }
    let received = each.len();
    println!(
        "fan-out to {n} watchers ({CLIENTS} clients): {received}/{} deliveries; \
         commit→receipt p50={:.2}ms p99={:.2}ms; commit→last watcher p50={:.2}ms p99={:.2}ms",
        WRITES * n,
        ms(pct(&mut each, 0.5)),
        ms(pct(&mut each, 0.99)),
        ms(pct(&mut last, 0.5)),
        ms(pct(&mut last, 0.99)),
    );
}

fn main() {
    let Some(etcd) = lab::etcd::Cluster::start_or_skip("bench etcd", 3) else {
        return;
    };
    println!("3-member etcd on loopback");
    traffic_per_write(&format!("{}/bench", etcd.endpoints()));
    fan_out(&format!("{}/fanout", etcd.endpoints()));
}
