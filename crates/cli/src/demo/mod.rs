//! `cloudnet demo`: the seeds' cloud in one command, built in network
//! namespaces, checked the way a person would check it, reported and
//! removed.
//!
//! - [`cloud`]: `cloudnet serve` driven through its API — two projects with
//!   overlapping subnets and routers, SNAT to an "internet" namespace over a
//!   flat provider network, a floating IP, the seed's security groups A/B;
//! - [`overlay`]: one network spanning two hosts over VXLAN (seed chapter 4);
//! - [`qos`]: the 3:1:6 QoS port (seed chapter 3);
//! - [`checks`] and [`report`]: what is measured and how it is shown,
//!   [`topology`] the picture; [`cleanup`]: root and package checks,
//!   Ctrl-C, `--keep` and `--clean`.
//!
//! Everything is owned by guards that remove it when dropped, in reverse
//! order of creation, also on errors and Ctrl-C.

mod checks;
mod cleanup;
mod cloud;
mod overlay;
mod procs;
mod qos;
mod report;
mod topology;

use std::time::Instant;

use anyhow::{bail, Context};
use lab::Lab;

use report::{Built, Check, Progress};

/// Arguments of `cloudnet demo`.
#[derive(clap::Args)]
pub struct Args {
    /// Leave the demo up and print how to explore it.
    #[arg(long)]
    keep: bool,
    /// Remove a demo left up by `--keep`.
    #[arg(long, conflicts_with = "keep")]
    clean: bool,
    /// Shorter measurements (1 s iperf3 runs, 2 s QoS window), e.g. for CI.
    #[arg(long)]
    quick: bool,
}

/// Everything the demo holds; fields drop in order (daemons and VMs before
/// the lab's namespaces, the directory last).
struct Demo {
    qos: qos::Qos,
    overlay: overlay::Overlay,
    cloud: cloud::Cloud,
    lab: Lab,
    dir: cleanup::DemoDir,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if args.clean {
        return cleanup::clean();
    }
    let busybox = cleanup::preflight()?;
    let stop = cleanup::on_interrupt();
    let started = Instant::now();
    println!(
        "cloudnet demo: building the seeds' cloud in network namespaces ({}*)",
        cleanup::PREFIX
    );
    let dir = cleanup::DemoDir::create()?;
    let lab = Lab::with_prefix(cleanup::PREFIX, "cloudnet demo").context(
        "claiming the demo's names: is a demo up? remove it with `cloudnet demo --clean`",
    )?;
    let p = Progress::new(stop);
    let cloud = cloud::build(&p, &lab, dir.path(), &busybox)?;
    let overlay = overlay::build(&p, &lab, dir.path())?;
    let qos = qos::build(&p, &lab, dir.path())?;
    let demo = Demo {
        qos,
        overlay,
        cloud,
        lab,
        dir,
    };
    let built = describe(&demo);
    println!("\n{}", report::render_built(&built));
    println!("Topology\n{}", topology::render(&built));
    println!("Running the checks");
    let checks = run_checks(&p, &demo, &busybox, if args.quick { 1 } else { 3 })?;
    println!("\n{}", report::render_checks(&checks));
    let failed = checks.iter().filter(|c| !c.ok).count();
    if args.keep {
        let a1 = demo.lab.name("acli")?;
        let text = cleanup::explore_text(
            demo.cloud.host.name(),
            &demo.cloud.serve.endpoint,
            &demo.cloud.serve.run_dir,
            &a1,
        );
        std::fs::write(demo.dir.path().join("explore.txt"), &text)?;
        println!("{text}");
        // Guards would remove it all: forget them; `--clean` finds it by name.
        std::mem::forget(demo);
    } else {
        println!(
            "({:.0} s; removing everything the demo made)",
            started.elapsed().as_secs_f64()
        );
        drop(demo);
    }
    if failed > 0 {
        bail!("{failed} demo check(s) failed");
    }
    Ok(())
}

/// The report's model of what `demo` holds.
fn describe(d: &Demo) -> Built {
    Built {
        host: d.cloud.host.name().to_owned(),
        projects: d.cloud.projects.clone(),
        groups: cloud::describe_groups(),
        external: format!("ext {} (flat, physnet1)", cloud::EXTERNAL_CIDR),
        internet: (d.cloud.inet.name().to_owned(), cloud::INTERNET_IP.into()),
        overlay_hosts: d.overlay.sites.iter().map(|s| s.info.clone()).collect(),
        vni: overlay::VNI,
        qos_switch: d.qos.switch_ns.clone(),
        qos_receiver: d.qos.receiver.1.clone(),
        qos_senders: d.qos.senders.iter().map(|(_, i)| i.clone()).collect(),
    }
}

/// Every check, printed as it completes.
fn run_checks(
    p: &Progress,
    d: &Demo,
    bb: &std::path::Path,
    secs: u32,
) -> anyhow::Result<Vec<Check>> {
    let c = &d.cloud;
    let (web, db, cli, b1, b2) = (
        c.vm("a-web")?,
        c.vm("a-db")?,
        c.vm("a-cli")?,
        c.vm("b1")?,
        c.vm("b2")?,
    );
    let inet = std::net::IpAddr::from(cloud::INTERNET_IP);
    let fip = web.info.floating_ip.context("a-web has no floating IP")?;
    let web_url = |ip| format!("http://{ip}:{}/", cloud::WEB_PORT);
    let (v1, v2) = match d.overlay.sites.as_slice() {
        [a, b] => (a, b),
        _ => bail!("the overlay needs two hosts"),
    };
    let list: Vec<Box<dyn Fn() -> Check + '_>> = vec![
        Box::new(|| checks::ping("ping a-cli → a-web (project alpha)", &cli.ns, web.info.ip)),
        Box::new(|| checks::ping("ping b1 → b2 (project beta)", &b1.ns, b2.info.ip)),
        Box::new(|| {
            checks::no_ping(
                "no ping b1 → a-cli (other project, same 10.0.0.0/24)",
                &b1.ns,
                cli.info.ip,
            )
        }),
        Box::new(|| checks::ping("ping a-cli → internet through SNAT", &cli.ns, inet)),
        Box::new(|| {
            checks::http_get(
                "HTTP a-cli → internet through SNAT",
                &cli.ns,
                bb,
                &format!("http://{inet}/"),
                cloud::INTERNET_PAGE,
            )
        }),
        Box::new(|| checks::ping("ping internet → floating IP of a-web", &c.inet, fip)),
        Box::new(|| {
            checks::http_get(
                "HTTP internet → floating IP of a-web",
                &c.inet,
                bb,
                &web_url(fip),
                cloud::WEB_PAGE,
            )
        }),
        Box::new(|| {
            checks::http_get(
                "SG A allows 8080 from anywhere (a-db → a-web)",
                &db.ns,
                bb,
                &web_url(web.info.ip),
                cloud::WEB_PAGE,
            )
        }),
        Box::new(|| {
            checks::tcp_allowed(
                "SG A allows SSH from the admin range (internet → fip:22)",
                &c.inet,
                &web.ns,
                fip,
                22,
            )
        }),
        Box::new(|| {
            checks::tcp_denied(
                "SG A drops SSH from elsewhere (a-cli → a-web:22)",
                &cli.ns,
                &web.ns,
                web.info.ip,
                22,
            )
        }),
        Box::new(|| {
            checks::tcp_allowed(
                "SG B allows 3306 from group A (a-web → a-db)",
                &web.ns,
                &db.ns,
                db.info.ip,
                cloud::DB_PORT,
            )
        }),
        Box::new(|| {
            checks::tcp_denied(
                "SG B drops 3306 from others (a-cli → a-db)",
                &cli.ns,
                &db.ns,
                db.info.ip,
                cloud::DB_PORT,
            )
        }),
        Box::new(|| {
            checks::iperf3(
                "iperf3 TCP b1 → b2 (one host)",
                &b1.ns,
                &b2.ns,
                b2.info.ip,
                secs,
            )
        }),
        Box::new(|| {
            checks::ping(
                "ping v1 → v2 across hosts over VXLAN",
                &v1.vm,
                v2.info.vm.ip,
            )
        }),
        Box::new(|| {
            checks::iperf3(
                "iperf3 TCP v1 → v2 over VXLAN",
                &v1.vm,
                &v2.vm,
                v2.info.vm.ip,
                secs,
            )
        }),
        Box::new(|| d.qos.measure_alone(secs.min(2))),
        Box::new(|| d.qos.measure(secs + 1)),
    ];
    let mut out = Vec::new();
    for f in list {
        p.check_interrupt()?;
        let c = f();
        println!(
            "  {} {}  {}",
            if c.ok { "✓" } else { "✗" },
            c.name,
            c.figure
        );
        out.push(c);
    }
    Ok(out)
}
