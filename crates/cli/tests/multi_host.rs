//! Issue 10 end to end on the embedded store: three host namespaces on an
//! underlay, each with its own `cloudnet vswitchd`, an agent per host (in
//! this process, all sharing one store, as they would share etcd), the API
//! server on the same store, and the two-project scenario spread over the
//! hosts. Real traffic: same network across hosts, isolation of two
//! projects that both use 10.0.0.0/24, routing across hosts, SNAT to an
//! internet namespace from a VM on a host that is not the gateway; then a
//! port moving between hosts, an agent restart and a chassis whose lease
//! expires, each with traffic running. And a distributed floating IP:
//! served on its VM's host through that host's own uplink.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use lab::{Lab, Netns};
use vswitch::Request;

mod common;
use common::uplink::{http_times, nft_count, nft_counters, pct, words};
use common::BIN;
/// Short, so that the expiry test does not wait long.
const LEASE_TTL: Duration = Duration::from_secs(2);
const VM_MTU: &str = "1400";

/// `cloudnet vswitchd` in a host namespace, killed when dropped.
struct Switchd {
    child: Child,
    run_dir: PathBuf,
}

impl Drop for Switchd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Switchd {
    fn start(host: &Netns, run_dir: PathBuf) -> Switchd {
        std::fs::create_dir_all(&run_dir).expect("run dir");
        let child = Command::new("ip")
            .args(["netns", "exec", host.name(), BIN, "vswitchd", "--run-dir"])
            .arg(&run_dir)
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn vswitchd");
        let sw = Switchd { child, run_dir };
        lab::wait_until("vswitchd answers", Duration::from_secs(10), || {
            vswitch::call(&sw.run_dir, &Request::Version, Duration::from_secs(1)).is_ok()
        })
        .expect("vswitchd started");
        sw
    }

    fn flows(&self) -> String {
        vswitch::call(
            &self.run_dir,
            &Request::DumpFlows {
                bridge: "br-int".into(),
                matches: None,
            },
            Duration::from_secs(10),
        )
        .expect("dump-flows")
    }
}

/// An agent running in a thread of this process.
struct AgentTask {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl AgentTask {
    fn start(store: Arc<dyn store::Store>, cfg: agent::Config) -> AgentTask {
        let status = agent::StoreStatus(store.clone());
        let mut a = agent::Agent::new(cfg, store, Some(Box::new(status))).expect("agent");
        a.start().expect("agent start");
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let handle = std::thread::spawn(move || a.run(&s).expect("agent run"));
        AgentTask {
            stop,
            handle: Some(handle),
        }
    }

    /// Stop as a crash would: no lease revoked, flows left on the switch.
    fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            h.join().expect("agent thread");
        }
    }
}

impl Drop for AgentTask {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// One hypervisor: host namespace, switch, agent (dropped in this order:
/// the agent before its switch).
struct Site {
    agent: Option<AgentTask>,
    name: String,
    ip: String,
    sw: Switchd,
    data: PathBuf,
    mappings: String,
    host: lab::Host,
}

impl Site {
    fn cfg(&self) -> agent::Config {
        agent::Config {
            run_dir: self.sw.run_dir.clone(),
            keys_path: agent::keys_file(&self.data),
            bridge_mappings: agent::parse_mappings(&self.mappings).expect("mappings"),
            chassis: Some(agent::cluster::ChassisConfig {
                name: self.name.clone(),
                underlay_ip: self.ip.parse().expect("ip"),
                encaps: vec!["vxlan".into(), "geneve".into(), "gre".into()],
                lease_ttl: LEASE_TTL,
            }),
            protection: agent::Protection::default(),
        }
    }

    /// A namespace VM on `port`: `cloudnet port plug --netns` on this
    /// host (the switch opens the TAP inside `vm` with the port's MAC),
    /// then the VM's MTU, address and default route.
    fn plug(&self, api: &Api, vm: &Netns, port: &Port) {
        let run_dir = &self.sw.run_dir;
        let ns = self.host.ns().name();
        common::cloudnet(
            ns,
            &api.endpoint,
            run_dir,
            &["port", "plug", &port.id, "--netns", vm.name()],
        );
        vm.ip(&["link", "set", "eth0", "mtu", VM_MTU]).expect("mtu");
        vm.ip(&["addr", "replace", &format!("{}/24", port.ip), "dev", "eth0"])
            .expect("addr");
        vm.ip(&["route", "replace", "default", "via", &port.gw])
            .expect("route");
    }

    fn unplug(&self, api: &Api, port: &Port) {
        let ns = self.host.ns().name();
        common::cloudnet(
            ns,
            &api.endpoint,
            &self.sw.run_dir,
            &["port", "unplug", &port.id],
        );
    }
}

/// The API server on the shared store, listening on host 0's underlay
/// address (the other hosts' `cloudnet port plug` reach it there).
struct Api {
    endpoint: String,
    ns: String,
    run_dir: PathBuf,
}

impl Api {
    fn start(store: Arc<dyn store::Store>, host: &Netns, addr: &str, run_dir: PathBuf) -> Api {
        let app = Arc::new(
            api::App::new(
                store,
                model::IpamConfig::default(),
                api::AuthMode::NoAuth,
                Arc::new(api::SystemClock),
                None,
            )
            .expect("app"),
        );
        let l = host
            .run(|| std::net::TcpListener::bind((addr, 0)))
            .expect("netns")
            .expect("bind");
        l.set_nonblocking(true).expect("nonblocking");
        let endpoint = format!("http://{}", l.local_addr().expect("addr"));
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let l = tokio::net::TcpListener::from_std(l).expect("listener");
                let _ = api::serve_on(l, app).await;
            });
        });
        Api {
            endpoint,
            ns: host.name().to_string(),
            run_dir,
        }
    }

    fn cli(&self, args: &[&str]) -> String {
        common::cloudnet(&self.ns, &self.endpoint, &self.run_dir, args)
    }

    fn create(&self, args: &[&str]) -> String {
        self.cli(&common::id_args(args))
    }

    /// A port with a fixed address.
    fn port(&self, name: &str, net: &str, subnet: &str, ip: &str, gw: &str, proj: &str) -> Port {
        let fixed = format!("subnet={subnet},ip-address={ip}");
        let id = self.create(&[
            "port",
            "create",
            name,
            "--network",
            net,
            "--fixed-ip",
            &fixed,
            "--project",
            proj,
        ]);
        Port {
            id,
            ip: ip.into(),
            gw: gw.into(),
        }
    }
}

struct Port {
    id: String,
    ip: String,
    gw: String,
}

fn pings(from: &Netns, to: &str) -> bool {
    common::pings(from, to.parse().expect("ip"))
}

fn tcp(from: &Netns, server: &Netns, to: &str, port: u16) -> bool {
    common::tcp(from, server, to.parse().expect("ip"), port)
}

/// Ping `to` from `from` every ~20 ms for `span` in a thread; the longest
/// time between two answered echoes (or from the start to the first).
fn probe(from: Arc<Netns>, to: &str, span: Duration) -> JoinHandle<(Duration, u32)> {
    let to: IpAddr = to.parse().expect("ip");
    std::thread::spawn(move || {
        let opts = lab::PingOptions {
            count: 1,
            reply_timeout: Duration::from_millis(20),
            ..Default::default()
        };
        let t0 = Instant::now();
        let (mut last, mut gap, mut ok) = (t0, Duration::ZERO, 0);
        while t0.elapsed() < span {
            let sent = Instant::now();
            if lab::ping_with(&from, to, opts).is_ok_and(|s| s.all_received()) {
                gap = gap.max(sent - last);
                last = sent;
                ok += 1;
            }
            std::thread::sleep(Duration::from_millis(20).saturating_sub(sent.elapsed()));
        }
        (gap.max(Instant::now() - last), ok)
    })
}

fn site(lab: &Lab, i: usize, tmp: &Path, mappings: &str) -> Site {
    let name = format!("h{i}");
    let ip = format!("10.200.0.{}", i + 1);
    let host = lab
        .host_with_ip(&name, format!("{ip}/24").parse().expect("cidr"))
        .expect("host");
    let sw = Switchd::start(host.ns(), tmp.join(&name).join("run"));
    let data = tmp.join(&name).join("data");
    std::fs::create_dir_all(&data).expect("data dir");
    Site {
        name,
        ip,
        sw,
        agent: None,
        data,
        mappings: mappings.to_string(),
        host,
    }
}

/// An agent on every site, and the API server on site 0.
fn start_agents(sites: &mut [Site], store: &Arc<dyn store::Store>) -> Api {
    for s in sites.iter_mut() {
        s.agent = Some(AgentTask::start(store.clone(), s.cfg()));
    }
    Api::start(
        store.clone(),
        sites[0].host.ns(),
        &sites[0].ip,
        sites[0].sw.run_dir.clone(),
    )
}

fn no_tunnel_to(s: &Site, ip: &str) -> bool {
    !s.sw.flows().contains(&format!("{ip}->tun_dst"))
}

#[test]
fn three_hosts_two_projects_and_failures() {
    let Some(lab) = Lab::new_or_skip("multi_host") else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tmp");
    let store: Arc<dyn store::Store> =
        Arc::new(store::RedbStore::open(tmp.path().join("store.redb")).expect("store"));
    scenario(&lab, &tmp, store, None);
}

/// The same cloud with the intent in a 3-member etcd cluster (issue 10's
/// deployment); at the end one member is killed and the API and the
/// agents keep working: a new port is created, bound and reached.
#[test]
fn three_hosts_on_a_three_member_etcd() {
    let Some(lab) = Lab::new_or_skip("multi_host_etcd") else {
        return;
    };
    let Some(mut etcd) = lab::etcd::Cluster::start_or_skip("multi_host_etcd", 3) else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tmp");
    let store = store::open(&etcd.endpoints()).expect("etcd store");
    scenario(&lab, &tmp, store, Some(&mut etcd));
}

fn scenario(
    lab: &Lab,
    tmp: &tempfile::TempDir,
    store: Arc<dyn store::Store>,
    etcd: Option<&mut lab::etcd::Cluster>,
) {
    // h0 is the gateway chassis: it alone has the external network's
    // uplink, a veth to the "internet".
    let mut sites = vec![site(lab, 0, tmp.path(), "physnet1:uplink")];
    let (inet, _uplink) = common::internet::internet(lab, sites[0].host.ns());
    inet.add_addr("eth0", "203.0.113.100/24".parse().expect("cidr"))
        .expect("addr");
    sites.push(site(lab, 1, tmp.path(), ""));
    sites.push(site(lab, 2, tmp.path(), ""));
    let api = start_agents(&mut sites, &store);

    // Project A: two networks behind a router with an external gateway;
    // project B reuses 10.0.0.0/24.
    api.create(&["network", "create", "neta", "--project", "proja"]);
    let suba = api.create(&[
        "subnet",
        "create",
        "suba",
        "--network",
        "neta",
        "--subnet-range",
        "10.0.0.0/24",
        "--project",
        "proja",
    ]);
    // One network per encapsulation: neta VXLAN (the default tenant
    // type), netc GRE, netb Geneve.
    api.create(&[
        "network",
        "create",
        "netc",
        "--project",
        "proja",
        "--provider-network-type",
        "gre",
    ]);
    let subc = api.create(&[
        "subnet",
        "create",
        "subc",
        "--network",
        "netc",
        "--subnet-range",
        "10.0.1.0/24",
        "--project",
        "proja",
    ]);
    api.create(&[
        "network",
        "create",
        "netb",
        "--project",
        "projb",
        "--provider-network-type",
        "geneve",
    ]);
    let subb = api.create(&[
        "subnet",
        "create",
        "subb",
        "--network",
        "netb",
        "--subnet-range",
        "10.0.0.0/24",
        "--project",
        "projb",
    ]);
    common::internet::ext_network("203.0.113.1", |a| api.create(a));
    api.create(&["router", "create", "r1", "--project", "proja"]);
    api.cli(&["router", "add", "subnet", "r1", "suba"]);
    api.cli(&["router", "add", "subnet", "r1", "subc"]);
    api.cli(&["router", "set", "r1", "--external-gateway", "ext"]);

    let a1 = api.port("a1", "neta", &suba, "10.0.0.11", "10.0.0.1", "proja");
    let a2 = api.port("a2", "neta", &suba, "10.0.0.12", "10.0.0.1", "proja");
    let c1 = api.port("c1", "netc", &subc, "10.0.1.11", "10.0.1.1", "proja");
    let b1 = api.port("b1", "netb", &subb, "10.0.0.11", "10.0.0.1", "projb");
    let b2 = api.port("b2", "netb", &subb, "10.0.0.12", "10.0.0.1", "projb");
    let vm = |short: &str| lab.netns(short).expect("vm");
    let (va1, va2, vc1, vb1, vb2) = (Arc::new(vm("a1")), vm("a2"), vm("c1"), vm("b1"), vm("b2"));
    sites[1].plug(&api, &va1, &a1);
    sites[2].plug(&api, &va2, &a2);
    sites[2].plug(&api, &vc1, &c1);
    sites[2].plug(&api, &vb1, &b1);
    sites[1].plug(&api, &vb2, &b2);

    lab::wait_until(
        "a1 reaches a2 across hosts",
        Duration::from_secs(10),
        || pings(&va1, &a2.ip),
    )
    .expect("same network, h1 → h2");
    // The agent writes the status to the store (the API server in this
    // process caches its state and does not watch the store).
    lab::wait_until("a1 ACTIVE in the store", Duration::from_secs(5), || {
        store
            .get("ports", &a1.id)
            .ok()
            .flatten()
            .and_then(|r| serde_json::from_slice::<serde_json::Value>(&r.value).ok())
            .is_some_and(|v| v["status"] == "ACTIVE")
    })
    .expect("a bound port is ACTIVE");
    assert!(tcp(&va1, &va2, &a2.ip, 5001), "TCP h1 → h2 in project A");
    assert!(tcp(&vb2, &vb1, &b1.ip, 5002), "TCP h1 → h2 in project B");
    // 10.0.0.11 is a1 (h1) in A and b1 (h2) in B: each project reaches
    // its own, never the other's, on the same host or across.
    assert!(
        !tcp(&vb2, &va1, &a1.ip, 5003),
        "B on h1 must not reach A on h1"
    );
    assert!(
        !tcp(&va1, &vb2, &b2.ip, 5004),
        "A on h1 must not reach B on h1"
    );
    assert!(
        !tcp(&vb1, &va2, &a2.ip, 5005),
        "B on h2 must not reach A on h2"
    );
    // Routing on the sender's host, across hosts.
    assert!(pings(&va1, &c1.ip), "neta (h1) → netc (h2) through r1");
    // SNAT on the gateway chassis h0 for a VM on h1.
    lab::wait_until("a1 reaches the internet", Duration::from_secs(10), || {
        pings(&va1, "203.0.113.100")
    })
    .expect("SNAT through the gateway chassis");
    // A floating IP on c1 (h2), served through the gateway chassis.
    let sg = store
        .list("security_groups")
        .expect("list")
        .into_iter()
        .filter_map(|r| serde_json::from_slice::<serde_json::Value>(&r.value).ok())
        .find(|v| v["name"] == "default" && v["project_id"] == "proja")
        .and_then(|v| v["id"].as_str().map(str::to_owned))
        .expect("project A's default group");
    api.create(&[
        "security",
        "group",
        "rule",
        "create",
        &sg,
        "--ingress",
        "--protocol",
        "icmp",
        "--project",
        "proja",
    ]);
    let fip = api.cli(&[
        "floating",
        "ip",
        "create",
        "ext",
        "--port",
        &c1.id,
        "--project",
        "proja",
        "-f",
        "value",
        "-c",
        "floating_ip_address",
    ]);
    lab::wait_until(
        "the internet reaches c1's floating IP",
        Duration::from_secs(10),
        || pings(&inet, &fip),
    )
    .expect("floating IP through the gateway chassis");
    // No tunnel flows to a chassis that hosts nothing of a network:
    // netb has ports on h1 and h2 only.
    assert!(
        !sites[1]
            .sw
            .flows()
            .lines()
            .any(|l| l.contains("table=16") && l.contains("10.200.0.1->tun_dst")),
        "h1 floods nothing to h0, which hosts no VM"
    );

    // Locality: h0 (the gateway) hosts no port of netb and no router
    // joins netb to anything, so it compiles nothing of netb; h1 does.
    let netb_cookies = |s: &Site| {
        let flows = s.sw.flows();
        [&b1.id, &b2.id]
            .iter()
            .map(|id| {
                format!(
                    "cookie={:#x},",
                    controller::Owner::Port(id.to_string()).cookie()
                )
            })
            .filter(|c| flows.contains(c.as_str()))
            .count()
    };
    assert_eq!(netb_cookies(&sites[0]), 0, "h0 has no flow of netb's ports");
    assert_eq!(netb_cookies(&sites[1]), 2, "h1 has both netb ports' flows");

    // A port moving h2 → h0 with traffic running (unbind on h2, bind on
    // h0, as in live migration).
    let p = probe(va1.clone(), &a2.ip, Duration::from_secs(4));
    std::thread::sleep(Duration::from_millis(500));
    sites[2].unplug(&api, &a2);
    sites[0].plug(&api, &va2, &a2);
    let (gap, ok) = p.join().expect("probe");
    eprintln!("migration: longest gap {gap:?}, {ok} echoes answered");
    assert!(pings(&va1, &a2.ip), "a2 reachable on h0");
    assert!(gap < Duration::from_secs(1), "migration gap {gap:?}");

    // An agent restart (h1) with traffic running.
    let p = probe(va1.clone(), &a2.ip, Duration::from_secs(3));
    std::thread::sleep(Duration::from_millis(300));
    sites[1].agent.take().expect("agent").stop();
    sites[1].agent = Some(AgentTask::start(store.clone(), sites[1].cfg()));
    let (gap, ok) = p.join().expect("probe");
    eprintln!("agent restart: longest gap {gap:?}, {ok} echoes answered");
    assert!(gap < Duration::from_secs(1), "restart gap {gap:?}");
    assert!(pings(&vb2, &b1.ip), "project B after the restart");

    // h2's agent dies: its lease expires and the others drop their
    // tunnels to it.
    assert!(!no_tunnel_to(&sites[1], &sites[2].ip), "h1 tunnels to h2");
    sites[2].agent.take().expect("agent").stop();
    lab::wait_until("h2 disappears from the mesh", LEASE_TTL * 5, || {
        no_tunnel_to(&sites[1], &sites[2].ip) && no_tunnel_to(&sites[0], &sites[2].ip)
    })
    .expect("tunnels to an expired chassis removed");
    assert!(pings(&va1, &a2.ip), "h1 ↔ h0 unaffected");

    // One etcd member of three dies: writes, watches and leases go on
    // through the other two.
    if let Some(etcd) = etcd {
        etcd.kill(0).expect("kill an etcd member");
        let a3 = api.port("a3", "neta", &suba, "10.0.0.13", "10.0.0.1", "proja");
        let va3 = vm("a3");
        sites[0].plug(&api, &va3, &a3);
        lab::wait_until(
            "a1 reaches a port made after the member died",
            Duration::from_secs(15),
            || pings(&va1, &a3.ip),
        )
        .expect("API and agents work with one etcd member down");

        // The whole etcd cluster goes away: the switches keep forwarding
        // with their last flows; when etcd returns, the agents catch up.
        etcd.kill(1).expect("kill");
        etcd.kill(2).expect("kill");
        let p = probe(va1.clone(), &a3.ip, Duration::from_secs(3));
        let (gap, ok) = p.join().expect("probe");
        eprintln!("etcd down: longest gap {gap:?}, {ok} echoes answered");
        assert!(
            gap < Duration::from_secs(1),
            "forwarding without etcd: {gap:?}"
        );
        etcd.restart_all().expect("etcd back");
        let a4 = api.port("a4", "neta", &suba, "10.0.0.14", "10.0.0.1", "proja");
        let va4 = vm("a4");
        sites[1].plug(&api, &va4, &a4);
        lab::wait_until(
            "a3 (h0) reaches a port made after etcd returned (h1)",
            Duration::from_secs(20),
            || pings(&va3, &a4.ip),
        )
        .expect("agents catch up when etcd returns");
    }
}

/// Issue 10's distributed floating IPs: both hosts have the external
/// uplink (one L2 segment, a bridge in the "internet" namespace), h0 is
/// the gateway chassis. The floating IP of a VM on h1 is served by h1:
/// the internet reaches its TCP service, and the frames leave and enter
/// through h1's uplink, never h0's; SNAT without a floating IP still goes
/// through h0. With h1's mapping removed the floating IP is back on h0,
/// whose gratuitous ARP moves the internet's neighbour entry at once.
/// `DFIP_SAMPLES=N` sets the HTTP exchanges timed on each path (20).
#[test]
fn a_floating_ip_is_served_on_its_vms_own_host() {
    let Some(lab) = Lab::new_or_skip("dfip") else {
        return;
    };
    let samples: usize = std::env::var("DFIP_SAMPLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let tmp = tempfile::tempdir().expect("tmp");
    let store: Arc<dyn store::Store> =
        Arc::new(store::RedbStore::open(tmp.path().join("store.redb")).expect("store"));
    let mut sites: Vec<Site> = (0..2)
        .map(|i| site(&lab, i, tmp.path(), "physnet1:uplink"))
        .collect();
    let inet = lab.netns("inet").expect("inet");
    inet.ip(&["link", "add", "br0", "type", "bridge"])
        .expect("bridge");
    let mut _uplinks = Vec::new();
    for (i, s) in sites.iter().enumerate() {
        let up = format!("up{i}");
        _uplinks.push(lab.veth(s.host.ns(), "uplink", &inet, &up).expect("veth"));
        s.host.ns().link_up("uplink").expect("up");
        inet.ip(&["link", "set", &up, "master", "br0"])
            .expect("master");
        inet.link_up(&up).expect("up");
    }
    inet.add_addr("br0", "203.0.113.100/24".parse().expect("cidr"))
        .expect("addr");
    inet.link_up("br0").expect("up");
    // Full checksums from the internet side (see `common::internet::internet`).
    for d in ["br0", "up0", "up1"] {
        inet.exec(&["ethtool", "-K", d, "tx", "off"])
            .expect("ethtool");
    }
    let api = start_agents(&mut sites, &store);
    api.create(&words("network create neta --project proja"));
    let suba = api.create(&words(
        "subnet create suba --network neta --subnet-range 10.0.0.0/24 --project proja",
    ));
    common::internet::ext_network("203.0.113.1", |a| api.create(a));
    api.create(&words("router create r1 --project proja"));
    api.cli(&words("router add subnet r1 suba"));
    api.cli(&words("router set r1 --external-gateway ext"));
    let gw_ip = api.cli(&words("router show r1 -f json"));
    let gw_ip = serde_json::from_str::<serde_json::Value>(&gw_ip).expect("json")
        ["external_gateway_info"]["external_fixed_ips"][0]["ip_address"]
        .as_str()
        .expect("gateway address")
        .to_owned();
    let w1 = api.port("w1", "neta", &suba, "10.0.0.11", "10.0.0.1", "proja");
    let s1 = api.port("s1", "neta", &suba, "10.0.0.12", "10.0.0.1", "proja");
    let (vw1, vs1) = (lab.netns("w1").expect("vm"), lab.netns("s1").expect("vm"));
    sites[1].plug(&api, &vw1, &w1);
    sites[1].plug(&api, &vs1, &s1);
    let sg = api.cli(&words("security group list --project proja -f value -c ID"));
    let rule = format!(
        "security group rule create {} --ingress --protocol tcp",
        sg.trim()
    );
    api.create(&words(&format!("{rule} --project proja")));
    let fip = format!("floating ip create ext --port {} --project proja", w1.id);
    let fip = api.cli(&words(&format!("{fip} -f value -c floating_ip_address")));
    let tags = [("fip", fip.as_str()), ("gw", gw_ip.as_str())];
    nft_counters(&inet, &["up0", "up1"], "saddr", &tags);
    for s in &sites {
        nft_counters(s.host.ns(), &["uplink"], "daddr", &tags);
    }

    lab::wait_until(
        "the internet reaches w1's service on its floating IP",
        Duration::from_secs(15),
        || tcp(&inet, &vw1, &fip, 8000),
    )
    .expect("floating IP served on h1");
    let out = |i: usize, t: &str| nft_count(&inet, &format!("up{i}-{t}"));
    let inn = |s: &Site, t: &str| nft_count(s.host.ns(), &format!("uplink-{t}"));
    eprintln!(
        "frames of the floating IP out/in: h1 {}/{}, h0 {}/{}",
        out(1, "fip"),
        inn(&sites[1], "fip"),
        out(0, "fip"),
        inn(&sites[0], "fip")
    );
    assert!(
        out(1, "fip") > 0 && inn(&sites[1], "fip") > 0,
        "through h1's uplink"
    );
    assert_eq!((out(0, "fip"), inn(&sites[0], "fip")), (0, 0), "not h0's");
    // SNAT only (s1, also on h1): through the gateway chassis h0.
    lab::wait_until("s1 reaches the internet", Duration::from_secs(10), || {
        pings(&vs1, "203.0.113.100")
    })
    .expect("SNAT through h0");
    assert!(
        out(0, "gw") > 0 && inn(&sites[0], "gw") > 0,
        "SNAT through h0's uplink"
    );
    assert_eq!((out(1, "gw"), inn(&sites[1], "gw")), (0, 0), "not h1's");
    let near = http_times(&inet, &vw1, &fip, 8001, samples);

    // h1 loses its mapping (its agent restarted without it): the floating
    // IP goes back to the gateway, whose agent announces it (RFC 5227
    // gratuitous ARP with the gateway's MAC): the internet's neighbour
    // entry follows without the internet asking, as the kernel takes a
    // gratuitous ARP for an entry it has (arp_accept only governs new
    // ones). The gateway's MAC is what the internet learned for the
    // gateway address from the SNAT traffic above.
    let neigh_mac = |ip: &str| -> Option<String> {
        let out = inet.ip(&["neigh", "show", ip, "dev", "br0"]).ok()?;
        let mut it = out.split_whitespace();
        it.find(|w| *w == "lladdr")?;
        it.next().map(str::to_owned)
    };
    let gw_mac = neigh_mac(&gw_ip).expect("the internet knows the gateway's MAC");
    let fip_mac = neigh_mac(&fip).expect("the internet knows the floating IP's MAC");
    assert_ne!(gw_mac, fip_mac, "distributed: the floating IP's own MAC");
    // STALE: nothing the internet sends refreshes it meanwhile.
    inet.ip(&[
        "neigh", "replace", &fip, "lladdr", &fip_mac, "dev", "br0", "nud", "stale",
    ])
    .expect("neigh replace");
    sites[1].agent.take().expect("agent").stop();
    sites[1].mappings = String::new();
    sites[1].agent = Some(AgentTask::start(store.clone(), sites[1].cfg()));
    lab::wait_until(
        "the gratuitous ARP of h0 moves the internet's entry",
        Duration::from_secs(15),
        || neigh_mac(&fip).as_deref() == Some(gw_mac.as_str()),
    )
    .unwrap_or_else(|e| panic!("{fip} still at {:?}, not {gw_mac}: {e:?}", neigh_mac(&fip)));
    let before = inn(&sites[0], "fip");
    lab::wait_until(
        "w1's floating IP through h0",
        Duration::from_secs(15),
        || tcp(&inet, &vw1, &fip, 8002),
    )
    .expect("floating IP back on the gateway");
    assert!(
        inn(&sites[0], "fip") > before && out(0, "fip") > 0,
        "through h0's uplink"
    );
    let far = http_times(&inet, &vw1, &fip, 8003, samples);
    eprintln!(
        "HTTP via floating IP, {samples} exchanges: distributed (h1) p50 {:?} p99 {:?}; \
         through the gateway (h0) p50 {:?} p99 {:?}",
        pct(&near, 50),
        pct(&near, 99),
        pct(&far, 50),
        pct(&far, 99)
    );
}
