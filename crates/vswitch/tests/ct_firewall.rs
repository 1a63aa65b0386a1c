//! Issue 6 scenarios 1 and 2: stateful firewalls written as `ct()` flows,
//! with real TCP between VM namespaces (TAPs held by the switch).
//!
//! The flows follow the ovs-actions(7) firewall example: untracked IP goes
//! through `ct(table=1)`; established and related traffic passes; a new
//! connection passes (and is committed) only if a rule allows it.
//!
//! Run: `cargo test --release -p vswitch --test ct_firewall` (as root).

mod common;
mod ct_support;

use common::vm;
use ct_support::{bench, onlink, tcp_blocked, tcp_ok};

/// Flows shared by both firewalls: ARP switched, IP tracked in `zone`,
/// established/related allowed, invalid dropped, `rules` for new
/// connections, and everything else dropped.
fn firewall(zone: u16, rules: &[String]) -> Vec<String> {
    let mut f = vec![
        "table=0,priority=10,arp,actions=NORMAL".to_string(),
        format!("table=0,priority=100,ip,actions=ct(table=1,zone={zone})"),
        "table=1,priority=200,ct_state=+trk+inv,ip,actions=drop".to_string(),
        "table=1,priority=100,ct_state=+trk+est,ip,actions=NORMAL".to_string(),
        "table=1,priority=100,ct_state=+trk+rel,ip,actions=NORMAL".to_string(),
        "table=1,priority=0,actions=drop".to_string(),
    ];
    f.extend(rules.iter().map(|r| {
        format!("table=1,priority=50,ct_state=+trk+new,{r},actions=ct(commit,zone={zone}),NORMAL")
    }));
    f
}

/// The seed's iptables example: a VM where everything inbound is dropped
/// but TCP 22 and 80. Connects to 22 and 80 succeed, 23 and 8080 fail; the
/// VM's own outbound connections get their replies (stateful).
#[test]
fn iptables_example_only_22_and_80_inbound() {
    let Some(b) = bench("ct_iptables") else {
        return;
    };
    let srv = vm(&b.lab, &b.sw, "br0", "srv", "10.0.0.2/24", "");
    let cli = vm(&b.lab, &b.sw, "br0", "cli", "10.0.0.1/24", "");
    let p_srv = b.ofport("srv");
    b.flows(&firewall(
        7,
        &[
            // Inbound: only TCP 22 and 80.
            "tcp,nw_dst=10.0.0.2,tp_dst=22".into(),
            "tcp,nw_dst=10.0.0.2,tp_dst=80".into(),
            // Outbound: anything the VM starts.
            format!("ip,in_port={p_srv}"),
        ],
    ));
    assert!(tcp_ok(&cli, &srv, "10.0.0.2:22"), "port 22 refused");
    assert!(tcp_ok(&cli, &srv, "10.0.0.2:80"), "port 80 refused");
    assert!(tcp_blocked(&cli, &srv, "10.0.0.2:23"), "port 23 open");
    assert!(tcp_blocked(&cli, &srv, "10.0.0.2:8080"), "port 8080 open");
    // Stateful: the VM's own connections get their replies, though nothing
    // from the client side may start a connection to it on that port.
    assert!(tcp_ok(&srv, &cli, "10.0.0.1:5001"), "outbound TCP");
    lab::udp_check(&srv, &cli, "10.0.0.1:5353".parse().unwrap()).expect("outbound UDP");
    assert!(
        lab::udp_check_timeout(
            &cli,
            &srv,
            "10.0.0.2:5353".parse().unwrap(),
            std::time::Duration::from_secs(1)
        )
        .is_err(),
        "inbound UDP passed"
    );
    let dump = b.conntrack(7);
    assert!(
        dump.contains("dport=22") && dump.contains("dport=5001"),
        "{dump}"
    );
    assert!(!dump.contains("dport=23)"), "{dump}");
}

/// The seed's security groups: web VMs accept 8080 from anywhere and 22
/// only from 203.0.113.0/24; the DB VM accepts 3306 only from the web VMs
/// and 22 from the admin range (203.0.113.0/24). Every allowed and every
/// denied path is tried.
#[test]
fn security_groups_web_and_db() {
    let Some(b) = bench("ct_secgroups") else {
        return;
    };
    let web1 = vm(&b.lab, &b.sw, "br0", "web1", "10.0.0.11/24", "");
    let web2 = vm(&b.lab, &b.sw, "br0", "web2", "10.0.0.12/24", "");
    let db = vm(&b.lab, &b.sw, "br0", "db", "10.0.0.31/24", "");
    // Clients on the same segment, other subnets: the admin range and
    // "anywhere".
    let admin = vm(&b.lab, &b.sw, "br0", "admin", "203.0.113.10/24", "");
    let any = vm(&b.lab, &b.sw, "br0", "any", "192.0.2.10/24", "");
    for v in [&web1, &web2, &db] {
        onlink(v, "203.0.113.0/24");
        onlink(v, "192.0.2.0/24");
    }
    onlink(&admin, "10.0.0.0/24");
    onlink(&any, "10.0.0.0/24");
    let mut rules = Vec::new();
    for web in ["10.0.0.11", "10.0.0.12"] {
        // Group A (web): 8080 from 0.0.0.0/0, 22 from 203.0.113.0/24.
        rules.push(format!("tcp,nw_dst={web},tp_dst=8080"));
        rules.push(format!("tcp,nw_src=203.0.113.0/24,nw_dst={web},tp_dst=22"));
        // Group B (db): 3306 from members of group A.
        rules.push(format!("tcp,nw_src={web},nw_dst=10.0.0.31,tp_dst=3306"));
    }
    rules.push("tcp,nw_src=203.0.113.0/24,nw_dst=10.0.0.31,tp_dst=22".into());
    b.flows(&firewall(9, &rules));

    // Web: 8080 from anywhere.
    assert!(tcp_ok(&any, &web1, "10.0.0.11:8080"), "any -> web1:8080");
    assert!(
        tcp_ok(&admin, &web2, "10.0.0.12:8080"),
        "admin -> web2:8080"
    );
    // Web: 22 from the admin range only.
    assert!(tcp_ok(&admin, &web1, "10.0.0.11:22"), "admin -> web1:22");
    assert!(tcp_blocked(&any, &web1, "10.0.0.11:22"), "any -> web1:22");
    assert!(
        tcp_blocked(&any, &web2, "10.0.0.12:3306"),
        "any -> web2:3306"
    );
    // DB: 3306 from web VMs only.
    assert!(tcp_ok(&web1, &db, "10.0.0.31:3306"), "web1 -> db:3306");
    assert!(tcp_ok(&web2, &db, "10.0.0.31:3306"), "web2 -> db:3306");
    assert!(tcp_blocked(&any, &db, "10.0.0.31:3306"), "any -> db:3306");
    assert!(
        tcp_blocked(&admin, &db, "10.0.0.31:3306"),
        "admin -> db:3306"
    );
    // DB: 22 from the admin range only.
    assert!(tcp_ok(&admin, &db, "10.0.0.31:22"), "admin -> db:22");
    assert!(tcp_blocked(&any, &db, "10.0.0.31:22"), "any -> db:22");
    assert!(tcp_blocked(&web1, &db, "10.0.0.31:22"), "web1 -> db:22");
    // Nothing opens a connection towards a web VM's other ports.
    assert!(tcp_blocked(&db, &web1, "10.0.0.11:8081"), "db -> web1:8081");
}
