//! Load benchmark of the API over loopback HTTP with the embedded store:
//! 10,000 ports created by 16 concurrent clients, then filtered lists and
//! shows by 16 clients. Prints p50/p99 latency, requests/s, store size.
//! Run: `cargo bench -p api --bench load` (env LOAD_PORTS to change the count).

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const CLIENTS: usize = 16;

fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort_unstable();
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn report(name: &str, mut lat: Vec<Duration>, wall: Duration) {
    let n = lat.len();
    let p50 = pct(&mut lat, 0.50);
    let p99 = pct(&mut lat, 0.99);
    println!(
        "{name:<40} n={n:<6} p50={:>8.2}ms p99={:>8.2}ms  {:>8.0} req/s",
        p50.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3,
        n as f64 / wall.as_secs_f64()
    );
}

fn run_clients(
    f: impl Fn(usize, usize) -> String + Send + Sync + 'static,
    per_client: usize,
    base: &str,
    post: Option<Arc<dyn Fn(usize, usize) -> Value + Send + Sync>>,
) -> (Vec<Duration>, Duration) {
    let f = Arc::new(f);
    let start = Instant::now();
    let handles: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let f = f.clone();
            let post = post.clone();
            let base = base.to_string();
            std::thread::spawn(move || {
                let agent = ureq::AgentBuilder::new().build();
                let mut lat = Vec::with_capacity(per_client);
                for i in 0..per_client {
                    let url = format!("{base}{}", f(c, i));
                    let t = Instant::now();
                    let r = match &post {
                        Some(b) => agent.post(&url).send_json(b(c, i)),
                        None => agent.get(&url).call(),
                    };
                    let body = r.expect("request failed").into_string().expect("body");
                    lat.push(t.elapsed());
                    assert!(!body.is_empty());
                }
                lat
            })
        })
        .collect();
    let lat: Vec<Duration> = handles
        .into_iter()
        .flat_map(|h| h.join().expect("client thread"))
        .collect();
    (lat, start.elapsed())
}

fn main() {
    let ports: usize = std::env::var("LOAD_PORTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("cloudnet.redb");
    let store = store::RedbStore::open(&db).expect("store");
    let app = Arc::new(
        api::App::new(
            Arc::new(store),
            model::IpamConfig::default(),
            api::AuthMode::NoAuth,
            Arc::new(api::SystemClock),
            Some(1),
        )
        .expect("app"),
    );
    let (tx, rx) = std::sync::mpsc::channel();
    let router = api::router(app);
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            tx.send(l.local_addr().expect("addr")).expect("send");
            axum::serve(l, router).await.expect("serve");
        });
    });
    let base = format!("http://{}/v2.0/", rx.recv().expect("server address"));
    let agent = ureq::AgentBuilder::new().build();
    let mut nets = Vec::new();
    for i in 0..4 {
        let n: Value = agent
            .post(&format!("{base}networks"))
            .send_json(json!({"network": {"name": format!("bench{i}")}}))
            .unwrap()
            .into_json()
            .unwrap();
        let id = n["network"]["id"].as_str().unwrap().to_string();
        agent
            .post(&format!("{base}subnets"))
            .send_json(json!({"subnet": {"network_id": id, "cidr": format!("10.{i}.0.0/16")}}))
            .unwrap();
        nets.push(id);
    }
    let nets = Arc::new(nets);
    println!("cloudnet API load benchmark: {ports} ports, {CLIENTS} concurrent clients");
    let per = ports / CLIENTS;
    let n2 = nets.clone();
    let body: Arc<dyn Fn(usize, usize) -> Value + Send + Sync> = Arc::new(move |c, i| {
        let k = c * per + i;
        json!({"port": {"network_id": n2[k % 4], "device_id": format!("vm-{}", k % 1000), "name": format!("p{k}")}})
    });
    let (lat, wall) = run_clients(|_, _| "ports".to_string(), per, &base, Some(body));
    report("POST /v2.0/ports (create)", lat, wall);
    let size = std::fs::metadata(&db).map(|m| m.len()).unwrap_or(0);
    println!(
        "store file after {} ports: {:.1} MiB ({:.0} bytes/port incl. watch history)",
        per * CLIENTS,
        size as f64 / 1048576.0,
        size as f64 / (per * CLIENTS) as f64
    );

    let all: Value = agent
        .get(&format!("{base}ports?fields=id"))
        .call()
        .unwrap()
        .into_json()
        .unwrap();
    let ids: Arc<Vec<String>> = Arc::new(
        all["ports"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_str().unwrap().to_string())
            .collect(),
    );
    let reads = 2000;
    let ids2 = ids.clone();
    let (lat, wall) = run_clients(
        move |c, i| format!("ports/{}", ids2[(c * 7919 + i * 104_729) % ids2.len()]),
        reads / CLIENTS * 4,
        &base,
        None,
    );
    report("GET /v2.0/ports/{id} (show)", lat, wall);
    let (lat, wall) = run_clients(
        |c, i| format!("ports?device_id=vm-{}", (c * 31 + i) % 1000),
        reads / CLIENTS * 2,
        &base,
        None,
    );
    report("GET ports?device_id=X (10 of 10k)", lat, wall);
    let n3 = nets.clone();
    let (lat, wall) = run_clients(
        move |c, i| {
            format!(
                "ports?network_id={}&device_id=vm-{}",
                n3[(c + i) % 4],
                (c * 31 + i) % 1000
            )
        },
        reads / CLIENTS * 2,
        &base,
        None,
    );
    report("GET ports?network_id=N&device_id=X", lat, wall);
    let (lat, wall) = run_clients(
        |c, i| {
            format!(
                "ports?name=p{}&fields=id&fields=fixed_ips",
                (c * 13 + i * 17) % 10_000
            )
        },
        reads / CLIENTS * 2,
        &base,
        None,
    );
    report("GET ports?name=X&fields=id,fixed_ips", lat, wall);
    let (lat, wall) = run_clients(
        |_, _| "ports?limit=100".to_string(),
        reads / CLIENTS / 2,
        &base,
        None,
    );
    report("GET ports?limit=100 (first page)", lat, wall);
    let (lat, wall) = run_clients(
        |_, _| "networks".to_string(),
        reads / CLIENTS * 2,
        &base,
        None,
    );
    report("GET /v2.0/networks", lat, wall);
}
