//! Shared by the CLI's integration tests: `cloudnet serve --api-only` on
//! a free loopback port.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running API server, killed when dropped (even on panic).
pub struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Start `cloudnet serve --api-only` with its store in `data`; returns
/// the server and its endpoint (`http://127.0.0.1:PORT`), read from the
/// line serve prints once it listens.
pub fn start_api_only(data: &Path) -> (Server, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cloudnet"))
        .args(["serve", "--api-only", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(data)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("start cloudnet serve");
    let stderr = child.stderr.take().expect("piped stderr");
    let server = Server(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("cloudnet serve: listening on ") {
                let _ = tx.send(url.to_string());
            }
        }
    });
    let url = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("server did not report its address");
    (server, url)
}
