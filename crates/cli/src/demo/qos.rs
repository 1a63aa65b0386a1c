//! The 3:1:6 QoS port of the first seed's chapter 3 on a bare `cloudnet
//! vswitchd`: a receiver VM whose port carries the chapter's command
//! verbatim (ovs-vsctl(8) syntax: linux-htb, max-rate 10 Mbit/s, queues
//! 0/1/2 with min-rate 3/1/6 Mbit/s, ovs-vswitchd.conf.db(5) "QoS" and
//! "Queue"), three sender VMs put in queues 0/1/2 by `enqueue` flows
//! (ovs-actions(7)). All three send UDP with iperf3 at 15 Mbit/s, more than
//! the port, and the shares are read from the scheduler's per-class byte
//! counters (`cloudnet tc -s class show`), as bench/qos-experiment.sh does
//! over a longer schedule.

use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use lab::{Lab, Netns};
use vswitch::Request;

use super::checks::{iperf3_rate, wait_listening};
use super::procs::Switch;
use super::report::{Check, Progress, VmInfo};

/// The seed's guarantees, in Mbit/s, for queues 0, 1, 2.
pub const MIN_RATES: [u32; 3] = [3, 1, 6];
/// The port's rate (`other-config:max-rate`), in Mbit/s.
pub const MAX_MBIT: u32 = 10;
/// How far (in percentage points) a measured share may stray from
/// 30/10/60 %.
const TOLERANCE_PP: f64 = 5.0;

/// The switch and its four VMs. Fields drop in order: VMs, switch.
pub struct Qos {
    pub receiver: (Netns, VmInfo),
    pub senders: Vec<(Netns, VmInfo)>,
    pub switch_ns: String,
    port: String,
    switch: Switch,
    _ns: Netns,
}

fn info(name: &str, ip: IpAddr) -> VmInfo {
    VmInfo {
        name: name.into(),
        ip,
        groups: String::new(),
        floating_ip: None,
    }
}

/// Build the switch, the VMs, the QoS and the flows.
pub fn build(p: &Progress, lab: &Lab, dir: &Path) -> anyhow::Result<Qos> {
    let (ns, switch) = p.step("QoS switch: vswitchd, br0", || {
        let ns = lab.netns("qsw")?;
        let sw = Switch::start(&ns, &dir.join("qsw"))?;
        sw.vsctl("add-br br0")?;
        Ok((ns, sw))
    })?;
    let (receiver, senders, port) = p.step("QoS VMs r, s0, s1, s2", || {
        let mut vms = Vec::new();
        for (name, host) in [("r", 10u8), ("s0", 1), ("s1", 2), ("s2", 3)] {
            let vm = lab.netns(&format!("q{name}"))?;
            switch.plug("br0", &lab.name(&format!("q{name}p"))?, "", &vm)?;
            let ip: IpAddr = format!("10.78.0.{host}").parse()?;
            vm.add_addr("eth0", format!("{ip}/24").parse()?)?;
            vm.link_up("eth0")?;
            vms.push((vm, info(name, ip)));
        }
        let receiver = vms.remove(0);
        Ok((receiver, vms, lab.name("qrp")?))
    })?;
    p.step(
        "QoS on r's port: linux-htb 10 Mbit/s, queues 3:1:6, enqueue flows",
        || apply(&switch, &port, &senders, lab),
    )?;
    Ok(Qos {
        receiver,
        senders,
        switch_ns: ns.name().to_owned(),
        port,
        switch,
        _ns: ns,
    })
}

fn apply(sw: &Switch, port: &str, senders: &[(Netns, VmInfo)], lab: &Lab) -> anyhow::Result<()> {
    let queues: Vec<String> = MIN_RATES
        .iter()
        .enumerate()
        .map(|(q, r)| {
            format!(
                "-- --id=@q{q} create queue other-config:min-rate={} other-config:max-rate=10000000",
                r * 1_000_000
            )
        })
        .collect();
    sw.vsctl(&format!(
        "set port {port} qos=@newqos -- --id=@newqos create qos type=linux-htb other-config:max-rate=10000000 queues=0=@q0,1=@q1,2=@q2 {}",
        queues.join(" ")
    ))?;
    let ofport = |p: &str| {
        sw.vsctl(&format!("get Interface {p} ofport"))
            .map(|s| s.trim().to_owned())
    };
    let out = ofport(port)?;
    for (q, (_, vm)) in senders.iter().enumerate() {
        let n = ofport(&lab.name(&format!("q{}p", vm.name))?)?;
        sw.call(Request::AddFlows {
            bridge: "br0".into(),
            flows: vec![format!("priority=10,in_port={n},actions=enqueue:{out}:{q}")],
        })
        .with_context(|| format!("add-flow for queue {q}"))?;
    }
    Ok(())
}

impl Qos {
    /// Bytes each class (queue q is HTB class 1:(q+1)) has sent.
    fn class_bytes(&self) -> anyhow::Result<[u64; 3]> {
        let out = self.switch.call(Request::Tc {
            args: ["-s", "class", "show", "dev", &self.port]
                .map(String::from)
                .to_vec(),
        })?;
        parse_class_bytes(&out)
    }

    /// All three senders at once for `secs`; shares measured over the
    /// middle of the run.
    pub fn measure(&self, secs: u32) -> Check {
        let name = "3:1:6 QoS port, three UDP senders at 15 Mbit/s";
        match self.shares(&[0, 1, 2], secs) {
            Ok((shares, total)) => {
                let want = MIN_RATES.map(|r| f64::from(r) * 10.0);
                let ok = shares
                    .iter()
                    .zip(want)
                    .all(|(s, w)| (s - w).abs() <= TOLERANCE_PP);
                Check::new(
                    name,
                    ok,
                    format!(
                        "shares {:.0}/{:.0}/{:.0} % (want 30/10/60 ± {TOLERANCE_PP:.0}), {total:.1} Mbit/s total",
                        shares[0], shares[1], shares[2]
                    ),
                )
            }
            Err(e) => Check::new(name, false, format!("{e:#}")),
        }
    }

    /// Queue 1 (guaranteed 1 Mbit/s) sending alone borrows the whole port
    /// (HTB's ceil, as the seed's experiment shows).
    pub fn measure_alone(&self, secs: u32) -> Check {
        let name = "QoS queue 1 alone (min 1 Mbit/s) borrows the whole port";
        match self.shares(&[1], secs) {
            Ok((shares, total)) => Check::new(
                name,
                total >= 0.9 * f64::from(MAX_MBIT) && shares[1] > 99.0,
                format!("{total:.1} Mbit/s of {MAX_MBIT} (want ≥ 90 %)"),
            ),
            Err(e) => Check::new(name, false, format!("{e:#}")),
        }
    }

    /// Run the senders of `queues` at once; per-queue shares and total
    /// rate, counted over `secs` after a start-up second.
    fn shares(&self, queues: &[usize], secs: u32) -> anyhow::Result<([f64; 3], f64)> {
        let (rx, rip) = (&self.receiver.0, self.receiver.1.ip);
        let run = secs + 2;
        std::thread::scope(|s| {
            let senders: Vec<_> = self
                .senders
                .iter()
                .enumerate()
                .filter(|(q, _)| queues.contains(q))
                .map(|(q, (ns, _))| {
                    s.spawn(move || {
                        iperf3_rate(
                            ns,
                            rx,
                            rip,
                            5301 + q as u16,
                            &["-u", "-b", "15M", "-l", "1400"],
                            run,
                        )
                    })
                })
                .collect();
            // Skip the first second (start-up), then count over `secs`.
            let r = (|| {
                for q in queues {
                    wait_listening(rx, 5301 + *q as u16)?;
                }
                std::thread::sleep(Duration::from_millis(1500));
                let (b0, t0) = (self.class_bytes()?, Instant::now());
                std::thread::sleep(Duration::from_secs(u64::from(secs)));
                let (b1, dt) = (self.class_bytes()?, t0.elapsed().as_secs_f64());
                Ok(shares_of(b0, b1, dt))
            })();
            for t in senders {
                let _ = t.join();
            }
            r
        })
    }
}

/// Per-queue shares in percent and the total rate in Mbit/s between two
/// counter readings `dt` seconds apart.
pub fn shares_of(b0: [u64; 3], b1: [u64; 3], dt: f64) -> ([f64; 3], f64) {
    let d = [0, 1, 2].map(|q| b1[q].saturating_sub(b0[q]) as f64);
    let sum: f64 = d.iter().sum();
    let shares = d.map(|x| if sum > 0.0 { 100.0 * x / sum } else { 0.0 });
    (shares, sum * 8.0 / dt.max(1e-3) / 1e6)
}

/// From `tc -s class show` output: the `Sent B bytes` line after each of
/// `class htb 1:1`, `1:2`, `1:3`.
pub fn parse_class_bytes(out: &str) -> anyhow::Result<[u64; 3]> {
    let mut bytes = [None; 3];
    let mut lines = out.lines();
    while let Some(l) = lines.next() {
        for (q, b) in bytes.iter_mut().enumerate() {
            if l.starts_with(&format!("class htb 1:{} ", q + 1)) {
                *b = lines
                    .next()
                    .and_then(|s| s.split_whitespace().nth(1))
                    .and_then(|n| n.parse().ok());
            }
        }
    }
    let [Some(a), Some(b), Some(c)] = bytes else {
        anyhow::bail!("no byte counters for classes 1:1-1:3 in:\n{out}");
    };
    Ok([a, b, c])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_counters() {
        let out = "class htb 1:fffe root rate 10Mbit ceil 10Mbit\n Sent 999 bytes 9 pkt\n\
                   class htb 1:1 parent 1:fffe prio 0 rate 3Mbit ceil 10Mbit\n Sent 300 bytes 3 pkt (dropped 0, overlimits 0)\n\
                   class htb 1:2 parent 1:fffe rate 1Mbit ceil 10Mbit\n Sent 100 bytes 1 pkt\n\
                   class htb 1:3 parent 1:fffe rate 6Mbit ceil 10Mbit\n Sent 600 bytes 6 pkt\n";
        assert_eq!(parse_class_bytes(out).unwrap(), [300, 100, 600]);
        assert!(parse_class_bytes("class htb 1:1 x\n Sent 5 bytes\n").is_err());
    }

    #[test]
    fn shares() {
        let (s, total) = shares_of([0, 0, 0], [300_000, 100_000, 600_000], 1.0);
        assert_eq!(s, [30.0, 10.0, 60.0]);
        assert!((total - 8.0).abs() < 1e-9);
        assert_eq!(shares_of([5; 3], [5; 3], 1.0).0, [0.0; 3]);
    }
}
