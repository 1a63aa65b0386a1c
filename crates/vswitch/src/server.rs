//! The control socket: a unix stream listener in the run directory, one
//! thread per client connection, one JSON request per line (PROTOCOL.md).

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::proto::{decode_request, encode_reply, socket_path, Reply, Request, MAX_LINE};
use crate::switch::Switch;

/// Errors binding the control socket.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// Another daemon answers on the socket.
    #[error("another vswitchd is running with run directory {0}")]
    InUse(PathBuf),
    /// Creating the directory or socket failed.
    #[error("control socket {path}: {source}")]
    Io {
        /// Path.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
}

/// Bind the control socket of `run_dir`, replacing a stale one left by a
/// daemon that died, refusing if a live daemon answers on it.
pub fn bind(run_dir: &Path) -> Result<UnixListener, BindError> {
    let path = socket_path(run_dir);
    let io = |source| BindError::Io {
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(run_dir).map_err(io)?;
    if path.exists() {
        if UnixStream::connect(&path).is_ok() {
            return Err(BindError::InUse(run_dir.to_owned()));
        }
        std::fs::remove_file(&path).map_err(io)?;
    }
    let l = UnixListener::bind(&path).map_err(io)?;
    // The socket drives the datapath: owner only, as ovs-vswitchd's
    // management socket.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
    Ok(l)
}

/// Serve requests until an `exit` request arrives.
pub fn serve(listener: UnixListener, sw: Arc<Switch>) -> std::io::Result<()> {
    let stop = Arc::new(AtomicBool::new(false));
    for conn in listener.incoming() {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        match conn {
            Ok(conn) => {
                let sw = sw.clone();
                let stop = stop.clone();
                std::thread::spawn(move || client(conn, &sw, &stop));
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let _ = std::fs::remove_file(socket_path(sw.run_dir()));
    Ok(())
}

fn client(conn: UnixStream, sw: &Switch, stop: &AtomicBool) {
    let _ = conn.set_nonblocking(false);
    let Ok(mut w) = conn.try_clone() else { return };
    let mut r = BufReader::new(conn).take(MAX_LINE as u64 + 1);
    loop {
        let mut raw = Vec::new();
        match r.read_until(b'\n', &mut raw) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        if raw.len() > MAX_LINE {
            let reply = Reply::Error {
                message: format!("request longer than {MAX_LINE} bytes"),
            };
            let _ = writeln!(w, "{}", encode_reply(&reply));
            return;
        }
        r.set_limit(MAX_LINE as u64 + 1);
        let Ok(line) = std::str::from_utf8(&raw) else {
            let reply = Reply::Error {
                message: "request is not UTF-8".into(),
            };
            if writeln!(w, "{}", encode_reply(&reply)).is_err() {
                return;
            }
            continue;
        };
        let (reply, exit) = match decode_request(line.trim_end()) {
            // A capture turns the connection into a frame stream (1.3).
            Ok(Request::Capture {
                port,
                filter,
                queue,
            }) => match sw.start_capture(&port, filter.as_deref(), queue) {
                Ok(h) => {
                    crate::capture::serve(&mut w, h, &port, |id| sw.stop_capture(id));
                    return;
                }
                Err(message) => (Reply::Error { message }, false),
            },
            Ok(req) => (sw.handle(&req), req == Request::Exit),
            Err(e) => (
                Reply::Error {
                    message: e.to_string(),
                },
                false,
            ),
        };
        if writeln!(w, "{}", encode_reply(&reply)).is_err() {
            return;
        }
        if exit {
            stop.store(true, Ordering::Relaxed);
            // Wake the accept loop so it sees `stop`.
            let _ = UnixStream::connect(socket_path(sw.run_dir()));
            return;
        }
    }
}
