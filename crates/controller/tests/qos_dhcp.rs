//! QoS descriptions and DHCP options derived from the intent.

mod common;

use common::{meta, Builder};
use controller::{Bindings, Compiler, Keys};
use model::{HostRoute, QosPolicy, QosRule, QosRuleSpec, Resource};

fn userdata_text(actions: &str) -> String {
    let hex = actions
        .trim_start_matches("controller(userdata=")
        .trim_end_matches(')');
    let bytes: Vec<u8> = hex
        .split('.')
        .map(|h| u8::from_str_radix(h, 16).unwrap())
        .collect();
    String::from_utf8(bytes).unwrap()
}

#[test]
fn qos_policy_becomes_policing_shaping_and_a_dscp_flow() {
    let mut x = Builder::default();
    let n = x.network("P");
    let s = x.subnet(&n, "10.0.0.0/24", Some("10.0.0.1"));
    let p = x.port(&n, &s, "10.0.0.5", &[]);
    let q = x.port(&n, &s, "10.0.0.6", &[]);
    x.st.put(Resource::QosPolicy(QosPolicy {
        meta: meta("pol".into(), "P"),
        name: "pol".into(),
        shared: false,
        is_default: false,
    }));
    for (id, spec) in [
        (
            "r1",
            QosRuleSpec::BandwidthLimit {
                max_kbps: 10_000,
                max_burst_kbps: 1_000,
                direction: "egress".into(),
            },
        ),
        (
            "r2",
            QosRuleSpec::BandwidthLimit {
                max_kbps: 20_000,
                max_burst_kbps: 2_000,
                direction: "ingress".into(),
            },
        ),
        (
            "r3",
            QosRuleSpec::MinimumBandwidth {
                min_kbps: 5_000,
                direction: "egress".into(),
            },
        ),
        ("r4", QosRuleSpec::DscpMarking { dscp_mark: 26 }),
    ] {
        x.st.put(Resource::QosRule(QosRule {
            meta: meta(id.into(), "P"),
            qos_policy_id: "pol".into(),
            spec,
        }));
    }
    let mut port = x.st.ports[&p].clone();
    port.qos_policy_id = Some("pol".into());
    x.st.put(Resource::Port(port));
    let mut b = Bindings::default();
    b.ports.insert(p.clone(), 1);
    b.ports.insert(q.clone(), 2);
    let mut c = Compiler::new(Keys::default());
    c.full(&x.st, &b);
    let qos = c.port_qos(&x.st, &b);
    assert_eq!(qos.len(), 1, "only the port with a policy: {qos:?}");
    let d = &qos[0];
    assert_eq!((d.port_id.as_str(), d.ofport), (p.as_str(), 1));
    assert_eq!(
        d.police_kbps,
        Some((10_000, 1_000)),
        "egress (from the VM) is policed"
    );
    assert_eq!(
        d.shape_kbps,
        Some((20_000, 2_000)),
        "ingress (to the VM) is shaped"
    );
    assert_eq!(d.min_kbps, Some(5_000));
    assert_eq!(d.dscp, Some(26));
    let dscp: Vec<_> = c
        .flows()
        .into_iter()
        .filter(|f| f.actions.contains("mod_nw_tos"))
        .collect();
    assert_eq!(dscp.len(), 1);
    assert!(dscp[0].key.matches.starts_with("in_port=1,ip"));
    assert!(dscp[0]
        .actions
        .starts_with(&format!("mod_nw_tos:{}", 26 << 2)));
}

#[test]
fn dhcp_options_carry_host_routes_mtu_and_the_dhcp_port_as_server() {
    let mut x = Builder::default();
    let n = x.network("P");
    let s = x.subnet(&n, "10.0.0.0/24", Some("10.0.0.1"));
    let mut sub = x.st.subnets[&s].clone();
    sub.host_routes = vec![HostRoute {
        destination: "172.16.0.0/12".into(),
        nexthop: "10.0.0.254".into(),
    }];
    x.st.put(Resource::Subnet(sub));
    x.port_owned(&n, &s, "10.0.0.2", &[], model::owner::DHCP, "dhcp");
    let p = x.port(&n, &s, "10.0.0.5", &[]);
    let mut b = Bindings::default();
    b.ports.insert(p, 1);
    let mut c = Compiler::new(Keys::default());
    c.full(&x.st, &b);
    let dhcp: Vec<String> = c
        .flows()
        .into_iter()
        .filter(|f| f.key.table == controller::tables::LS_IN_DHCP && f.key.priority > 0)
        .map(|f| userdata_text(&f.actions))
        .collect();
    assert_eq!(dhcp.len(), 1, "{dhcp:?}");
    let d = &dhcp[0];
    for want in [
        "server=10.0.0.2 ",
        "offer=10.0.0.5 ",
        "mask=24 ",
        "router=10.0.0.1 ",
        "mtu=1450 ",
        "routes=172.16.0.0/12>10.0.0.254;0.0.0.0/0>10.0.0.1",
    ] {
        assert!(d.contains(want), "{want:?} missing in {d}");
    }
}
