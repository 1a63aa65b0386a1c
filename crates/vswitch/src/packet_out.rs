//! Server side of `ofctl packet-out` (ovs-ofctl(8), protocol revision 1.6):
//! the request's text fields turned into a frame, an input port and
//! actions for [`crate::dp::Datapath::packet_out`], and the parser of the
//! single-argument form `in_port=PORT packet=HEX actions=ACTIONS` that
//! clients share.

use flow::actions::port;

pub use crate::dp::packet_out::{decode_hex, PacketOutError, PacketOutResult};
use crate::dp::Datapath;
use crate::schema::{Config, OFPP_LOCAL};

/// The three parts of a packet-out, as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PacketOutSpec {
    /// `controller`, `local`, `none`, a port number or an interface name.
    pub in_port: String,
    /// The frame as hex digits.
    pub packet: String,
    /// The actions, in ovs-actions(7) syntax.
    pub actions: String,
}

/// Parse the newer single-argument form of ovs-ofctl(8) `packet-out`:
/// `in_port=PORT packet=HEX actions=ACTIONS`, fields separated by spaces
/// or commas; `actions=` comes last and takes the rest of the text.
/// `in_port` defaults to `CONTROLLER`, as in OpenFlow 1.1+.
pub fn parse_spec(text: &str) -> Result<PacketOutSpec, PacketOutError> {
    let (head, actions) = match text.find("actions=") {
        Some(i) => (&text[..i], text[i + "actions=".len()..].trim()),
        None => return Err(PacketOutError::Missing("actions=")),
    };
    let mut in_port = None;
    let mut packet = None;
    for tok in head
        .split(|c: char| c == ',' || c.is_ascii_whitespace())
        .filter(|t| !t.is_empty())
    {
        match tok.split_once('=') {
            Some(("in_port", v)) if !v.is_empty() => in_port = Some(v.to_owned()),
            Some(("packet", v)) if !v.is_empty() => packet = Some(v.to_owned()),
            _ => return Err(PacketOutError::BadArgument(tok.to_owned())),
        }
    }
    Ok(PacketOutSpec {
        in_port: in_port.unwrap_or_else(|| "CONTROLLER".to_owned()),
        packet: packet.ok_or(PacketOutError::Missing("packet="))?,
        actions: actions.to_owned(),
    })
}

/// The packet-outs of an ovs-ofctl(8) `packet-out BRIDGE ...` command
/// line (everything after the bridge): one argument is the newer form
/// ([`parse_spec`]); three or more are the older `IN_PORT ACTIONS
/// PACKET...`, one packet-out per packet.
pub fn parse_args(args: &[String]) -> Result<Vec<PacketOutSpec>, PacketOutError> {
    match args {
        [] => Err(PacketOutError::Missing("the packet-out")),
        [one] => Ok(vec![parse_spec(one)?]),
        [_, _] => Err(PacketOutError::Missing("PACKET (after IN_PORT ACTIONS)")),
        [in_port, actions, packets @ ..] => Ok(packets
            .iter()
            .map(|p| PacketOutSpec {
                in_port: in_port.clone(),
                packet: p.clone(),
                actions: actions.trim_start_matches("actions=").to_owned(),
            })
            .collect()),
    }
}

/// The OpenFlow number of input port `name` on `bridge`: a reserved name
/// (`CONTROLLER`, `LOCAL`, `NONE`, any case), a number, or an interface
/// of the bridge.
pub fn resolve_in_port(cfg: &Config, bridge: &str, name: &str) -> Result<u32, PacketOutError> {
    match name.to_ascii_uppercase().as_str() {
        "CONTROLLER" => return Ok(port::CONTROLLER),
        "LOCAL" => return Ok(port::LOCAL),
        "NONE" | "ANY" => return Ok(port::NONE),
        _ => {}
    }
    if let Ok(n) = name.parse::<u32>() {
        return Ok(if n == u32::from(OFPP_LOCAL) {
            port::LOCAL
        } else {
            n
        });
    }
    let on_bridge = cfg
        .bridges
        .get(bridge)
        .is_some_and(|b| b.ports.iter().any(|p| p == name));
    cfg.interfaces
        .get(name)
        .filter(|_| on_bridge)
        .and_then(|i| i.ofport)
        .map(|n| {
            if n == OFPP_LOCAL {
                port::LOCAL
            } else {
                u32::from(n)
            }
        })
        .ok_or_else(|| PacketOutError::NoPort(name.to_owned()))
}

/// Execute a packet-out given as text on `bridge`.
pub fn execute(
    cfg: &Config,
    dp: &mut Datapath,
    bridge: &str,
    spec: &PacketOutSpec,
) -> Result<PacketOutResult, PacketOutError> {
    if dp.bridge(bridge).is_none() {
        return Err(PacketOutError::NoBridge(bridge.to_owned()));
    }
    let in_port = resolve_in_port(cfg, bridge, spec.in_port.trim())?;
    let frame = decode_hex(&spec.packet)?;
    let actions = flow::parse_actions::parse_actions(&spec.actions).map_err(|e| {
        PacketOutError::BadActions {
            text: spec.actions.clone(),
            why: e.to_string(),
        }
    })?;
    dp.packet_out(bridge, in_port, &frame, &actions)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_argument_form_parses() {
        let s =
            parse_spec("in_port=controller packet=ffffffffffff0000 actions=resubmit(,8),output:2")
                .unwrap();
        assert_eq!(s.in_port, "controller");
        assert_eq!(s.packet, "ffffffffffff0000");
        assert_eq!(s.actions, "resubmit(,8),output:2");
        let s = parse_spec("packet=00,actions=NORMAL").unwrap();
        assert_eq!(s.in_port, "CONTROLLER");
        assert_eq!(s.actions, "NORMAL");
    }

    #[test]
    fn single_argument_errors_name_the_token() {
        assert_eq!(
            parse_spec("in_port=1 packet=00").unwrap_err(),
            PacketOutError::Missing("actions=")
        );
        assert_eq!(
            parse_spec("in_port=1 actions=drop").unwrap_err(),
            PacketOutError::Missing("packet=")
        );
        let e = parse_spec("in_prot=1 packet=00 actions=drop").unwrap_err();
        assert_eq!(e, PacketOutError::BadArgument("in_prot=1".into()));
        assert!(e.to_string().contains("in_prot=1"), "{e}");
    }

    #[test]
    fn both_command_line_forms_parse() {
        let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let one = parse_args(&v(&["in_port=2 packet=0011 actions=output:3"])).unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].in_port, "2");
        let old = parse_args(&v(&["LOCAL", "output:3", "0011", "2233"])).unwrap();
        assert_eq!(old.len(), 2);
        assert_eq!(old[1].packet, "2233");
        assert_eq!(old[0].in_port, "LOCAL");
        assert_eq!(old[0].actions, "output:3");
        assert!(matches!(
            parse_args(&v(&["LOCAL", "output:3"])),
            Err(PacketOutError::Missing(_))
        ));
        assert!(parse_args(&[]).is_err());
    }

    #[test]
    fn in_port_names_resolve() {
        let mut cfg = Config::default();
        let args: Vec<String> = ["add-br", "br0", "--", "add-port", "br0", "p1"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let cmds = crate::vsctl::parse(&args).unwrap();
        crate::vsctl::execute(&mut cfg, &cmds, &|_| None).unwrap();
        assert_eq!(
            resolve_in_port(&cfg, "br0", "controller"),
            Ok(port::CONTROLLER)
        );
        assert_eq!(resolve_in_port(&cfg, "br0", "LOCAL"), Ok(port::LOCAL));
        assert_eq!(resolve_in_port(&cfg, "br0", "br0"), Ok(port::LOCAL));
        assert_eq!(resolve_in_port(&cfg, "br0", "none"), Ok(port::NONE));
        assert_eq!(resolve_in_port(&cfg, "br0", "7"), Ok(7));
        let p1 = cfg.interfaces["p1"].ofport.map(u32::from);
        assert_eq!(resolve_in_port(&cfg, "br0", "p1").ok(), p1);
        assert_eq!(
            resolve_in_port(&cfg, "br0", "p9"),
            Err(PacketOutError::NoPort("p9".into()))
        );
    }
}
