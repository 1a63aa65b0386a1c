//! The text topology picture of the report: boxes drawn with Unicode box
//! characters for the hosts, with their bridges, routers and VMs inside,
//! the internet below the cloud host, the two VXLAN hosts side by side and
//! the QoS switch. Every glyph used is one column wide, so widths are
//! counted in `char`s.

use super::report::{Built, VmInfo};

/// A box: `title` on the top border, `lines` inside, padded to the widest.
pub fn boxed(title: &str, lines: &[String]) -> Vec<String> {
    let inner = lines
        .iter()
        .map(|l| l.chars().count())
        .chain([title.chars().count() + 2])
        .max()
        .unwrap_or(0)
        + 2;
    let top_fill = inner.saturating_sub(title.chars().count() + 3);
    let mut out = vec![format!("┌─ {title} {}┐", "─".repeat(top_fill))];
    for l in lines {
        let pad = inner - 1 - l.chars().count();
        out.push(format!("│ {l}{}│", " ".repeat(pad)));
    }
    out.push(format!("└{}┘", "─".repeat(inner)));
    out
}

/// Two blocks side by side, `link` written between them on row `row`
/// (other rows get spaces of the same width).
pub fn side_by_side(a: &[String], b: &[String], link: &str, row: usize) -> Vec<String> {
    let wa = a.iter().map(|l| l.chars().count()).max().unwrap_or(0);
    let gap = link.chars().count().max(2);
    (0..a.len().max(b.len()))
        .map(|i| {
            let left = a.get(i).map(String::as_str).unwrap_or("");
            let pad = wa - left.chars().count();
            let mid = if i == row {
                format!("{link:^gap$}")
            } else {
                " ".repeat(gap)
            };
            let right = b.get(i).map(String::as_str).unwrap_or("");
            format!("{left}{}{mid}{right}", " ".repeat(pad))
                .trim_end()
                .to_owned()
        })
        .collect()
}

/// `block` shifted right by `by` columns.
fn indent(block: Vec<String>, by: usize) -> Vec<String> {
    block
        .into_iter()
        .map(|l| format!("{}{l}", " ".repeat(by)))
        .collect()
}

fn vm_label(vm: &VmInfo) -> String {
    let mut s = format!("[{} {}]", vm.name, vm.ip);
    if let Some(f) = vm.floating_ip {
        s.push_str(&format!(" ⇄ {f}"));
    }
    s
}

/// The whole picture.
pub fn render(b: &Built) -> String {
    let mut cloud = Vec::new();
    for p in &b.projects {
        cloud.push(format!("project {}", p.name));
        let net = format!("  {} {} ", p.network, p.cidr);
        let w = net.chars().count();
        for (i, vm) in p.vms.iter().enumerate() {
            let lead = if i == 0 { net.clone() } else { " ".repeat(w) };
            let branch = match (i, p.vms.len()) {
                (0, 1) => "──",
                (0, _) => "┬─",
                (i, n) if i + 1 == n => "└─",
                _ => "├─",
            };
            cloud.push(format!("{lead}{branch} {}", vm_label(vm)));
        }
        let gw = p
            .router_gateway
            .map(|g| format!(", SNAT as {g}"))
            .unwrap_or_default();
        cloud.push(format!("  router {}: {} ◄─► ext{gw}", p.router, p.network));
    }
    cloud.push("br-int (cloudnet serve: API :9696, agent, flows)".into());
    cloud.push(format!("  └─ uplink ─ {}", b.external));
    let cloud = boxed(&format!("host {}", b.host), &cloud);
    let wire_col = 4;
    let inet = indent(
        boxed(
            &format!("internet {}", b.internet.0),
            &[format!("{}  (HTTP :80)", b.internet.1)],
        ),
        wire_col - 2,
    );
    let mut out = cloud;
    out.push(format!("{}│ veth", " ".repeat(wire_col)));
    out.extend(inet);
    out.push(String::new());

    let hosts: Vec<Vec<String>> = b
        .overlay_hosts
        .iter()
        .map(|h| {
            boxed(
                &format!("host {} {}", h.name, h.underlay_ip),
                &[
                    format!("br0 ── vxlan VNI {}", b.vni),
                    format!(" └─ {}", vm_label(&h.vm)),
                ],
            )
        })
        .collect();
    if let [a, c] = hosts.as_slice() {
        out.extend(side_by_side(a, c, "◄═ VXLAN/UDP 4789 ═►", 1));
        out.push(format!(
            "{}└──── underlay bridge ────┘",
            " ".repeat(wire_col)
        ));
    }
    out.push(String::new());
    let mut q = vec![format!(
        "br0 ── port of {} (linux-htb 10 Mbit/s, queues 3:1:6)",
        vm_label(&b.qos_receiver)
    )];
    for (i, s) in b.qos_senders.iter().enumerate() {
        let branch = if i + 1 == b.qos_senders.len() {
            "└─"
        } else {
            "├─"
        };
        q.push(format!(" {branch} {} → queue {i}", vm_label(s)));
    }
    out.extend(boxed(&format!("switch {}", b.qos_switch), &q));
    out.join("\n") + "\n"
}

#[cfg(test)]
mod tests {
    use super::super::report::{OverlayHost, ProjectInfo};
    use super::*;

    fn vm(name: &str, ip: &str) -> VmInfo {
        VmInfo {
            name: name.into(),
            ip: ip.parse().unwrap(),
            groups: String::new(),
            floating_ip: None,
        }
    }

    fn built() -> Built {
        let mut web = vm("a-web", "10.0.0.5");
        web.floating_ip = Some("203.0.113.20".parse().unwrap());
        Built {
            host: "cnd-host".into(),
            projects: vec![
                ProjectInfo {
                    name: "alpha".into(),
                    network: "net-a".into(),
                    cidr: "10.0.0.0/24".into(),
                    router: "r-a".into(),
                    router_gateway: Some("203.0.113.10".parse().unwrap()),
                    vms: vec![web, vm("a-db", "10.0.0.6")],
                },
                ProjectInfo {
                    name: "beta".into(),
                    network: "net-b".into(),
                    cidr: "10.0.0.0/24".into(),
                    router: "r-b".into(),
                    router_gateway: None,
                    vms: vec![vm("b1", "10.0.0.3")],
                },
            ],
            groups: vec!["web: tcp 8080 from 0.0.0.0/0".into()],
            external: "ext 203.0.113.0/24".into(),
            internet: ("cnd-inet".into(), "203.0.113.100".parse().unwrap()),
            overlay_hosts: vec![
                OverlayHost {
                    name: "cnd-h1".into(),
                    underlay_ip: "10.200.0.1".parse().unwrap(),
                    vm: vm("v1", "10.10.0.1"),
                },
                OverlayHost {
                    name: "cnd-h2".into(),
                    underlay_ip: "10.200.0.2".parse().unwrap(),
                    vm: vm("v2", "10.10.0.2"),
                },
            ],
            vni: 101,
            qos_switch: "cnd-qsw".into(),
            qos_receiver: vm("r", "10.78.0.10"),
            qos_senders: vec![vm("s0", "10.78.0.1"), vm("s1", "10.78.0.2")],
        }
    }

    #[test]
    fn box_lines_have_one_width() {
        let b = boxed("host h", &["a".into(), "a longer line".into()]);
        let w: Vec<usize> = b.iter().map(|l| l.chars().count()).collect();
        assert!(w.iter().all(|&x| x == w[0]), "{b:#?}");
        assert!(b[0].starts_with("┌─ host h ─"));
        assert!(b[2].starts_with("│ a longer line │"));
        // A title longer than every line still fits.
        let t = boxed("a very long title here", &["x".into()]);
        assert!(t.iter().all(|l| l.chars().count() == t[0].chars().count()));
    }

    #[test]
    fn side_by_side_keeps_columns() {
        let a = boxed("a", &["1".into(), "2".into()]);
        let b = boxed("b", &["3".into()]);
        let s = side_by_side(&a, &b, "<->", 1);
        assert_eq!(s.len(), 4);
        assert!(s[1].contains("<->"));
        let col = |l: &str, c: char| l.chars().position(|x| x == c);
        assert_eq!(col(&s[0], '┌'), Some(0));
        // b's top-left corner is right of a's box in the same column as its
        // other rows' left border.
        let bstart = s[0].chars().skip(1).position(|x| x == '┌').map(|p| p + 1);
        assert_eq!(s[1].chars().nth(bstart.unwrap()), Some('│'));
    }

    #[test]
    fn picture_names_everything() {
        let b = built();
        let pic = render(&b);
        for want in [
            "host cnd-host",
            "project alpha",
            "project beta",
            "[a-web 10.0.0.5] ⇄ 203.0.113.20",
            "router r-a: net-a ◄─► ext, SNAT as 203.0.113.10",
            "net-b 10.0.0.0/24 ── [b1 10.0.0.3]",
            "internet cnd-inet",
            "203.0.113.100",
            "host cnd-h1 10.200.0.1",
            "host cnd-h2 10.200.0.2",
            "VXLAN",
            "[v2 10.10.0.2]",
            "switch cnd-qsw",
            "queue 1",
        ] {
            assert!(pic.contains(want), "missing {want:?} in\n{pic}");
        }
        let text = super::super::report::render_built(&b);
        for want in [
            "security group web: tcp 8080 from 0.0.0.0/0",
            "project alpha: network net-a 10.0.0.0/24, router r-a, SNAT as 203.0.113.10",
            "VM a-web 10.0.0.5 floating IP 203.0.113.20",
            "host cnd-h2 (underlay 10.200.0.2): VM v2 10.10.0.2",
            "senders s0, s1",
        ] {
            assert!(text.contains(want), "missing {want:?} in\n{text}");
        }
        // The cloud host's box is rectangular.
        let cloud: Vec<&str> = pic.lines().take_while(|l| !l.starts_with('└')).collect();
        let w = cloud[0].chars().count();
        assert!(cloud.iter().all(|l| l.chars().count() == w), "{pic}");
    }
}
