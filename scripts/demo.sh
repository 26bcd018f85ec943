#!/usr/bin/env bash
# The ccpulse demo on a fresh machine: set up (packages, virtualenv), then run the pipeline on the
# embedded broker and Redis with simulated traffic. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
exec .venv/bin/ccpulse demo "$@"
