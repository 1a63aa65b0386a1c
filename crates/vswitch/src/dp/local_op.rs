//! The local actions a `controller(userdata=...)` can name: parsing the
//! `cloudnet:<op> key=value ...` text (LOCAL_ACTIONS.md) into a [`LocalOp`].
//!
//! OVS hands `controller()` packets to an OpenFlow controller; cloudnet has
//! none on the data path, so — like OVN's `pinctrl`, which answers
//! `icmp4 {...}`, `put_dhcp_opts` and friends next to the switch — packets
//! whose userdata starts with [`PREFIX`] are answered inside the switch.
//! Everything the answer needs is in the userdata (the switch keeps no
//! state of its own: the controller owns the truth and compiles it into
//! flows). Parsing allocates only for `dhcp4` (rare traffic) and for
//! errors; the other ops are read from the userdata bytes in place.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;
use std::sync::Arc;

use responder::dhcp::{Binding, ConfigError, SubnetOptions};
use responder::icmp_error::{Icmpv4Error, Icmpv6Error};
use responder::Mac;

/// Userdata that starts with these bytes names a local action.
pub const PREFIX: &[u8] = b"cloudnet:";

/// Why a `cloudnet:` userdata cannot be executed. The packet is dropped and
/// counted as `local_action_error`; the message names the offending token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LocalActionError {
    /// The userdata is not ASCII text.
    #[error("userdata after \"cloudnet:\" is not ASCII text")]
    NotText,
    /// No such op.
    #[error("unknown local action {0:?}")]
    UnknownOp(String),
    /// A token without `=`.
    #[error("{op}: token {token:?} is not key=value")]
    BadToken {
        /// The op.
        op: &'static str,
        /// The token.
        token: String,
    },
    /// A key the op does not take.
    #[error("{op}: unknown key {key:?}")]
    UnknownKey {
        /// The op.
        op: &'static str,
        /// The key.
        key: String,
    },
    /// A key given twice.
    #[error("{op}: key {key:?} given twice")]
    DuplicateKey {
        /// The op.
        op: &'static str,
        /// The key.
        key: String,
    },
    /// A required key is absent.
    #[error("{op}: missing {key}=")]
    Missing {
        /// The op.
        op: &'static str,
        /// The key.
        key: &'static str,
    },
    /// A value that does not parse or is out of range.
    #[error("{op}: bad {key}={value:?}: {why}")]
    BadValue {
        /// The op.
        op: &'static str,
        /// The key.
        key: &'static str,
        /// The value.
        value: String,
        /// What was expected.
        why: &'static str,
    },
    /// A DHCP configuration the server refuses.
    #[error("dhcp4: {0}")]
    Dhcp(#[from] ConfigError),
}

/// One local action, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalOp {
    /// `icmp4-time-exceeded src=IP`, `icmp4-unreachable src=IP code=N
    /// [mtu=N]`: an ICMPv4 error from `src` (RFC 792, RFC 1812 §4.3).
    Icmp4Error {
        /// The router address the error comes from.
        src: Ipv4Addr,
        /// Type and code.
        kind: Icmpv4Error,
    },
    /// `icmp6-time-exceeded src=IP`, `icmp6-unreachable src=IP code=N`,
    /// `icmp6-packet-too-big src=IP mtu=N` (RFC 4443 §3).
    Icmp6Error {
        /// The router address the error comes from.
        src: Ipv6Addr,
        /// Type and code.
        kind: Icmpv6Error,
    },
    /// `arp-reply mac=MAC`: answer the ARP request with `mac` for its
    /// target address (RFC 826).
    ArpReply {
        /// The MAC that owns the target address.
        mac: Mac,
    },
    /// `nd-na mac=MAC [router=1]`: a Neighbor Advertisement for the
    /// solicitation's target (RFC 4861 §7.2.4).
    NdNa {
        /// The MAC that owns the target address.
        mac: Mac,
        /// Set the Router flag.
        router: bool,
    },
    /// `icmp4-echo-reply`: answer an ICMP echo request (RFC 792).
    Icmp4Echo,
    /// `icmp6-echo-reply`: answer an ICMPv6 echo request (RFC 4443 §4.2).
    Icmp6Echo,
    /// `dhcp4 server=IP server_mac=MAC offer=IP mask=N ...`: answer this
    /// client's DHCPv4 message with the binding (RFC 2131).
    Dhcp4(Binding),
    /// `nd-ra mac=MAC prefix=CIDR mode=slaac|dhcpv6-stateful|dhcpv6-stateless
    /// [mtu=N] [lifetime=S]`: a Router Advertisement answering the Router
    /// Solicitation (RFC 4861 §6.2.6), OVN's `put_nd_ra_opts`.
    NdRa(responder::ra::RaConfig),
    /// `dhcp6 server_mac=MAC [addr=IPv6] [dns=IPv6,IPv6]`: answer this
    /// port's DHCPv6 message (RFC 8415), OVN's `put_dhcpv6_opts`.
    Dhcp6(responder::dhcp6::Dhcp6Config),
    /// `arp-request spa=IP sha=MAC tpa=IP|regN`: an ARP request for `tpa`
    /// (an address, or a register of the packet-in) from `sha`/`spa` to
    /// the broadcast address (RFC 826) — OVN's `arp { ... }`. The packet
    /// itself is consumed; its sender retries once the answer is learned.
    ArpRequest {
        /// Sender protocol address (the router port's).
        spa: Ipv4Addr,
        /// Sender hardware address, also the Ethernet source.
        sha: Mac,
        /// The address asked about.
        tpa: Ipv4Src,
    },
    /// `nd-ns sip=IPv6 sha=MAC target=IPv6|xxregN`: a Neighbor
    /// Solicitation for `target` (an address, or a 128-bit register of the
    /// packet-in) from `sha`/`sip` to its solicited-node group (RFC 4861
    /// §7.2.2) — OVN's `nd_ns { ... }`. Consumed like `arp-request`.
    NdNs {
        /// Source address (the router port's).
        sip: Ipv6Addr,
        /// Source link-layer address, also the Ethernet source.
        sha: Mac,
        /// The address asked about.
        target: Ipv6Src,
    },
}

/// Where an op takes an IPv6 address from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ipv6Src {
    /// This address.
    Addr(Ipv6Addr),
    /// `xxregN` of the packet-in (`0..=3`): `reg4N` (most significant 32
    /// bits) to `reg4N+3`, as ovs-fields(7) lays out the 128-bit registers.
    XxReg(u8),
}

impl Ipv6Src {
    /// The address, reading registers from `regs`.
    pub fn get(self, regs: &[u32; 16]) -> Ipv6Addr {
        match self {
            Ipv6Src::Addr(a) => a,
            Ipv6Src::XxReg(n) => {
                let base = 4 * usize::from(n & 3);
                let w = |i: usize| u128::from(regs[base + i]);
                Ipv6Addr::from(w(0) << 96 | w(1) << 64 | w(2) << 32 | w(3))
            }
        }
    }
}

impl FromStr for Ipv6Src {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s.strip_prefix("xxreg") {
            Some(n @ ("0" | "1" | "2" | "3")) => n.parse().map(Ipv6Src::XxReg).map_err(|_| ()),
            Some(_) => Err(()),
            None => s.parse().map(Ipv6Src::Addr).map_err(|_| ()),
        }
    }
}

/// Where an op takes an IPv4 address from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ipv4Src {
    /// This address.
    Addr(Ipv4Addr),
    /// Register `regN` of the packet-in (`0..=15`).
    Reg(u8),
}

impl Ipv4Src {
    /// The address, reading registers from `regs`.
    pub fn get(self, regs: &[u32; 16]) -> Ipv4Addr {
        match self {
            Ipv4Src::Addr(a) => a,
            Ipv4Src::Reg(r) => Ipv4Addr::from(regs[usize::from(r) & 15]),
        }
    }
}

impl FromStr for Ipv4Src {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s.strip_prefix("reg") {
            Some(n) => match n.parse::<u8>() {
                Ok(r @ 0..=15) if !n.starts_with('+') => Ok(Ipv4Src::Reg(r)),
                _ => Err(()),
            },
            None => s.parse().map(Ipv4Src::Addr).map_err(|_| ()),
        }
    }
}

/// A parsed local action: the op, and where its answer goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalAction {
    /// What to build.
    pub op: LocalOp,
    /// `table=T`: the answer enters the pipeline at table `T` with the
    /// packet-in's registers and `metadata` (as OVN's `pinctrl` re-injects
    /// what it builds), instead of leaving by the input port.
    pub resume: Option<u8>,
}

/// The key every op takes: where the answer goes (see [`LocalAction`]).
const RESUME_KEY: &str = "table";

/// The local action `userdata` names: `None` when it does not start with
/// [`PREFIX`] (an ordinary packet-in for a controller).
pub fn parse(userdata: &[u8]) -> Option<Result<LocalAction, LocalActionError>> {
    let rest = userdata.strip_prefix(PREFIX)?;
    Some(
        std::str::from_utf8(rest)
            .ok()
            .filter(|s| s.is_ascii())
            .ok_or(LocalActionError::NotText)
            .and_then(parse_text),
    )
}

fn parse_text(text: &str) -> Result<LocalAction, LocalActionError> {
    let mut words = text.split_ascii_whitespace();
    let name = words.next().unwrap_or("");
    let rest = text.trim_start().get(name.len()..).unwrap_or("");
    let (op, keys): (&'static str, &[&str]) = match name {
        "icmp4-time-exceeded" => ("icmp4-time-exceeded", &["src"]),
        "icmp4-unreachable" => ("icmp4-unreachable", &["src", "code", "mtu"]),
        "icmp6-time-exceeded" => ("icmp6-time-exceeded", &["src"]),
        "icmp6-unreachable" => ("icmp6-unreachable", &["src", "code"]),
        "icmp6-packet-too-big" => ("icmp6-packet-too-big", &["src", "mtu"]),
        "arp-reply" => ("arp-reply", &["mac"]),
        "nd-na" => ("nd-na", &["mac", "router"]),
        "icmp4-echo-reply" => ("icmp4-echo-reply", &[]),
        "icmp6-echo-reply" => ("icmp6-echo-reply", &[]),
        "dhcp4" => ("dhcp4", DHCP_KEYS),
        "arp-request" => ("arp-request", &["spa", "sha", "tpa"]),
        "nd-ns" => ("nd-ns", &["sip", "sha", "target"]),
        "nd-ra" => ("nd-ra", &["mac", "prefix", "mode", "mtu", "lifetime"]),
        "dhcp6" => ("dhcp6", &["server_mac", "addr", "dns"]),
        _ => return Err(LocalActionError::UnknownOp(name.to_owned())),
    };
    let kv = Kv::new(op, rest, keys)?;
    let resume = kv.opt::<u8>(RESUME_KEY)?;
    let op = match op {
        "icmp4-time-exceeded" => LocalOp::Icmp4Error {
            src: kv.need("src")?,
            kind: Icmpv4Error::TimeExceeded,
        },
        "icmp4-unreachable" => LocalOp::Icmp4Error {
            src: kv.need("src")?,
            kind: icmp4_unreachable(&kv)?,
        },
        "icmp6-time-exceeded" => LocalOp::Icmp6Error {
            src: kv.need("src")?,
            kind: Icmpv6Error::TimeExceeded,
        },
        "icmp6-unreachable" => LocalOp::Icmp6Error {
            src: kv.need("src")?,
            kind: match kv.need::<u8>("code")? {
                0 => Icmpv6Error::NoRoute,
                1 => Icmpv6Error::AdminProhibited,
                3 => Icmpv6Error::AddressUnreachable,
                4 => Icmpv6Error::PortUnreachable,
                _ => return Err(kv.bad("code", "one of 0, 1, 3, 4 (RFC 4443 §3.1)")),
            },
        },
        "icmp6-packet-too-big" => LocalOp::Icmp6Error {
            src: kv.need("src")?,
            kind: match kv.need::<u32>("mtu")? {
                mtu @ 1280.. => Icmpv6Error::PacketTooBig { mtu },
                _ => return Err(kv.bad("mtu", "at least 1280 (RFC 8200 §5)")),
            },
        },
        "arp-reply" => LocalOp::ArpReply {
            mac: kv.need::<MacText>("mac")?.0,
        },
        "nd-na" => LocalOp::NdNa {
            mac: kv.need::<MacText>("mac")?.0,
            router: match kv.get("router") {
                None | Some("0") => false,
                Some("1") => true,
                Some(_) => return Err(kv.bad("router", "0 or 1")),
            },
        },
        "icmp4-echo-reply" => LocalOp::Icmp4Echo,
        "icmp6-echo-reply" => LocalOp::Icmp6Echo,
        "arp-request" => LocalOp::ArpRequest {
            spa: kv.need("spa")?,
            sha: kv.need::<MacText>("sha")?.0,
            tpa: kv.need("tpa")?,
        },
        "nd-ns" => LocalOp::NdNs {
            sip: kv.need("sip")?,
            sha: kv.need::<MacText>("sha")?.0,
            target: kv.need("target")?,
        },
        "nd-ra" => LocalOp::NdRa(nd_ra(&kv)?),
        "dhcp6" => LocalOp::Dhcp6(responder::dhcp6::Dhcp6Config {
            server_mac: kv.need::<MacText>("server_mac")?.0,
            addr: kv.opt("addr")?,
            dns: match kv.get("dns") {
                None => Vec::new(),
                Some(v) => v
                    .split(',')
                    .map(|ip| ip.parse().map_err(|_| kv.bad("dns", "IPv6,IPv6,...")))
                    .collect::<Result<_, _>>()?,
            },
        }),
        _ => LocalOp::Dhcp4(dhcp4(&kv)?),
    };
    Ok(LocalAction { op, resume })
}

/// RFC 792 / RFC 1812 §5.2.7.1 codes the responder builds.
fn icmp4_unreachable(kv: &Kv) -> Result<Icmpv4Error, LocalActionError> {
    let code: u8 = kv.need("code")?;
    if code != 4 && kv.get("mtu").is_some() {
        return Err(kv.bad("mtu", "only with code=4 (RFC 1191)"));
    }
    Ok(match code {
        0 => Icmpv4Error::NetUnreachable,
        1 => Icmpv4Error::HostUnreachable,
        2 => Icmpv4Error::ProtocolUnreachable,
        3 => Icmpv4Error::PortUnreachable,
        4 => match kv.need::<u16>("mtu")? {
            mtu @ 68.. => Icmpv4Error::FragmentationNeeded { mtu },
            _ => return Err(kv.bad("mtu", "at least 68 (RFC 791)")),
        },
        13 => Icmpv4Error::AdminProhibited,
        _ => return Err(kv.bad("code", "one of 0, 1, 2, 3, 4, 13")),
    })
}

fn nd_ra(kv: &Kv) -> Result<responder::ra::RaConfig, LocalActionError> {
    use responder::ra::{defaults, RaConfig, RaMode};
    let prefix = kv
        .get("prefix")
        .ok_or(LocalActionError::Missing {
            op: "nd-ra",
            key: "prefix",
        })?
        .parse::<ipnet::Ipv6Net>()
        .map_err(|_| kv.bad("prefix", "an IPv6 prefix ADDR/LEN"))?;
    let mode = kv.get("mode").ok_or(LocalActionError::Missing {
        op: "nd-ra",
        key: "mode",
    })?;
    let mode = RaMode::from_neutron(mode)
        .ok_or_else(|| kv.bad("mode", "slaac, dhcpv6-stateful or dhcpv6-stateless"))?;
    let mtu = match kv.opt::<u32>("mtu")? {
        Some(m) if m < 1280 => return Err(kv.bad("mtu", "at least 1280 (RFC 8200 §5)")),
        m => m,
    };
    Ok(RaConfig {
        mac: kv.need::<MacText>("mac")?.0,
        prefix: prefix.trunc(),
        mode,
        mtu,
        lifetime: kv.opt("lifetime")?.unwrap_or(defaults::ROUTER_LIFETIME),
    })
}

const DHCP_KEYS: &[&str] = &[
    "server",
    "server_mac",
    "offer",
    "mask",
    "router",
    "dns",
    "mtu",
    "lease",
    "routes",
    "domain",
    // The controller sends Neutron's host name (option 12, RFC 2132 3.14);
    // the responder has no host-name option yet, so it is accepted and
    // not sent.
    "hostname",
];

fn dhcp4(kv: &Kv) -> Result<Binding, LocalActionError> {
    let mut s = SubnetOptions::new(
        kv.need("server")?,
        kv.need::<MacText>("server_mac")?.0,
        kv.need("mask")?,
    );
    s.router = kv.opt("router")?;
    if let Some(v) = kv.get("dns") {
        s.dns_servers = v
            .split(',')
            .map(|ip| ip.parse().map_err(|_| kv.bad("dns", "IPv4,IPv4,...")))
            .collect::<Result<_, _>>()?;
    }
    s.mtu = kv.opt("mtu")?;
    s.lease_time = kv.opt("lease")?.unwrap_or(s.lease_time);
    if let Some(v) = kv.get("routes") {
        s.routes = v
            .split(';')
            .map(|r| {
                let (net, gw) = r.split_once('>')?;
                Some((net.parse().ok()?, gw.parse().ok()?))
            })
            .collect::<Option<_>>()
            .ok_or_else(|| kv.bad("routes", "CIDR>GW;CIDR>GW"))?;
    }
    s.domain_name = kv.get("domain").map(str::to_owned);
    let b = Binding {
        ip: kv.need("offer")?,
        subnet: Arc::new(s),
    };
    b.validate()?;
    Ok(b)
}

/// A MAC in `aa:bb:cc:dd:ee:ff` form.
struct MacText(Mac);

impl FromStr for MacText {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        let mut m = [0u8; 6];
        let mut parts = s.split(':');
        for b in &mut m {
            let p = parts.next().filter(|p| p.len() == 2).ok_or(())?;
            *b = u8::from_str_radix(p, 16).map_err(|_| ())?;
        }
        match parts.next() {
            None => Ok(MacText(m)),
            Some(_) => Err(()),
        }
    }
}

/// The `key=value` tokens of one op, checked once against the keys it
/// takes, then looked up in place (no map).
struct Kv<'a> {
    op: &'static str,
    text: &'a str,
}

impl<'a> Kv<'a> {
    fn new(op: &'static str, text: &'a str, keys: &[&str]) -> Result<Self, LocalActionError> {
        for (i, tok) in text.split_ascii_whitespace().enumerate() {
            let Some((k, _)) = tok.split_once('=') else {
                return Err(LocalActionError::BadToken {
                    op,
                    token: tok.to_owned(),
                });
            };
            if !keys.contains(&k) && k != RESUME_KEY {
                return Err(LocalActionError::UnknownKey {
                    op,
                    key: k.to_owned(),
                });
            }
            let again = text
                .split_ascii_whitespace()
                .take(i)
                .any(|t| t.split_once('=').is_some_and(|(k2, _)| k2 == k));
            if again {
                return Err(LocalActionError::DuplicateKey {
                    op,
                    key: k.to_owned(),
                });
            }
        }
        Ok(Kv { op, text })
    }

    fn get(&self, key: &str) -> Option<&'a str> {
        self.text
            .split_ascii_whitespace()
            .find_map(|t| t.split_once('=').filter(|(k, _)| *k == key).map(|(_, v)| v))
    }

    fn bad(&self, key: &'static str, why: &'static str) -> LocalActionError {
        LocalActionError::BadValue {
            op: self.op,
            key,
            value: self.get(key).unwrap_or("").to_owned(),
            why,
        }
    }

    fn opt<T: Parse>(&self, key: &'static str) -> Result<Option<T>, LocalActionError> {
        self.get(key)
            .map(|v| v.parse::<T>().map_err(|_| self.bad(key, T::WHAT)))
            .transpose()
    }

    fn need<T: Parse>(&self, key: &'static str) -> Result<T, LocalActionError> {
        self.opt(key)?
            .ok_or(LocalActionError::Missing { op: self.op, key })
    }
}

/// Values the ops take, with what the error says was expected.
trait Parse: FromStr {
    const WHAT: &'static str;
}

impl Parse for Ipv4Addr {
    const WHAT: &'static str = "an IPv4 address";
}
impl Parse for Ipv6Addr {
    const WHAT: &'static str = "an IPv6 address";
}
impl Parse for Ipv4Src {
    const WHAT: &'static str = "an IPv4 address or reg0..reg15";
}
impl Parse for Ipv6Src {
    const WHAT: &'static str = "an IPv6 address or xxreg0..xxreg3";
}
impl Parse for MacText {
    const WHAT: &'static str = "a MAC aa:bb:cc:dd:ee:ff";
}
impl Parse for u8 {
    const WHAT: &'static str = "a number 0-255";
}
impl Parse for u16 {
    const WHAT: &'static str = "a number 0-65535";
}
impl Parse for u32 {
    const WHAT: &'static str = "a number 0-4294967295";
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<LocalOp, LocalActionError> {
        parse(s.as_bytes()).expect("has the prefix").map(|a| a.op)
    }

    #[test]
    fn arp_request_and_resume() {
        let a =
            parse(b"cloudnet:arp-request spa=203.0.113.5 sha=02:00:00:00:00:01 tpa=reg0 table=28")
                .expect("prefix")
                .expect("parses");
        assert_eq!(a.resume, Some(28));
        let LocalOp::ArpRequest { spa, sha, tpa } = a.op else {
            panic!("not arp-request: {a:?}")
        };
        assert_eq!(
            (spa, sha),
            (Ipv4Addr::new(203, 0, 113, 5), [2, 0, 0, 0, 0, 1])
        );
        let mut regs = [0u32; 16];
        regs[0] = u32::from(Ipv4Addr::new(203, 0, 113, 9));
        assert_eq!(tpa.get(&regs), Ipv4Addr::new(203, 0, 113, 9));
        assert_eq!(
            p("cloudnet:arp-request spa=10.0.0.1 sha=02:00:00:00:00:01 tpa=10.0.0.9"),
            Ok(LocalOp::ArpRequest {
                spa: Ipv4Addr::new(10, 0, 0, 1),
                sha: [2, 0, 0, 0, 0, 1],
                tpa: Ipv4Src::Addr(Ipv4Addr::new(10, 0, 0, 9)),
            })
        );
        // Any op may resume; without table= the answer leaves by in_port.
        let e = parse(b"cloudnet:icmp4-echo-reply table=21")
            .unwrap()
            .unwrap();
        assert_eq!((e.op, e.resume), (LocalOp::Icmp4Echo, Some(21)));
        assert_eq!(
            parse(b"cloudnet:icmp4-echo-reply").unwrap().unwrap().resume,
            None
        );
        let err = |s: &str| p(s).unwrap_err().to_string();
        assert!(
            err("cloudnet:arp-request spa=10.0.0.1 sha=02:00:00:00:00:01 tpa=reg16")
                .contains("tpa=\"reg16\"")
        );
        assert!(
            err("cloudnet:arp-request spa=10.0.0.1 sha=02:00:00:00:00:01").contains("missing tpa=")
        );
        assert!(err("cloudnet:icmp4-echo-reply table=300").contains("table=\"300\""));
    }

    #[test]
    fn ops_parse() {
        assert_eq!(parse(b"something else"), None);
        assert_eq!(
            p("cloudnet:icmp4-time-exceeded src=10.0.0.1"),
            Ok(LocalOp::Icmp4Error {
                src: Ipv4Addr::new(10, 0, 0, 1),
                kind: Icmpv4Error::TimeExceeded
            })
        );
        assert_eq!(
            p("cloudnet:icmp4-unreachable  src=10.0.0.1 code=4 mtu=1400"),
            Ok(LocalOp::Icmp4Error {
                src: Ipv4Addr::new(10, 0, 0, 1),
                kind: Icmpv4Error::FragmentationNeeded { mtu: 1400 }
            })
        );
        assert_eq!(
            p("cloudnet:icmp6-unreachable src=fd00::1 code=4"),
            Ok(LocalOp::Icmp6Error {
                src: "fd00::1".parse().unwrap(),
                kind: Icmpv6Error::PortUnreachable
            })
        );
        assert_eq!(
            p("cloudnet:nd-na mac=02:00:00:00:00:01 router=1"),
            Ok(LocalOp::NdNa {
                mac: [2, 0, 0, 0, 0, 1],
                router: true
            })
        );
        assert_eq!(p("cloudnet:icmp6-echo-reply"), Ok(LocalOp::Icmp6Echo));
        let LocalOp::Dhcp4(b) = p(
            "cloudnet:dhcp4 server=10.0.0.2 server_mac=02:00:00:00:00:02 \
                                   offer=10.0.0.5 mask=24 router=10.0.0.1 dns=10.0.0.53,10.0.0.54 \
                                   mtu=1450 lease=600 routes=192.168.0.0/24>10.0.0.9 domain=x.test",
        )
        .unwrap() else {
            panic!("not dhcp4")
        };
        assert_eq!(b.ip, Ipv4Addr::new(10, 0, 0, 5));
        assert_eq!(b.subnet.dns_servers.len(), 2);
        assert_eq!(b.subnet.mtu, Some(1450));
        assert_eq!(b.subnet.lease_time, 600);
        assert_eq!(b.subnet.routes.len(), 1);
        assert_eq!(b.subnet.domain_name.as_deref(), Some("x.test"));
        let LocalOp::NdRa(ra) =
            p("cloudnet:nd-ra mac=02:00:00:00:00:01 prefix=2001:db8:1::/64 mode=dhcpv6-stateful mtu=1450")
                .unwrap()
        else {
            panic!("not nd-ra")
        };
        assert_eq!(ra.mode, responder::ra::RaMode::Dhcpv6Stateful);
        assert_eq!((ra.mtu, ra.lifetime), (Some(1450), 1800));
        let LocalOp::Dhcp6(d) =
            p("cloudnet:dhcp6 server_mac=02:00:00:00:00:01 addr=2001:db8::5 dns=2001:db8::53")
                .unwrap()
        else {
            panic!("not dhcp6")
        };
        assert_eq!(d.addr, Some("2001:db8::5".parse().unwrap()));
        assert_eq!(d.dns.len(), 1);
    }

    #[test]
    fn nd_ns_reads_a_128_bit_register() {
        let a =
            parse(b"cloudnet:nd-ns sip=2001:db8::5 sha=02:00:00:00:00:01 target=xxreg0 table=28")
                .unwrap()
                .unwrap();
        assert_eq!(a.resume, Some(28));
        let LocalOp::NdNs { sip, sha, target } = a.op else {
            panic!("not nd-ns: {a:?}")
        };
        assert_eq!(
            (sip, sha),
            ("2001:db8::5".parse().unwrap(), [2, 0, 0, 0, 0, 1])
        );
        let mut regs = [0u32; 16];
        regs[..4].copy_from_slice(&[0x2001_0db8, 0, 0, 0x12]);
        assert_eq!(
            target.get(&regs),
            "2001:db8::12".parse::<Ipv6Addr>().unwrap()
        );
        regs[4..8].copy_from_slice(&[0xfe80_0000, 0, 0, 1]);
        assert_eq!(
            Ipv6Src::XxReg(1).get(&regs),
            "fe80::1".parse::<Ipv6Addr>().unwrap()
        );
        assert_eq!(
            p("cloudnet:nd-ns sip=::1 sha=02:00:00:00:00:01 target=2001:db8::9"),
            Ok(LocalOp::NdNs {
                sip: "::1".parse().unwrap(),
                sha: [2, 0, 0, 0, 0, 1],
                target: Ipv6Src::Addr("2001:db8::9".parse().unwrap()),
            })
        );
    }

    #[test]
    fn errors_name_the_offending_token() {
        let e = |s: &str| p(s).unwrap_err().to_string();
        assert!(e("cloudnet:teleport").contains("\"teleport\""));
        assert!(e("cloudnet:arp-reply mac=02:00:00:00:00").contains("mac=\"02:00:00:00:00\""));
        assert!(e("cloudnet:arp-reply").contains("missing mac="));
        assert!(e("cloudnet:arp-reply mac=02:00:00:00:00:01 ttl=3").contains("\"ttl\""));
        assert!(e("cloudnet:arp-reply mac").contains("\"mac\""));
        assert!(e("cloudnet:icmp4-time-exceeded src=1.1.1.1 src=2.2.2.2").contains("twice"));
        assert!(e("cloudnet:icmp4-unreachable src=1.1.1.1 code=9").contains("code=\"9\""));
        assert!(e("cloudnet:icmp4-unreachable src=1.1.1.1 code=4").contains("missing mtu="));
        assert!(e("cloudnet:icmp6-packet-too-big src=::1 mtu=1000").contains("1280"));
        assert!(e(
            "cloudnet:dhcp4 server=10.0.0.2 server_mac=02:00:00:00:00:02 \
                   offer=10.1.0.5 mask=24"
        )
        .contains("not in subnet"));
        assert!(e(
            "cloudnet:dhcp4 server=10.0.0.2 server_mac=02:00:00:00:00:02 \
                   offer=10.0.0.5 mask=24 routes=10.9.0.0/16"
        )
        .contains("routes"));
        assert!(
            e("cloudnet:nd-ra mac=02:00:00:00:00:01 prefix=2001:db8::/64 mode=dhcp")
                .contains("mode=\"dhcp\"")
        );
        assert!(
            e("cloudnet:nd-ra mac=02:00:00:00:00:01 prefix=10.0.0.0/24 mode=slaac")
                .contains("prefix=")
        );
        assert!(e("cloudnet:nd-ra mac=02:00:00:00:00:01 mode=slaac").contains("missing prefix="));
        assert!(e("cloudnet:dhcp6 server_mac=02:00:00:00:00:01 addr=10.0.0.1").contains("addr="));
        assert!(
            e("cloudnet:nd-ns sip=2001:db8::1 sha=02:00:00:00:00:01 target=xxreg4")
                .contains("target=\"xxreg4\"")
        );
        assert!(e("cloudnet:nd-ns sip=10.0.0.1 sha=02:00:00:00:00:01 target=::9").contains("sip="));
        assert_eq!(
            parse(b"cloudnet:\xff"),
            Some(Err(LocalActionError::NotText))
        );
    }
}
