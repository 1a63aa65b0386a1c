//! The scale benchmark's intent (issue 9), shared with the golden test so
//! the flows it compiles are pinned at a small size: N networks with one
//! /24 subnet and `ports_per_net` bound VM ports each, a router per ten
//! networks, a security group per network with `rules_per_group` rules
//! (1 in 5 naming a remote group: its own or the previous network's).
#![allow(dead_code)]

use controller::Bindings;

use super::Builder;

pub struct Size {
    pub networks: usize,
    pub ports_per_net: usize,
    pub rules_per_group: usize,
}

/// The intent, the bindings (every VM port bound) and each network's
/// (network, subnet, group).
pub fn build(sz: &Size) -> (Builder, Bindings, Vec<(String, String, String)>) {
    let mut x = Builder::default();
    let mut b = Bindings::default();
    let mut nets = Vec::new();
    let mut groups: Vec<String> = Vec::new();
    let mut router = String::new();
    for i in 0..sz.networks {
        let project = format!("p{}", i / 10);
        let n = x.network(&project);
        let s = x.subnet(
            &n,
            &format!("10.{}.{}.0/24", i / 256, i % 256),
            Some(&format!("10.{}.{}.1", i / 256, i % 256)),
        );
        // One router per project (ten networks).
        if i % 10 == 0 {
            router = x.router(&project);
        }
        x.interface(&router, &n, &s, &format!("10.{}.{}.1", i / 256, i % 256));
        let g = x.group(&project);
        // Rules: 1 in 5 names a remote group (its own or the previous
        // network's), 1 in 5 a remote CIDR, the rest port ranges only.
        for r in 0..sz.rules_per_group {
            let port = (1000 + r * 7) as u32;
            match r % 5 {
                0 => {
                    let remote = match groups.last() {
                        Some(prev) if r % 10 == 0 => prev.clone(),
                        _ => g.clone(),
                    };
                    x.rule(
                        &g,
                        "ingress",
                        Some("tcp"),
                        Some((port, port)),
                        None,
                        Some(&remote),
                    );
                }
                1 => {
                    x.rule(
                        &g,
                        "ingress",
                        Some("tcp"),
                        Some((port, port + 9)),
                        Some("203.0.113.0/24"),
                        None,
                    );
                }
                2 => {
                    x.rule(&g, "egress", None, None, None, None);
                }
                _ => {
                    x.rule(&g, "ingress", Some("udp"), Some((port, port)), None, None);
                }
            }
        }
        for j in 0..sz.ports_per_net {
            let p = x.port(
                &n,
                &s,
                &format!("10.{}.{}.{}", i / 256, i % 256, j + 10),
                &[&g],
            );
            b.ports.insert(p, b.ports.len() as u32 + 1);
        }
        groups.push(g.clone());
        nets.push((n, s, g));
    }
    (x, b, nets)
}
