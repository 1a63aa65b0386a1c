//! Tunnel port configuration: the `options` column of an Interface whose
//! `type` is `vxlan`, `geneve` or `gre` (ovs-vswitchd.conf.db(5), "Tunnel
//! Options"), checked once when the port opens so that the per-packet path
//! only reads plain values.
//!
//! Supported keys, with OVS's defaults:
//! * `remote_ip=IP|flow` (required): the outer destination, or the flow's
//!   `tun_dst` (set by `set_field:…->tun_dst`) for flow-based ports. For
//!   VXLAN an IPv4 multicast group (224.0.0.0/4) is allowed, as the Linux
//!   vxlan device's `group`: the port joins it on the interface of
//!   `local_ip` (required then), sends everything there and accepts the
//!   port's VNI from any sender to the group (RFC 7348 §4.2, flooding
//!   without head-end replication). Unlike the kernel device, it does not
//!   learn per-MAC unicast VTEPs: known unicast goes to the group too;
//! * `local_ip=IP`: the outer source and the address receive sockets bind
//!   to; without it the route to the remote chooses the source;
//! * `key=N|flow`: VNI (24 bits) or GRE key (32 bits), 0 by default; `flow`
//!   takes `tun_id` from the flow (`set_tunnel`) on output and accepts any
//!   key on input. A GRE port sends the key field only when `key` is set.
//! * `dst_port=N`: UDP port, VXLAN 4789 and Geneve 6081 by default;
//! * `df_default=true|false` (true), `csum=true|false` (false),
//!   `ttl=N|inherit` (64), `tos=N|inherit` (0).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use tunnel::{GreFlags, Tos, Ttl, TunnelKind, TunnelParams};

use crate::schema::IfaceType;

/// A bad tunnel option, naming the interface, the key and the value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TunnelCfgError {
    /// `options:remote_ip` is missing.
    #[error("tunnel interface {0} needs options:remote_ip (an IPv4 address or \"flow\")")]
    NoRemote(String),
    /// A value does not parse or is out of range.
    #[error("tunnel interface {iface}: options:{key}={value:?}: {why}")]
    BadValue {
        /// Interface.
        iface: String,
        /// Option key.
        key: &'static str,
        /// Offending value.
        value: String,
        /// What was expected.
        why: &'static str,
    },
    /// An option this implementation does not know.
    #[error("tunnel interface {iface}: unsupported option {key:?}")]
    Unknown {
        /// Interface.
        iface: String,
        /// Option key.
        key: String,
    },
}

/// Either a configured value or "take it from the flow".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FromFlow<T> {
    /// Fixed by the port's options.
    Fixed(T),
    /// `flow`: chosen per packet by the flow tables.
    Flow,
}

/// A tunnel port's configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TunnelCfg {
    /// Protocol.
    pub kind: TunnelKind,
    /// Outer destination.
    pub remote: FromFlow<Ipv4Addr>,
    /// Outer source / receive address (`None`: the route chooses, receive
    /// sockets bind the wildcard address).
    pub local: Option<Ipv4Addr>,
    /// VNI / GRE key.
    pub key: FromFlow<u32>,
    /// Whether `options:key` was given (GRE sends the key field only then).
    pub key_set: bool,
    /// UDP destination port (0 for GRE).
    pub dst_port: u16,
    /// Outer DF.
    pub df: bool,
    /// Outer UDP / GRE checksum.
    pub csum: bool,
    /// Outer TTL.
    pub ttl: Ttl,
    /// Outer TOS.
    pub tos: Tos,
}

const KNOWN: [&str; 8] = [
    "remote_ip",
    "local_ip",
    "key",
    "dst_port",
    "df_default",
    "csum",
    "ttl",
    "tos",
];

impl TunnelCfg {
    /// Parse the options of interface `iface` of type `kind` (a tunnel
    /// type; `None` for other types).
    pub fn parse(
        iface: &str,
        kind: IfaceType,
        opts: &BTreeMap<String, String>,
    ) -> Result<Option<TunnelCfg>, TunnelCfgError> {
        let kind = match kind {
            IfaceType::Vxlan => TunnelKind::Vxlan,
            IfaceType::Geneve => TunnelKind::Geneve,
            IfaceType::Gre => TunnelKind::Gre,
            _ => return Ok(None),
        };
        if let Some(k) = opts.keys().find(|k| !KNOWN.contains(&k.as_str())) {
            return Err(TunnelCfgError::Unknown {
                iface: iface.to_owned(),
                key: k.clone(),
            });
        }
        let bad = |key: &'static str, value: &str, why: &'static str| TunnelCfgError::BadValue {
            iface: iface.to_owned(),
            key,
            value: value.to_owned(),
            why,
        };
        let remote: FromFlow<Ipv4Addr> = match opts.get("remote_ip").map(String::as_str) {
            None => return Err(TunnelCfgError::NoRemote(iface.to_owned())),
            Some("flow") => FromFlow::Flow,
            Some(v) => FromFlow::Fixed(
                v.parse()
                    .map_err(|_| bad("remote_ip", v, "an IPv4 address or \"flow\""))?,
            ),
        };
        let local = match opts.get("local_ip") {
            None => None,
            Some(v) => Some(
                v.parse()
                    .map_err(|_| bad("local_ip", v, "an IPv4 address"))?,
            ),
        };
        if let FromFlow::Fixed(ip) = remote {
            if ip.is_multicast() && kind != TunnelKind::Vxlan {
                return Err(bad(
                    "remote_ip",
                    &ip.to_string(),
                    "a multicast group is only for VXLAN (RFC 7348 §4.2)",
                ));
            }
            if ip.is_multicast() && local.is_none() {
                return Err(bad(
                    "remote_ip",
                    &ip.to_string(),
                    "a multicast group needs options:local_ip (the interface to join on)",
                ));
            }
        }
        let key_max: u64 = if kind == TunnelKind::Gre {
            u64::from(u32::MAX)
        } else {
            0x00ff_ffff
        };
        let key = match opts.get("key").map(String::as_str) {
            None => FromFlow::Fixed(0),
            Some("flow") => FromFlow::Flow,
            Some(v) => {
                let n = parse_u64(v).ok_or_else(|| bad("key", v, "a number or \"flow\""))?;
                if n > key_max {
                    return Err(bad("key", v, "over 24 bits (VNI) or 32 bits (GRE key)"));
                }
                FromFlow::Fixed(n as u32)
            }
        };
        let dst_port = match opts.get("dst_port") {
            None => kind.default_port(),
            Some(_) if kind == TunnelKind::Gre => {
                return Err(bad("dst_port", "", "GRE has no UDP port"))
            }
            Some(v) => match v.parse::<u16>() {
                Ok(p) if p != 0 => p,
                _ => return Err(bad("dst_port", v, "a UDP port 1-65535")),
            },
        };
        let flag = |key: &'static str, default: bool| match opts.get(key).map(String::as_str) {
            None => Ok(default),
            Some("true") => Ok(true),
            Some("false") => Ok(false),
            Some(v) => Err(bad(key, v, "true or false")),
        };
        let ttl = match opts.get("ttl").map(String::as_str) {
            None => Ttl::Fixed(64),
            Some("inherit") => Ttl::Inherit,
            Some(v) => match v.parse::<u8>() {
                Ok(t) if t > 0 => Ttl::Fixed(t),
                _ => return Err(bad("ttl", v, "1-255 or \"inherit\"")),
            },
        };
        let tos = match opts.get("tos").map(String::as_str) {
            None => Tos::Fixed(0),
            Some("inherit") => Tos::Inherit,
            Some(v) => Tos::Fixed(
                v.parse::<u8>()
                    .map_err(|_| bad("tos", v, "0-255 or \"inherit\""))?,
            ),
        };
        Ok(Some(TunnelCfg {
            kind,
            remote,
            local,
            key,
            key_set: opts.contains_key("key"),
            dst_port,
            df: flag("df_default", true)?,
            csum: flag("csum", false)?,
            ttl,
            tos,
        }))
    }

    /// The encapsulation parameters for one packet: `remote` and `id` are
    /// the resolved destination and key (from the port or the flow).
    pub fn params(&self, remote: Ipv4Addr, id: u32) -> TunnelParams<'static> {
        // Unspecified source: the kernel fills in the route's preferred
        // source for IP_HDRINCL packets whose saddr is 0 (raw(7)).
        let local = self.local.unwrap_or(Ipv4Addr::UNSPECIFIED);
        let mut p = match self.kind {
            TunnelKind::Vxlan => TunnelParams::vxlan(local, remote, id),
            TunnelKind::Geneve => TunnelParams::geneve(local, remote, id, &[]),
            TunnelKind::Gre => {
                let keyed = self.key_set;
                let mut p = TunnelParams::gre(local, remote, keyed.then_some(id));
                p.gre = GreFlags {
                    key: keyed,
                    seq: false,
                    csum: self.csum,
                };
                p
            }
        };
        p.dst_port = self.dst_port;
        p.df = self.df;
        p.ttl = self.ttl;
        p.tos = self.tos;
        if self.kind.is_udp() {
            p.udp_csum = self.csum;
        }
        p
    }

    /// The multicast group a VXLAN port floods through, if any.
    pub fn group(&self) -> Option<Ipv4Addr> {
        match self.remote {
            FromFlow::Fixed(ip) if ip.is_multicast() => Some(ip),
            _ => None,
        }
    }

    /// The MTU VMs behind this tunnel should use on an underlay of
    /// `underlay_mtu` (e.g. 1450 for VXLAN on 1500, 1458 for keyed GRE).
    pub fn recommended_vm_mtu(&self, underlay_mtu: usize) -> usize {
        tunnel::mtu::inner_mtu(underlay_mtu, &self.params(Ipv4Addr::UNSPECIFIED, 0))
    }

    /// Whether a packet received with key `id` from `src` belongs to this
    /// port, and how specifically (OVS's tunnel port lookup prefers an exact
    /// remote and key over `flow` wildcards): `None` when it does not match,
    /// else a rank, higher being more specific.
    pub fn rx_rank(&self, src: Ipv4Addr, id: u64) -> Option<u8> {
        let r = match self.remote {
            FromFlow::Fixed(ip) if ip == src => 2,
            // Any member of the group may send (its socket gets only what
            // was sent to the group).
            FromFlow::Fixed(ip) if ip.is_multicast() => 1,
            FromFlow::Fixed(_) => return None,
            FromFlow::Flow => 0,
        };
        let k = match self.key {
            FromFlow::Fixed(k) if u64::from(k) == id => 1,
            FromFlow::Fixed(_) => return None,
            FromFlow::Flow => 0,
        };
        Some(r + k)
    }
}

/// What `vsctl show` adds under a tunnel interface: the MTU its VMs should
/// use on an Ethernet underlay (the overhead of `tunnel::mtu`), or why its
/// options are refused (as ovs-vsctl shows the Interface `error` column).
pub fn show_line(iface: &crate::schema::Interface) -> Option<String> {
    match TunnelCfg::parse(&iface.name, iface.kind, &iface.options) {
        Ok(None) => None,
        Ok(Some(c)) => Some(format!(
            "recommended VM MTU: {} (underlay MTU {})",
            c.recommended_vm_mtu(tunnel::mtu::ETHERNET_MTU),
            tunnel::mtu::ETHERNET_MTU
        )),
        Err(e) => Some(format!("error: {:?}", e.to_string())),
    }
}

/// A decimal or 0x-prefixed hexadecimal number.
fn parse_u64(v: &str) -> Option<u64> {
    match v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => v.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_follow_ovs() {
        let c = TunnelCfg::parse("vx0", IfaceType::Vxlan, &opts(&[("remote_ip", "10.0.0.2")]))
            .unwrap()
            .unwrap();
        assert_eq!(c.dst_port, 4789);
        assert_eq!(c.key, FromFlow::Fixed(0));
        assert!(c.df && !c.csum && !c.key_set);
        let g = TunnelCfg::parse("g0", IfaceType::Geneve, &opts(&[("remote_ip", "flow")]))
            .unwrap()
            .unwrap();
        assert_eq!((g.dst_port, g.remote), (6081, FromFlow::Flow));
        assert_eq!(
            TunnelCfg::parse("p", IfaceType::Patch, &opts(&[])).unwrap(),
            None
        );
    }

    #[test]
    fn keys_and_errors() {
        let c = TunnelCfg::parse(
            "gre0",
            IfaceType::Gre,
            &opts(&[("remote_ip", "10.0.0.2"), ("key", "0xffffffff")]),
        )
        .unwrap()
        .unwrap();
        assert_eq!(c.key, FromFlow::Fixed(u32::MAX));
        assert!(c.params(Ipv4Addr::new(10, 0, 0, 2), 7).gre.key);
        let e = TunnelCfg::parse(
            "vx0",
            IfaceType::Vxlan,
            &opts(&[("remote_ip", "10.0.0.2"), ("key", "0x1000000")]),
        )
        .unwrap_err();
        assert!(e.to_string().contains("0x1000000"), "{e}");
        assert_eq!(
            TunnelCfg::parse("vx0", IfaceType::Vxlan, &opts(&[])).unwrap_err(),
            TunnelCfgError::NoRemote("vx0".into())
        );
        let e = TunnelCfg::parse(
            "vx0",
            IfaceType::Vxlan,
            &opts(&[("remote_ip", "10.0.0.300")]),
        )
        .unwrap_err();
        assert!(e.to_string().contains("10.0.0.300"));
        let e = TunnelCfg::parse(
            "vx0",
            IfaceType::Vxlan,
            &opts(&[("remote_ip", "flow"), ("colour", "red")]),
        )
        .unwrap_err();
        assert!(e.to_string().contains("colour"));
    }

    #[test]
    fn rx_rank_prefers_exact() {
        let exact = TunnelCfg::parse(
            "a",
            IfaceType::Vxlan,
            &opts(&[("remote_ip", "10.0.0.2"), ("key", "5")]),
        )
        .unwrap()
        .unwrap();
        let any = TunnelCfg::parse(
            "b",
            IfaceType::Vxlan,
            &opts(&[("remote_ip", "flow"), ("key", "flow")]),
        )
        .unwrap()
        .unwrap();
        let src = Ipv4Addr::new(10, 0, 0, 2);
        assert_eq!(exact.rx_rank(src, 5), Some(3));
        assert_eq!(exact.rx_rank(src, 6), None);
        assert_eq!(exact.rx_rank(Ipv4Addr::new(10, 0, 0, 3), 5), None);
        assert_eq!(any.rx_rank(src, 6), Some(0));
    }

    #[test]
    fn vxlan_multicast_group() {
        let g = TunnelCfg::parse(
            "m",
            IfaceType::Vxlan,
            &opts(&[
                ("remote_ip", "239.1.1.1"),
                ("local_ip", "10.0.0.1"),
                ("key", "5"),
            ]),
        )
        .unwrap()
        .unwrap();
        assert_eq!(g.group(), Some(Ipv4Addr::new(239, 1, 1, 1)));
        // Any sender to the group, with the port's VNI.
        assert_eq!(g.rx_rank(Ipv4Addr::new(10, 0, 0, 7), 5), Some(2));
        assert_eq!(g.rx_rank(Ipv4Addr::new(10, 0, 0, 7), 6), None);
        let no_local = opts(&[("remote_ip", "239.1.1.1")]);
        let e = TunnelCfg::parse("m", IfaceType::Vxlan, &no_local).unwrap_err();
        assert!(e.to_string().contains("local_ip"), "{e}");
        let gre = opts(&[("remote_ip", "239.1.1.1"), ("local_ip", "10.0.0.1")]);
        let e = TunnelCfg::parse("m", IfaceType::Gre, &gre).unwrap_err();
        assert!(e.to_string().contains("only for VXLAN"), "{e}");
        let unicast = opts(&[("remote_ip", "10.0.0.2")]);
        let u = TunnelCfg::parse("u", IfaceType::Vxlan, &unicast)
            .unwrap()
            .unwrap();
        assert_eq!(u.group(), None);
    }

    #[test]
    fn recommended_mtu() {
        let vx = TunnelCfg::parse("a", IfaceType::Vxlan, &opts(&[("remote_ip", "flow")]))
            .unwrap()
            .unwrap();
        assert_eq!(vx.recommended_vm_mtu(1500), 1450);
        let gre = TunnelCfg::parse(
            "g",
            IfaceType::Gre,
            &opts(&[("remote_ip", "flow"), ("key", "flow")]),
        )
        .unwrap()
        .unwrap();
        assert_eq!(gre.recommended_vm_mtu(1500), 1500 - 42);
        let iface = crate::schema::Interface {
            name: "vx".into(),
            kind: IfaceType::Vxlan,
            ..Default::default()
        };
        assert!(show_line(&iface).unwrap().starts_with("error:"));
    }
}
