//! Random intent for the isolation oracle: a proptest strategy for the
//! shape of a cloud ([`Spec`]), the `model::State` the controller compiles,
//! and the same cloud as plain facts ([`World`]) for the oracle to reason
//! on without the compiler.

use std::net::Ipv4Addr;

use proptest::prelude::*;

use crate::common::Builder;

/// Subnets networks draw from: the first and the third overlap on purpose
/// (two projects, or two unrouted networks of one, reuse 10.0.0.0/24).
pub const CIDRS: [(&str, [u8; 3]); 3] = [
    ("10.0.0.0/24", [10, 0, 0]),
    ("10.0.1.0/24", [10, 0, 1]),
    ("10.0.0.0/24", [10, 0, 0]),
];
pub const PROJECTS: [&str; 3] = ["A", "B", "C"];
/// Ports security-group rules may name.
pub const RULE_PORTS: [Option<(u32, u32)>; 4] =
    [None, Some((22, 22)), Some((80, 80)), Some((1000, 2000))];
/// Remote prefixes rules may name.
pub const RULE_CIDRS: [&str; 3] = ["10.0.0.0/24", "0.0.0.0/0", "198.51.100.0/24"];
pub const EXT_CIDR: &str = "203.0.113.0/24";
pub const UPLINK_OFPORT: u16 = 100;

#[derive(Clone, Debug)]
pub struct RuleSpec {
    pub ingress: bool,
    /// 0 any, 1 tcp, 2 udp, 3 icmp.
    pub proto: u8,
    pub ports: u8,
    /// 0 none, 1..=3 a prefix, 4 the first group of the project, 5 the second.
    pub remote: u8,
}

#[derive(Clone, Debug)]
pub struct PortSpec {
    pub net: u8,
    pub port_security: bool,
    /// Bit i: member of the project's group i.
    pub groups: u8,
    pub fip: bool,
}

#[derive(Clone, Debug)]
pub struct RouterSpec {
    pub project: u8,
    /// Bit i: an interface on network i (if the router's project owns it).
    pub ifaces: u8,
    pub gateway: bool,
    pub snat: bool,
}

#[derive(Clone, Debug)]
pub struct Spec {
    pub external: bool,
    /// (project, CIDR index)
    pub nets: Vec<(u8, u8)>,
    pub routers: Vec<RouterSpec>,
    /// Two groups per project, their rules.
    pub groups: Vec<Vec<RuleSpec>>,
    pub ports: Vec<PortSpec>,
}

fn rule() -> impl Strategy<Value = RuleSpec> {
    (any::<bool>(), 0u8..4, 0u8..4, 0u8..6).prop_map(|(ingress, proto, ports, remote)| RuleSpec {
        ingress,
        proto,
        ports,
        remote,
    })
}

pub fn spec() -> impl Strategy<Value = Spec> {
    (
        any::<bool>(),
        prop::collection::vec((0u8..3, 0u8..3), 1..=4),
        prop::collection::vec(
            (0u8..3, any::<u8>(), any::<bool>(), any::<bool>()).prop_map(
                |(project, ifaces, gateway, snat)| RouterSpec {
                    project,
                    ifaces,
                    gateway,
                    snat,
                },
            ),
            0..=2,
        ),
        prop::collection::vec(prop::collection::vec(rule(), 0..=3), 6),
        prop::collection::vec(
            (0u8..4, prop::bool::weighted(0.75), 0u8..4, any::<bool>()).prop_map(
                |(net, port_security, groups, fip)| PortSpec {
                    net,
                    port_security,
                    groups,
                    fip,
                },
            ),
            2..=6,
        ),
    )
        .prop_map(|(external, nets, routers, groups, ports)| Spec {
            external,
            nets,
            routers,
            groups,
            ports,
        })
}

/// A security-group rule as the oracle reads it.
#[derive(Clone, Debug)]
pub struct Rule {
    pub ingress: bool,
    pub proto: Option<u8>,
    pub ports: Option<(u32, u32)>,
    pub cidr: Option<(u32, u32)>,
    pub remote_group: Option<usize>,
}

#[derive(Clone, Debug)]
pub struct WPort {
    pub id: String,
    pub name: String,
    pub ofport: u16,
    pub net: usize,
    pub mac: [u8; 6],
    pub ip: u32,
    pub port_security: bool,
    /// Indexes into [`World::groups`].
    pub groups: Vec<usize>,
}

#[derive(Clone, Debug)]
pub struct WNet {
    pub project: usize,
    pub net: u32,
    /// (router, its interface MAC on this network)
    pub router: Option<(usize, [u8; 6])>,
}

#[derive(Clone, Debug)]
pub struct WRouter {
    /// (gateway port MAC, gateway IP, enable_snat)
    pub gateway: Option<([u8; 6], u32, bool)>,
    /// (FIP, fixed port index)
    pub fips: Vec<(u32, usize)>,
}

/// The cloud as facts.
#[derive(Clone, Debug, Default)]
pub struct World {
    pub nets: Vec<WNet>,
    pub routers: Vec<WRouter>,
    /// Rules of each group; group `2*project + i`.
    pub groups: Vec<Vec<Rule>>,
    pub ports: Vec<WPort>,
}

pub fn ip(a: [u8; 4]) -> u32 {
    u32::from(Ipv4Addr::from(a))
}

pub fn parse_mac(s: &str) -> [u8; 6] {
    let mut m = [0u8; 6];
    for (i, b) in s.split(':').enumerate().take(6) {
        m[i] = u8::from_str_radix(b, 16).unwrap_or(0);
    }
    m
}

fn cidr(s: &str) -> (u32, u32) {
    let (a, l) = s.split_once('/').unwrap_or((s, "32"));
    let a: Ipv4Addr = a.parse().unwrap_or(Ipv4Addr::UNSPECIFIED);
    let l: u32 = l.parse().unwrap_or(32);
    let mask = if l == 0 { 0 } else { u32::MAX << (32 - l) };
    (u32::from(a) & mask, mask)
}

impl World {
    pub fn group_ips(&self, g: usize) -> impl Iterator<Item = u32> + '_ {
        self.ports
            .iter()
            .filter(move |p| p.groups.contains(&g))
            .map(|p| p.ip)
    }

    /// Whether `p`'s groups let a new connection out (`ingress` false, to
    /// `remote`) or in (`ingress` true, from `remote`): Neutron's rule
    /// semantics, IPv4 only.
    pub fn sg_allows(&self, p: usize, ingress: bool, proto: u8, dport: u16, remote: u32) -> bool {
        self.ports[p].groups.iter().any(|&g| {
            self.groups[g].iter().any(|r| {
                r.ingress == ingress
                    && r.proto.is_none_or(|x| x == proto)
                    && r.ports.is_none_or(|(lo, hi)| {
                        (proto == 6 || proto == 17) && (lo..=hi).contains(&u32::from(dport))
                    })
                    && r.cidr.is_none_or(|(n, m)| remote & m == n)
                    && r.remote_group
                        .is_none_or(|rg| self.group_ips(rg).any(|a| a == remote))
            })
        })
    }
}

/// Build the intent and its facts from a spec, with the bindings: port `i`
/// on OpenFlow port `i + 1`, the uplink on [`UPLINK_OFPORT`].
pub fn build(spec: &Spec) -> (model::State, controller::Bindings, World) {
    let mut x = Builder::default();
    let mut w = World::default();
    let ext = spec.external.then(|| {
        let e = x.external("physnet1");
        let s = x.subnet(&e, EXT_CIDR, Some("203.0.113.1"));
        (e, s)
    });
    // Groups, two per project.
    let mut gids = Vec::new();
    for (pi, proj) in PROJECTS.iter().enumerate() {
        for _ in 0..2 {
            gids.push((x.group(proj), pi));
        }
    }
    for (gi, rules) in spec.groups.iter().enumerate() {
        let (gid, pi) = gids[gi].clone();
        let mut wr = Vec::new();
        for r in rules {
            let proto = [
                None,
                Some(("tcp", 6u8)),
                Some(("udp", 17)),
                Some(("icmp", 1)),
            ][usize::from(r.proto % 4)];
            let ports = match proto {
                Some((_, 6 | 17)) => RULE_PORTS[usize::from(r.ports % 4)],
                _ => None,
            };
            let (c, rg) = match r.remote {
                1..=3 => (Some(RULE_CIDRS[usize::from(r.remote - 1)]), None),
                4 | 5 => (None, Some(2 * pi + usize::from(r.remote - 4))),
                _ => (None, None),
            };
            let rg_id = rg.map(|g| gids[g].0.clone());
            x.rule(
                &gid,
                if r.ingress { "ingress" } else { "egress" },
                proto.map(|p| p.0),
                ports,
                c,
                rg_id.as_deref(),
            );
            wr.push(Rule {
                ingress: r.ingress,
                proto: proto.map(|p| p.1),
                ports,
                cidr: c.map(cidr),
                remote_group: rg,
            });
        }
        w.groups.push(wr);
    }
    // Networks.
    let mut nets = Vec::new();
    for &(proj, ci) in &spec.nets {
        let (c, base) = CIDRS[usize::from(ci % 3)];
        let n = x.network(PROJECTS[usize::from(proj % 3)]);
        let s = x.subnet(
            &n,
            c,
            Some(&format!("{}.{}.{}.1", base[0], base[1], base[2])),
        );
        let (net, _) = cidr(c);
        w.nets.push(WNet {
            project: usize::from(proj % 3),
            net,
            router: None,
        });
        nets.push((n, s, base));
    }
    // Routers: interfaces on their project's networks, one router per
    // network and distinct subnets per router.
    let mut rids = Vec::new();
    for (ri, r) in spec.routers.iter().enumerate() {
        let proj = usize::from(r.project % 3);
        let rid = x.router(PROJECTS[proj]);
        let mut cidrs = Vec::new();
        for (ni, (n, s, base)) in nets.iter().enumerate() {
            let wn = &w.nets[ni];
            if r.ifaces & (1 << ni) == 0
                || wn.project != proj
                || wn.router.is_some()
                || cidrs.contains(&wn.net)
            {
                continue;
            }
            cidrs.push(wn.net);
            let gw = format!("{}.{}.{}.1", base[0], base[1], base[2]);
            let p = x.interface(&rid, n, s, &gw);
            w.nets[ni].router = Some((ri, parse_mac(&x.st.ports[&p].mac_address)));
        }
        let mut wr = WRouter {
            gateway: None,
            fips: Vec::new(),
        };
        if let (true, Some((e, s))) = (r.gateway, &ext) {
            let gip = [203, 0, 113, 10 + ri as u8];
            let p = x.gateway(&rid, e, s, &Ipv4Addr::from(gip).to_string());
            if !r.snat {
                let mut rr = x.st.routers[&rid].clone();
                if let Some(g) = rr.external_gateway_info.as_mut() {
                    g.enable_snat = false;
                }
                x.st.put(model::Resource::Router(rr));
            }
            wr.gateway = Some((parse_mac(&x.st.ports[&p].mac_address), ip(gip), r.snat));
        }
        w.routers.push(wr);
        rids.push(rid);
    }
    // Ports.
    let mut b = controller::Bindings::default();
    for (i, ps) in spec.ports.iter().enumerate() {
        let ni = usize::from(ps.net) % nets.len();
        let (n, s, base) = &nets[ni];
        let proj = w.nets[ni].project;
        let addr = [base[0], base[1], base[2], 10 + i as u8];
        let groups: Vec<usize> = (0..2)
            .filter(|g| ps.groups & (1 << g) != 0)
            .map(|g| 2 * proj + g)
            .collect();
        let gnames: Vec<&str> = groups.iter().map(|&g| gids[g].0.as_str()).collect();
        let id = x.port(n, s, &Ipv4Addr::from(addr).to_string(), &gnames);
        let mut port = x.st.ports[&id].clone();
        port.port_security_enabled = ps.port_security;
        let mac = parse_mac(&port.mac_address);
        x.st.put(model::Resource::Port(port));
        let ofport = i as u16 + 1;
        b.ports.insert(id.clone(), u32::from(ofport));
        w.ports.push(WPort {
            id,
            name: format!("p{i}"),
            ofport,
            net: ni,
            mac,
            ip: ip(addr),
            port_security: ps.port_security,
            groups,
        });
    }
    // Floating IPs: a port on a network whose router has a gateway.
    for (i, ps) in spec.ports.iter().enumerate() {
        let Some((ri, _)) = w.nets[w.ports[i].net].router else {
            continue;
        };
        if !ps.fip || w.routers[ri].gateway.is_none() {
            continue;
        }
        let Some((e, _)) = &ext else { continue };
        let fip = [203, 0, 113, 100 + i as u8];
        let fixed = Ipv4Addr::from(w.ports[i].ip).to_string();
        x.fip(
            e,
            &Ipv4Addr::from(fip).to_string(),
            &w.ports[i].id.clone(),
            &fixed,
            &rids[ri],
        );
        w.routers[ri].fips.push((ip(fip), i));
    }
    b.bridge_mappings
        .insert("physnet1".into(), u32::from(UPLINK_OFPORT));
    (x.st, b, w)
}
