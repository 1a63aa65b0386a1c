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

bash "$(dirname "$0")/python-venv.sh" "$venv" "python-openstackclient==10.5.0"
"$venv/bin/openstack" --version
