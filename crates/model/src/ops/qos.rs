//! QoS policies and their bandwidth_limit, minimum_bandwidth and
//! dscp_marking rules (Neutron's qos extension).

use super::{owner, Outcome};
use crate::input::Input;
use crate::resources::*;
use crate::state::{Change, Ctx, Env, State};
use crate::{Kind, ModelError, Result};

/// DSCP values Neutron accepts: the standard code points (RFC 2474 class
/// selectors, RFC 2597 AF, RFC 3246 EF).
pub const VALID_DSCP: [u8; 22] = [
    0, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 32, 34, 36, 38, 40, 46, 48, 56, 44,
];

/// Largest rate Neutron accepts (kbps), `db_const.DB_INTEGER_MAX_VALUE`.
const MAX_KBPS: i64 = 2_147_483_647;

pub(super) fn create_policy(
    _state: &State,
    ctx: &Ctx,
    env: &mut Env,
    input: &mut Input,
) -> Result<Outcome> {
    let common = input.common_create()?;
    let project = owner(ctx, common.project_id)?;
    let shared = input.bool("shared")?.unwrap_or(false);
    if shared && !ctx.is_admin {
        return Err(ModelError::forbidden("rule:create_policy:shared"));
    }
    let p = QosPolicy {
        meta: env.meta(&project, common.description, common.tags),
        name: common.name.unwrap_or_default(),
        shared,
        is_default: input.bool("is_default")?.unwrap_or(false),
    };
    let id = p.meta.id.clone();
    Ok(Outcome {
        changes: vec![Change::Put(Resource::QosPolicy(p))],
        id,
    })
}

pub(super) fn update_policy(ctx: &Ctx, mut p: QosPolicy, input: &mut Input) -> Result<Vec<Change>> {
    input.read_only(&["id", "tenant_id", "project_id", "rules"])?;
    if let Some(v) = input.string("name")? {
        p.name = v;
    }
    if let Some(v) = input.string("description")? {
        p.meta.description = v;
    }
    if let Some(v) = input.bool("shared")? {
        if !ctx.is_admin {
            return Err(ModelError::forbidden("rule:update_policy:shared"));
        }
        p.shared = v;
    }
    if let Some(v) = input.bool("is_default")? {
        p.is_default = v;
    }
    Ok(vec![Change::Put(Resource::QosPolicy(p))])
}

/// A policy attached to a port, network or floating IP is 409 `QosPolicyInUse`.
pub(super) fn delete_policy(state: &State, p: QosPolicy) -> Result<Vec<Change>> {
    let id = p.meta.id;
    let user = state
        .ports
        .values()
        .find(|x| x.qos_policy_id.as_deref() == Some(&id))
        .map(|x| ("port", x.meta.id.clone()))
        .or_else(|| {
            state
                .networks
                .values()
                .find(|x| x.qos_policy_id.as_deref() == Some(&id))
                .map(|x| ("network", x.meta.id.clone()))
        })
        .or_else(|| {
            state
                .floating_ips
                .values()
                .find(|x| x.qos_policy_id.as_deref() == Some(&id))
                .map(|x| ("floatingip", x.meta.id.clone()))
        });
    if let Some((ty, oid)) = user {
        return Err(ModelError::conflict(
            "QosPolicyInUse",
            format!("QoS Policy {id} is used by {ty} {oid}."),
        ));
    }
    let mut changes: Vec<Change> = state
        .qos_rules
        .values()
        .filter(|r| r.qos_policy_id == id)
        .map(|r| Change::Delete(Kind::QosRule, r.meta.id.clone()))
        .collect();
    changes.push(Change::Delete(Kind::QosPolicy, id));
    Ok(changes)
}

fn kbps(input: &mut Input, key: &str, required: bool, default: u64) -> Result<Option<u64>> {
    match input.int(key)?.value() {
        Some(v) if !(0..=MAX_KBPS).contains(&v) => Err(ModelError::attr(
            key,
            format!("'{v}' is not in range 0 through {MAX_KBPS}"),
        )),
        Some(v) => Ok(Some(v as u64)),
        None if required => Err(ModelError::attr(key, "'None' is not an integer")),
        None => Ok(if default == u64::MAX {
            None
        } else {
            Some(default)
        }),
    }
}

fn direction(input: &mut Input) -> Result<Option<String>> {
    match input.string("direction")? {
        Some(d) if d == "egress" || d == "ingress" => Ok(Some(d)),
        Some(d) => Err(ModelError::attr(
            "direction",
            format!("'{d}' is not in ['egress', 'ingress']"),
        )),
        None => Ok(None),
    }
}

fn dscp(input: &mut Input, required: bool) -> Result<Option<u8>> {
    match input.int("dscp_mark")?.value() {
        Some(v) if (0..=63).contains(&v) && VALID_DSCP.contains(&(v as u8)) => Ok(Some(v as u8)),
        Some(v) => Err(ModelError::attr(
            "dscp_mark",
            format!("'{v}' is not in {VALID_DSCP:?}"),
        )),
        None if required => Err(ModelError::attr("dscp_mark", "'None' is not an integer")),
        None => Ok(None),
    }
}

/// Create a rule of `rule_type` (`bandwidth_limit`, `minimum_bandwidth`,
/// `dscp_marking`) in `policy_id`. One rule per type and direction.
pub(super) fn create_rule(
    state: &State,
    ctx: &Ctx,
    env: &mut Env,
    policy_id: &str,
    rule_type: &str,
    input: &mut Input,
) -> Result<Outcome> {
    let policy = state.find_owned(ctx, Kind::QosPolicy, policy_id)?;
    let _ = input.common_create()?;
    let spec = match rule_type {
        "bandwidth_limit" => QosRuleSpec::BandwidthLimit {
            max_kbps: kbps(input, "max_kbps", true, 0)?.unwrap_or(0),
            max_burst_kbps: kbps(input, "max_burst_kbps", false, 0)?.unwrap_or(0),
            direction: direction(input)?.unwrap_or_else(|| "egress".into()),
        },
        "minimum_bandwidth" => QosRuleSpec::MinimumBandwidth {
            min_kbps: kbps(input, "min_kbps", true, 0)?.unwrap_or(0),
            direction: direction(input)?.unwrap_or_else(|| "egress".into()),
        },
        "dscp_marking" => QosRuleSpec::DscpMarking {
            dscp_mark: dscp(input, true)?.unwrap_or(0),
        },
        other => return Err(ModelError::not_found("QoS rule type", other)),
    };
    let dir = |s: &QosRuleSpec| match s {
        QosRuleSpec::BandwidthLimit { direction, .. }
        | QosRuleSpec::MinimumBandwidth { direction, .. } => Some(direction.clone()),
        QosRuleSpec::DscpMarking { .. } => None,
    };
    if let Some(x) = state.qos_rules.values().find(|r| {
        r.qos_policy_id == policy_id
            && r.spec.type_name() == spec.type_name()
            && dir(&r.spec) == dir(&spec)
    }) {
        return Err(ModelError::conflict(
            "QoSRulesConflict",
            format!(
                "Rule {} conflicts with rule {} which already exists in QoS Policy {policy_id}.",
                spec.type_name(),
                x.meta.id
            ),
        ));
    }
    let r = QosRule {
        meta: env.meta(&policy.meta().project_id.clone(), None, None),
        qos_policy_id: policy_id.into(),
        spec,
    };
    let id = r.meta.id.clone();
    Ok(Outcome {
        changes: vec![Change::Put(Resource::QosRule(r))],
        id,
    })
}

pub(super) fn update_rule(state: &State, mut r: QosRule, input: &mut Input) -> Result<Vec<Change>> {
    input.read_only(&["id", "type", "qos_policy_id"])?;
    match &mut r.spec {
        QosRuleSpec::BandwidthLimit {
            max_kbps,
            max_burst_kbps,
            direction: d,
        } => {
            if let Some(v) = kbps(input, "max_kbps", false, u64::MAX)? {
                *max_kbps = v;
            }
            if let Some(v) = kbps(input, "max_burst_kbps", false, u64::MAX)? {
                *max_burst_kbps = v;
            }
            if let Some(v) = direction(input)? {
                *d = v;
            }
        }
        QosRuleSpec::MinimumBandwidth {
            min_kbps,
            direction: d,
        } => {
            if let Some(v) = kbps(input, "min_kbps", false, u64::MAX)? {
                *min_kbps = v;
            }
            if let Some(v) = direction(input)? {
                *d = v;
            }
        }
        QosRuleSpec::DscpMarking { dscp_mark } => {
            if let Some(v) = dscp(input, false)? {
                *dscp_mark = v;
            }
        }
    }
    let _ = state;
    Ok(vec![Change::Put(Resource::QosRule(r))])
}
