"""Which build of the KPI core runs: the compiled modules (mypyc, built by setup.py) or their
Python sources, which are the same code and the fallback wherever no compiler was at hand.

`CCPULSE_NATIVE` chooses, read once when ccpulse is first imported:

* `auto` (the default): the compiled modules when every one of them is there and was built
  from the sources beside it; otherwise the sources, with a warning if a build is there but
  older than its sources (edited since `scripts/setup.sh` last built it).
* `off`: the Python sources, even where a build is there (the fallback's own test runs).
* `require`: the compiled modules, or an ImportError that says why (CI, which tests the build
  users install).

Standard library only: setup.py imports this file before ccpulse is built.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import os
import sys
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Final

#: The package of the KPI core's compiled modules, and their names in it: every family's
#: per-event path, the agent views each flush reads, and the state records of the changes.
PACKAGE: Final = "ccpulse.streams.kpi"
#: Every compiled module: the KPI core's, then the decoder's fast-lane checks.
NATIVE_MODULES: Final = (
    *(
        f"{PACKAGE}.{name}"
        for name in (
            "counters", "windows", "contact", "contact_store", "state", "housekeeping",
            "engine", "agent_tally", "agent_state", "agent_records", "agents", "agent_views",
            "report_mode", "business_hours", "tickets_hours", "tickets_buckets", "tickets",
            "surveys", "statekeys", "state_writes",
        )
    ),
    "ccpulse.schemas.fast_checks",
)  # fmt: skip
#: The packages that hold them.
PACKAGES: Final = tuple(dict.fromkeys(m.rpartition(".")[0] for m in NATIVE_MODULES))
#: Written by setup.py beside this file: the digest of the sources it compiled.
STAMP_FILE: Final = "native_build.txt"
MODES: Final = ("auto", "off", "require")


def sources_digest(sources: Sequence[bytes]) -> str:
    """The digest that ties a build to its sources (`build_inputs`)."""
    h = hashlib.sha256()
    for text in sources:
        h.update(len(text).to_bytes(8, "big"))
        h.update(text)
    return h.hexdigest()


def build_inputs(folders: Path | Mapping[str, Path]) -> list[bytes]:
    """What a build depends on: every Python source of each package of PACKAGES (in `folders`,
    per package, or one folder for all), named, in order. Not only the compiled modules:
    mypyc copies the `Final` constants they import from other modules into the build (event
    types, limits, policy defaults), so an edit there must make the build stale too."""
    texts: list[bytes] = []
    for package in PACKAGES:
        folder = folders if isinstance(folders, Path) else folders[package]
        for path in sorted(folder.glob("*.py")):
            texts += [f"{package}.{path.stem}".encode(), path.read_bytes()]
    return texts


def _has_extension(folder: Path, name: str) -> bool:
    return any((folder / f"{name}{suffix}").exists()
               for suffix in importlib.machinery.EXTENSION_SUFFIXES)  # fmt: skip


def stale_extensions(folder: Path, package: str = PACKAGE) -> list[Path]:
    """Extension modules in `folder` (the folder of `package`) of modules not in NATIVE_MODULES:
    left by a build of a longer list (another checkout). Python imports an extension in
    preference to the source beside it, so setup.py deletes these before it builds."""
    names = {name for pkg, _, name in (m.rpartition(".") for m in NATIVE_MODULES) if pkg == package}
    # Longest first: "x.cpython-311-x86_64-linux-gnu.so" is module x, not "x.cpython-...".
    suffixes = sorted(importlib.machinery.EXTENSION_SUFFIXES, key=len, reverse=True)
    stale = []
    for path in folder.iterdir():
        suffix = next((s for s in suffixes if path.name.endswith(s)), None)
        if suffix is not None and path.name[: -len(suffix)] not in names:
            stale.append(path)
    return sorted(stale)


def build_state(folders: Path | Mapping[str, Path], stamp: Path) -> str:
    """"compiled", "none" (no build) or "stale" (a build of other sources), for the modules of
    NATIVE_MODULES in `folders` (per package, or one folder for all) and the stamp setup.py
    wrote."""
    paths = [
        (folders if isinstance(folders, Path) else folders[package]) / name
        for package, _, name in (m.rpartition(".") for m in NATIVE_MODULES)
    ]
    if not stamp.exists() or not all(_has_extension(p.parent, p.name) for p in paths):
        return "none"
    try:
        texts = build_inputs(folders)
    except OSError:
        return "stale"
    return "compiled" if stamp.read_text().strip() == sources_digest(texts) else "stale"


def package_folders() -> dict[str, Path]:
    """The folder of each package of PACKAGES, found without importing the package itself."""
    folders = {}
    for package in PACKAGES:
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise ImportError(f"ccpulse.native: package {package} not found")
        folders[package] = Path(next(iter(spec.submodule_search_locations)))
    return folders


class BuildChoiceError(ImportError):
    """CCPULSE_NATIVE names no mode, or requires a build that is not usable: the KPI core
    cannot be imported (`ccpulse` says so in one line, exit code 4)."""


def choose(mode: str, state: str) -> bool:
    """Whether the compiled modules are used, given CCPULSE_NATIVE and the build's state."""
    if mode not in MODES:
        raise BuildChoiceError(f"CCPULSE_NATIVE must be one of {', '.join(MODES)}, not {mode!r}")
    if mode == "require" and state != "compiled":
        why = "no build is installed" if state == "none" else "it is older than its sources"
        raise BuildChoiceError(f"CCPULSE_NATIVE=require, but the compiled KPI core is unusable: "
                               f"{why} (rebuild with bash scripts/setup.sh)")  # fmt: skip
    return mode != "off" and state == "compiled"


class _SourcesFirst:
    """A meta-path finder that loads the compiled modules' Python sources instead."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in NATIVE_MODULES or not path:
            return None
        name = fullname.rpartition(".")[2]
        for folder in path:
            source = Path(folder) / f"{name}.py"
            if source.exists():
                return importlib.util.spec_from_file_location(fullname, source)
        return None


#: What runs: "compiled" or "python" (set by `install`).
in_use = "python"
_installed = False


def install() -> str:
    """Choose the build (CCPULSE_NATIVE) once, before the first compiled module is imported
    (by the first of the packages holding them to be imported); returns what runs."""
    global in_use, _installed
    if _installed:
        return in_use
    mode = os.environ.get("CCPULSE_NATIVE", "auto").strip().lower() or "auto"
    state = build_state(package_folders(), Path(__file__).with_name(STAMP_FILE))
    compiled = choose(mode, state)  # raises, and is asked again at the next import, if refused
    _installed = True
    if compiled:
        in_use = "compiled"
    else:
        if state == "stale" and mode == "auto":
            warnings.warn(
                "ccpulse: the compiled KPI core is older than its sources; running the sources "
                "(rebuild with bash scripts/setup.sh)",
                stacklevel=2,
            )
        if not any(isinstance(f, _SourcesFirst) for f in sys.meta_path):
            sys.meta_path.insert(0, _SourcesFirst())
        in_use = "python"
    return in_use
