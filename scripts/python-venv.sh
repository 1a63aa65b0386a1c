#!/usr/bin/env bash
# Creates the Python venv DIR (installing python3-venv first if needed) and
# pip-installs the pinned requirements into it:
#   scripts/python-venv.sh DIR REQUIREMENT...
# Used by openstack-venv.sh and schemathesis.sh; they decide when to call it.
set -euo pipefail

venv="$1"
shift

if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
  echo "python-venv: installing python3-venv"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends python3-venv python3-pip >/dev/null
fi

echo "python-venv: creating $venv with $*"
mkdir -p "$(dirname "$venv")"
python3 -m venv "$venv"
"$venv/bin/pip" install -q --upgrade pip
"$venv/bin/pip" install -q "$@"
