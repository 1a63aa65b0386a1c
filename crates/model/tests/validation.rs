//! Every validation case of the model, with Neutron's status and type.

use model::ops::{self, TagOp};
use model::{Ctx, Env, IpamConfig, Kind, ModelError, Resource, State};
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde_json::{json, Value};

struct H {
    state: State,
    rng: StdRng,
    cfg: IpamConfig,
    ctx: Ctx,
}

impl H {
    fn new() -> H {
        H {
            state: State::default(),
            rng: StdRng::seed_from_u64(1),
            cfg: IpamConfig::default(),
            ctx: Ctx::admin("p1"),
        }
    }
    fn env(&mut self) -> Env<'_> {
        Env {
            now: "2026-01-01T00:00:00Z".into(),
            rng: &mut self.rng,
            config: &self.cfg,
        }
    }
    fn try_as(&mut self, ctx: &Ctx, kind: Kind, body: Value) -> Result<String, ModelError> {
        let state = self.state.clone();
        let mut env = Env {
            now: "2026-01-01T00:00:00Z".into(),
            rng: &mut self.rng,
            config: &self.cfg,
        };
        let o = ops::create(&state, ctx, &mut env, kind, &body, None)?;
        self.state.apply(&o.changes);
        Ok(o.id)
    }
    fn try_create(&mut self, kind: Kind, body: Value) -> Result<String, ModelError> {
        let ctx = self.ctx.clone();
        self.try_as(&ctx, kind, body)
    }
    fn create(&mut self, kind: Kind, body: Value) -> String {
        self.try_create(kind, body).unwrap()
    }
    fn update(
        &mut self,
        kind: Kind,
        id: &str,
        body: Value,
        rev: Option<u64>,
    ) -> Result<(), ModelError> {
        let state = self.state.clone();
        let ctx = self.ctx.clone();
        let o = ops::update(&state, &ctx, &mut self.env(), kind, id, &body, rev)?;
        self.state.apply(&o.changes);
        Ok(())
    }
    fn delete(&mut self, kind: Kind, id: &str) -> Result<(), ModelError> {
        let state = self.state.clone();
        let ctx = self.ctx.clone();
        let o = ops::delete(&state, &ctx, &mut self.env(), kind, id, None)?;
        self.state.apply(&o.changes);
        Ok(())
    }
    fn net_subnet(&mut self, cidr: &str) -> (String, String) {
        let n = self.create(Kind::Network, json!({"name": "n"}));
        let s = self.create(Kind::Subnet, json!({"network_id": n, "cidr": cidr}));
        (n, s)
    }
    fn port(&self, id: &str) -> model::Port {
        self.state.ports[id].clone()
    }
}

fn err(r: Result<impl std::fmt::Debug, ModelError>) -> (u16, String, String) {
    let e = r.expect_err("operation should fail");
    (e.status, e.kind, e.message)
}

#[test]
fn overlapping_subnets_on_one_network() {
    let mut h = H::new();
    let (n, _) = h.net_subnet("10.0.0.0/24");
    let (st, ty, msg) = err(h.try_create(
        Kind::Subnet,
        json!({"network_id": n, "cidr": "10.0.0.128/25"}),
    ));
    assert_eq!((st, ty.as_str()), (400, "InvalidInput"));
    assert!(msg.contains("overlaps with another subnet"), "{msg}");
    // Same CIDR on another network is fine.
    let n2 = h.create(Kind::Network, json!({}));
    h.create(
        Kind::Subnet,
        json!({"network_id": n2, "cidr": "10.0.0.0/24"}),
    );
}

#[test]
fn gateway_outside_cidr() {
    let mut h = H::new();
    let n = h.create(Kind::Network, json!({}));
    let (st, _, msg) = err(h.try_create(
        Kind::Subnet,
        json!({"network_id": n, "cidr": "10.0.0.0/24", "gateway_ip": "10.0.1.1"}),
    ));
    assert_eq!(st, 400);
    assert!(msg.contains("10.0.1.1"), "{msg}");
    let s = h.create(
        Kind::Subnet,
        json!({"network_id": n, "cidr": "10.0.0.0/24", "gateway_ip": null}),
    );
    assert_eq!(h.state.subnets[&s].gateway_ip, None);
    assert_eq!(h.state.subnets[&s].allocation_pools[0].start, "10.0.0.1");
    assert_eq!(
        err(h.update(Kind::Subnet, &s, json!({"gateway_ip": "192.0.2.1"}), None)).0,
        400
    );
}

#[test]
fn cidr_and_version_checks() {
    let mut h = H::new();
    let n = h.create(Kind::Network, json!({}));
    assert_eq!(
        err(h.try_create(
            Kind::Subnet,
            json!({"network_id": n, "cidr": "10.0.0.5/24"})
        ))
        .0,
        400
    );
    assert_eq!(
        err(h.try_create(
            Kind::Subnet,
            json!({"network_id": n, "cidr": "2001:db8::/64", "ip_version": 4})
        ))
        .0,
        400
    );
    assert_eq!(
        err(h.try_create(Kind::Subnet, json!({"network_id": n}))).0,
        400
    );
    assert_eq!(
        err(h.try_create(
            Kind::Subnet,
            json!({"network_id": "nope", "cidr": "10.0.0.0/24"})
        ))
        .1,
        "NetworkNotFound"
    );
    let s = h.create(
        Kind::Subnet,
        json!({"network_id": n, "cidr": "2001:db8::/64", "ipv6_address_mode": "slaac"}),
    );
    assert_eq!(h.state.subnets[&s].ip_version, 6);
    assert_eq!(
        err(h.update(Kind::Subnet, &s, json!({"cidr": "2001:db8:1::/64"}), None)).0,
        400,
        "cidr read-only"
    );
}

#[test]
fn ip_already_allocated_and_invalid_ips() {
    let mut h = H::new();
    let (n, s) = h.net_subnet("10.0.0.0/24");
    h.create(
        Kind::Port,
        json!({"network_id": n, "fixed_ips": [{"ip_address": "10.0.0.9"}]}),
    );
    let (st, ty, _) = err(h.try_create(
        Kind::Port,
        json!({"network_id": n, "fixed_ips": [{"subnet_id": s, "ip_address": "10.0.0.9"}]}),
    ));
    assert_eq!((st, ty.as_str()), (409, "IpAddressAlreadyAllocated"));
    let (st, ty, _) = err(h.try_create(
        Kind::Port,
        json!({"network_id": n, "fixed_ips": [{"subnet_id": s, "ip_address": "10.9.0.9"}]}),
    ));
    assert_eq!((st, ty.as_str()), (400, "InvalidIpForSubnet"));
    let (st, ty, _) = err(h.try_create(
        Kind::Port,
        json!({"network_id": n, "fixed_ips": [{"ip_address": "10.9.0.9"}]}),
    ));
    assert_eq!((st, ty.as_str()), (400, "InvalidIpForNetwork"));
    assert_eq!(
        err(h.try_create(
            Kind::Port,
            json!({"network_id": n, "fixed_ips": [{"ip_address": "10.0.0.255"}]})
        ))
        .0,
        400,
        "broadcast"
    );
}

#[test]
fn pool_exhausted() {
    let mut h = H::new();
    let n = h.create(Kind::Network, json!({}));
    h.create(Kind::Subnet, json!({"network_id": n, "cidr": "10.0.0.0/29", "allocation_pools": [{"start": "10.0.0.2", "end": "10.0.0.3"}]}));
    let a = h.create(Kind::Port, json!({"network_id": n}));
    let b = h.create(Kind::Port, json!({"network_id": n}));
    assert_eq!(h.port(&a).fixed_ips[0].ip_address, "10.0.0.2");
    assert_eq!(h.port(&b).fixed_ips[0].ip_address, "10.0.0.3");
    let (st, ty, msg) = err(h.try_create(Kind::Port, json!({"network_id": n})));
    assert_eq!((st, ty.as_str()), (409, "IpAddressGenerationFailure"));
    assert!(msg.contains(&n));
    h.delete(Kind::Port, &a).unwrap();
    let c = h.create(Kind::Port, json!({"network_id": n}));
    assert_eq!(
        h.port(&c).fixed_ips[0].ip_address,
        "10.0.0.2",
        "freed address reused"
    );
}

#[test]
fn segmentation_id_range_and_taken() {
    let mut h = H::new();
    let vlan = |id: Value| json!({"provider:network_type": "vlan", "provider:physical_network": "physnet1", "provider:segmentation_id": id});
    assert_eq!(err(h.try_create(Kind::Network, vlan(json!(4095)))).0, 400);
    assert_eq!(err(h.try_create(Kind::Network, vlan(json!(0)))).0, 400);
    h.create(Kind::Network, vlan(json!("100")));
    let (st, ty, _) = err(h.try_create(Kind::Network, vlan(json!(100))));
    assert_eq!((st, ty.as_str()), (409, "VlanIdInUse"));
    let vx = |id: i64| json!({"provider:network_type": "vxlan", "provider:segmentation_id": id});
    assert_eq!(err(h.try_create(Kind::Network, vx(16_777_216))).0, 400);
    h.create(Kind::Network, vx(16_777_215));
    assert_eq!(
        err(h.try_create(Kind::Network, vx(16_777_215))).1,
        "TunnelIdInUse"
    );
    assert_eq!(
        err(h.try_create(Kind::Network, json!({"provider:network_type": "bogus"}))).0,
        400
    );
    let f = json!({"provider:network_type": "flat", "provider:physical_network": "ext"});
    h.create(Kind::Network, f.clone());
    assert_eq!(err(h.try_create(Kind::Network, f)).1, "FlatNetworkInUse");
}

#[test]
fn segmentation_ids_allocated_from_ranges() {
    let mut h = H::new();
    h.cfg.vxlan_ranges = vec![(5000, 5001)];
    let a = h.create(Kind::Network, json!({}));
    let b = h.create(Kind::Network, json!({}));
    assert_eq!(h.state.networks[&a].segmentation_id, Some(5000));
    assert_eq!(h.state.networks[&b].segmentation_id, Some(5001));
    assert_eq!(h.state.networks[&a].mtu, 1450);
    assert_eq!(err(h.try_create(Kind::Network, json!({}))).0, 409);
}

#[test]
fn duplicate_mac_on_network() {
    let mut h = H::new();
    let (n, _) = h.net_subnet("10.0.0.0/24");
    h.create(
        Kind::Port,
        json!({"network_id": n, "mac_address": "FA:16:3E:00:00:01"}),
    );
    let (st, ty, _) = err(h.try_create(
        Kind::Port,
        json!({"network_id": n, "mac_address": "fa:16:3e:00:00:01"}),
    ));
    assert_eq!((st, ty.as_str()), (409, "MacAddressInUse"));
    assert_eq!(
        err(h.try_create(
            Kind::Port,
            json!({"network_id": n, "mac_address": "01:00:5e:00:00:01"})
        ))
        .0,
        400
    );
    let (n2, _) = h.net_subnet("10.1.0.0/24");
    h.create(
        Kind::Port,
        json!({"network_id": n2, "mac_address": "fa:16:3e:00:00:01"}),
    );
}

#[test]
fn network_with_ports_in_use_and_cascade() {
    let mut h = H::new();
    let (n, s) = h.net_subnet("10.0.0.0/24");
    let p = h.create(Kind::Port, json!({"network_id": n}));
    let (st, ty, _) = err(h.delete(Kind::Network, &n));
    assert_eq!((st, ty.as_str()), (409, "NetworkInUse"));
    assert_eq!(err(h.delete(Kind::Subnet, &s)).1, "SubnetInUse");
    h.delete(Kind::Port, &p).unwrap();
    h.delete(Kind::Network, &n).unwrap();
    assert!(
        h.state.subnets.is_empty(),
        "subnets deleted with their network"
    );
}

#[test]
fn unknown_ids_are_404() {
    let mut h = H::new();
    assert_eq!(err(h.delete(Kind::Network, "x")).1, "NetworkNotFound");
    assert_eq!(
        err(h.update(Kind::Port, "x", json!({}), None)).1,
        "PortNotFound"
    );
    assert_eq!(
        err(h.try_create(Kind::Port, json!({"network_id": "x"}))).0,
        404
    );
    assert_eq!(
        err(h.try_create(
            Kind::SecurityGroupRule,
            json!({"security_group_id": "x", "direction": "ingress"})
        ))
        .1,
        "SecurityGroupNotFound"
    );
}

#[test]
fn wrong_types_and_unknown_attributes_are_400() {
    let mut h = H::new();
    assert_eq!(
        err(h.try_create(Kind::Network, json!({"admin_state_up": "perhaps"}))).0,
        400
    );
    assert_eq!(
        err(h.try_create(Kind::Network, json!({"mtu": "big"}))).0,
        400
    );
    assert_eq!(err(h.try_create(Kind::Network, json!({"name": 5}))).0, 400);
    assert_eq!(
        err(h.try_create(Kind::Network, json!({"colour": "red"}))).0,
        400
    );
    assert_eq!(err(h.try_create(Kind::Network, json!([]))).0, 400);
    let n = h.create(
        Kind::Network,
        json!({"mtu": "1400", "admin_state_up": "false"}),
    );
    assert_eq!(h.state.networks[&n].mtu, 1400);
    assert!(!h.state.networks[&n].admin_state_up);
}

#[test]
fn stale_revision_is_412() {
    let mut h = H::new();
    let n = h.create(Kind::Network, json!({}));
    h.update(Kind::Network, &n, json!({"name": "a"}), Some(1))
        .unwrap();
    assert_eq!(h.state.networks[&n].meta.revision_number, 2);
    let (st, ty, _) = err(h.update(Kind::Network, &n, json!({"name": "b"}), Some(1)));
    assert_eq!((st, ty.as_str()), (412, "RevisionNumberConstraintFailed"));
    assert_eq!(h.state.networks[&n].name, "a");
}

#[test]
fn provider_attributes_are_admin_only() {
    let mut h = H::new();
    let member = Ctx::member("p2");
    let (st, ty, _) = err(h.try_as(
        &member,
        Kind::Network,
        json!({"provider:network_type": "vlan"}),
    ));
    assert_eq!((st, ty.as_str()), (403, "PolicyNotAuthorized"));
    assert_eq!(
        err(h.try_as(&member, Kind::Network, json!({"shared": true}))).0,
        403
    );
    assert_eq!(
        err(h.try_as(&member, Kind::Network, json!({"project_id": "p1"}))).0,
        400
    );
    h.try_as(&member, Kind::Network, json!({"name": "mine"}))
        .unwrap();
}

#[test]
fn project_isolation() {
    let mut h = H::new();
    let a = Ctx::member("a");
    let b = Ctx::member("b");
    let na = h.try_as(&a, Kind::Network, json!({})).unwrap();
    let shared = h.create(Kind::Network, json!({"shared": true}));
    assert_eq!(
        h.state.find(&b, Kind::Network, &na).unwrap_err().status,
        404
    );
    assert!(h.state.find(&b, Kind::Network, &shared).is_ok());
    assert_eq!(h.state.list(&b, Kind::Network).len(), 1);
    assert_eq!(
        err(h.try_as(
            &b,
            Kind::Subnet,
            json!({"network_id": na, "cidr": "10.0.0.0/24"})
        ))
        .0,
        404
    );
}

#[test]
fn default_security_group_rules() {
    let mut h = H::new();
    let (n, _) = h.net_subnet("10.0.0.0/24");
    let p = h.create(Kind::Port, json!({"network_id": n}));
    let g = h.port(&p).security_groups[0].clone();
    assert_eq!(h.state.security_groups[&g].name, "default");
    let rules: Vec<_> = h
        .state
        .rules
        .values()
        .filter(|r| r.security_group_id == g)
        .collect();
    assert_eq!(rules.len(), 4);
    for et in ["IPv4", "IPv6"] {
        assert!(rules
            .iter()
            .any(|r| r.direction == "egress" && r.ethertype == et && r.remote_group_id.is_none()));
        assert!(rules.iter().any(|r| r.direction == "ingress"
            && r.ethertype == et
            && r.remote_group_id.as_deref() == Some(&g)));
    }
    h.ctx = Ctx::member("p1");
    assert_eq!(
        err(h.delete(Kind::SecurityGroup, &g)).1,
        "SecurityGroupCannotRemoveDefault"
    );
}

#[test]
fn security_group_rule_validation() {
    let mut h = H::new();
    let g = h.create(Kind::SecurityGroup, json!({"name": "web"}));
    assert_eq!(
        h.state
            .rules
            .values()
            .filter(|r| r.security_group_id == g)
            .count(),
        2,
        "two egress rules"
    );
    let r = |extra: Value| {
        let mut b = json!({"security_group_id": g, "direction": "ingress"});
        b.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        b
    };
    let id = h.create(Kind::SecurityGroupRule, r(json!({"protocol": "tcp", "port_range_min": 22, "port_range_max": "22", "remote_ip_prefix": "203.0.113.5/24"})));
    assert_eq!(
        h.state.rules[&id].normalized_cidr.as_deref(),
        Some("203.0.113.0/24")
    );
    let cases = [
        (
            json!({"protocol": "tcp", "port_range_min": 22, "port_range_max": 22, "remote_ip_prefix": "203.0.113.0/24"}),
            409,
            "SecurityGroupRuleExists",
        ),
        (
            json!({"protocol": "tcp", "port_range_min": 30, "port_range_max": 20}),
            400,
            "SecurityGroupInvalidPortRange",
        ),
        (
            json!({"protocol": "tcp", "port_range_min": 0, "port_range_max": 20}),
            400,
            "SecurityGroupInvalidPortValue",
        ),
        (
            json!({"protocol": "tcp", "port_range_min": 1, "port_range_max": 70000}),
            400,
            "SecurityGroupInvalidPortValue",
        ),
        (
            json!({"port_range_min": 1, "port_range_max": 2}),
            400,
            "SecurityGroupProtocolRequiredWithPorts",
        ),
        (
            json!({"protocol": "icmp", "port_range_max": 0}),
            400,
            "SecurityGroupMissingIcmpType",
        ),
        (
            json!({"protocol": "bogus"}),
            400,
            "SecurityGroupRuleInvalidProtocol",
        ),
        (
            json!({"ethertype": "IPv6", "remote_ip_prefix": "10.0.0.0/8"}),
            400,
            "SecurityGroupRuleParameterConflict",
        ),
        (
            json!({"remote_ip_prefix": "10.0.0.0/8", "remote_group_id": g}),
            400,
            "SecurityGroupRemoteGroupAndRemoteIpPrefix",
        ),
        (
            json!({"ethertype": "IPv5"}),
            400,
            "SecurityGroupRuleInvalidEtherType",
        ),
        (
            json!({"remote_group_id": "nope"}),
            404,
            "SecurityGroupNotFound",
        ),
    ];
    for (extra, st, ty) in cases {
        let e = h
            .try_create(Kind::SecurityGroupRule, r(extra.clone()))
            .expect_err(&extra.to_string());
        assert_eq!((e.status, e.kind.as_str()), (st, ty), "{extra}");
    }
    assert_eq!(
        err(h.try_create(
            Kind::SecurityGroupRule,
            json!({"security_group_id": g, "direction": "sideways"})
        ))
        .0,
        400
    );
    h.create(
        Kind::SecurityGroupRule,
        r(json!({"protocol": "icmp", "port_range_min": 8, "port_range_max": 0})),
    );
    h.create(
        Kind::SecurityGroupRule,
        r(json!({"protocol": "6", "port_range_min": 80, "port_range_max": 80})),
    );
}

#[test]
fn security_group_in_use() {
    let mut h = H::new();
    let (n, _) = h.net_subnet("10.0.0.0/24");
    let g = h.create(Kind::SecurityGroup, json!({"name": "web"}));
    let p = h.create(Kind::Port, json!({"network_id": n, "security_groups": [g]}));
    assert_eq!(
        err(h.delete(Kind::SecurityGroup, &g)).1,
        "SecurityGroupInUse"
    );
    h.delete(Kind::Port, &p).unwrap();
    h.delete(Kind::SecurityGroup, &g).unwrap();
    assert!(
        h.state.rules.values().all(|r| r.security_group_id != g),
        "rules deleted with group"
    );
}

#[test]
fn port_security_consistency() {
    let mut h = H::new();
    let (n, _) = h.net_subnet("10.0.0.0/24");
    let g = h.create(Kind::SecurityGroup, json!({}));
    assert_eq!(
        err(h.try_create(
            Kind::Port,
            json!({"network_id": n, "port_security_enabled": false, "security_groups": [g]})
        ))
        .0,
        400
    );
    assert_eq!(err(h.try_create(Kind::Port, json!({"network_id": n, "port_security_enabled": false, "security_groups": [], "allowed_address_pairs": [{"ip_address": "10.0.0.50"}]}))).0, 409);
    let p = h.create(
        Kind::Port,
        json!({"network_id": n, "allowed_address_pairs": [{"ip_address": "10.0.0.0/28"}]}),
    );
    assert_eq!(
        h.port(&p).allowed_address_pairs[0].mac_address,
        h.port(&p).mac_address
    );
    let p2 = h.create(
        Kind::Port,
        json!({"network_id": n, "port_security_enabled": false}),
    );
    assert!(h.port(&p2).security_groups.is_empty());
}

#[test]
fn routers_interfaces_and_floating_ips() {
    let mut h = H::new();
    let ext = h.create(Kind::Network, json!({"router:external": true}));
    h.create(
        Kind::Subnet,
        json!({"network_id": ext, "cidr": "203.0.113.0/24"}),
    );
    let (n, s) = h.net_subnet("10.0.0.0/24");
    let (_, s_overlap) = h.net_subnet("10.0.0.0/25");
    let r = h.create(
        Kind::Router,
        json!({"external_gateway_info": {"network_id": ext}}),
    );
    let gw = &h.state.routers[&r].external_gateway_info.clone().unwrap();
    assert!(gw.enable_snat);
    assert_eq!(gw.external_fixed_ips[0].ip_address, "203.0.113.2");
    assert_eq!(
        err(h.try_create(
            Kind::Router,
            json!({"external_gateway_info": {"network_id": n}})
        ))
        .0,
        400,
        "not external"
    );

    let ctx = h.ctx.clone();
    let st = h.state.clone();
    let (c, info) =
        ops::add_router_interface(&st, &ctx, &mut h.env(), &r, &json!({"subnet_id": s})).unwrap();
    h.state.apply(&c);
    let ip = info["port_id"].as_str().unwrap().to_string();
    assert_eq!(h.port(&ip).fixed_ips[0].ip_address, "10.0.0.1");
    assert_eq!(h.port(&ip).device_owner, "network:router_interface");
    let st = h.state.clone();
    let e = ops::add_router_interface(&st, &ctx, &mut h.env(), &r, &json!({"subnet_id": s}))
        .unwrap_err();
    assert_eq!(e.status, 400);
    let e = ops::add_router_interface(
        &st,
        &ctx,
        &mut h.env(),
        &r,
        &json!({"subnet_id": s_overlap}),
    )
    .unwrap_err();
    assert!(e.message.contains("overlaps"), "{}", e.message);
    assert_eq!(err(h.delete(Kind::Port, &ip)).1, "ServicePortInUse");
    assert_eq!(err(h.delete(Kind::Router, &r)).1, "RouterInUse");

    let vm = h.create(Kind::Port, json!({"network_id": n}));
    let fip = h.create(
        Kind::FloatingIp,
        json!({"floating_network_id": ext, "port_id": vm}),
    );
    let f = h.state.floating_ips[&fip].clone();
    assert_eq!(f.router_id.as_deref(), Some(r.as_str()));
    assert_eq!(f.fixed_ip_address.as_deref(), Some("10.0.0.2"));
    assert_eq!(
        err(h.try_create(
            Kind::FloatingIp,
            json!({"floating_network_id": ext, "port_id": vm})
        ))
        .1,
        "FloatingIPPortAlreadyAssociated"
    );
    assert_eq!(
        err(h.try_create(Kind::FloatingIp, json!({"floating_network_id": n}))).0,
        400
    );
    let st = h.state.clone();
    let e = ops::remove_router_interface(&st, &ctx, &mut h.env(), &r, &json!({"subnet_id": s}))
        .unwrap_err();
    assert_eq!(e.kind, "RouterInterfaceInUseByFloatingIP");
    // Deleting the VM port disassociates the floating IP.
    h.delete(Kind::Port, &vm).unwrap();
    assert_eq!(h.state.floating_ips[&fip].port_id, None);
    h.delete(Kind::FloatingIp, &fip).unwrap();
    let st = h.state.clone();
    let (c, _) =
        ops::remove_router_interface(&st, &ctx, &mut h.env(), &r, &json!({"subnet_id": s}))
            .unwrap();
    h.state.apply(&c);
    assert!(!h.state.ports.contains_key(&ip), "interface port deleted");
    // Adopting an existing port.
    let p = h.create(
        Kind::Port,
        json!({"network_id": n, "fixed_ips": [{"ip_address": "10.0.0.1"}]}),
    );
    let st = h.state.clone();
    let (c, _) =
        ops::add_router_interface(&st, &ctx, &mut h.env(), &r, &json!({"port_id": p})).unwrap();
    h.state.apply(&c);
    assert_eq!(h.port(&p).device_id, r);
    let st = h.state.clone();
    let e =
        ops::add_router_interface(&st, &ctx, &mut h.env(), &r, &json!({"port_id": p})).unwrap_err();
    assert_eq!(e.kind, "PortInUse");
    let st = h.state.clone();
    let e = ops::remove_router_interface(&st, &ctx, &mut h.env(), &r, &json!({"port_id": vm}))
        .unwrap_err();
    assert_eq!(e.status, 404);
}

#[test]
fn qos_policies_and_rules() {
    let mut h = H::new();
    let p = h.create(Kind::QosPolicy, json!({"name": "gold"}));
    let ctx = h.ctx.clone();
    let rule = |h: &mut H, ty: &str, body: Value| -> Result<String, ModelError> {
        let st = h.state.clone();
        let o = ops::create(
            &st,
            &ctx,
            &mut h.env(),
            Kind::QosRule,
            &body,
            Some((&p, ty)),
        )?;
        h.state.apply(&o.changes);
        Ok(o.id)
    };
    rule(
        &mut h,
        "bandwidth_limit",
        json!({"max_kbps": 1000, "max_burst_kbps": 100}),
    )
    .unwrap();
    assert_eq!(
        rule(&mut h, "bandwidth_limit", json!({"max_kbps": 10}))
            .unwrap_err()
            .kind,
        "QoSRulesConflict"
    );
    rule(
        &mut h,
        "bandwidth_limit",
        json!({"max_kbps": 10, "direction": "ingress"}),
    )
    .unwrap();
    assert_eq!(
        rule(
            &mut h,
            "bandwidth_limit",
            json!({"max_kbps": -1, "direction": "ingress"})
        )
        .unwrap_err()
        .status,
        400
    );
    assert_eq!(
        rule(&mut h, "dscp_marking", json!({"dscp_mark": 7}))
            .unwrap_err()
            .status,
        400
    );
    rule(&mut h, "dscp_marking", json!({"dscp_mark": 46})).unwrap();
    rule(&mut h, "minimum_bandwidth", json!({"min_kbps": 500})).unwrap();
    assert_eq!(
        rule(&mut h, "minimum_bandwidth", json!({}))
            .unwrap_err()
            .status,
        400
    );
    let rendered = h.state.render(&h.state.get(Kind::QosPolicy, &p).unwrap());
    assert_eq!(rendered["rules"].as_array().unwrap().len(), 4);
    let (n, _) = h.net_subnet("10.0.0.0/24");
    h.create(Kind::Port, json!({"network_id": n, "qos_policy_id": p}));
    assert_eq!(err(h.delete(Kind::QosPolicy, &p)).1, "QosPolicyInUse");
    assert_eq!(
        err(h.try_create(
            Kind::Port,
            json!({"network_id": n, "qos_policy_id": "nope"})
        ))
        .0,
        404
    );
    assert_eq!(
        err(h.try_as(&Ctx::member("p1"), Kind::QosPolicy, json!({"shared": true}))).0,
        403
    );
}

#[test]
fn tags_on_resources() {
    let mut h = H::new();
    let n = h.create(Kind::Network, json!({"tags": ["a"]}));
    let ctx = h.ctx.clone();
    let tag = |h: &mut H, op: TagOp| {
        let st = h.state.clone();
        ops::tags(&st, &ctx, &mut h.env(), Kind::Network, &n, op).map(|o| h.state.apply(&o.changes))
    };
    tag(&mut h, TagOp::Add("b".into())).unwrap();
    tag(&mut h, TagOp::Add("b".into())).unwrap();
    assert_eq!(h.state.networks[&n].meta.tags, ["a", "b"]);
    assert_eq!(
        tag(&mut h, TagOp::Remove("zz".into())).unwrap_err().status,
        404
    );
    tag(&mut h, TagOp::Replace(vec!["x".into(), "x".into()])).unwrap();
    assert_eq!(h.state.networks[&n].meta.tags, ["x"]);
    assert_eq!(
        tag(&mut h, TagOp::Add("a,b".into())).unwrap_err().status,
        400
    );
    tag(&mut h, TagOp::Clear).unwrap();
    assert!(h.state.networks[&n].meta.tags.is_empty());
    assert!(h.state.networks[&n].meta.revision_number > 1);
}

#[test]
fn ipv6_ports_get_both_families() {
    let mut h = H::new();
    let (n, _) = h.net_subnet("10.0.0.0/24");
    h.create(
        Kind::Subnet,
        json!({"network_id": n, "cidr": "2001:db8::/64"}),
    );
    let p = h.create(Kind::Port, json!({"network_id": n}));
    let ips: Vec<String> = h
        .port(&p)
        .fixed_ips
        .iter()
        .map(|f| f.ip_address.clone())
        .collect();
    assert_eq!(ips, ["10.0.0.2", "2001:db8::2"]);
}

#[test]
fn stored_json_round_trips() {
    let mut h = H::new();
    let (n, _) = h.net_subnet("10.0.0.0/24");
    let p = h.create(Kind::Port, json!({"network_id": n}));
    for (k, id) in [(Kind::Network, n), (Kind::Port, p)] {
        let r = h.state.get(k, &id).unwrap();
        let bytes = serde_json::to_vec(&r.to_json()).unwrap();
        assert_eq!(Resource::from_json(k, &bytes).unwrap(), r);
    }
}

#[test]
fn stateless_groups_and_switching_one_in_use() {
    let mut h = H::new();
    let sl = h.create(
        Kind::SecurityGroup,
        json!({"name": "sl", "stateful": false}),
    );
    let sf = h.create(Kind::SecurityGroup, json!({"name": "sf"}));
    assert!(!h.state.security_groups[&sl].stateful);
    assert!(h.state.security_groups[&sf].stateful);
    // Free to switch while no port uses it; 409 once one does.
    h.update(Kind::SecurityGroup, &sf, json!({"stateful": false}), None)
        .unwrap();
    assert!(!h.state.security_groups[&sf].stateful);
    let n = h.create(Kind::Network, json!({"name": "n"}));
    h.create(
        Kind::Port,
        json!({"network_id": n, "security_groups": [sl]}),
    );
    let (st, ty, msg) = err(h.update(Kind::SecurityGroup, &sl, json!({"stateful": true}), None));
    assert_eq!((st, ty.as_str()), (409, "SecurityGroupInUse"), "{msg}");
    assert!(msg.contains(&sl), "{msg}");
    h.update(Kind::SecurityGroup, &sl, json!({"stateful": false}), None)
        .unwrap();
}

#[test]
fn auto_address_subnets_give_eui64_addresses() {
    let mut h = H::new();
    let (n, _) = h.net_subnet("10.0.0.0/24");
    let s6 = h.create(
        Kind::Subnet,
        json!({"network_id": n, "cidr": "2001:db8:5::/64", "ip_version": 6,
               "ipv6_ra_mode": "slaac", "ipv6_address_mode": "slaac"}),
    );
    let p = h.create(
        Kind::Port,
        json!({"network_id": n, "mac_address": "52:54:00:12:34:56"}),
    );
    let ips: Vec<String> = h.state.ports[&p]
        .fixed_ips
        .iter()
        .filter(|f| f.subnet_id == s6)
        .map(|f| f.ip_address.clone())
        .collect();
    assert_eq!(
        ips,
        ["2001:db8:5:0:5054:ff:fe12:3456"],
        "RFC 4291 appendix A"
    );
    // SLAAC needs a /64.
    let (st, _, _) = err(h.try_create(
        Kind::Subnet,
        json!({"network_id": n, "cidr": "2001:db8:6::/80", "ipv6_address_mode": "slaac"}),
    ));
    assert_eq!(st, 400);
}

#[test]
fn static_routes_next_hop_checks() {
    let mut h = H::new();
    let ext = h.create(Kind::Network, json!({"router:external": true}));
    h.create(
        Kind::Subnet,
        json!({"network_id": ext, "cidr": "203.0.113.0/24"}),
    );
    h.create(
        Kind::Subnet,
        json!({"network_id": ext, "cidr": "2001:db8::/64", "ip_version": 6}),
    );
    let r = h.create(
        Kind::Router,
        json!({"external_gateway_info": {"network_id": ext}}),
    );
    let gw = h.state.routers[&r].external_gateway_info.clone().unwrap();
    assert_eq!(gw.external_fixed_ips.len(), 2, "one address per family");
    let routes = |dest: &str, hop: &str| json!({"routes": [{"destination": dest, "nexthop": hop}]});
    // Next hops upstream on the gateway's subnets, either family.
    h.update(
        Kind::Router,
        &r,
        routes("198.51.100.0/24", "203.0.113.7"),
        None,
    )
    .unwrap();
    h.update(
        Kind::Router,
        &r,
        routes("2001:db8:77::/64", "2001:db8::7"),
        None,
    )
    .unwrap();
    assert_eq!(h.state.routers[&r].routes[0].nexthop, "2001:db8::7");
    let (_, kind, msg) = err(h.update(
        Kind::Router,
        &r,
        routes("2001:db8:77::/64", "203.0.113.7"),
        None,
    ));
    assert_eq!(kind, "InvalidRoutes");
    assert!(msg.contains("same IP version"), "{msg}");
    let (_, kind, _) = err(h.update(
        Kind::Router,
        &r,
        routes("2001:db8:77::/64", "2001:db8:5::7"),
        None,
    ));
    assert_eq!(kind, "InvalidRoutes", "next hop on no subnet of the router");
}
