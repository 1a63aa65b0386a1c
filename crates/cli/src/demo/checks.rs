//! The checks a person would run, each returning a [`Check`] with its
//! figure: ping (replies, RTT), isolation (no reply), a TCP connection
//! allowed or refused by a security group, an HTTP fetch with busybox
//! `wget` from a busybox `httpd`, and iperf3 throughput.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use lab::{Background, Netns};

use super::report::Check;

/// How long a refused (dropped) TCP handshake is given before it counts
/// as refused.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Every reply of a 3-ping after one warm-up echo (ARP, first flows).
pub fn ping(name: &str, from: &Netns, to: IpAddr) -> Check {
    let _ = lab::ping(from, to, 1);
    match lab::ping(from, to, 3) {
        Ok(s) => {
            let rtt = s
                .rtt_avg()
                .map(|d| format!(", rtt avg {:.2} ms", d.as_secs_f64() * 1e3))
                .unwrap_or_default();
            Check::new(
                name,
                s.all_received(),
                format!("{}/{} replies{rtt}", s.received, s.transmitted),
            )
        }
        Err(e) => Check::new(name, false, format!("ping failed: {e}")),
    }
}

/// No reply at all to two pings: isolation holds.
pub fn no_ping(name: &str, from: &Netns, to: IpAddr) -> Check {
    match lab::ping(from, to, 2) {
        Ok(s) => Check::new(
            name,
            s.received == 0,
            format!("{}/{} replies (expected none)", s.received, s.transmitted),
        ),
        Err(e) => Check::new(name, true, format!("no path: {e}")),
    }
}

/// Whether a TCP connection from `from` to `to:port` (a listener in
/// `server`) opens and carries a message, and how long the handshake took.
fn tcp_connects(from: &Netns, server: &Netns, to: IpAddr, port: u16) -> anyhow::Result<Duration> {
    let any = SocketAddr::new(IpAddr::from([0, 0, 0, 0]), port);
    let listener = server.tcp_listener(any)?;
    listener.set_nonblocking(true)?;
    let t0 = Instant::now();
    let mut c = from.tcp_connect(SocketAddr::new(to, port), CONNECT_TIMEOUT)?;
    let rtt = t0.elapsed();
    c.write_all(b"hello")?;
    let mut got = None;
    lab::wait_until("the server to accept", CONNECT_TIMEOUT, || {
        if let Ok((mut s, _)) = listener.accept() {
            let _ = s.set_nonblocking(false);
            let _ = s.set_read_timeout(Some(CONNECT_TIMEOUT));
            let mut b = [0u8; 5];
            got = Some(s.read_exact(&mut b).map(|_| b));
            return true;
        }
        false
    })?;
    match got {
        Some(Ok(b)) if &b == b"hello" => Ok(rtt),
        _ => anyhow::bail!("accepted but the message did not arrive"),
    }
}

/// A TCP connection security groups must allow.
pub fn tcp_allowed(name: &str, from: &Netns, server: &Netns, to: IpAddr, port: u16) -> Check {
    match tcp_connects(from, server, to, port) {
        Ok(d) => Check::new(
            name,
            true,
            format!("connected in {:.2} ms", d.as_secs_f64() * 1e3),
        ),
        Err(e) => Check::new(name, false, format!("no connection: {e:#}")),
    }
}

/// A TCP connection security groups must drop.
pub fn tcp_denied(name: &str, from: &Netns, server: &Netns, to: IpAddr, port: u16) -> Check {
    match tcp_connects(from, server, to, port) {
        Ok(_) => Check::new(name, false, "connected (expected a drop)"),
        Err(_) => Check::new(
            name,
            true,
            format!("dropped (no handshake in {} s)", CONNECT_TIMEOUT.as_secs()),
        ),
    }
}

/// A busybox `httpd` serving `body` as `/index.html` from `dir`, inside
/// `ns` on `port`; stopped when dropped. Returns once it listens.
pub fn httpd(
    ns: &Netns,
    busybox: &Path,
    dir: &Path,
    port: u16,
    body: &str,
) -> anyhow::Result<Background> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("index.html"), body)?;
    let (bb, d, p) = (
        busybox.to_string_lossy(),
        dir.to_string_lossy(),
        port.to_string(),
    );
    // No inherited output: a kept demo's servers must not hold the
    // caller's pipes open.
    let mut cmd = ns.command(&[&bb, "httpd", "-f", "-p", &p, "-h", &d]);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let server = Background::spawn(cmd, "busybox httpd")?;
    wait_listening(ns, port)?;
    Ok(server)
}

/// Wait until something listens on TCP `port` in `ns` (`ss -ltn`).
pub fn wait_listening(ns: &Netns, port: u16) -> anyhow::Result<()> {
    let filter = format!("sport = :{port}");
    lab::wait_until(
        &format!("a listener on port {port} in {}", ns.name()),
        Duration::from_secs(5),
        || {
            ns.exec(&["ss", "-Hltn", &filter])
                .is_ok_and(|o| !o.trim().is_empty())
        },
    )?;
    Ok(())
}

/// `busybox wget` of `url` from `from`; passes when the page holds `want`.
/// The time limit is ours: Debian's busybox 1.35 `wget -T` crashes.
pub fn http_get(name: &str, from: &Netns, busybox: &Path, url: &str, want: &str) -> Check {
    let bb = busybox.to_string_lossy();
    let t0 = Instant::now();
    let out = from.exec_output(&[&bb, "wget", "-q", "-O", "-", url], Duration::from_secs(5));
    let ms = t0.elapsed().as_secs_f64() * 1e3;
    match out {
        Ok(o) if o.success() && o.stdout.contains(want) => Check::new(
            name,
            true,
            format!("{url}: {} bytes in {ms:.0} ms", o.stdout.len()),
        ),
        Ok(o) => Check::new(
            name,
            false,
            format!("{url}: {} {}", o.status, o.stderr.trim()),
        ),
        Err(e) => Check::new(name, false, format!("{url}: {e}")),
    }
}

/// iperf3 TCP from `client` to `server` (at `to`) for `secs`; the
/// receiver's rate.
pub fn iperf3(name: &str, client: &Netns, server: &Netns, to: IpAddr, secs: u32) -> Check {
    match iperf3_rate(client, server, to, 5201, &[], secs) {
        Ok(bps) => Check::new(
            name,
            bps > 0.0,
            format!("{:.0} Mbit/s over {secs} s", bps / 1e6),
        ),
        Err(e) => Check::new(name, false, format!("iperf3: {e:#}")),
    }
}

/// Run one iperf3 test (`extra` client flags, e.g. `-u -b 15M`) and
/// return the bits per second the server received.
pub fn iperf3_rate(
    client: &Netns,
    server: &Netns,
    to: IpAddr,
    port: u16,
    extra: &[&str],
    secs: u32,
) -> anyhow::Result<f64> {
    let p = port.to_string();
    let _srv = server.spawn(&["iperf3", "-s", "-1", "-p", &p])?;
    wait_listening(server, port)?;
    let (t, ip) = (secs.to_string(), to.to_string());
    let mut argv = vec!["iperf3", "-J", "-c", &ip, "-p", &p, "-t", &t];
    argv.extend_from_slice(extra);
    let out = client.exec_output(&argv, Duration::from_secs(u64::from(secs) + 15))?;
    let v: serde_json::Value = serde_json::from_str(&out.stdout)
        .map_err(|e| anyhow::anyhow!("iperf3 -J output: {e}: {}", out.stderr.trim()))?;
    if let Some(err) = v["error"].as_str() {
        anyhow::bail!("{err}");
    }
    let end = &v["end"];
    end["sum_received"]["bits_per_second"]
        .as_f64()
        .or_else(|| end["sum"]["bits_per_second"].as_f64())
        .ok_or_else(|| anyhow::anyhow!("no rate in iperf3's report"))
}
