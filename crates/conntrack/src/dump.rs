//! Connection listing in the format of ovs-appctl `dpctl/dump-conntrack`
//! (ovs-dpctl(8)), e.g.
//! `tcp,orig=(src=10.0.0.1,dst=10.0.0.2,sport=33000,dport=80),reply=(src=10.0.0.2,dst=10.0.0.1,sport=80,dport=33000),zone=5,protoinfo=(state=ESTABLISHED)`.

use std::fmt;
use std::time::Duration;

use crate::input::echo_types;
use crate::tcp::TcpState;
use crate::tuple::{proto, Family, Tuple};

/// An owned snapshot of one connection (control path only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnEntry {
    /// Original-direction tuple.
    pub orig: Tuple,
    /// Reply-direction tuple (after NAT).
    pub reply: Tuple,
    /// Zone.
    pub zone: u16,
    /// `ct_mark`.
    pub mark: u32,
    /// `ct_label`.
    pub label: u128,
    /// TCP state, for TCP connections.
    pub tcp_state: Option<TcpState>,
    /// Time left before expiry.
    pub timeout: Duration,
    /// Reply direction seen.
    pub seen_reply: bool,
    /// Connection assured.
    pub assured: bool,
}

fn proto_name(t: &Tuple) -> String {
    let v6 = t.family == Family::V6;
    let base = match t.proto {
        proto::TCP => "tcp",
        proto::UDP => "udp",
        proto::ICMP if !v6 => "icmp",
        proto::ICMPV6 if v6 => "icmpv6",
        132 => "sctp",
        _ => {
            return if v6 {
                format!("ipv6,proto={}", t.proto)
            } else {
                format!("proto={}", t.proto)
            }
        }
    };
    if v6 && base != "icmpv6" {
        format!("{base}6")
    } else {
        base.to_string()
    }
}

impl fmt::Display for ConnEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{},orig=({}", proto_name(&self.orig), self.orig)?;
        let icmp = self.orig.is_icmp();
        let (req, rep) = echo_types(self.orig.family == Family::V6);
        if icmp {
            write!(f, ",type={req},code=0")?;
        }
        write!(f, "),reply=({}", self.reply)?;
        if icmp {
            write!(f, ",type={rep},code=0")?;
        }
        write!(f, ")")?;
        if self.zone != 0 {
            write!(f, ",zone={}", self.zone)?;
        }
        if self.mark != 0 {
            write!(f, ",mark={}", self.mark)?;
        }
        if self.label != 0 {
            write!(f, ",labels=0x{:x}", self.label)?;
        }
        if let Some(s) = self.tcp_state {
            write!(f, ",protoinfo=(state={})", s.dpctl_name())?;
        }
        Ok(())
    }
}
