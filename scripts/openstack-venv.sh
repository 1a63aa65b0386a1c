#!/usr/bin/env bash
# Installs the unmodified openstack CLI (python-openstackclient from PyPI)
# into a venv for the API's openstack-CLI test. Safe to run again: does
# nothing when the venv already has a working `openstack`.
#   OPENSTACK_VENV  where to put it (default /var/cache/cloudnet/openstack-venv)
set -euo pipefail

venv="${OPENSTACK_VENV:-/var/cache/cloudnet/openstack-venv}"

if [ -x "$venv/bin/openstack" ] && "$venv/bin/openstack" --version >/dev/null 2>&1; then
  exit 0
fi

if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
  echo "openstack-venv: installing python3-venv"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends python3-venv python3-pip >/dev/null
fi

echo "openstack-venv: creating $venv with python-openstackclient"
mkdir -p "$(dirname "$venv")"
python3 -m venv "$venv"
"$venv/bin/pip" install -q --upgrade pip
"$venv/bin/pip" install -q "python-openstackclient==10.5.0"
"$venv/bin/openstack" --version
