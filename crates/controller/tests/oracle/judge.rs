//! The oracle: from the intent alone ([`World`]), whether a frame `f` that
//! entered at `x` may leave at `y` as `g`. Written from Neutron's
//! semantics (port security, security groups, routers, SNAT and floating
//! IPs), not from the compiler's tables.

use packet::FlowKey;

use super::world::World;

/// Where a frame enters or leaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ep {
    Port(usize),
    Uplink,
}

/// (source, destination, protocol, source port, destination port); ICMP
/// has no ports here.
pub type Tuple = (u32, u32, u8, u16, u16);

pub fn tuple(k: &FlowKey) -> Tuple {
    match k.nw_proto {
        6 | 17 => (k.nw_src, k.nw_dst, k.nw_proto, k.tp_src, k.tp_dst),
        p => (k.nw_src, k.nw_dst, p, 0, 0),
    }
}

fn rev(t: Tuple) -> Tuple {
    (t.1, t.0, t.2, t.4, t.3)
}

/// A connection the oracle let open: `a` sent `at`, `b` received `bt`.
#[derive(Clone, Debug)]
struct Conn {
    a: Ep,
    b: Ep,
    at: Tuple,
    bt: Tuple,
}

#[derive(Default)]
pub struct Oracle {
    conns: Vec<Conn>,
}

const VLAN_PRESENT: u16 = 0x1000;

fn mac(m: &[u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn ip(a: u32) -> std::net::Ipv4Addr {
    std::net::Ipv4Addr::from(a)
}

fn is_ip(k: &FlowKey) -> bool {
    k.dl_type == 0x0800
}

macro_rules! ensure {
    ($c:expr, $($t:tt)*) => {
        if !$c {
            return Err(format!($($t)*));
        }
    };
}

impl Oracle {
    /// Whether delivering `g` at `y` for `f` injected at `x` is allowed;
    /// an allowed new connection is remembered (its replies are allowed).
    pub fn judge(
        &mut self,
        w: &World,
        x: Ep,
        f: &FlowKey,
        y: Ep,
        g: &FlowKey,
    ) -> Result<(), String> {
        if x == y {
            // Local responder answers and hairpins go back to the sender.
            return Ok(());
        }
        ensure!(
            !(y == Ep::Uplink && g.vlan_tci & VLAN_PRESENT != 0),
            "a tagged frame (vlan_tci {:#x}) left on the flat uplink",
            g.vlan_tci
        );
        if is_ip(f) && is_ip(g) {
            let (ft, gt) = (tuple(f), tuple(g));
            // Conntrack zones are per port (PIPELINE.md, as OVN's): an
            // answer passes on the initiator's own entry, so it reaches the
            // initiator — a neighbour whose address a port without port
            // security spoofed gets only what its own rules admit as new.
            // An initiator without port security may have spoofed its
            // source: the answer goes wherever that address routes.
            let spoofer = |a: Ep| matches!(a, Ep::Port(a) if !w.ports[a].port_security);
            let known = self.conns.iter().any(|c| {
                (x == c.a && y == c.b && ft == c.at && gt == c.bt)
                    || (x == c.b && y == c.a && ft == rev(c.bt) && gt == rev(c.at))
                    // Out of the gateway, the answer's source is then
                    // translated as any traffic of `x` (floating IP, SNAT).
                    || (x == c.b
                        && spoofer(c.a)
                        && ft == rev(c.bt)
                        && (gt == rev(c.at)
                            || (y == Ep::Uplink && (gt.1, gt.2, gt.4) == (c.at.0, c.at.2, c.at.3))))
            });
            if known {
                return Ok(());
            }
        }
        match (x, y) {
            // Same network, unless sent to its router (which routes it
            // back in, as any router does).
            (Ep::Port(p), Ep::Port(q))
                if w.ports[p].net == w.ports[q].net
                    && w.nets[w.ports[p].net]
                        .router
                        .is_none_or(|r| r.1 != f.dl_dst) =>
            {
                self.l2(w, p, f, q, g)?
            }
            (Ep::Port(p), Ep::Port(q)) => self.routed(w, p, f, q, g)?,
            (Ep::Port(p), Ep::Uplink) => self.uplink_out(w, p, f, g)?,
            (Ep::Uplink, Ep::Port(q)) => self.uplink_in(w, f, q, g)?,
            (Ep::Uplink, Ep::Uplink) => {}
        }
        // A later fragment is tracked by addresses only (the switch does
        // not reassemble, see RELIABILITY.md): its entry admits answers of
        // the same protocol whose ports read as 0 — modelled, not wanted.
        if is_ip(f) && matches!(f.nw_proto, 1 | 6 | 17) {
            self.conns.push(Conn {
                a: x,
                b: y,
                at: tuple(f),
                bt: tuple(g),
            });
        }
        Ok(())
    }

    /// A frame from `p` to port `q` that the sender's rules let out: a
    /// reply from `q` is allowed even when `q`'s own rules dropped the
    /// request (the sender's conntrack entry admits it, as in Neutron).
    pub fn sent(&mut self, w: &World, p: usize, f: &FlowKey, q: usize) {
        let wp = &w.ports[p];
        if !is_ip(f) || !matches!(f.nw_proto, 1 | 6 | 17) || p == q {
            return;
        }
        if anti_spoof(w, p, f).is_ok()
            && (!wp.port_security || w.sg_allows(p, false, f.nw_proto, dport(f), f.nw_dst))
        {
            self.conns.push(Conn {
                a: Ep::Port(p),
                b: Ep::Port(q),
                at: tuple(f),
                bt: tuple(f),
            });
        }
    }

    fn l2(&self, w: &World, p: usize, f: &FlowKey, q: usize, g: &FlowKey) -> Result<(), String> {
        anti_spoof(w, p, f)?;
        let wq = &w.ports[q];
        ensure!(
            !wq.port_security || f.dl_dst[0] & 1 == 1 || f.dl_dst == wq.mac,
            "unicast to {} reached port {q} (MAC {}) with port security",
            mac(&f.dl_dst),
            mac(&wq.mac)
        );
        ensure!(
            (g.dl_src, g.dl_dst, g.vlan_tci, g.dl_type)
                == (f.dl_src, f.dl_dst, f.vlan_tci, f.dl_type)
                && (!is_ip(f) || tuple(g) == tuple(f)),
            "switching within a network rewrote the frame"
        );
        if is_ip(f) {
            sg(w, p, f, Some(q))?;
        }
        Ok(())
    }

    fn routed(
        &self,
        w: &World,
        p: usize,
        f: &FlowKey,
        q: usize,
        g: &FlowKey,
    ) -> Result<(), String> {
        let (wp, wq) = (&w.ports[p], &w.ports[q]);
        ensure!(
            is_ip(f),
            "a non-IP frame (dl_type {:#x}) crossed from network {} to {}",
            f.dl_type,
            wp.net,
            wq.net
        );
        ensure!(
            f.vlan_tci & VLAN_PRESENT == 0,
            "a VLAN-tagged frame was routed"
        );
        let (np, nq) = (w.nets[wp.net].router, w.nets[wq.net].router);
        let (Some((r, rmac)), Some((r2, qmac))) = (np, nq) else {
            return Err(format!(
                "crossed from network {} to {} with no router between",
                wp.net, wq.net
            ));
        };
        ensure!(
            r == r2,
            "crossed from router {r}'s network to router {r2}'s"
        );
        ensure!(
            f.dl_dst == rmac,
            "routed a frame not sent to the router's MAC ({})",
            mac(&f.dl_dst)
        );
        anti_spoof(w, p, f)?;
        ensure!(
            f.nw_dst == wq.ip,
            "routed to port {q}, which does not own {}",
            ip(f.nw_dst)
        );
        ensure!(
            g.dl_src == qmac && g.dl_dst == wq.mac && tuple(g) == tuple(f),
            "routed frame has wrong headers: {} → {}, {:?}",
            mac(&g.dl_src),
            mac(&g.dl_dst),
            tuple(g)
        );
        sg(w, p, f, Some(q))
    }

    fn uplink_out(&self, w: &World, p: usize, f: &FlowKey, g: &FlowKey) -> Result<(), String> {
        let wp = &w.ports[p];
        if g.dl_type == 0x0806 {
            // The router asking for a next hop it has not learned
            // (`cloudnet:arp-request`): broadcast, from its own gateway MAC
            // and address; the IP packet that caused it is dropped.
            let gw = w.nets[wp.net]
                .router
                .and_then(|(r, _)| w.routers[r].gateway);
            return match gw {
                Some((gmac, gip, _))
                    if is_ip(f) && g.dl_src == gmac && g.nw_src == gip && g.dl_dst == [0xff; 6] =>
                {
                    Ok(())
                }
                _ => Err(format!(
                    "an ARP frame caused by port {p}'s traffic left the uplink from {} ({})",
                    mac(&g.dl_src),
                    ip(g.nw_src)
                )),
            };
        }
        ensure!(
            is_ip(f),
            "a non-IP frame (dl_type {:#x}) from port {p} reached the uplink",
            f.dl_type
        );
        ensure!(
            f.vlan_tci & VLAN_PRESENT == 0,
            "a VLAN-tagged frame was routed to the uplink"
        );
        let Some((r, rmac)) = w.nets[wp.net].router else {
            return Err(format!(
                "port {p}'s network {} has no router, yet reached the uplink",
                wp.net
            ));
        };
        let Some((gmac, gip, snat)) = w.routers[r].gateway else {
            return Err(format!(
                "router {r} has no gateway, yet port {p} reached the uplink"
            ));
        };
        ensure!(
            f.dl_dst == rmac,
            "reached the uplink without being sent to the router MAC"
        );
        anti_spoof(w, p, f)?;
        let fips: Vec<u32> = w.routers[r]
            .fips
            .iter()
            .filter(|(_, fp)| w.ports[*fp].ip == f.nw_src)
            .map(|(a, _)| *a)
            .collect();
        // A port without port security may spoof a source outside the
        // router's subnets, which no SNAT rule matches: it leaves as sent
        // (OVN's lr_out_snat has the same shape; Neutron's L3 agent SNATs
        // everything). Known and listed in RELIABILITY.md, not wanted.
        let foreign = !wp.port_security
            && !w
                .nets
                .iter()
                .any(|n| n.router.is_some_and(|x| x.0 == r) && f.nw_src & 0xffff_ff00 == n.net);
        let src_ok = fips.contains(&g.nw_src)
            || (snat && g.nw_src == gip)
            || ((!snat || foreign) && g.nw_src == f.nw_src);
        ensure!(
            src_ok,
            "left the uplink from {} (sent from {}; router {r}: gateway {}, snat {snat}, fips {:?})",
            ip(g.nw_src),
            ip(f.nw_src),
            ip(gip),
            fips.iter().map(|a| ip(*a)).collect::<Vec<_>>()
        );
        ensure!(
            g.dl_src == gmac && g.nw_dst == f.nw_dst && g.nw_proto == f.nw_proto,
            "the uplink frame has wrong headers"
        );
        sg(w, p, f, None)
    }

    fn uplink_in(&self, w: &World, f: &FlowKey, q: usize, g: &FlowKey) -> Result<(), String> {
        let wq = &w.ports[q];
        ensure!(
            is_ip(f),
            "a non-IP frame (dl_type {:#x}) from the uplink reached port {q}",
            f.dl_type
        );
        let Some((r, qmac)) = w.nets[wq.net].router else {
            return Err(format!(
                "the uplink reached port {q} on a network without a router"
            ));
        };
        let Some((gmac, _, _)) = w.routers[r].gateway else {
            return Err(format!(
                "the uplink reached port {q} behind router {r} without a gateway"
            ));
        };
        ensure!(
            w.routers[r]
                .fips
                .iter()
                .any(|&(a, fp)| fp == q && a == f.nw_dst),
            "the uplink reached port {q} at {}, not its floating IP, outside a connection",
            ip(f.nw_dst)
        );
        ensure!(
            f.dl_dst == gmac,
            "a frame to the floating IP not sent to the gateway MAC passed"
        );
        ensure!(
            g.nw_dst == wq.ip && g.nw_src == f.nw_src && g.dl_dst == wq.mac && g.dl_src == qmac,
            "floating IP delivery has wrong headers"
        );
        if wq.port_security {
            ensure!(
                w.sg_allows(q, true, f.nw_proto, dport(f), f.nw_src),
                "port {q}'s groups do not admit {:?} from the uplink",
                tuple(f)
            );
        }
        Ok(())
    }
}

fn dport(f: &FlowKey) -> u16 {
    if matches!(f.nw_proto, 6 | 17) {
        f.tp_dst
    } else {
        0
    }
}

/// Port security (Neutron's allowed MAC and fixed IP; ARP's sender fields
/// too); a DHCP server's reply from such a port is dropped.
fn anti_spoof(w: &World, p: usize, f: &FlowKey) -> Result<(), String> {
    let wp = &w.ports[p];
    if !wp.port_security {
        return Ok(());
    }
    ensure!(
        f.dl_src == wp.mac,
        "port {p} sent from MAC {} and it passed port security",
        mac(&f.dl_src)
    );
    if is_ip(f) {
        ensure!(
            f.nw_src == wp.ip,
            "port {p} sent from {} and it passed port security",
            ip(f.nw_src)
        );
        ensure!(
            !(f.nw_proto == 17 && f.tp_src == 67 && f.tp_dst == 68),
            "port {p}'s DHCP server reply passed port security"
        );
    } else if f.dl_type == 0x0806 {
        ensure!(
            f.arp_sha == wp.mac && (f.nw_src == wp.ip || f.nw_src == 0),
            "port {p}'s ARP from {} / {} passed port security",
            mac(&f.arp_sha),
            ip(f.nw_src)
        );
    }
    Ok(())
}

/// Security groups on both ends (the receiver `q`; `None`: the uplink).
fn sg(w: &World, p: usize, f: &FlowKey, q: Option<usize>) -> Result<(), String> {
    if w.ports[p].port_security {
        ensure!(
            w.sg_allows(p, false, f.nw_proto, dport(f), f.nw_dst),
            "port {p}'s groups do not let {:?} out",
            tuple(f)
        );
    }
    if let Some(q) = q.filter(|&q| w.ports[q].port_security) {
        ensure!(
            w.sg_allows(q, true, f.nw_proto, dport(f), f.nw_src),
            "port {q}'s groups do not let {:?} in",
            tuple(f)
        );
    }
    Ok(())
}
