//! Tenant-level trace explanations: the compiled pipeline run through the
//! `flow` crate's `ofproto/trace` (the same text the switch's `trace` verb
//! returns), recirculations followed, and each stage and verdict mapped to
//! the resource that decided.

mod common;

use common::sim::Sim;
use common::Builder;
use controller::explain::{self, CtAssume, Inputs, TraceReport, Verdict, Wiring};
use controller::{Bindings, Compiler, Keys};

struct World {
    st: model::State,
    compiler: Compiler,
    sim: Sim,
    wiring: Wiring,
    web1: String,
    db1: String,
    pb1: String,
    web: String,
    db: String,
    ra: String,
}

fn world() -> World {
    build(false)
}

/// Project pa: network 10.0.0.0/24 behind router ra, web1 in group web
/// (tcp/80 in), db1 in group db (tcp/3306 from group web). Project pb:
/// network 10.1.0.0/24 with pb1, joined to nothing. With `gateway`, ra
/// has a gateway on an external network (physnet1, uplink ofport 100) and
/// web1 the floating IP 198.51.100.50.
fn build(gateway: bool) -> World {
    let mut b = Builder::default();
    let na = b.network("pa");
    let sa = b.subnet(&na, "10.0.0.0/24", Some("10.0.0.1"));
    let web = b.group("pa");
    let db = b.group("pa");
    b.rule(&web, "ingress", Some("tcp"), Some((80, 80)), None, None);
    b.rule(&web, "egress", None, None, None, None);
    b.rule(
        &db,
        "ingress",
        Some("tcp"),
        Some((3306, 3306)),
        None,
        Some(&web),
    );
    b.rule(&db, "egress", None, None, None, None);
    let web1 = b.port(&na, &sa, "10.0.0.4", &[&web]);
    let db1 = b.port(&na, &sa, "10.0.0.5", &[&db]);
    let ra = b.router("pa");
    b.interface(&ra, &na, &sa, "10.0.0.1");
    let nb = b.network("pb");
    let sb = b.subnet(&nb, "10.1.0.0/24", Some("10.1.0.1"));
    let gb = b.group("pb");
    b.rule(&gb, "egress", None, None, None, None);
    let pb1 = b.port(&nb, &sb, "10.1.0.5", &[&gb]);
    let mut bind = Bindings::default();
    let mut wiring = Wiring::default();
    let mut gw_port = None;
    if gateway {
        let ext = b.external("physnet1");
        let es = b.subnet(&ext, "198.51.100.0/24", Some("198.51.100.1"));
        gw_port = Some(b.gateway(&ra, &ext, &es, "198.51.100.10"));
        b.fip(&ext, "198.51.100.50", &web1, "10.0.0.4", &ra);
        bind.bridge_mappings.insert("physnet1".into(), 100);
        wiring.uplinks.insert(100, "physnet1".into());
    }
    for (i, p) in [&web1, &db1, &pb1].into_iter().enumerate() {
        bind.ports.insert(p.clone(), i as u32 + 1);
        wiring.ports.insert(i as u32 + 1, p.clone());
    }
    let mut compiler = Compiler::new(Keys::default());
    compiler.full(&b.st, &bind);
    assert!(compiler.errors().is_empty(), "{:?}", compiler.errors());
    let sim = Sim::load(&compiler.flows());
    if let Some(gw) = &gw_port {
        // The neighbour the traces send to has answered the router's ARP.
        let gw_mac = b.st.ports[gw].mac_address.clone();
        sim.learn_neighbour(
            100,
            &gw_mac,
            "198.51.100.10",
            "198.51.100.77",
            "02:00:00:00:00:77",
        );
    }
    World {
        st: b.st,
        compiler,
        sim,
        wiring,
        web1,
        db1,
        pb1,
        web,
        db,
        ra,
    }
}

impl World {
    fn trace(&self, from: &str, flow: &str, ct: CtAssume, viewer: Option<&str>) -> TraceReport {
        let ofport = *self
            .wiring
            .ports
            .iter()
            .find(|(_, p)| *p == from)
            .expect("bound")
            .0;
        let (m, probe) = explain::fill(&self.st, from, ofport, flow, ct).expect("fill");
        self.explain(&m, &probe, ct, from, None, viewer)
    }

    /// Run the completed packet `m` through the tables and explain it.
    fn explain(
        &self,
        m: &explain::microflow::Microflow,
        probe: &explain::Probe,
        ct: CtAssume,
        from: &str,
        uplink: Option<&str>,
        viewer: Option<&str>,
    ) -> TraceReport {
        let passes = explain::passes::run(&m.to_string(), ct, |text| {
            let pkt = flow::parse_packet(text).map_err(|e| format!("{text}: {e}"))?;
            Ok::<_, String>(flow::trace(&self.sim.tables, &pkt).render())
        })
        .expect("trace");
        let inp = Inputs {
            st: &self.st,
            compiler: &self.compiler,
            wiring: &self.wiring,
            from_port: from,
            probe,
            viewer,
            uplink,
        };
        explain::explain(&inp, m.to_string(), ct, passes)
    }
}

fn stages(r: &TraceReport) -> Vec<&str> {
    r.steps.iter().map(|s| s.stage.as_str()).collect()
}

fn drop_of(r: &TraceReport) -> (&str, &str, Option<&explain::ResourceRef>) {
    match &r.verdict {
        Verdict::Drop {
            stage,
            reason,
            resource,
        } => (stage, reason, resource.as_ref()),
        v => panic!("expected a drop, got {v:?}\n{}", r.render()),
    }
}

#[test]
fn allowed_path_names_every_stage_and_the_admitting_rule() {
    let w = world();
    let r = w.trace(
        &w.web1,
        "tcp,nw_dst=10.0.0.5,tp_dst=3306",
        CtAssume::New,
        None,
    );
    let text = r.render();
    match &r.verdict {
        Verdict::Output { ports, .. } => {
            assert_eq!(ports.len(), 1, "{text}");
            assert_eq!(ports[0].id, w.db1, "{text}");
        }
        v => panic!("expected delivery, got {v:?}\n{text}"),
    }
    let s = stages(&r);
    for want in [
        "ls_in_port_sec_l2",
        "ls_in_port_sec_ip",
        "ls_in_pre_stateful",
        "ls_in_acl",
        "ls_in_l2_lkp",
        "ls_out_acl",
        "ls_out_port_sec",
        "physical egress",
    ] {
        assert!(s.contains(&want), "stage {want} missing: {s:?}\n{text}");
    }
    // Two conntrack recirculations, both assumed +new.
    assert_eq!(r.passes.len(), 3, "{text}");
    assert!(r.passes[1].ct.as_deref().unwrap_or("").contains("+trk+new"));
    // The egress ACL decision is db's rule admitting tcp/3306 from web.
    let acl = r
        .steps
        .iter()
        .filter(|s| s.stage == "ls_out_acl")
        .find_map(|s| {
            s.resource
                .as_ref()
                .filter(|r| r.kind == "security group rule")
        })
        .unwrap_or_else(|| panic!("no rule decided ls_out_acl\n{text}"));
    assert!(acl.detail.contains("tcp/3306"), "{acl:?}");
    assert!(acl.detail.contains(&w.db), "{acl:?}");
    assert!(
        acl.detail.contains(&format!("from group {}", w.web)),
        "{acl:?}"
    );
    assert!(text.contains("Verdict: output to port"), "{text}");
}

#[test]
fn denied_port_names_the_destination_group() {
    let w = world();
    let r = w.trace(
        &w.web1,
        "tcp,nw_dst=10.0.0.5,tp_dst=22",
        CtAssume::New,
        None,
    );
    let (stage, reason, res) = drop_of(&r);
    assert_eq!(stage, "ls_out_acl");
    assert!(reason.contains(&w.db), "{reason}");
    assert!(reason.contains(&w.db1), "{reason}");
    assert!(reason.contains("tcp/22 from 10.0.0.4"), "{reason}");
    assert_eq!(res.map(|r| r.id.as_str()), Some(w.db1.as_str()));
}

#[test]
fn spoofed_source_names_port_security() {
    let w = world();
    let r = w.trace(
        &w.web1,
        "tcp,nw_src=10.0.0.9,nw_dst=10.0.0.5,tp_dst=3306",
        CtAssume::New,
        None,
    );
    let (stage, reason, res) = drop_of(&r);
    assert_eq!(stage, "ls_in_port_sec_ip");
    assert!(reason.contains("10.0.0.9"), "{reason}");
    assert!(reason.contains(&w.web1), "{reason}");
    assert_eq!(res.map(|r| r.kind.as_str()), Some("port"));
}

#[test]
fn cross_project_names_the_router_without_a_route() {
    let w = world();
    let r = w.trace(
        &w.web1,
        "tcp,nw_dst=10.1.0.5,tp_dst=80",
        CtAssume::New,
        None,
    );
    let (stage, reason, res) = drop_of(&r);
    assert_eq!(stage, "lr_in_ip_routing", "{}", r.render());
    assert!(reason.contains("no route to 10.1.0.5"), "{reason}");
    assert!(
        reason.contains(&w.pb1),
        "admin sees where it lives: {reason}"
    );
    assert_eq!(res.map(|r| r.id.as_str()), Some(w.ra.as_str()));
    // A project is not told about another project's port.
    let r = w.trace(
        &w.web1,
        "tcp,nw_dst=10.1.0.5,tp_dst=80",
        CtAssume::New,
        Some("pa"),
    );
    let (_, reason, _) = drop_of(&r);
    assert!(!reason.contains(&w.pb1), "{reason}");
    assert!(reason.contains("another project"), "{reason}");
}

#[test]
fn isolated_network_names_where_the_destination_lives() {
    let w = world();
    // pb1's network has no router: 10.0.0.4 is off-subnet and unresolved.
    let r = w.trace(&w.pb1, "icmp,nw_dst=10.0.0.4", CtAssume::New, None);
    let (stage, reason, _) = drop_of(&r);
    assert_eq!(stage, "ls_in_l2_lkp", "{}", r.render());
    assert!(reason.contains(&w.web1), "{reason}");
    assert!(reason.contains("no router connects"), "{reason}");
}

#[test]
fn established_reply_passes_without_a_rule() {
    let w = world();
    let flow = "tcp,nw_dst=10.0.0.4,tp_src=3306,tp_dst=40000";
    let r = w.trace(&w.db1, flow, CtAssume::Est, None);
    match &r.verdict {
        Verdict::Output { ports, .. } => assert_eq!(ports[0].id, w.web1),
        v => panic!("expected delivery, got {v:?}\n{}", r.render()),
    }
    assert!(r.flow.contains("tcp_flags=0x010"), "{}", r.flow);
    assert!(r.passes[1].ct.as_deref().unwrap_or("").contains("+trk+est"));
    // The same packet as a new connection is refused by web's rules.
    let r = w.trace(&w.db1, flow, CtAssume::New, None);
    let (stage, reason, _) = drop_of(&r);
    assert_eq!(stage, "ls_out_acl");
    assert!(reason.contains(&w.web), "{reason}");
}

#[test]
fn floating_ip_snat_is_named_and_leaves_by_the_uplink() {
    let w = build(true);
    let r = w.trace(
        &w.web1,
        "tcp,nw_dst=198.51.100.77,tp_dst=443",
        CtAssume::New,
        None,
    );
    let text = r.render();
    match &r.verdict {
        Verdict::Output { ports, uplinks } => {
            assert!(ports.is_empty(), "{text}");
            assert_eq!(uplinks, &["physnet1".to_string()], "{text}");
        }
        v => panic!("expected the uplink, got {v:?}\n{text}"),
    }
    let snat = r
        .steps
        .iter()
        .find(|s| s.stage == "lr_out_snat")
        .and_then(|s| s.resource.as_ref())
        .unwrap_or_else(|| panic!("no lr_out_snat decision\n{text}"));
    assert_eq!(snat.kind, "floating IP", "{text}");
    assert!(snat.detail.contains("198.51.100.50"), "{snat:?}");
    let routing = r
        .steps
        .iter()
        .find(|s| s.stage == "lr_in_ip_routing")
        .and_then(|s| s.resource.as_ref())
        .unwrap_or_else(|| panic!("no routing decision\n{text}"));
    assert_eq!(routing.id, w.ra);
    assert!(
        r.passes.iter().any(|p| p.datapath_actions.contains("nat")),
        "{text}"
    );
}

#[test]
fn arp_request_is_answered_by_the_switch() {
    let w = world();
    let r = w.trace(&w.web1, "arp,arp_tpa=10.0.0.5", CtAssume::New, None);
    let db_mac = &w.st.ports[&w.db1].mac_address;
    match &r.verdict {
        Verdict::Local { action } => {
            assert!(action.contains("arp-reply"), "{action}");
            assert!(action.contains(db_mac.as_str()), "{action}");
        }
        v => panic!("expected a local answer, got {v:?}\n{}", r.render()),
    }
    assert!(r.flow.contains("dl_dst=ff:ff:ff:ff:ff:ff"), "{}", r.flow);
    assert!(r.steps.iter().any(|s| s.stage == "ls_in_arp_rsp"));
}

#[test]
fn inbound_to_a_floating_ip_names_the_dnat() {
    let w = build(true);
    let ct = CtAssume::New;
    let flow = "tcp,nw_dst=198.51.100.50,tp_dst=80";
    let (m, probe) = explain::fill_uplink(&w.st, "physnet1", 100, flow, ct).expect("fill");
    assert_eq!(m.get("nw_src"), Some(explain::OUTSIDE_IP));
    let r = w.explain(&m, &probe, ct, "", Some("physnet1"), None);
    let text = r.render();
    match &r.verdict {
        Verdict::Output { ports, .. } => assert_eq!(ports[0].id, w.web1, "{text}"),
        v => panic!("expected web1, got {v:?}\n{text}"),
    }
    assert_eq!(r.from.kind, "uplink");
    let dnat = r
        .steps
        .iter()
        .find(|s| s.stage == "lr_in_dnat")
        .and_then(|s| s.resource.as_ref())
        .unwrap_or_else(|| panic!("no lr_in_dnat decision\n{text}"));
    assert_eq!(dnat.kind, "floating IP");
    assert!(dnat.detail.contains("198.51.100.50 ↔ 10.0.0.4"), "{dnat:?}");
    // After DNAT the packet is addressed to web1's fixed IP.
    assert!(
        r.passes.iter().any(|p| p.flow.contains("nw_dst=10.0.0.4")),
        "{text}"
    );
}

#[test]
fn every_table_has_a_stage_name() {
    for t in controller::tables::ALL {
        assert_ne!(explain::stage(t), "unknown stage", "table {t}");
    }
    assert_eq!(explain::stage(42), "ls_out_acl");
    assert_eq!(explain::stage(99), "unknown stage");
}

#[test]
fn defaults_follow_the_port_and_the_next_hop() {
    let w = world();
    let (m, p) =
        explain::fill(&w.st, &w.web1, 1, "tcp,ip_dst=10.0.0.5", CtAssume::New).expect("fill");
    let db_mac = &w.st.ports[&w.db1].mac_address;
    assert_eq!(m.get("dl_dst"), Some(db_mac.as_str()));
    assert_eq!(m.get("nw_src"), Some("10.0.0.4"));
    assert_eq!(m.get("in_port"), Some("1"));
    assert_eq!(p.service(), "tcp");
    // Off-subnet: the router's gateway port MAC.
    let (m, _) =
        explain::fill(&w.st, &w.web1, 1, "udp,nw_dst=8.8.8.8", CtAssume::New).expect("fill");
    let gw_mac =
        w.st.ports
            .values()
            .find(|p| p.device_id == w.ra)
            .map(|p| p.mac_address.clone())
            .expect("router port");
    assert_eq!(m.get("dl_dst"), Some(gw_mac.as_str()));
    // User fields win; bad input is named.
    let (m, _) = explain::fill(
        &w.st,
        &w.web1,
        1,
        "ip,nw_dst=10.0.0.5,nw_ttl=3",
        CtAssume::New,
    )
    .expect("fill");
    assert_eq!(m.get("nw_ttl"), Some("3"));
    let e = explain::fill(&w.st, &w.web1, 1, "tcp,nw_dst=10.0.0.500", CtAssume::New)
        .expect_err("bad address");
    assert!(e.to_string().contains("10.0.0.500"), "{e}");
    let e = explain::fill(&w.st, &w.web1, 1, "tcp", CtAssume::New).expect_err("no dst");
    assert_eq!(e, explain::TraceError::NoDestination);
}
