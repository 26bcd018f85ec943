#!/usr/bin/env bash
# mypy --strict (pyproject.toml) over every installed package: ccpulse, and the folders that
# pyproject's package-dir installs as ccpulse.schemas, .streams, .sinks, .sources, .wallboard
# and .monitoring. mypy cannot follow that mapping through the editable install, so the
# folders are linked into the installed layout under .ccpulse/typecheck first.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
stage=.ccpulse/typecheck
rm -rf "$stage/ccpulse"
mkdir -p "$stage/ccpulse"
for f in ccpulse/*.py; do ln -s "$root/$f" "$stage/ccpulse/"; done
.venv/bin/python - "$root" "$stage" <<'PY'
import os, sys, tomllib
root, stage = sys.argv[1], sys.argv[2]
dirs = tomllib.load(open(f"{root}/pyproject.toml", "rb"))["tool"]["setuptools"]["package-dir"]
for package, folder in dirs.items():
    parts = package.split(".")
    if len(parts) == 2:  # ccpulse.<name>; deeper packages come with their folder
        os.symlink(f"{root}/{folder}", f"{stage}/ccpulse/{parts[1]}")
PY
cd "$stage"
exec "$root/.venv/bin/mypy" --config-file "$root/pyproject.toml" -p ccpulse
