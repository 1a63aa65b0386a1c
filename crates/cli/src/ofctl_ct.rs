//! Arguments of the conntrack subcommands of `cloudnet ofctl`, in the
//! syntax of ovs-dpctl(8): `dump-conntrack [BR] [zone=N]`,
//! `flush-conntrack [BR] [zone=N] [CT-TUPLE]`, and
//! `ct-set-limits [default=N] [zone=N,limit=M]... [maxconns=N]`.

use anyhow::{anyhow, bail, Context};

fn num<T: std::str::FromStr>(tok: &str, v: &str) -> anyhow::Result<T> {
    v.parse()
        .map_err(|_| anyhow!("{tok:?}: {v:?} is not a valid number"))
}

/// `[BR] [zone=N]` → (bridge, zone).
pub fn bridge_zone(args: &[String]) -> anyhow::Result<(Option<String>, Option<u16>)> {
    let (mut bridge, mut zone) = (None, None);
    for a in args {
        match a.split_once('=') {
            Some(("zone", v)) => zone = Some(num(a, v)?),
            Some(_) => bail!("{a:?}: expected zone=N"),
            None if bridge.is_none() => bridge = Some(a.clone()),
            None => bail!("{a:?}: more than one bridge given"),
        }
    }
    Ok((bridge, zone))
}

/// The `flush-conntrack` request for `[BR] [zone=N] [CT-TUPLE]`: a
/// ct-tuple is the argument with `ct_`/`icmp_` fields (ovs-dpctl(8)); it
/// is checked here so that a typo is reported before anything is sent.
pub fn flush(args: &[String]) -> anyhow::Result<vswitch::Request> {
    let is_tuple = |a: &String| a.starts_with("ct_") || a.starts_with("icmp_");
    let (tuples, rest): (Vec<String>, Vec<String>) = args.iter().cloned().partition(is_tuple);
    if tuples.len() > 1 {
        bail!(
            "{:?}: one ct-tuple only (fields separated by commas)",
            tuples[1]
        );
    }
    let (bridge, zone) = bridge_zone(&rest)?;
    let tuple = tuples.into_iter().next();
    if let Some(t) = &tuple {
        conntrack::CtFilter::default().parse_tuple(t)?;
    }
    Ok(vswitch::Request::FlushConntrack {
        bridge,
        zone,
        tuple,
    })
}

/// The `ct-set-limits` request for its arguments.
pub fn set_limits(args: &[String]) -> anyhow::Result<vswitch::Request> {
    let (mut default, mut zones, mut max_conns) = (None, Vec::new(), None);
    if args.is_empty() {
        bail!("ct-set-limits needs default=N, zone=N,limit=M or maxconns=N");
    }
    for a in args {
        if let Some(v) = a.strip_prefix("default=") {
            default = Some(num(a, v)?);
        } else if let Some(v) = a.strip_prefix("maxconns=") {
            max_conns = Some(num(a, v)?);
        } else if let Some(rest) = a.strip_prefix("zone=") {
            let (z, l) = rest
                .split_once(",limit=")
                .with_context(|| format!("{a:?}: expected zone=N,limit=M"))?;
            zones.push(vswitch::ZoneLimit {
                zone: num(a, z)?,
                limit: num(a, l)?,
            });
        } else {
            bail!("{a:?}: expected default=N, zone=N,limit=M or maxconns=N");
        }
    }
    Ok(vswitch::Request::CtSetLimits {
        default,
        zones,
        max_conns,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn bridge_and_zone() {
        assert_eq!(
            bridge_zone(&s(&["br0", "zone=5"])).unwrap(),
            (Some("br0".into()), Some(5))
        );
        assert_eq!(bridge_zone(&s(&[])).unwrap(), (None, None));
        let e = bridge_zone(&s(&["zone=x"])).unwrap_err().to_string();
        assert!(e.contains("zone=x"), "{e}");
        assert!(bridge_zone(&s(&["a", "b"])).is_err());
    }

    #[test]
    fn flush_with_a_tuple() {
        let r = flush(&s(&[
            "br-int",
            "zone=4",
            "ct_nw_dst=10.0.0.5,ct_nw_proto=6",
        ]))
        .unwrap();
        assert_eq!(
            r,
            vswitch::Request::FlushConntrack {
                bridge: Some("br-int".into()),
                zone: Some(4),
                tuple: Some("ct_nw_dst=10.0.0.5,ct_nw_proto=6".into()),
            }
        );
        let r = flush(&s(&[])).unwrap();
        assert_eq!(
            r,
            vswitch::Request::FlushConntrack {
                bridge: None,
                zone: None,
                tuple: None
            }
        );
        let e = flush(&s(&["ct_nw_dst=10.0.0.5,ct_tp_dst=x"]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("ct_tp_dst=x"), "{e}");
        assert!(flush(&s(&["ct_nw_src=10.0.0.1", "ct_nw_dst=10.0.0.2"])).is_err());
    }

    #[test]
    fn limits() {
        let r = set_limits(&s(&["default=10", "zone=3,limit=1000", "maxconns=5"])).unwrap();
        assert_eq!(
            r,
            vswitch::Request::CtSetLimits {
                default: Some(10),
                zones: vec![vswitch::ZoneLimit {
                    zone: 3,
                    limit: 1000
                }],
                max_conns: Some(5),
            }
        );
        let e = set_limits(&s(&["zone=3"])).unwrap_err().to_string();
        assert!(e.contains("zone=3"), "{e}");
        assert!(set_limits(&s(&[])).is_err());
    }
}
