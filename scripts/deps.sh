#!/usr/bin/env bash
# Installs what cloudnet's tests, benchmarks and demo need, only where it is
# missing. Safe to run again. Needs root for apt-get.
set -euo pipefail

need_apt=()
have() { command -v "$1" >/dev/null 2>&1; }
have ip      || need_apt+=(iproute2)
have iperf3  || need_apt+=(iperf3)
have ping    || need_apt+=(iputils-ping)
have nft     || need_apt+=(nftables)
have tcpdump || need_apt+=(tcpdump)
have ethtool || need_apt+=(ethtool)
have busybox || need_apt+=(busybox)
# DHCPv6 client of the IPv6 test (Debian's busybox has no udhcpc6).
have dhclient || need_apt+=(isc-dhcp-client)
# mausezahn: the floods and broadcast storm of crates/cli/tests/floods.rs
have mausezahn || need_apt+=(netsniff-ng)
# etcd back end of the store (tests start members on loopback); etcdctl
# for debugging them; protoc for the etcd-client crate's gRPC code ...
have etcd     || need_apt+=(etcd-server)
have etcdctl  || need_apt+=(etcd-client)
have protoc   || need_apt+=(protobuf-compiler)
# ... and protobuf's well-known types (descriptor.proto), which its protos import.
[ -f /usr/include/google/protobuf/descriptor.proto ] || need_apt+=(libprotobuf-dev)
have chromium || need_apt+=(chromium)   # headless browser test of the /ui page

if [ ${#need_apt[@]} -gt 0 ]; then
  echo "deps: installing ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

bash "$(dirname "$0")/openstack-venv.sh"
bash "$(dirname "$0")/schemathesis.sh" --install-only

if ! cargo nextest --version >/dev/null 2>&1; then
  echo "deps: installing cargo-nextest"
  cargo install --locked cargo-nextest
fi
