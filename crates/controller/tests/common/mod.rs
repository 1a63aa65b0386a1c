//! Intent builders for the controller's tests and benchmark: resources are
//! made directly (as the API would store them), IDs are sequential.
#![allow(dead_code)]

pub mod scale;
pub mod sim;

use model::*;

#[derive(Default)]
pub struct Builder {
    pub st: State,
    n: u64,
}

pub fn meta(id: String, project: &str) -> Meta {
    Meta {
        id,
        project_id: project.into(),
        tenant_id: project.into(),
        created_at: "2026-01-01T00:00:00Z".into(),
        updated_at: "2026-01-01T00:00:00Z".into(),
        revision_number: 1,
        ..Meta::default()
    }
}

impl Builder {
    pub fn id(&mut self, kind: &str) -> String {
        self.n += 1;
        format!("{kind}-{:06}", self.n)
    }

    pub fn network(&mut self, project: &str) -> String {
        let id = self.id("net");
        self.st.put(Resource::Network(Network {
            meta: meta(id.clone(), project),
            name: id.clone(),
            admin_state_up: true,
            shared: false,
            router_external: false,
            mtu: 1450,
            status: "ACTIVE".into(),
            port_security_enabled: true,
            network_type: "vxlan".into(),
            physical_network: None,
            segmentation_id: Some(self.n as u32),
            qos_policy_id: None,
        }));
        id
    }

    /// An external flat provider network on `physnet`.
    pub fn external(&mut self, physnet: &str) -> String {
        let id = self.network("admin");
        if let Some(n) = self.st.networks.get(&id).cloned() {
            self.st.put(Resource::Network(Network {
                router_external: true,
                mtu: 1500,
                network_type: "flat".into(),
                physical_network: Some(physnet.into()),
                segmentation_id: None,
                ..n
            }));
        }
        id
    }

    pub fn subnet(&mut self, net: &str, cidr: &str, gw: Option<&str>) -> String {
        let id = self.id("sub");
        let project = self.st.networks[net].meta.project_id.clone();
        self.st.put(Resource::Subnet(Subnet {
            meta: meta(id.clone(), &project),
            name: id.clone(),
            network_id: net.into(),
            ip_version: 4,
            cidr: cidr.into(),
            gateway_ip: gw.map(Into::into),
            allocation_pools: vec![],
            enable_dhcp: true,
            dns_nameservers: vec!["192.0.2.53".into()],
            host_routes: vec![],
            ipv6_ra_mode: None,
            ipv6_address_mode: None,
            subnetpool_id: None,
            service_types: vec![],
            segment_id: None,
        }));
        id
    }

    pub fn mac(&self) -> String {
        let n = self.n;
        format!(
            "fa:16:3e:{:02x}:{:02x}:{:02x}",
            (n >> 16) & 0xff,
            (n >> 8) & 0xff,
            n & 0xff
        )
    }

    /// A VM port with one fixed IP.
    pub fn port(&mut self, net: &str, subnet: &str, ip: &str, groups: &[&str]) -> String {
        self.port_owned(net, subnet, ip, groups, "compute:nova", "vm")
    }

    pub fn port_owned(
        &mut self,
        net: &str,
        subnet: &str,
        ip: &str,
        groups: &[&str],
        owner: &str,
        device: &str,
    ) -> String {
        let id = self.id("port");
        let project = self.st.networks[net].meta.project_id.clone();
        let mac = self.mac();
        self.st.put(Resource::Port(Port {
            meta: meta(id.clone(), &project),
            name: id.clone(),
            network_id: net.into(),
            admin_state_up: true,
            mac_address: mac,
            fixed_ips: vec![FixedIp {
                subnet_id: subnet.into(),
                ip_address: ip.into(),
            }],
            device_id: device.into(),
            device_owner: owner.into(),
            security_groups: groups.iter().map(|s| s.to_string()).collect(),
            port_security_enabled: owner.starts_with("compute"),
            allowed_address_pairs: vec![],
            host_id: "host".into(),
            vnic_type: "normal".into(),
            vif_type: "ovs".into(),
            binding_profile: Default::default(),
            vif_details: Default::default(),
            qos_policy_id: None,
            status: "ACTIVE".into(),
            extra_dhcp_opts: vec![],
        }));
        id
    }

    pub fn router(&mut self, project: &str) -> String {
        let id = self.id("router");
        self.st.put(Resource::Router(Router {
            meta: meta(id.clone(), project),
            name: id.clone(),
            admin_state_up: true,
            status: "ACTIVE".into(),
            external_gateway_info: None,
            routes: vec![],
            distributed: false,
            ha: false,
        }));
        id
    }

    pub fn interface(&mut self, router: &str, net: &str, subnet: &str, ip: &str) -> String {
        self.port_owned(net, subnet, ip, &[], owner::ROUTER_INTERFACE, router)
    }

    /// Give `router`'s gateway port (`gw_port`) a second address, `ip` on
    /// `subnet` of the external network (a dual-stack gateway).
    pub fn gateway_addr(&mut self, router: &str, gw_port: &str, subnet: &str, ip: &str) {
        let fixed = FixedIp {
            subnet_id: subnet.into(),
            ip_address: ip.into(),
        };
        let mut p = self.st.ports[gw_port].clone();
        p.fixed_ips.push(fixed.clone());
        self.st.put(Resource::Port(p));
        let mut r = self.st.routers[router].clone();
        if let Some(g) = r.external_gateway_info.as_mut() {
            g.external_fixed_ips.push(fixed);
        }
        self.st.put(Resource::Router(r));
    }

    /// Make `subnet` an IPv6 one with Neutron's `ipv6_ra_mode` and
    /// `ipv6_address_mode` both `mode`.
    pub fn v6(&mut self, subnet: &str, mode: Option<&str>) {
        let mut s = self.st.subnets[subnet].clone();
        s.ip_version = 6;
        s.ipv6_ra_mode = mode.map(Into::into);
        s.ipv6_address_mode = mode.map(Into::into);
        self.st.put(Resource::Subnet(s));
    }

    /// Set the router's gateway on `ext` with SNAT and its gateway port.
    pub fn gateway(&mut self, router: &str, ext: &str, subnet: &str, ip: &str) -> String {
        let p = self.port_owned(ext, subnet, ip, &[], owner::ROUTER_GATEWAY, router);
        let mut r = self.st.routers[router].clone();
        r.external_gateway_info = Some(GatewayInfo {
            network_id: ext.into(),
            enable_snat: true,
            external_fixed_ips: vec![FixedIp {
                subnet_id: subnet.into(),
                ip_address: ip.into(),
            }],
        });
        self.st.put(Resource::Router(r));
        p
    }

    pub fn group(&mut self, project: &str) -> String {
        let id = self.id("sg");
        self.st.put(Resource::SecurityGroup(SecurityGroup {
            meta: meta(id.clone(), project),
            name: id.clone(),
            stateful: true,
        }));
        id
    }

    #[allow(clippy::too_many_arguments)]
    pub fn rule(
        &mut self,
        group: &str,
        direction: &str,
        protocol: Option<&str>,
        ports: Option<(u32, u32)>,
        cidr: Option<&str>,
        remote_group: Option<&str>,
    ) -> String {
        let id = self.id("rule");
        let project = self.st.security_groups[group].meta.project_id.clone();
        self.st.put(Resource::SecurityGroupRule(SecurityGroupRule {
            meta: meta(id.clone(), &project),
            security_group_id: group.into(),
            direction: direction.into(),
            ethertype: "IPv4".into(),
            protocol: protocol.map(Into::into),
            port_range_min: ports.map(|p| p.0),
            port_range_max: ports.map(|p| p.1),
            remote_ip_prefix: cidr.map(Into::into),
            normalized_cidr: cidr.map(Into::into),
            remote_group_id: remote_group.map(Into::into),
            remote_address_group_id: None,
        }));
        id
    }

    pub fn fip(&mut self, ext: &str, addr: &str, port: &str, fixed: &str, router: &str) -> String {
        let id = self.id("fip");
        let project = self.st.ports[port].meta.project_id.clone();
        self.st.put(Resource::FloatingIp(FloatingIp {
            meta: meta(id.clone(), &project),
            floating_network_id: ext.into(),
            floating_ip_address: addr.into(),
            port_id: Some(port.into()),
            fixed_ip_address: Some(fixed.into()),
            router_id: Some(router.into()),
            status: "ACTIVE".into(),
            qos_policy_id: None,
            floating_port_id: String::new(),
        }));
        id
    }

    /// A floating IP with its own port on the external network (as the
    /// API makes it: device_owner `network:floatingip`, its own MAC).
    pub fn fip_with_port(
        &mut self,
        ext: &str,
        ext_subnet: &str,
        addr: &str,
        port: &str,
        fixed: &str,
        router: &str,
    ) -> String {
        let id = self.fip(ext, addr, port, fixed, router);
        let holder = self.port_owned(ext, ext_subnet, addr, &[], owner::FLOATING_IP, &id);
        let mut f = self.st.floating_ips[&id].clone();
        f.floating_port_id = holder;
        self.st.put(Resource::FloatingIp(f));
        id
    }
}
