//! NAT specifications and the search for a unique translated tuple.
//!
//! Semantics follow ovs-actions(7) `ct(nat(src=…|dst=…, random, hash,
//! persistent))` and netfilter's `nf_nat_core.c`:
//!
//! * the address is chosen in the range by a keyed hash of the source (and
//!   destination, unless `persistent`, which keeps one client on one
//!   address across connections);
//! * the port (ICMP: echo id) is kept when no range is given or it is in the
//!   range and the resulting tuple is free (not in `random` mode);
//!   otherwise the range is probed from an offset — a keyed hash of the
//!   tuple, or a random number in `random` mode — until a tuple is found
//!   that no live connection uses in either direction. That check is what
//!   guarantees that two connections never share a tuple;
//! * without an explicit port range netfilter's classes are used: ports
//!   below 512 map within 1–511, below 1024 within 600–1023, others within
//!   1024–65535;
//! * when every candidate is taken the connection is refused and counted as
//!   [`crate::DropReason::NatExhausted`].

use std::net::IpAddr;

use thiserror::Error;

use crate::tuple::{Addr, Family, Tuple};

/// Error building a [`NatRange`].
#[derive(Debug, Error, PartialEq, Eq)]
pub enum NatRangeError {
    /// Range ends are of different families.
    #[error("NAT range {0}-{1} mixes IPv4 and IPv6")]
    MixedFamily(IpAddr, IpAddr),
    /// Range start above range end.
    #[error("NAT range {0}-{1} is empty (start above end)")]
    EmptyAddrs(IpAddr, IpAddr),
    /// Port range start above end.
    #[error("NAT port range {0}-{1} is empty (start above end)")]
    EmptyPorts(u16, u16),
}

/// `IP[-IP][:PORT[-PORT]]` of ovs-actions(7) `nat(src=…)` / `nat(dst=…)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NatRange {
    min: IpAddr,
    max: IpAddr,
    ports: Option<(u16, u16)>,
}

impl NatRange {
    /// A range of addresses with an optional port range.
    pub fn new(min: IpAddr, max: IpAddr, ports: Option<(u16, u16)>) -> Result<Self, NatRangeError> {
        match (min, max) {
            (IpAddr::V4(a), IpAddr::V4(b)) if a > b => {
                return Err(NatRangeError::EmptyAddrs(min, max))
            }
            (IpAddr::V6(a), IpAddr::V6(b)) if a > b => {
                return Err(NatRangeError::EmptyAddrs(min, max))
            }
            (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_)) => {}
            _ => return Err(NatRangeError::MixedFamily(min, max)),
        }
        if let Some((lo, hi)) = ports {
            if lo > hi {
                return Err(NatRangeError::EmptyPorts(lo, hi));
            }
        }
        Ok(NatRange { min, max, ports })
    }

    /// A single address, ports kept where possible (1:1 NAT, MASQUERADE).
    pub fn addr(ip: IpAddr) -> Self {
        NatRange {
            min: ip,
            max: ip,
            ports: None,
        }
    }

    /// A single address with a port range.
    pub fn addr_ports(ip: IpAddr, lo: u16, hi: u16) -> Result<Self, NatRangeError> {
        Self::new(ip, ip, Some((lo, hi)))
    }

    /// Lowest address.
    pub fn min(&self) -> IpAddr {
        self.min
    }

    /// Highest address.
    pub fn max(&self) -> IpAddr {
        self.max
    }

    /// Port range, if any.
    pub fn ports(&self) -> Option<(u16, u16)> {
        self.ports
    }

    fn family(&self) -> Family {
        if self.min.is_ipv4() {
            Family::V4
        } else {
            Family::V6
        }
    }

    /// Number of addresses, saturated at `u64::MAX`.
    fn addr_count(&self) -> u64 {
        let span = ip_u128(self.max) - ip_u128(self.min);
        u64::try_from(span).unwrap_or(u64::MAX - 1) + 1
    }

    fn nth_addr(&self, n: u64) -> Addr {
        Addr::from_ip(u128_ip(ip_u128(self.min) + u128::from(n), self.family())).0
    }
}

fn ip_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

fn u128_ip(v: u128, f: Family) -> IpAddr {
    match f {
        // Only called with values inside a v4 range, which fit in u32.
        Family::V4 => IpAddr::V4(u32::try_from(v).unwrap_or(u32::MAX).into()),
        Family::V6 => IpAddr::V6(v.into()),
    }
}

/// How a port is picked when the original one cannot be kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PortMode {
    /// Offset from a keyed hash of the tuple (ovs-actions(7) `hash`, default).
    #[default]
    Hash,
    /// Offset from the injected random number generator, and the original
    /// port is not preferred (ovs-actions(7) `random`).
    Random,
}

/// The `nat` part of a `ct` action.
///
/// `NatSpec::default()` (no ranges) is a bare `nat`: apply the translation
/// already bound to the connection, create none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NatSpec {
    /// `nat(src=…)`: SNAT / MASQUERADE.
    pub src: Option<NatRange>,
    /// `nat(dst=…)`: DNAT.
    pub dst: Option<NatRange>,
    /// Port selection.
    pub mode: PortMode,
    /// Choose the address from the client address only.
    pub persistent: bool,
}

impl NatSpec {
    /// `nat(src=range)`.
    pub fn snat(range: NatRange) -> Self {
        NatSpec {
            src: Some(range),
            ..Self::default()
        }
    }

    /// `nat(dst=range)`.
    pub fn dnat(range: NatRange) -> Self {
        NatSpec {
            dst: Some(range),
            ..Self::default()
        }
    }

    /// MASQUERADE: SNAT to the uplink address, ports from netfilter's
    /// default classes (see the module docs).
    pub fn masquerade(uplink: IpAddr) -> Self {
        Self::snat(NatRange::addr(uplink))
    }

    /// True when this spec creates bindings (has a range).
    pub fn binds(&self) -> bool {
        self.src.is_some() || self.dst.is_some()
    }
}

/// Port classes used without an explicit range (netfilter
/// `nf_nat_l4proto_unique_tuple`).
fn default_port_range(port: u16, icmp: bool) -> (u16, u16) {
    if icmp {
        (0, u16::MAX)
    } else if port < 512 {
        (1, 511)
    } else if port < 1024 {
        (600, 1023)
    } else {
        (1024, u16::MAX)
    }
}

/// A step near `size / φ` that is coprime with `size`, so that probing
/// `start + i·stride (mod size)` visits every port exactly once while
/// spreading consecutive probes across the range. Plain linear probing would
/// walk through the long runs of taken ports that form when one client holds
/// most of a range (60,000 connections from one VM), costing tens of
/// thousands of lookups per new connection.
fn coprime_stride(size: u32) -> u32 {
    fn gcd(mut a: u32, mut b: u32) -> u32 {
        while b != 0 {
            (a, b) = (b, a % b);
        }
        a
    }
    if size <= 2 {
        return 1;
    }
    let mut s = ((u64::from(size) * 618_034) / 1_000_000) as u32 | 1;
    while gcd(s, size) != 1 {
        s += 2;
    }
    s
}

/// Inputs to one tuple search.
pub(crate) struct Search<'a> {
    pub orig: &'a Tuple,
    pub spec: &'a NatSpec,
    /// Keyed hash of the client address (persistent) and of the whole
    /// original tuple.
    pub addr_hash: u64,
    pub tuple_hash: u64,
    /// Random offset for `PortMode::Random`.
    pub random: u64,
    /// Upper bound on candidate checks.
    pub max_probes: u32,
}

/// Finds the translated original-direction tuple (what the packet looks
/// like after NAT), such that its inverse is unused. `used` answers whether
/// a reply tuple is already taken. `None` when the range is exhausted.
pub(crate) fn find_tuple(s: &Search<'_>, mut used: impl FnMut(&Tuple) -> bool) -> Option<Tuple> {
    let o = *s.orig;
    let icmp = o.is_icmp();
    let mut base = o;
    // Addresses: fixed per connection by hash (netfilter does not try other
    // addresses either, so a client keeps one public address).
    if let Some(r) = s.spec.dst {
        if r.family() != o.family {
            return None;
        }
        base.dst = r.nth_addr(s.addr_hash % r.addr_count());
    }
    if let Some(r) = s.spec.src {
        if r.family() != o.family {
            return None;
        }
        base.src = r.nth_addr(s.addr_hash % r.addr_count());
    }
    // Which port varies: SNAT's source port (ICMP: the echo identifier,
    // both tuple ports), else DNAT's destination port when it has a range.
    // DNAT without a port range never remaps the port (netfilter: "if it's
    // dst rewrite, can't change port").
    let portful = icmp || o.has_ports();
    let (range, vary_src) = match (s.spec.src, s.spec.dst) {
        (Some(r), _) if portful => (Some(r.ports), true),
        (_, Some(r)) if portful && r.ports.is_some() => (Some(r.ports), false),
        _ => (None, true),
    };
    if vary_src {
        // A DNAT port range alongside SNAT: put the port inside it.
        if let Some((dlo, dhi)) = s.spec.dst.and_then(|r| r.ports) {
            if portful && !(dlo..=dhi).contains(&base.dport) {
                base.dport = dlo;
            }
        }
    }
    let free = |t: &Tuple, used: &mut dyn FnMut(&Tuple) -> bool| {
        let r = t.inverse();
        r != o && !used(&r)
    };
    let Some(explicit) = range else {
        // Nothing may vary: the tuple as translated, or nothing.
        return free(&base, &mut used).then_some(base);
    };
    let cur = if vary_src { base.sport } else { base.dport };
    let (lo, hi) = explicit.unwrap_or_else(|| default_port_range(cur, icmp));
    if s.spec.mode == PortMode::Hash && (lo..=hi).contains(&cur) && free(&base, &mut used) {
        return Some(base);
    }
    let size = u32::from(hi - lo) + 1;
    let seed = match s.spec.mode {
        PortMode::Hash => s.tuple_hash,
        PortMode::Random => s.random,
    };
    let start = seed % u64::from(size);
    let stride = u64::from(coprime_stride(size));
    for i in 0..u64::from(size.min(s.max_probes)) {
        let p = lo + ((start + i * stride) % u64::from(size)) as u16;
        let mut t = base;
        if icmp {
            t.sport = p;
            t.dport = p;
        } else if vary_src {
            t.sport = p;
        } else {
            t.dport = p;
        }
        if free(&t, &mut used) {
            return Some(t);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tuple::proto;

    fn t(src: &str, dst: &str, sp: u16, dp: u16) -> Tuple {
        Tuple::new(
            src.parse().unwrap(),
            dst.parse().unwrap(),
            proto::TCP,
            sp,
            dp,
        )
        .unwrap()
    }

    fn search<'a>(orig: &'a Tuple, spec: &'a NatSpec) -> Search<'a> {
        Search {
            orig,
            spec,
            addr_hash: 7,
            tuple_hash: 11,
            random: 13,
            max_probes: u32::MAX,
        }
    }

    #[test]
    fn stride_visits_every_port() {
        for size in [1u32, 2, 3, 10, 1000, 64512, 65536] {
            let st = u64::from(coprime_stride(size));
            let mut seen = vec![false; size as usize];
            for i in 0..u64::from(size) {
                seen[((5 + i * st) % u64::from(size)) as usize] = true;
            }
            assert!(seen.iter().all(|&b| b), "size {size}");
        }
    }

    #[test]
    fn range_validation_names_the_problem() {
        let a: IpAddr = "10.0.0.9".parse().unwrap();
        let b: IpAddr = "10.0.0.1".parse().unwrap();
        assert_eq!(
            NatRange::new(a, b, None),
            Err(NatRangeError::EmptyAddrs(a, b))
        );
        assert!(NatRange::new(a, "::1".parse().unwrap(), None).is_err());
        assert_eq!(
            NatRange::new(b, a, Some((9, 1))),
            Err(NatRangeError::EmptyPorts(9, 1))
        );
    }

    #[test]
    fn snat_keeps_port_when_free() {
        let o = t("10.0.0.5", "198.51.100.1", 40000, 80);
        let spec = NatSpec::masquerade("203.0.113.1".parse().unwrap());
        let n = find_tuple(&search(&o, &spec), |_| false).unwrap();
        assert_eq!(n.src_ip(), "203.0.113.1".parse::<IpAddr>().unwrap());
        assert_eq!(n.sport, 40000);
        assert_eq!((n.dst, n.dport), (o.dst, o.dport));
    }

    #[test]
    fn snat_moves_port_on_clash_within_default_class() {
        let o = t("10.0.0.5", "198.51.100.1", 40000, 80);
        let spec = NatSpec::masquerade("203.0.113.1".parse().unwrap());
        let taken = find_tuple(&search(&o, &spec), |_| false).unwrap().inverse();
        let n = find_tuple(&search(&o, &spec), |r| *r == taken).unwrap();
        assert_ne!(n.sport, 40000);
        assert!(n.sport >= 1024);
    }

    #[test]
    fn exhaustion_returns_none() {
        let o = t("10.0.0.5", "198.51.100.1", 40000, 80);
        let spec = NatSpec::snat(
            NatRange::addr_ports("203.0.113.1".parse().unwrap(), 5000, 5009).unwrap(),
        );
        assert!(find_tuple(&search(&o, &spec), |_| true).is_none());
        let n = find_tuple(&search(&o, &spec), |r| r.dport != 5007).unwrap();
        assert_eq!(n.sport, 5007);
    }

    #[test]
    fn dnat_rewrites_destination() {
        let o = t("198.51.100.7", "203.0.113.10", 5555, 80);
        let spec = NatSpec::dnat(NatRange::addr("10.0.0.7".parse().unwrap()));
        let n = find_tuple(&search(&o, &spec), |_| false).unwrap();
        assert_eq!(n.dst_ip(), "10.0.0.7".parse::<IpAddr>().unwrap());
        assert_eq!((n.src, n.sport, n.dport), (o.src, 5555, 80));
    }

    #[test]
    fn address_range_picks_by_hash() {
        let o = t("10.0.0.5", "198.51.100.1", 40000, 80);
        let r = NatRange::new(
            "203.0.113.1".parse().unwrap(),
            "203.0.113.4".parse().unwrap(),
            None,
        )
        .unwrap();
        let spec = NatSpec::snat(r);
        let n = find_tuple(&search(&o, &spec), |_| false).unwrap();
        // addr_hash 7 % 4 == 3 → fourth address.
        assert_eq!(n.src_ip(), "203.0.113.4".parse::<IpAddr>().unwrap());
    }
}
