//! Which connections a filtered flush deletes: the zone and original-
//! direction tuple fields of `ovs-appctl dpctl/flush-conntrack [zone=N]
//! [ct-tuple]` (ovs-dpctl(8), ovs-fields(7) "Connection Tracking Fields"),
//! e.g. `ct_nw_src=10.0.0.5,ct_nw_proto=6,ct_tp_dst=22`.
//!
//! As in OVS (since 3.1), a field left out matches anything. One extension:
//! an address may carry a prefix length (`ct_nw_src=10.0.0.0/24`), so that
//! the connections a security-group rule with a remote CIDR admitted can be
//! named with one filter. ICMP echo connections are keyed by identifier,
//! which `icmp_id` (or `ct_tp_src`/`ct_tp_dst`) matches; `icmp_type` and
//! `icmp_code` are accepted only with the echo request's values, the only
//! ones a tracked ICMP connection has.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;

use crate::tuple::{Family, Tuple};

/// A bad ct-tuple token: which one and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{token:?}: {why}")]
pub struct FilterError {
    /// The offending `name=value` token.
    pub token: String,
    /// What is wrong with it.
    pub why: String,
}

/// A set of connections by zone and original tuple; every `None` field is a
/// wildcard, so the default filter matches every connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct CtFilter {
    /// Zone (`zone=N`).
    pub zone: Option<u16>,
    /// Original source address or prefix (`ct_nw_src` / `ct_ipv6_src`).
    pub src: Option<IpNet>,
    /// Original destination address or prefix (`ct_nw_dst` / `ct_ipv6_dst`).
    pub dst: Option<IpNet>,
    /// IP protocol (`ct_nw_proto`).
    pub proto: Option<u8>,
    /// Original source port, or ICMP echo identifier (`ct_tp_src`).
    pub sport: Option<u16>,
    /// Original destination port, or ICMP echo identifier (`ct_tp_dst`).
    pub dport: Option<u16>,
}

impl CtFilter {
    /// True when the connection of original tuple `orig` in `zone` is one
    /// of the filter's. An address filter of the other family never
    /// matches.
    pub fn matches(&self, zone: u16, orig: &Tuple) -> bool {
        let net = |n: &Option<IpNet>, ip: IpAddr| n.is_none_or(|n| n.contains(&ip));
        self.zone.is_none_or(|z| z == zone)
            && self.proto.is_none_or(|p| p == orig.proto)
            && self.sport.is_none_or(|p| p == orig.sport)
            && self.dport.is_none_or(|p| p == orig.dport)
            && net(&self.src, orig.src_ip())
            && net(&self.dst, orig.dst_ip())
    }

    /// True when only the zone (or nothing) is given: a plain flush.
    pub fn is_zone_only(&self) -> bool {
        CtFilter {
            zone: None,
            ..*self
        } == CtFilter::default()
    }

    /// The family the filter's addresses restrict it to, if any.
    pub fn family(&self) -> Option<Family> {
        self.src.or(self.dst).map(|n| match n {
            IpNet::V4(_) => Family::V4,
            IpNet::V6(_) => Family::V6,
        })
    }

    /// Parses the tuple part (`ct_nw_src=…,ct_nw_proto=…`, comma-separated;
    /// empty is every connection) onto `self`.
    pub fn parse_tuple(mut self, s: &str) -> Result<CtFilter, FilterError> {
        for tok in s.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            let bad = |why: &str| FilterError {
                token: tok.to_string(),
                why: why.to_string(),
            };
            let (k, v) = tok
                .split_once('=')
                .ok_or_else(|| bad("expected name=value"))?;
            let port = || {
                v.parse::<u16>()
                    .map_err(|_| bad("not a port number (0-65535)"))
            };
            let addr = |v6: bool| {
                let n = parse_net(v).ok_or_else(|| bad("not an address or prefix"))?;
                match (v6, n) {
                    (false, IpNet::V4(_)) | (true, IpNet::V6(_)) => Ok(n),
                    _ => Err(bad(if v6 {
                        "not an IPv6 address"
                    } else {
                        "not an IPv4 address"
                    })),
                }
            };
            match k {
                "zone" => self.zone = Some(v.parse().map_err(|_| bad("not a zone (0-65535)"))?),
                "ct_nw_src" => self.src = Some(addr(false)?),
                "ct_nw_dst" => self.dst = Some(addr(false)?),
                "ct_ipv6_src" => self.src = Some(addr(true)?),
                "ct_ipv6_dst" => self.dst = Some(addr(true)?),
                "ct_nw_proto" => {
                    self.proto = Some(v.parse().map_err(|_| bad("not a protocol (0-255)"))?)
                }
                "ct_tp_src" => self.sport = Some(port()?),
                "ct_tp_dst" => self.dport = Some(port()?),
                "icmp_id" => {
                    let id = port()?;
                    (self.sport, self.dport) = (Some(id), Some(id));
                }
                // Only echo is tracked as an ICMP connection.
                "icmp_type" if v == "8" || v == "128" => {}
                "icmp_code" if v == "0" => {}
                "icmp_type" | "icmp_code" => {
                    return Err(bad(
                        "only echo requests (type 8 or 128, code 0) are tracked",
                    ))
                }
                _ => return Err(bad("unknown ct-tuple field")),
            }
        }
        if let (Some(a), Some(b)) = (self.src, self.dst) {
            if matches!(a, IpNet::V4(_)) != matches!(b, IpNet::V4(_)) {
                return Err(FilterError {
                    token: s.to_string(),
                    why: "source and destination of different address families".into(),
                });
            }
        }
        Ok(self)
    }
}

/// An address (`10.0.0.1`, a host prefix) or a prefix (`10.0.0.0/24`).
fn parse_net(v: &str) -> Option<IpNet> {
    v.parse::<IpNet>()
        .ok()
        .map(|n| n.trunc())
        .or_else(|| v.parse::<IpAddr>().ok().map(IpNet::from))
}

/// The whole filter, `[zone=N,]ct_nw_src=…`, in one comma-separated string.
impl FromStr for CtFilter {
    type Err = FilterError;
    fn from_str(s: &str) -> Result<CtFilter, FilterError> {
        CtFilter::default().parse_tuple(s)
    }
}

/// Prints the filter as it parses (`zone=5,ct_nw_src=10.0.0.5,…`); host
/// prefixes print without their length.
impl fmt::Display for CtFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = Vec::new();
        let net = |n: &IpNet| {
            if n.prefix_len() == n.max_prefix_len() {
                n.addr().to_string()
            } else {
                n.to_string()
            }
        };
        let v6 = |n: &IpNet| matches!(n, IpNet::V6(_));
        if let Some(z) = self.zone {
            parts.push(format!("zone={z}"));
        }
        if let Some(n) = &self.src {
            let k = if v6(n) { "ct_ipv6_src" } else { "ct_nw_src" };
            parts.push(format!("{k}={}", net(n)));
        }
        if let Some(n) = &self.dst {
            let k = if v6(n) { "ct_ipv6_dst" } else { "ct_nw_dst" };
            parts.push(format!("{k}={}", net(n)));
        }
        if let Some(p) = self.proto {
            parts.push(format!("ct_nw_proto={p}"));
        }
        if let Some(p) = self.sport {
            parts.push(format!("ct_tp_src={p}"));
        }
        if let Some(p) = self.dport {
            parts.push(format!("ct_tp_dst={p}"));
        }
        f.write_str(&parts.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tuple::proto;

    fn t(src: &str, dst: &str, p: u8, sport: u16, dport: u16) -> Tuple {
        Tuple::new(src.parse().unwrap(), dst.parse().unwrap(), p, sport, dport).unwrap()
    }

    #[test]
    fn empty_filter_matches_everything() {
        let f: CtFilter = "".parse().unwrap();
        assert!(f.is_zone_only());
        assert!(f.matches(7, &t("10.0.0.1", "10.0.0.2", proto::TCP, 1, 2)));
        assert!(f.matches(0, &t("2001:db8::1", "2001:db8::2", proto::UDP, 1, 2)));
    }

    #[test]
    fn each_field_narrows() {
        let f: CtFilter =
            "zone=5,ct_nw_src=10.0.0.0/24,ct_nw_dst=10.0.1.7,ct_nw_proto=6,ct_tp_dst=22"
                .parse()
                .unwrap();
        let hit = t("10.0.0.9", "10.0.1.7", proto::TCP, 40000, 22);
        assert!(f.matches(5, &hit));
        assert!(!f.is_zone_only());
        // Each field, changed on its own, takes the connection out.
        assert!(!f.matches(6, &hit), "zone");
        assert!(
            !f.matches(5, &t("10.0.1.9", "10.0.1.7", proto::TCP, 40000, 22)),
            "src"
        );
        assert!(
            !f.matches(5, &t("10.0.0.9", "10.0.1.8", proto::TCP, 40000, 22)),
            "dst"
        );
        assert!(
            !f.matches(5, &t("10.0.0.9", "10.0.1.7", proto::UDP, 40000, 22)),
            "proto"
        );
        assert!(
            !f.matches(5, &t("10.0.0.9", "10.0.1.7", proto::TCP, 40000, 23)),
            "dport"
        );
        // The original tuple only: the reply direction is not a match.
        assert!(!f.matches(5, &hit.inverse()));
        let sp: CtFilter = "ct_tp_src=40000".parse().unwrap();
        assert!(sp.matches(1, &hit));
        assert!(!sp.matches(1, &hit.inverse()));
    }

    #[test]
    fn address_family_must_agree() {
        let f: CtFilter = "ct_nw_dst=10.0.0.2".parse().unwrap();
        assert!(!f.matches(0, &t("2001:db8::1", "2001:db8::2", proto::TCP, 1, 2)));
        let f6: CtFilter = "ct_ipv6_src=2001:db8::/64".parse().unwrap();
        assert!(f6.matches(0, &t("2001:db8::1", "2001:db8::2", proto::TCP, 1, 2)));
        assert!(!f6.matches(0, &t("10.0.0.1", "10.0.0.2", proto::TCP, 1, 2)));
        assert_eq!(f6.family(), Some(Family::V6));
    }

    #[test]
    fn icmp_echo_by_identifier() {
        let f: CtFilter = "ct_nw_proto=1,icmp_type=8,icmp_code=0,icmp_id=77"
            .parse()
            .unwrap();
        assert!(f.matches(0, &t("10.0.0.1", "10.0.0.2", proto::ICMP, 77, 77)));
        assert!(!f.matches(0, &t("10.0.0.1", "10.0.0.2", proto::ICMP, 78, 78)));
    }

    #[test]
    fn bad_tokens_are_named() {
        for (s, tok, why) in [
            ("ct_nw_src=10.0.0.300", "ct_nw_src=10.0.0.300", "address"),
            ("ct_nw_src=2001:db8::1", "ct_nw_src=2001:db8::1", "IPv4"),
            ("ct_ipv6_dst=10.0.0.1", "ct_ipv6_dst=10.0.0.1", "IPv6"),
            ("ct_nw_proto=6,ct_tp_dst=70000", "ct_tp_dst=70000", "port"),
            ("ct_nw_proto=tcp", "ct_nw_proto=tcp", "protocol"),
            ("zone=-1", "zone=-1", "zone"),
            ("ct_mark=1", "ct_mark=1", "unknown"),
            ("ct_nw_src", "ct_nw_src", "name=value"),
            ("icmp_type=3", "icmp_type=3", "echo"),
        ] {
            let e = s.parse::<CtFilter>().unwrap_err();
            assert_eq!(e.token, tok, "{s}");
            assert!(e.why.contains(why), "{s}: {e}");
        }
        let e = "ct_nw_src=10.0.0.1,ct_ipv6_dst=::1"
            .parse::<CtFilter>()
            .unwrap_err();
        assert!(e.why.contains("families"), "{e}");
    }

    #[test]
    fn prints_as_it_parses() {
        for s in [
            "zone=5,ct_nw_src=10.0.0.0/24,ct_nw_dst=10.0.1.7,ct_nw_proto=6,ct_tp_src=1,ct_tp_dst=22",
            "ct_ipv6_src=2001:db8::1,ct_nw_proto=58",
            "",
        ] {
            let f: CtFilter = s.parse().unwrap();
            assert_eq!(f.to_string(), s);
            assert_eq!(f.to_string().parse::<CtFilter>().unwrap(), f);
        }
        // A host prefix prints as the address; bits past the prefix go.
        let f: CtFilter = "ct_nw_src=10.0.0.5/32,ct_nw_dst=10.0.1.9/24"
            .parse()
            .unwrap();
        assert_eq!(f.to_string(), "ct_nw_src=10.0.0.5,ct_nw_dst=10.0.1.0/24");
    }
}
