//! Connectivity checks between namespaces: ping, TCP echo, UDP echo.
//!
//! They run in-process (sockets opened inside the namespaces through
//! [`Netns::run`]) rather than through `ping`/`nc`, so the only tool the lab
//! needs is iproute2, and every step has a bounded timeout.

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::cmd::Backoff;
use crate::error::{LabError, Result};
use crate::netns::Netns;

/// Limit for one ping reply.
pub const PING_REPLY_TIMEOUT: Duration = Duration::from_secs(1);
/// Default limit for a whole TCP or UDP check.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// Outcome of [`ping`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PingStats {
    /// Echo requests sent.
    pub transmitted: u16,
    /// Matching echo replies received.
    pub received: u16,
    /// Round-trip time of each reply received.
    pub rtts: Vec<Duration>,
    /// The last error of a send, if any failed (e.g. "Network is
    /// unreachable"); such a request counts as lost.
    pub last_error: Option<String>,
}

impl PingStats {
    /// True if every request got its reply.
    pub fn all_received(&self) -> bool {
        self.transmitted > 0 && self.received == self.transmitted
    }

    /// Smallest round-trip time.
    pub fn rtt_min(&self) -> Option<Duration> {
        self.rtts.iter().min().copied()
    }

    /// Largest round-trip time.
    pub fn rtt_max(&self) -> Option<Duration> {
        self.rtts.iter().max().copied()
    }

    /// Mean round-trip time.
    pub fn rtt_avg(&self) -> Option<Duration> {
        let n = u32::try_from(self.rtts.len()).ok().filter(|n| *n > 0)?;
        Some(self.rtts.iter().sum::<Duration>() / n)
    }
}

/// Options of [`ping_with`].
#[derive(Debug, Clone, Copy)]
pub struct PingOptions {
    /// Number of echo requests, sent one after the other.
    pub count: u16,
    /// How long to wait for each reply.
    pub reply_timeout: Duration,
    /// Bytes of ICMP payload (ping's `-s`; 56 by default).
    pub payload: usize,
}

impl Default for PingOptions {
    fn default() -> Self {
        PingOptions {
            count: 3,
            reply_timeout: PING_REPLY_TIMEOUT,
            payload: 56,
        }
    }
}

/// Ping `addr` from namespace `from`: `count` ICMP (or ICMPv6) echo
/// requests, each waiting up to 1 s for its reply. Lost replies are counted,
/// not errors; an error means the check itself could not run.
pub fn ping(from: &Netns, addr: IpAddr, count: u16) -> Result<PingStats> {
    ping_with(
        from,
        addr,
        PingOptions {
            count,
            ..PingOptions::default()
        },
    )
}

/// [`ping`] with options (payload size, reply timeout).
pub fn ping_with(from: &Netns, addr: IpAddr, opts: PingOptions) -> Result<PingStats> {
    static IDENT: AtomicU16 = AtomicU16::new(0);
    // Raw ICMP sockets see every echo reply of the namespace: tell ours
    // apart by an identifier unique in this process.
    let ident = (std::process::id() as u16) ^ IDENT.fetch_add(0x3b1, Ordering::Relaxed);
    let (domain, proto) = match addr {
        IpAddr::V4(_) => (Domain::IPV4, Protocol::ICMPV4),
        IpAddr::V6(_) => (Domain::IPV6, Protocol::ICMPV6),
    };
    let what = || format!("[{}] ping {addr}", from.name());
    let sock = from
        .run(|| Socket::new(domain, Type::RAW, Some(proto)))?
        .map_err(|e| LabError::io(what(), e))?;
    let dest = SockAddr::from(SocketAddr::new(addr, 0));
    let mut stats = PingStats::default();
    let mut buf = vec![0u8; 65536];
    for seq in 1..=opts.count {
        let req = echo_request(addr.is_ipv6(), ident, seq, opts.payload);
        stats.transmitted += 1;
        let sent = Instant::now();
        if let Err(e) = sock.send_to(&req, &dest) {
            stats.last_error = Some(e.to_string());
            continue;
        }
        let deadline = sent + opts.reply_timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            sock.set_read_timeout(Some(left))
                .map_err(|e| LabError::io(what(), e))?;
            let n = match (&sock).read(&mut buf) {
                Ok(n) => n,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(LabError::io(what(), e)),
            };
            if is_echo_reply(&buf[..n], addr, ident, seq) {
                stats.received += 1;
                stats.rtts.push(sent.elapsed());
                break;
            }
        }
    }
    Ok(stats)
}

/// An ICMP Echo Request (RFC 792) or ICMPv6 Echo Request (RFC 4443 §4.1).
/// The ICMPv6 checksum is left zero: the kernel fills it in for raw ICMPv6
/// sockets (RFC 3542 §3.1).
fn echo_request(v6: bool, ident: u16, seq: u16, payload: usize) -> Vec<u8> {
    let mut m = Vec::with_capacity(8 + payload);
    m.push(if v6 { 128 } else { 8 });
    m.push(0);
    m.extend_from_slice(&[0, 0]);
    m.extend_from_slice(&ident.to_be_bytes());
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend((0..payload).map(|i| i as u8));
    if !v6 {
        let c = internet_checksum(&m);
        m[2..4].copy_from_slice(&c.to_be_bytes());
    }
    m
}

/// RFC 1071 one's-complement checksum.
fn internet_checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Is `pkt` (as read from a raw socket: with the IPv4 header for ICMP,
/// without it for ICMPv6) the echo reply to our request `ident`/`seq` from
/// `from`?
fn is_echo_reply(pkt: &[u8], from: IpAddr, ident: u16, seq: u16) -> bool {
    let icmp = match from {
        IpAddr::V4(src) => {
            let Some(&vihl) = pkt.first() else {
                return false;
            };
            let ihl = usize::from(vihl & 0x0f) * 4;
            if pkt.len() < ihl + 8 || ihl < 20 || pkt[12..16] != src.octets() {
                return false;
            }
            &pkt[ihl..]
        }
        IpAddr::V6(_) => pkt,
    };
    let reply_type = if from.is_ipv4() { 0 } else { 129 };
    icmp.len() >= 8
        && icmp[0] == reply_type
        && icmp[1] == 0
        && icmp[4..6] == ident.to_be_bytes()
        && icmp[6..8] == seq.to_be_bytes()
}

/// TCP check: a server in `server` listening on `addr` echoes what a client
/// in `client` sends (`len` bytes of a pattern); the client must read back
/// the same bytes. Both sides have a bounded timeout of 5 s overall.
pub fn tcp_check(client: &Netns, server: &Netns, addr: SocketAddr, len: usize) -> Result<()> {
    tcp_check_timeout(client, server, addr, len, CHECK_TIMEOUT)
}

/// [`tcp_check`] with a given overall timeout (use a short one to assert that
/// a connection is blocked).
pub fn tcp_check_timeout(
    client: &Netns,
    server: &Netns,
    addr: SocketAddr,
    len: usize,
    timeout: Duration,
) -> Result<()> {
    tcp_echo(client, server, addr, addr, len, timeout).map(|_| ())
}

/// Accept one connection on `listener` within `timeout`. A blocking
/// `accept` can wait forever when the client's handshake completed but its
/// final ACK was dropped (a flow table changing under the test): the client
/// holds a connection the server never sees.
pub fn accept_within(
    listener: &TcpListener,
    timeout: Duration,
) -> std::io::Result<(TcpStream, SocketAddr)> {
    let deadline = Instant::now() + timeout;
    listener.set_nonblocking(true)?;
    let mut backoff = Backoff::new();
    let accepted = loop {
        match listener.accept() {
            Err(e) if e.kind() == ErrorKind::WouldBlock && Instant::now() < deadline => {
                backoff.pause(deadline)
            }
            other => break other,
        }
    };
    listener.set_nonblocking(false)?;
    let (conn, peer) = accepted?;
    conn.set_nonblocking(false)?;
    Ok((conn, peer))
}

/// [`tcp_check_timeout`] to `addr` served on the server's wildcard address
/// (so `addr` may be one the network translates, a floating IP), returning
/// the client's address as the server saw it (after SNAT, the translated
/// one).
pub fn tcp_check_peer(
    client: &Netns,
    server: &Netns,
    addr: SocketAddr,
    len: usize,
    timeout: Duration,
) -> Result<SocketAddr> {
    let any: IpAddr = match addr {
        SocketAddr::V4(_) => std::net::Ipv4Addr::UNSPECIFIED.into(),
        SocketAddr::V6(_) => std::net::Ipv6Addr::UNSPECIFIED.into(),
    };
    tcp_echo(
        client,
        server,
        SocketAddr::new(any, addr.port()),
        addr,
        len,
        timeout,
    )
}

/// The echo exchange behind the TCP checks: the server listens on `listen`,
/// the client connects to `addr`.
fn tcp_echo(
    client: &Netns,
    server: &Netns,
    listen: SocketAddr,
    addr: SocketAddr,
    len: usize,
    timeout: Duration,
) -> Result<SocketAddr> {
    let what = format!("tcp {addr} from {} to {}", client.name(), server.name());
    let fail = |detail: String| LabError::Check {
        what: what.clone(),
        detail,
    };
    let deadline = Instant::now() + timeout;
    let listener = server.tcp_listener(listen)?;
    let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
    std::thread::scope(|s| {
        let srv = s.spawn(|| -> std::io::Result<SocketAddr> {
            let left = deadline.saturating_duration_since(Instant::now());
            let (mut conn, peer) = accept_within(&listener, left)?;
            set_timeouts(&conn, deadline)?;
            let mut rd = conn.try_clone()?;
            std::io::copy(&mut rd, &mut conn)?;
            conn.shutdown(Shutdown::Write)?;
            Ok(peer)
        });
        let left = deadline.saturating_duration_since(Instant::now());
        let conn = client.tcp_connect(addr, left.max(Duration::from_millis(1)))?;
        set_timeouts(&conn, deadline).map_err(|e| fail(e.to_string()))?;
        let mut wr = conn.try_clone().map_err(|e| fail(e.to_string()))?;
        let data_ref = &data;
        let writer = s.spawn(move || -> std::io::Result<()> {
            wr.write_all(data_ref)?;
            wr.shutdown(Shutdown::Write)
        });
        let mut got = Vec::with_capacity(len);
        let read = (&conn).read_to_end(&mut got);
        let wrote = writer
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        let served = srv.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
        wrote.map_err(|e| fail(format!("client send: {e}")))?;
        read.map_err(|e| fail(format!("client receive: {e}")))?;
        let peer = served.map_err(|e| fail(format!("server: {e}")))?;
        if got != data {
            return Err(fail(format!(
                "echo differs: sent {} bytes, got {} back",
                data.len(),
                got.len()
            )));
        }
        Ok(peer)
    })
}

fn set_timeouts(s: &TcpStream, deadline: Instant) -> std::io::Result<()> {
    let left = deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(1));
    s.set_read_timeout(Some(left))?;
    s.set_write_timeout(Some(left))
}

/// UDP check: a server in `server` bound to `addr` echoes datagrams; a
/// client in `client` sends a numbered datagram every 200 ms until one comes
/// back intact or 5 s pass.
pub fn udp_check(client: &Netns, server: &Netns, addr: SocketAddr) -> Result<()> {
    udp_check_timeout(client, server, addr, CHECK_TIMEOUT)
}

/// [`udp_check`] with a given overall timeout.
pub fn udp_check_timeout(
    client: &Netns,
    server: &Netns,
    addr: SocketAddr,
    timeout: Duration,
) -> Result<()> {
    let what = format!("udp {addr} from {} to {}", client.name(), server.name());
    let fail = |detail: String| LabError::Check {
        what: what.clone(),
        detail,
    };
    let deadline = Instant::now() + timeout;
    let srv = server.udp_socket(addr)?;
    let any: SocketAddr = if addr.is_ipv4() {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let cli = client.udp_socket(any)?;
    let step = Duration::from_millis(200);
    std::thread::scope(|s| {
        let echo = s.spawn(|| -> std::io::Result<()> {
            let mut buf = [0u8; 2048];
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Ok(());
                }
                srv.set_read_timeout(Some(left))?;
                match srv.recv_from(&mut buf) {
                    Ok((n, peer)) => {
                        srv.send_to(&buf[..n], peer)?;
                        if buf[..n].starts_with(b"lab-udp-stop") {
                            return Ok(());
                        }
                    }
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                        return Ok(())
                    }
                    Err(e) => return Err(e),
                }
            }
        });
        let mut result = Err(fail("no echo received".into()));
        let mut buf = [0u8; 2048];
        let mut seq = 0u32;
        'send: while Instant::now() < deadline {
            seq += 1;
            let msg = format!("lab-udp-check {seq}");
            if let Err(e) = cli.send_to(msg.as_bytes(), addr) {
                result = Err(fail(format!("send: {e}")));
                let _ = cli.set_read_timeout(Some(step));
            }
            let until = (Instant::now() + step).min(deadline);
            loop {
                let left = until.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    continue 'send;
                }
                if cli.set_read_timeout(Some(left)).is_err() {
                    continue 'send;
                }
                match cli.recv_from(&mut buf) {
                    Ok((n, peer)) if peer == addr && buf[..n].starts_with(b"lab-udp-check ") => {
                        result = Ok(());
                        break 'send;
                    }
                    Ok(_) => {}
                    Err(_) => continue 'send,
                }
            }
        }
        // Tell the echo thread to stop early (best effort; it stops at the
        // deadline anyway).
        let _ = cli.send_to(b"lab-udp-stop", addr);
        if result.is_ok() {
            let _ = cli.set_read_timeout(Some(step));
            let _ = cli.recv_from(&mut buf);
        }
        let served = echo.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
        served.map_err(|e| fail(format!("server: {e}")))?;
        result
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn echo_request_checksum_verifies() {
        let m = echo_request(false, 0x1234, 7, 56);
        assert_eq!(m.len(), 64);
        assert_eq!(&m[..2], &[8, 0]);
        assert_eq!(&m[4..8], &[0x12, 0x34, 0, 7]);
        assert_eq!(
            internet_checksum(&m),
            0,
            "a message with its checksum sums to 0"
        );
        let odd = echo_request(false, 1, 1, 3);
        assert_eq!(internet_checksum(&odd), 0);
    }

    #[test]
    fn reply_matching() {
        let src = Ipv4Addr::new(10, 0, 0, 2);
        let mut pkt = vec![0x45u8; 20];
        pkt[12..16].copy_from_slice(&src.octets());
        pkt.extend_from_slice(&[0, 0, 0, 0, 0x12, 0x34, 0, 7]);
        assert!(is_echo_reply(&pkt, src.into(), 0x1234, 7));
        assert!(!is_echo_reply(&pkt, src.into(), 0x1234, 8));
        assert!(!is_echo_reply(
            &pkt,
            Ipv4Addr::new(10, 0, 0, 3).into(),
            0x1234,
            7
        ));
        assert!(!is_echo_reply(&pkt[..25], src.into(), 0x1234, 7));
        assert!(!is_echo_reply(&[], src.into(), 0x1234, 7));
        let v6 = [129u8, 0, 0, 0, 0x12, 0x34, 0, 7];
        assert!(is_echo_reply(&v6, "fd00::2".parse().unwrap(), 0x1234, 7));
    }
}
