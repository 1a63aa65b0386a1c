//! The `capture` method (PROTOCOL.md 1.3): after its `ok` reply the
//! connection streams one [`Event`] line per captured frame, and a
//! [`Event::Status`] line after each burst of frames and every
//! [`HEARTBEAT`] while the port is quiet, until
//! the client closes the connection. The heartbeat is how the daemon learns
//! that a client went away (its write fails) and removes the tap, so a
//! detached client stops the capture within two heartbeats.
//!
//! Frames travel base64-encoded inside the JSON line (the protocol stays
//! line-oriented JSON); the client side is [`Stream`].

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, UNIX_EPOCH};

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::dp::capture::{Dir, Frame, Handle};
use crate::error::ProtoError;
use crate::proto::{encode_reply, socket_path, Envelope, Reply, Request, VERSION};

/// Frames a capture buffers for a slow reader by default.
pub const DEFAULT_QUEUE: usize = 4096;

/// Largest queue a client may ask for.
pub const MAX_QUEUE: usize = 65_536;

/// Most frames sent between two status lines.
const BURST: usize = 256;

/// Status line interval while no frame flows.
pub const HEARTBEAT: Duration = Duration::from_millis(250);

/// One captured frame on the wire.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireFrame {
    /// Wall-clock time, nanoseconds since the Unix epoch.
    pub time_ns: u64,
    /// `rx`: received from the port; `tx`: sent to it.
    pub dir: String,
    /// The Ethernet frame, base64 (RFC 4648 standard alphabet, padded).
    pub data: String,
}

impl WireFrame {
    /// The frame's bytes.
    pub fn bytes(&self) -> Result<Vec<u8>, ProtoError> {
        base64::engine::general_purpose::STANDARD
            .decode(&self.data)
            .map_err(|e| ProtoError::Malformed(format!("capture frame data: {e}")))
    }
}

/// A line of a capture stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Event {
    /// A frame.
    Frame(WireFrame),
    /// Counters so far: frames sent, frames dropped because the client
    /// read too slowly.
    Status { frames: u64, dropped: u64 },
}

fn wire(f: &Frame) -> WireFrame {
    let ns = f.time.duration_since(UNIX_EPOCH).unwrap_or_default();
    WireFrame {
        time_ns: u64::try_from(ns.as_nanos()).unwrap_or(u64::MAX),
        dir: match f.dir {
            Dir::Rx => "rx",
            Dir::Tx => "tx",
        }
        .to_owned(),
        data: base64::engine::general_purpose::STANDARD.encode(&f.data),
    }
}

fn line(e: &Event) -> String {
    serde_json::to_string(&Envelope {
        version: VERSION,
        body: e,
    })
    .unwrap_or_default()
}

/// Serve one capture on the connection `w` until the client leaves; the
/// tap is removed by `stop` whatever happens.
pub fn serve(w: &mut UnixStream, h: Handle, port: &str, stop: impl FnOnce(u64)) {
    let id = h.id;
    let _ = pump(w, &h, port);
    stop(id);
}

fn pump(w: &mut UnixStream, h: &Handle, port: &str) -> std::io::Result<()> {
    let ok = Reply::Ok {
        output: format!("capturing on {port}\n"),
    };
    writeln!(w, "{}", encode_reply(&ok))?;
    let mut frames = 0u64;
    loop {
        match h.frames.recv_timeout(HEARTBEAT) {
            Ok(f) => {
                frames += 1;
                writeln!(w, "{}", line(&Event::Frame(wire(&f))))?;
                // The rest of the burst, then a status line, so a client
                // that stops after a count has a fresh drop count.
                for f in h.frames.try_iter().take(BURST) {
                    frames += 1;
                    writeln!(w, "{}", line(&Event::Frame(wire(&f))))?;
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return Ok(()),
        }
        let status = Event::Status {
            frames,
            dropped: h.dropped.load(Ordering::Relaxed),
        };
        writeln!(w, "{}", line(&status))?;
    }
}

/// The client side: a capture in progress.
pub struct Stream {
    r: BufReader<UnixStream>,
    path: String,
    /// Last status seen.
    pub frames: u64,
    pub dropped: u64,
}

impl Stream {
    /// Start capturing `port` on the daemon of `run_dir`; `filter` is an
    /// ovs-ofctl match evaluated in the switch.
    pub fn open(
        run_dir: &Path,
        port: &str,
        filter: Option<String>,
        queue: Option<usize>,
    ) -> Result<Stream, ProtoError> {
        let path = socket_path(run_dir);
        let p = path.display().to_string();
        let io = |source| ProtoError::Io {
            path: p.clone(),
            source,
        };
        let mut s = UnixStream::connect(&path).map_err(io)?;
        // Heartbeats arrive every 250 ms; silence for long means trouble.
        s.set_read_timeout(Some(HEARTBEAT * 40)).map_err(io)?;
        let req = Request::Capture {
            port: port.to_owned(),
            filter,
            queue,
        };
        let mut l = serde_json::to_string(&Envelope {
            version: VERSION,
            body: &req,
        })
        .map_err(|e| ProtoError::Malformed(e.to_string()))?;
        l.push('\n');
        s.write_all(l.as_bytes()).map_err(io)?;
        let mut st = Stream {
            r: BufReader::new(s),
            path: p.clone(),
            frames: 0,
            dropped: 0,
        };
        let first = st.read_line()?;
        let env: Envelope<Reply> =
            serde_json::from_str(&first).map_err(|e| ProtoError::Malformed(e.to_string()))?;
        match env.body {
            Reply::Ok { .. } => Ok(st),
            Reply::Error { message } => Err(ProtoError::Remote(message)),
        }
    }

    fn read_line(&mut self) -> Result<String, ProtoError> {
        let mut l = String::new();
        let n = self.r.read_line(&mut l).map_err(|source| ProtoError::Io {
            path: self.path.clone(),
            source,
        })?;
        if n == 0 {
            return Err(ProtoError::Malformed("daemon closed the connection".into()));
        }
        Ok(l)
    }

    /// The next event (blocks until one comes; a status line comes at
    /// least every [`HEARTBEAT`]).
    pub fn next_event(&mut self) -> Result<Event, ProtoError> {
        let l = self.read_line()?;
        let env: Envelope<Event> =
            serde_json::from_str(&l).map_err(|e| ProtoError::Malformed(e.to_string()))?;
        match &env.body {
            Event::Frame(_) => self.frames += 1,
            Event::Status { dropped, .. } => self.dropped = *dropped,
        }
        Ok(env.body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::decode_request;

    #[test]
    fn wire_format() {
        let r = decode_request(
            r#"{"version":1,"method":"capture","params":{"port":"tap1","filter":"icmp"}}"#,
        )
        .unwrap();
        assert_eq!(
            r,
            Request::Capture {
                port: "tap1".into(),
                filter: Some("icmp".into()),
                queue: None
            }
        );
        assert_eq!(
            decode_request(r#"{"version":1,"method":"stats"}"#).unwrap(),
            Request::Stats
        );
        let f = Frame {
            time: UNIX_EPOCH + Duration::from_nanos(1_500),
            dir: Dir::Tx,
            data: vec![1, 2, 3],
        };
        let l = line(&Event::Frame(wire(&f)));
        assert_eq!(
            l,
            r#"{"version":1,"frame":{"time_ns":1500,"dir":"tx","data":"AQID"}}"#
        );
        let back: Envelope<Event> = serde_json::from_str(&l).unwrap();
        match back.body {
            Event::Frame(w) => assert_eq!(w.bytes().unwrap(), vec![1, 2, 3]),
            e => panic!("{e:?}"),
        }
        assert_eq!(
            line(&Event::Status {
                frames: 2,
                dropped: 1
            }),
            r#"{"version":1,"status":{"frames":2,"dropped":1}}"#
        );
    }
}
