//! Port QoS through vsctl, as Neutron's OVS agent configures it
//! (ovs-vswitchd.conf.db(5)): `ingress_policing_rate`/`_burst` on the
//! Interface for what the VM sends, and a `linux-htb` QoS with one Queue
//! (`max-rate`, `min-rate`, in bit/s) on the Port for what it receives.
//!
//! QoS and Queue are root tables (ovs-vswitchd.conf.db(5)): a row nothing
//! references is not collected, so every replacement and removal destroys
//! the rows it made in the same transaction, as Neutron's agent does —
//! otherwise each policy change would leave a QoS and a Queue behind.

use controller::qos::PortQos;

use crate::switch::Datapath;
use crate::AgentError;

/// The QoS and Queue rows (UUIDs) the agent created for a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rows {
    pub qos: String,
    pub queue: String,
}

/// What the agent last applied to a port: the QoS and the rows holding it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub qos: PortQos,
    pub rows: Option<Rows>,
}

/// `-- --if-exists destroy` of `old`'s rows, to append to a transaction.
fn destroy_args(old: Option<&Rows>) -> Vec<String> {
    let Some(r) = old else { return Vec::new() };
    ["--", "--if-exists", "destroy", "QoS", &r.qos]
        .into_iter()
        .chain(["--", "--if-exists", "destroy", "Queue", &r.queue])
        .map(str::to_owned)
        .collect()
}

fn vsctl(sw: &dyn Datapath, args: &[String]) -> Result<String, AgentError> {
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    sw.vsctl(&a)
}

/// Configure `q` on TAP `iface`, replacing the rows of `old`. Rates in the
/// controller are kbit/s.
pub fn apply(
    sw: &dyn Datapath,
    iface: &str,
    q: &PortQos,
    old: Option<&Rows>,
) -> Result<Option<Rows>, AgentError> {
    let (rate, burst) = q.police_kbps.unwrap_or((0, 0));
    let rate_s = format!("ingress_policing_rate={rate}");
    let burst_s = format!("ingress_policing_burst={burst}");
    sw.vsctl(&["set", "Interface", iface, &rate_s, &burst_s])?;
    if q.shape_kbps.is_none() && q.min_kbps.is_none() {
        let mut args: Vec<String> = ["clear", "Port", iface, "qos"].map(str::to_owned).to_vec();
        args.extend(destroy_args(old));
        vsctl(sw, &args)?;
        return Ok(None);
    }
    let mut args: Vec<String> = [
        "set",
        "Port",
        iface,
        "qos=@q",
        "--",
        "--id=@q",
        "create",
        "QoS",
        "type=linux-htb",
        "queues:0=@q0",
        "--",
        "--id=@q0",
        "create",
        "Queue",
    ]
    .map(str::to_owned)
    .to_vec();
    if let Some((max, _)) = q.shape_kbps {
        args.push(format!("other_config:max-rate={}", max * 1000));
    }
    if let Some(min) = q.min_kbps {
        args.push(format!("other_config:min-rate={}", min * 1000));
    }
    args.extend(destroy_args(old));
    // `create` prints the new rows' UUIDs in command order.
    let out = vsctl(sw, &args)?;
    let mut ids = out.lines().map(str::trim).filter(|l| !l.is_empty());
    Ok(match (ids.next(), ids.next()) {
        (Some(qos), Some(queue)) => Some(Rows {
            qos: qos.to_owned(),
            queue: queue.to_owned(),
        }),
        // A switch that does not report them (a dry run): nothing to
        // destroy later.
        _ => None,
    })
}

/// Remove a port's QoS: policing off and the Port's `qos` cleared when its
/// TAP is still there (`iface`), and the rows destroyed either way.
pub fn remove(
    sw: &dyn Datapath,
    iface: Option<&str>,
    old: Option<&Rows>,
) -> Result<(), AgentError> {
    let mut args = Vec::new();
    if let Some(i) = iface {
        args.extend(
            [
                "--if-exists",
                "clear",
                "Port",
                i,
                "qos",
                "--",
                "--if-exists",
                "set",
                "Interface",
                i,
                "ingress_policing_rate=0",
                "ingress_policing_burst=0",
            ]
            .map(str::to_owned),
        );
    }
    let mut d = destroy_args(old);
    if args.is_empty() && !d.is_empty() {
        d.remove(0); // no leading `--`
    }
    args.extend(d);
    if args.is_empty() {
        return Ok(());
    }
    vsctl(sw, &args).map(|_| ())
}
