//! Tracker configuration: timeouts and limits.
//!
//! Defaults are netfilter's (Documentation/networking/nf_conntrack-sysctl
//! `nf_conntrack_tcp_timeout_*`, `nf_conntrack_udp_timeout[_stream]`,
//! `nf_conntrack_icmp_timeout`, `nf_conntrack_generic_timeout`), which is
//! also what OVS's kernel datapath uses; OVS's userspace datapath has its
//! own shorter table but lets the operator set them (ovs-vsctl(8)
//! `add-zone-tp`), as [`Timeouts`] does here.

use std::time::Duration;

/// Which timeout applies to a connection right now. Each class has one
/// duration, so the entries of a class expire in the order they were last
/// refreshed: that is what keeps per-class expiry lists sorted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum TimeoutClass {
    /// TCP SYN_SENT (and SYN_SENT2, simultaneous open).
    TcpSynSent = 0,
    /// TCP SYN_RECV.
    TcpSynRecv,
    /// TCP ESTABLISHED.
    TcpEstablished,
    /// TCP FIN_WAIT.
    TcpFinWait,
    /// TCP CLOSE_WAIT.
    TcpCloseWait,
    /// TCP LAST_ACK.
    TcpLastAck,
    /// TCP TIME_WAIT.
    TcpTimeWait,
    /// TCP CLOSE (after RST).
    TcpClose,
    /// UDP, no reply seen yet.
    UdpUnreplied,
    /// UDP with traffic both ways ("stream", assured).
    UdpReplied,
    /// ICMP / ICMPv6 echo.
    Icmp,
    /// Any other protocol.
    Generic,
}

/// Number of [`TimeoutClass`] values.
pub const TIMEOUT_CLASSES: usize = 12;

impl TimeoutClass {
    /// All classes, in index order.
    pub const ALL: [TimeoutClass; TIMEOUT_CLASSES] = [
        TimeoutClass::TcpSynSent,
        TimeoutClass::TcpSynRecv,
        TimeoutClass::TcpEstablished,
        TimeoutClass::TcpFinWait,
        TimeoutClass::TcpCloseWait,
        TimeoutClass::TcpLastAck,
        TimeoutClass::TcpTimeWait,
        TimeoutClass::TcpClose,
        TimeoutClass::UdpUnreplied,
        TimeoutClass::UdpReplied,
        TimeoutClass::Icmp,
        TimeoutClass::Generic,
    ];

    /// Index into per-class arrays.
    #[inline]
    pub fn index(self) -> usize {
        self as usize
    }
}

/// Timeout per [`TimeoutClass`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timeouts {
    by_class: [Duration; TIMEOUT_CLASSES],
}

impl Default for Timeouts {
    /// netfilter's defaults: tcp syn_sent 120 s, syn_recv 60 s,
    /// established 5 days, fin_wait 120 s, close_wait 60 s, last_ack 30 s,
    /// time_wait 120 s, close 10 s; udp 30 s unreplied / 120 s stream;
    /// icmp 30 s; generic 600 s.
    fn default() -> Self {
        let s = Duration::from_secs;
        Timeouts {
            by_class: [
                s(120),
                s(60),
                s(5 * 24 * 3600),
                s(120),
                s(60),
                s(30),
                s(120),
                s(10),
                s(30),
                s(120),
                s(30),
                s(600),
            ],
        }
    }
}

impl Timeouts {
    /// Timeout of `class`.
    #[inline]
    pub fn get(&self, class: TimeoutClass) -> Duration {
        self.by_class[class.index()]
    }

    /// Sets the timeout of `class` (zero is raised to 1 ms so an entry
    /// always outlives the packet that refreshed it).
    pub fn set(&mut self, class: TimeoutClass, d: Duration) -> &mut Self {
        self.by_class[class.index()] = d.max(Duration::from_millis(1));
        self
    }
}

/// Tracker-wide settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Timeouts per state.
    pub timeouts: Timeouts,
    /// Maximum number of connections in all zones together (OVS userspace
    /// default `dpctl/ct-set-maxconns` is 3,000,000).
    pub max_conns: u32,
    /// Limit for zones without their own (OVS `ct-set-limits default=N`);
    /// `None` means unlimited.
    pub default_zone_limit: Option<u32>,
    /// Pick up TCP connections from mid-stream (non-SYN) packets, as
    /// netfilter's `nf_conntrack_tcp_loose=1` default does; window checks
    /// for such connections are liberal since their history is unknown.
    pub tcp_loose: bool,
    /// Accept out-of-window TCP segments (`nf_conntrack_tcp_be_liberal`).
    pub tcp_be_liberal: bool,
    /// At most this many expired entries are removed per processed packet
    /// (incremental expiry; see [`crate::Conntrack::sweep`]).
    pub sweep_per_packet: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            timeouts: Timeouts::default(),
            max_conns: 3_000_000,
            default_zone_limit: None,
            tcp_loose: true,
            tcp_be_liberal: false,
            sweep_per_packet: 2,
        }
    }
}
