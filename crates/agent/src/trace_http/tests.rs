//! Both ends on loopback with a stand-in trace function: chassis lookup
//! through the store, the secret, errors passed on as the agent classed
//! them, and the bounded failures (refused connection, silent agent).

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::{Duration, Instant};

use controller::explain::{ResourceRef, TraceError, TraceReport, TraceRequest, Verdict};

use super::*;
use crate::cluster::{ChassisConfig, Registration};

fn report(req: &TraceRequest) -> TraceReport {
    TraceReport {
        from: ResourceRef {
            kind: "port".into(),
            id: req.port_id.clone(),
            ..ResourceRef::default()
        },
        flow: req.flow.clone(),
        ct_state: req.ct_state,
        steps: vec![],
        verdict: Verdict::Local {
            action: "cloudnet:test".into(),
        },
        passes: vec![],
    }
}

/// Answers with a report, or NotBound for port "gone".
fn fake(req: TraceRequest) -> Result<TraceReport, TraceError> {
    if req.port_id == "gone" {
        return Err(TraceError::NotBound(req.port_id));
    }
    Ok(report(&req))
}

struct Setup {
    _dir: tempfile::TempDir,
    store: Arc<dyn store::Store>,
    regs: Vec<Registration>,
}

impl Setup {
    fn new() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn store::Store> =
            Arc::new(store::RedbStore::open(dir.path().join("s.redb")).unwrap());
        Setup {
            _dir: dir,
            store,
            regs: Vec::new(),
        }
    }

    /// Chassis `name` serving traces at `addr`, with `ports` bound and
    /// physnet1's uplink.
    fn chassis(&mut self, name: &str, addr: Option<SocketAddr>, ports: &[&str]) {
        let cfg = ChassisConfig {
            name: name.into(),
            underlay_ip: Ipv4Addr::new(10, 200, 0, 1),
            encaps: vec!["vxlan".into()],
            lease_ttl: Duration::from_secs(60),
        };
        let phys = vec!["physnet1".to_string()];
        let r =
            Registration::register(self.store.as_ref(), cfg, phys, addr, Instant::now()).unwrap();
        for p in ports {
            r.claim(self.store.as_ref(), p).unwrap();
        }
        self.regs.push(r);
    }

    fn tracer(&self, secret: Option<&str>, timeout: Duration) -> RemoteTracer {
        let secret = secret.map(|s| Secret::new(s).unwrap());
        RemoteTracer::new(self.store.clone(), secret, timeout)
    }
}

fn req(port: &str) -> TraceRequest {
    TraceRequest {
        port_id: port.into(),
        flow: "tcp,tp_dst=22".into(),
        ..TraceRequest::default()
    }
}

fn serve(secret: Option<&str>) -> SocketAddr {
    let secret = secret.map(|s| Secret::new(s).unwrap());
    let srv = TraceServer::bind("127.0.0.1:0".parse().unwrap(), secret).unwrap();
    let addr = srv.local_addr();
    srv.spawn(fake).unwrap();
    addr
}

const T: Duration = Duration::from_secs(10);

#[test]
fn forwards_to_the_ports_chassis_and_passes_refusals_on() {
    let mut s = Setup::new();
    let addr = serve(Some("s3cret"));
    s.chassis("hv1", Some(addr), &["p1", "gone"]);
    s.chassis("hv2", None, &["p2"]);
    let t = s.tracer(Some("s3cret"), T);
    let r = t.trace(&req("p1")).unwrap();
    assert_eq!(r, report(&req("p1")), "the agent's report, unchanged");
    // The agent's own refusal keeps its class and text.
    let e = t.trace(&req("gone")).unwrap_err();
    let local = TraceError::NotBound("gone".into());
    assert_eq!(e.class(), local.class());
    assert_eq!(e.to_string(), local.to_string());
    // Not claimed by anyone; claimed by a chassis without an address.
    let e = t.trace(&req("nowhere")).unwrap_err();
    assert_eq!(e, ForwardError::Unbound("nowhere".into()));
    assert!(e.to_string().contains("nowhere"), "{e}");
    let e = t.trace(&req("p2")).unwrap_err();
    assert_eq!(e, ForwardError::NoAddress("hv2".into()));
    assert_eq!(e.class().0, 503);
    // From an uplink: the first chassis (by name) with the physnet.
    let up = TraceRequest {
        uplink: Some("physnet1".into()),
        ..req("")
    };
    assert!(t.trace(&up).is_ok());
    let up = TraceRequest {
        uplink: Some("physnet9".into()),
        ..req("")
    };
    assert_eq!(
        t.trace(&up).unwrap_err(),
        ForwardError::NoUplink("physnet9".into())
    );
}

#[test]
fn a_wrong_or_missing_secret_is_refused() {
    let mut s = Setup::new();
    let addr = serve(Some("right"));
    s.chassis("hv1", Some(addr), &["p1"]);
    for secret in [Some("wrong"), Some("righ"), None] {
        let e = s.tracer(secret, T).trace(&req("p1")).unwrap_err();
        assert_eq!(
            e,
            ForwardError::Unauthorized {
                chassis: "hv1".into()
            },
            "{secret:?}"
        );
        assert_eq!(e.class().0, 502);
    }
}

#[test]
fn dead_and_silent_agents_fail_within_the_timeout() {
    let mut s = Setup::new();
    // Nobody listens on a port just released: connection refused.
    let dead = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    // Accepts (the kernel does) but never answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    s.chassis("dead", Some(dead), &["pd"]);
    s.chassis("silent", Some(silent.local_addr().unwrap()), &["ps"]);
    let timeout = Duration::from_millis(500);
    let t = s.tracer(None, timeout);
    let e = t.trace(&req("pd")).unwrap_err();
    assert!(
        matches!(&e, ForwardError::Unreachable { chassis, .. } if chassis == "dead"),
        "{e:?}"
    );
    assert_eq!(e.class().0, 502);
    let start = Instant::now();
    let e = t.trace(&req("ps")).unwrap_err();
    assert!(
        matches!(&e, ForwardError::Timeout { chassis, .. } if chassis == "silent"),
        "{e:?}"
    );
    assert_eq!(e.class().0, 504);
    assert!(start.elapsed() < timeout * 4, "{:?}", start.elapsed());
}

#[test]
fn the_endpoint_checks_its_input_and_its_exposure() {
    // No secret off loopback.
    let any: SocketAddr = "0.0.0.0:0".parse().unwrap();
    assert!(matches!(
        TraceServer::bind(any, None),
        Err(TraceHttpError::NoSecretOffLoopback(_))
    ));
    let srv = TraceServer::bind(any, Some(Secret::new("x").unwrap())).unwrap();
    let adv = srv.advertised(Ipv4Addr::new(10, 200, 0, 7));
    assert_eq!(adv.ip(), Ipv4Addr::new(10, 200, 0, 7));
    assert_eq!(adv.port(), srv.local_addr().port());
    assert!(Secret::new(" \n").is_err() && Secret::new("a b").is_err());
    assert_eq!(Secret::new("tok\n").unwrap(), Secret::new("tok").unwrap());
    assert!(!format!("{:?}", Secret::new("tok").unwrap()).contains("tok"));
    // Bad bodies and paths get NeutronError-like answers.
    let addr = serve(None);
    let http = ureq::AgentBuilder::new().timeout(T).build();
    let url = format!("http://{addr}{TRACE_PATH}");
    match http.post(&url).send_string("{not json") {
        Err(ureq::Error::Status(400, r)) => {
            let b: ErrorBody = r.into_json().unwrap();
            assert_eq!(b.error.kind, "HTTPBadRequest");
        }
        other => panic!("{other:?}"),
    }
    let big = "x".repeat(MAX_BODY + 10);
    assert!(matches!(
        http.post(&url).send_string(&big),
        Err(ureq::Error::Status(413, _))
    ));
    assert!(matches!(
        http.get(&url).call(),
        Err(ureq::Error::Status(405, _))
    ));
    assert!(matches!(
        http.post(&format!("http://{addr}/other")).send_string("{}"),
        Err(ureq::Error::Status(404, _))
    ));
}
