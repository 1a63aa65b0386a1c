//! The QoS and Queue tables through the ovs-vsctl(8) language: the seed's
//! command verbatim, `--id=@name` references, list/get/clear/destroy and
//! referential integrity. No root needed.

use vswitch::qos_spec::{self, EgressSpec, OVS_ROOT_CLASS};
use vswitch::schema::Config;
use vswitch::vsctl;

/// Runs one command line with UUIDs drawn from a counter (injected
/// randomness), committing only on success like the daemon.
fn run(cfg: &mut Config, next: &mut u128, line: &str) -> Result<String, String> {
    let args: Vec<String> = line.split_whitespace().map(String::from).collect();
    let cmds = vsctl::parse(&args).map_err(|e| e.to_string())?;
    let mut work = cfg.clone();
    let mut ids = || {
        *next += 1;
        next.wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835)
    };
    let out = vsctl::execute_with_ids(&mut work, &cmds, &|_| None, &mut ids)
        .map_err(|e| e.to_string())?;
    *cfg = work;
    Ok(out)
}

const SEED: &str = "set port first_br qos=@newqos -- --id=@newqos create qos type=linux-htb \
    other-config:max-rate=10000000 queues=0=@q0,1=@q1,2=@q2 -- --id=@q0 create queue \
    other-config:min-rate=3000000 other-config:max-rate=10000000 -- --id=@q1 create queue \
    other-config:min-rate=1000000 other-config:max-rate=10000000 -- --id=@q2 create queue \
    other-config:min-rate=6000000 other-config:max-rate=10000000";

fn is_uuid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.iter().map(|p| p.len()).collect::<Vec<_>>() == [8, 4, 4, 4, 12]
        && parts
            .iter()
            .all(|p| p.chars().all(|c| c.is_ascii_hexdigit()))
        && s.as_bytes()[14] == b'4'
}

#[test]
fn seed_command_creates_htb_with_three_queues() {
    let mut c = Config::default();
    let mut n = 0;
    run(&mut c, &mut n, "add-br first_br").unwrap();
    let out = run(&mut c, &mut n, SEED).unwrap();
    let uuids: Vec<&str> = out.lines().collect();
    assert_eq!(uuids.len(), 4, "{out}");
    assert!(uuids.iter().all(|u| is_uuid(u)), "{out}");

    let qos = run(&mut c, &mut n, "get port first_br qos").unwrap();
    let qos = qos.trim();
    assert_eq!(qos, uuids[0], "the QoS row is the first create");
    let l = run(&mut c, &mut n, "list qos").unwrap();
    assert!(l.contains("type                : linux-htb"), "{l}");
    assert!(
        l.contains("other_config        : {max-rate=\"10000000\"}"),
        "{l}"
    );
    assert!(
        l.contains(&format!(
            "queues              : {{0={}, 1={}, 2={}}}",
            uuids[1], uuids[2], uuids[3]
        )),
        "{l}"
    );
    let lq = run(&mut c, &mut n, "list queue").unwrap();
    assert_eq!(lq.matches("_uuid").count(), 3, "{lq}");
    assert!(lq.contains("min-rate=\"6000000\""), "{lq}");
    // A unique prefix names a row; other-config and other_config agree.
    let q1 = run(
        &mut c,
        &mut n,
        &format!("get queue {} other-config:min-rate", &uuids[2][..8]),
    )
    .unwrap();
    assert_eq!(q1, "\"1000000\"\n");

    let Some(EgressSpec::Htb(h)) = qos_spec::for_port(&c, "first_br") else {
        panic!("no HTB for the port");
    };
    assert_eq!(h.default, Some(1));
    assert_eq!(h.queues, vec![(0, 1), (1, 2), (2, 3)]);
    let rates: Vec<(u32, Option<u32>, u64, u64)> = h
        .classes
        .iter()
        .map(|c| {
            (
                c.id,
                c.parent,
                c.cfg.rate.bps(),
                c.cfg.ceil.map_or(0, |r| r.bps()),
            )
        })
        .collect();
    let r = Some(OVS_ROOT_CLASS);
    assert_eq!(
        rates,
        vec![
            (OVS_ROOT_CLASS, None, 10_000_000, 10_000_000),
            (1, r, 3_000_000, 10_000_000),
            (2, r, 1_000_000, 10_000_000),
            (3, r, 6_000_000, 10_000_000),
        ]
    );
}

#[test]
fn integrity_clear_and_destroy() {
    let mut c = Config::default();
    let mut n = 0;
    run(&mut c, &mut n, "add-br br0").unwrap();
    run(&mut c, &mut n, SEED.replace("first_br", "br0").as_str()).unwrap();
    // Still referenced by the port: refused, nothing changes.
    let before = c.clone();
    let e = run(&mut c, &mut n, "--all destroy qos").unwrap_err();
    assert!(e.contains("referential integrity"), "{e}");
    let e = run(&mut c, &mut n, "--all destroy queue").unwrap_err();
    assert!(e.contains("referential integrity"), "{e}");
    assert_eq!(c, before);
    // Clearing the port in the same transaction makes it valid.
    run(
        &mut c,
        &mut n,
        "clear port br0 qos -- --all destroy qos -- --all destroy queue",
    )
    .unwrap();
    assert!(c.qos.is_empty() && c.queues.is_empty());
    assert_eq!(run(&mut c, &mut n, "get port br0 qos").unwrap(), "[]\n");
    assert!(qos_spec::for_port(&c, "br0").is_none());

    // destroy by UUID; --if-exists on a missing row.
    let u = run(
        &mut c,
        &mut n,
        "create qos type=linux-sfq other-config:perturb=10",
    )
    .unwrap();
    let u = u.trim().to_owned();
    run(&mut c, &mut n, &format!("set port br0 qos={u}")).unwrap();
    assert!(
        matches!(qos_spec::for_port(&c, "br0"), Some(EgressSpec::Sfq(s)) if s.perturb == 10_000_000_000)
    );
    run(
        &mut c,
        &mut n,
        &format!("clear port br0 qos -- destroy qos {u}"),
    )
    .unwrap();
    run(&mut c, &mut n, &format!("--if-exists destroy qos {u}")).unwrap();
    let e = run(&mut c, &mut n, &format!("destroy qos {u}")).unwrap_err();
    assert!(e.contains(&u), "{e}");
}

#[test]
fn bad_rows_and_references_are_refused_by_name() {
    let mut c = Config::default();
    let mut n = 0;
    run(&mut c, &mut n, "add-br br0").unwrap();
    let cases = [
        ("set port br0 qos=@nope", "@nope"),
        ("create qos type=linux-frob", "linux-frob"),
        (
            "create qos type=linux-htb other-config:max-rate=ten",
            "\"ten\"",
        ),
        (
            "create qos type=linux-htb other-config:max-rate=0",
            "max-rate",
        ),
        ("create qos type=linux-tbf", "max-rate"),
        ("--id=q create qos type=linux-htb", "\"q\""),
        (
            "--id=@a create qos type=linux-htb -- --id=@a create queue",
            "@a",
        ),
        (
            "create qos type=linux-htb queues=x=@q -- --id=@q create queue",
            "\"x\"",
        ),
        (
            "create qos type=linux-htb queues=1=@q -- --id=@q create queue other-config:priority=9",
            "priority",
        ),
        (
            "set port br0 qos=0123abcd-0000-4000-8000-000000000000",
            "referential integrity",
        ),
        ("create queue dscp=64", "64"),
        ("create bridge name=x", "create"),
        ("destroy qos", "--all"),
        ("--id=@x destroy qos abc", "--id"),
    ];
    for (line, needle) in cases {
        let before = c.clone();
        let e = run(&mut c, &mut n, line).unwrap_err();
        assert!(e.contains(needle), "{line}: {e}");
        assert_eq!(c, before, "{line} changed the configuration");
    }
}

#[test]
fn other_types_build_their_specs() {
    let mut c = Config::default();
    let mut n = 0;
    run(&mut c, &mut n, "add-br br0").unwrap();
    run(
        &mut c,
        &mut n,
        "set port br0 qos=@q -- --id=@q create qos type=linux-tbf other-config:max-rate=8000000 other-config:burst=80000",
    )
    .unwrap();
    match qos_spec::for_port(&c, "br0") {
        Some(EgressSpec::Tbf(t)) => assert_eq!((t.rate_bps, t.burst), (8_000_000, 10_000)),
        s => panic!("{s:?}"),
    }
    let u = c.ports["br0"].qos.clone().unwrap();
    run(
        &mut c,
        &mut n,
        &format!("set qos {u} type=linux-pfifo-fast other-config:limit=50"),
    )
    .unwrap();
    assert_eq!(
        qos_spec::for_port(&c, "br0"),
        Some(EgressSpec::PfifoFast { limit: 50 })
    );
    run(&mut c, &mut n, &format!("set qos {u} type=linux-noop")).unwrap();
    assert_eq!(qos_spec::for_port(&c, "br0"), None);
    // HTB without a queue 0 gets OVS's default queue 0.
    run(
        &mut c,
        &mut n,
        &format!("set qos {u} type=linux-htb queues:5=@q -- --id=@q create queue other-config:min-rate=1"),
    )
    .unwrap();
    let Some(EgressSpec::Htb(h)) = qos_spec::for_port(&c, "br0") else {
        panic!()
    };
    assert_eq!(h.queues, vec![(0, 1), (5, 6)]);
    assert!(h
        .classes
        .iter()
        .all(|c| c.cfg.rate.bps() >= qos_spec::MIN_RATE_BPS));
    // The tbf's max-rate is still in other_config: the root takes it.
    assert_eq!(h.classes[0].cfg.rate.bps(), 8_000_000);
    run(&mut c, &mut n, &format!("clear qos {u} other_config")).unwrap();
    let Some(EgressSpec::Htb(h)) = qos_spec::for_port(&c, "br0") else {
        panic!()
    };
    assert_eq!(h.classes[0].cfg.rate.bps(), qos_spec::LINK_RATE_BPS);
}
