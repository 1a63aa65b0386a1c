//! Port QoS through vsctl, as Neutron's OVS agent configures it
//! (ovs-vswitchd.conf.db(5)): `ingress_policing_rate`/`_burst` on the
//! Interface for what the VM sends, and a `linux-htb` QoS with one Queue
//! (`max-rate`, `min-rate`, in bit/s) on the Port for what it receives.

use controller::qos::PortQos;

use crate::switch::Datapath;
use crate::AgentError;

/// Configure `q` on TAP `iface`. Rates in the controller are kbit/s.
pub fn apply(sw: &dyn Datapath, iface: &str, q: &PortQos) -> Result<(), AgentError> {
    let (rate, burst) = q.police_kbps.unwrap_or((0, 0));
    let rate_s = format!("ingress_policing_rate={rate}");
    let burst_s = format!("ingress_policing_burst={burst}");
    sw.vsctl(&["set", "Interface", iface, &rate_s, &burst_s])?;
    if q.shape_kbps.is_none() && q.min_kbps.is_none() {
        sw.vsctl(&["clear", "Port", iface, "qos"])?;
        return Ok(());
    }
    let mut queue = Vec::new();
    if let Some((max, _)) = q.shape_kbps {
        queue.push(format!("other_config:max-rate={}", max * 1000));
    }
    if let Some(min) = q.min_kbps {
        queue.push(format!("other_config:min-rate={}", min * 1000));
    }
    let mut args = vec![
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
    ];
    args.extend(queue.iter().map(String::as_str));
    sw.vsctl(&args)?;
    Ok(())
}
