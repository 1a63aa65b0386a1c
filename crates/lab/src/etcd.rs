//! etcd clusters for tests: `n` members on loopback, each with free ports
//! and its own data directory, killed by PID and restarted at will, and
//! all stopped and removed when the [`Cluster`] is dropped (even while a
//! test unwinds from a panic).
//!
//! ```no_run
//! let Some(mut etcd) = lab::etcd::Cluster::start_or_skip("my_test", 3) else { return };
//! let spec = etcd.endpoints(); // "etcd://127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3"
//! etcd.kill(0).unwrap();      // SIGKILL member 0
//! etcd.restart(0).unwrap();   // same data dir, waits until it is healthy
//! ```
//!
//! Members use etcd's own flags (etcd(1) "clustering flags":
//! `--initial-cluster`, `--listen-peer-urls`, ...); heartbeat and election
//! timeouts are shortened (100 ms / 1 s) so that a killed leader is
//! replaced within about a second.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::error::{LabError, Result};

/// The etcd server binary (Debian's `etcd-server` package).
pub const ETCD_BIN: &str = "etcd";
/// How long a member may take to become healthy.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);

/// One member's fixed identity.
struct Member {
    name: String,
    client: u16,
    peer: u16,
    child: Option<Child>,
}

/// A running etcd cluster; stopped and removed on drop.
pub struct Cluster {
    dir: tempfile::TempDir,
    members: Vec<Member>,
    initial: String,
}

/// Whether `etcd` can be run here.
pub fn available() -> bool {
    Command::new(ETCD_BIN)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Free loopback TCP ports (held together while chosen, so distinct).
fn free_ports(n: usize) -> Result<Vec<u16>> {
    let io = |source| LabError::Io {
        what: "choosing a free port".into(),
        source,
    };
    let listeners = (0..n)
        .map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(io))
        .collect::<Result<Vec<_>>>()?;
    listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()).map_err(io))
        .collect()
}

impl Cluster {
    /// Start `n` members and wait until each is healthy.
    pub fn start(n: usize) -> Result<Cluster> {
        let dir = tempfile::Builder::new()
            .prefix("cloudnet-etcd-")
            .tempdir()
            .map_err(|source| LabError::Io {
                what: "creating the etcd data directory".into(),
                source,
            })?;
        let ports = free_ports(2 * n)?;
        let members: Vec<Member> = (0..n)
            .map(|i| Member {
                name: format!("m{i}"),
                client: ports[2 * i],
                peer: ports[2 * i + 1],
                child: None,
            })
            .collect();
        let initial = members
            .iter()
            .map(|m| format!("{}=http://127.0.0.1:{}", m.name, m.peer))
            .collect::<Vec<_>>()
            .join(",");
        let mut c = Cluster {
            dir,
            members,
            initial,
        };
        for i in 0..n {
            c.spawn(i)?;
        }
        for i in 0..n {
            c.wait_healthy(i)?;
        }
        Ok(c)
    }

    /// [`Cluster::start`], or `None` when etcd is not installed — except
    /// under `CI=true`, where a missing etcd fails the test: CI must not
    /// pass by skipping.
    pub fn start_or_skip(test: &str, n: usize) -> Option<Cluster> {
        if !available() {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!(
                    "{test}: `{ETCD_BIN}` not found; CI=true, so this fails: run scripts/deps.sh"
                );
            }
            eprintln!("skipping {test}: `{ETCD_BIN}` not found (run scripts/deps.sh)");
            return None;
        }
        match Cluster::start(n) {
            Ok(c) => Some(c),
            Err(e) => panic!("{test}: starting {n} etcd members: {e}"),
        }
    }

    /// The store spec of the cluster, `etcd://127.0.0.1:P,…` (every
    /// member, so a client fails over).
    pub fn endpoints(&self) -> String {
        let eps: Vec<String> = self
            .members
            .iter()
            .map(|m| format!("127.0.0.1:{}", m.client))
            .collect();
        format!("etcd://{}", eps.join(","))
    }

    /// The client address of member `i`.
    pub fn client_addr(&self, i: usize) -> Option<SocketAddr> {
        self.members
            .get(i)
            .map(|m| SocketAddr::from((Ipv4Addr::LOCALHOST, m.client)))
    }

    /// The PID of member `i` while it runs.
    pub fn pid(&self, i: usize) -> Option<u32> {
        self.members.get(i)?.child.as_ref().map(Child::id)
    }

    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Kill member `i` with SIGKILL (no clean shutdown) and reap it.
    pub fn kill(&mut self, i: usize) -> Result<()> {
        let m = self.member(i)?;
        if let Some(mut child) = m.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        Ok(())
    }

    /// Start member `i` again on its data directory (it rejoins with its
    /// log) and wait until it is healthy.
    pub fn restart(&mut self, i: usize) -> Result<()> {
        self.kill(i)?;
        self.spawn(i)?;
        self.wait_healthy(i)
    }

    /// Start every member again on its data directory, then wait until
    /// all are healthy — after the whole cluster was down, no member can
    /// be healthy alone (it needs a quorum), so [`Cluster::restart`] one
    /// by one would wait in vain.
    pub fn restart_all(&mut self) -> Result<()> {
        for i in 0..self.members.len() {
            self.kill(i)?;
            self.spawn(i)?;
        }
        (0..self.members.len()).try_for_each(|i| self.wait_healthy(i))
    }

    fn member(&mut self, i: usize) -> Result<&mut Member> {
        let n = self.members.len();
        self.members.get_mut(i).ok_or_else(|| LabError::BadName {
            name: format!("etcd member {i}"),
            why: format!("the cluster has {n} members"),
        })
    }

    fn log_path(&self, i: usize) -> PathBuf {
        self.dir.path().join(format!("m{i}.log"))
    }

    fn spawn(&mut self, i: usize) -> Result<()> {
        let data = self.dir.path().join(format!("m{i}.etcd"));
        let log_path = self.log_path(i);
        let initial = self.initial.clone();
        let m = self.member(i)?;
        let client = format!("http://127.0.0.1:{}", m.client);
        let peer = format!("http://127.0.0.1:{}", m.peer);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|source| LabError::Io {
                what: format!("opening {}", log_path.display()),
                source,
            })?;
        let log2 = log.try_clone().map_err(|source| LabError::Io {
            what: "duplicating the log file".into(),
            source,
        })?;
        let args: Vec<String> = vec![
            "--name".into(),
            m.name.clone(),
            "--data-dir".into(),
            data.display().to_string(),
            "--listen-client-urls".into(),
            client.clone(),
            "--advertise-client-urls".into(),
            client,
            "--listen-peer-urls".into(),
            peer.clone(),
            "--initial-advertise-peer-urls".into(),
            peer,
            "--initial-cluster".into(),
            initial,
            "--initial-cluster-state".into(),
            "new".into(),
            "--initial-cluster-token".into(),
            format!("cloudnet-{}", std::process::id()),
            "--heartbeat-interval".into(),
            "100".into(),
            "--election-timeout".into(),
            "1000".into(),
            "--logger".into(),
            "zap".into(),
            "--log-level".into(),
            "warn".into(),
        ];
        let child = Command::new(ETCD_BIN)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .map_err(|source| LabError::Spawn {
                cmd: format!("{ETCD_BIN} {}", args.join(" ")),
                source,
            })?;
        m.child = Some(child);
        Ok(())
    }

    /// Poll member `i`'s `/health` (true once it has a leader), failing
    /// early with its log if the process exits.
    fn wait_healthy(&mut self, i: usize) -> Result<()> {
        let addr = self.client_addr(i).ok_or_else(|| LabError::BadName {
            name: format!("etcd member {i}"),
            why: "no such member".into(),
        })?;
        let log = self.log_path(i);
        let deadline = std::time::Instant::now() + START_TIMEOUT;
        loop {
            if let Some(child) = self.member(i)?.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(LabError::Command {
                        cmd: format!("{ETCD_BIN} (member m{i})"),
                        status: status.to_string(),
                        stderr: tail(&log),
                    });
                }
            }
            if healthy(addr) {
                return Ok(());
            }
            if std::time::Instant::now() >= deadline {
                return Err(LabError::Timeout {
                    what: format!("etcd member m{i} healthy; log: {}", tail(&log)),
                    after: START_TIMEOUT,
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// The end of a log file, for error messages.
fn tail(path: &Path) -> String {
    let s = std::fs::read_to_string(path).unwrap_or_default();
    let start = s.len().saturating_sub(2000);
    let start = (start..s.len())
        .find(|i| s.is_char_boundary(*i))
        .unwrap_or(0);
    s[start..].to_string()
}

/// `GET /health` answered `{"health":"true"...}`.
fn healthy(addr: SocketAddr) -> bool {
    let probe = || -> std::io::Result<bool> {
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(500))?;
        s.set_read_timeout(Some(Duration::from_secs(2)))?;
        s.write_all(b"GET /health HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
        let mut body = String::new();
        s.read_to_string(&mut body)?;
        Ok(body.contains("\"health\":\"true\""))
    };
    probe().unwrap_or(false)
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for m in &mut self.members {
            if let Some(mut child) = m.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        // `dir` removes the data directories after this.
    }
}
