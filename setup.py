"""The build of ccpulse's compiled KPI core (pyproject.toml holds everything else).

The KPI engine's hot modules and the decoder's fast-lane checks (`NATIVE_MODULES`, listed in
ccpulse/native.py) are compiled with mypyc into C extensions next to their sources. The Python
sources stay in the package and are the fallback: `ccpulse.native` picks the build at import
time (docs/performance.md, "The compiled core"). Set CCPULSE_BUILD_NATIVE=0 to build and install
without a compiler.

mypyc names a module after the folders above it, and this repository keeps the package's
folders at the top (pyproject's package-dir), so the sources are linked into the installed
layout under build/native-src first, as scripts/typecheck.sh does for mypy.
"""

from __future__ import annotations

import os
import shutil
import sys
import tomllib
from pathlib import Path
from typing import Any

from setuptools import setup

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "ccpulse"))
from native import (  # noqa: E402
    NATIVE_MODULES,
    PACKAGES,
    STAMP_FILE,
    build_inputs,
    sources_digest,
    stale_extensions,
)

sys.path.pop(0)


def package_dirs() -> dict[str, Path]:
    with open(ROOT / "pyproject.toml", "rb") as f:
        dirs = tomllib.load(f)["tool"]["setuptools"]["package-dir"]
    return {package: ROOT / folder for package, folder in dirs.items()}


def staged_tree(dirs: dict[str, Path]) -> Path:
    """build/native-src/ccpulse/...: every package's folder linked where its name puts it."""
    stage = ROOT / "build" / "native-src"
    shutil.rmtree(stage, ignore_errors=True)
    for package, folder in dirs.items():
        target = stage.joinpath(*package.split("."))
        target.mkdir(parents=True, exist_ok=True)
        for path in folder.glob("*.py"):
            (target / path.name).symlink_to(path)
    return stage


def native_extensions() -> list[Any]:
    stamp = ROOT / "ccpulse" / STAMP_FILE
    stamp.unlink(missing_ok=True)
    for package in PACKAGES:
        for stale in stale_extensions(package_dirs()[package], package):
            stale.unlink()
    if os.environ.get("CCPULSE_BUILD_NATIVE", "1") == "0":
        return []
    from mypyc.build import mypycify

    dirs = package_dirs()
    stage = staged_tree(dirs)
    paths = [str((stage.joinpath(*m.split(".")).with_suffix(".py")).relative_to(ROOT))
             for m in NATIVE_MODULES]  # fmt: skip
    # The modules they import are type-checked for their types, not for errors of their own,
    # and the build environment has none of the runtime dependencies installed (msgspec,
    # orjson...): their imports read as Any there, which the compiled modules never touch.
    options = ["--follow-imports=silent", "--ignore-missing-imports"]
    extensions = mypycify([*options, *paths], opt_level="3", group_name="ccpulse.native_core",
                          target_dir=str(ROOT / "build" / "native-c"))  # fmt: skip
    # What the build depends on, for ccpulse.native to tell a build from edited sources.
    digest = sources_digest(build_inputs(dirs))
    stamp.write_text(digest + "\n")
    return list(extensions)


setup(ext_modules=native_extensions())
