"""Which build of the KPI core runs (ccpulse.native): the compiled modules or their sources."""

from __future__ import annotations

import importlib.machinery
import os
from pathlib import Path

import pytest

from ccpulse import native
from ccpulse.schemas import fast_checks
from ccpulse.streams.kpi import engine

NATIVE_MODULES = native.NATIVE_MODULES
NAMES = [m.rpartition(".")[2] for m in NATIVE_MODULES]
SUFFIX = importlib.machinery.EXTENSION_SUFFIXES[0]


def built(folder: Path, *, extensions: bool = True) -> Path:
    """A package folder as setup.py leaves it (one for all the packages here): sources, a
    module that is not compiled, extensions and the stamp of the sources."""
    for name in [*NAMES, "events"]:
        (folder / f"{name}.py").write_bytes(f"# {name}\n".encode())
        if extensions and name != "events":
            (folder / f"{name}{SUFFIX}").write_bytes(b"")
    stamp = folder / native.STAMP_FILE
    stamp.write_text(native.sources_digest(native.build_inputs(folder)) + "\n")
    return stamp


def test_a_build_of_the_sources_beside_it_is_compiled(tmp_path: Path) -> None:
    stamp = built(tmp_path)
    assert native.build_state(tmp_path, stamp) == "compiled"


def test_an_edited_source_makes_the_build_stale(tmp_path: Path) -> None:
    stamp = built(tmp_path)
    (tmp_path / "engine.py").write_bytes(b"# engine, edited\n")
    assert native.build_state(tmp_path, stamp) == "stale"


def test_an_edited_module_beside_them_makes_the_build_stale(tmp_path: Path) -> None:
    """The build holds copies of the constants the compiled modules import (mypyc inlines
    `Final` values): an edit to any source of their packages outdates it."""
    stamp = built(tmp_path)
    (tmp_path / "events.py").write_bytes(b"# events, edited\n")
    assert native.build_state(tmp_path, stamp) == "stale"


def test_an_extension_of_a_module_no_longer_compiled_is_stale(tmp_path: Path) -> None:
    """A build of a longer module list (another checkout) leaves extensions that Python would
    import in place of their sources; setup.py deletes what this finds."""
    built(tmp_path)
    (tmp_path / "figures.py").write_bytes(b"# figures\n")
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        (tmp_path / f"figures{suffix}").write_bytes(b"")
    figures = [tmp_path / f"figures{suffix}" for suffix in importlib.machinery.EXTENSION_SUFFIXES]
    # Names are per package: in the KPI package's folder, the extension of the decoder's
    # compiled module is as stale as one of a module no longer compiled.
    decoder = tmp_path / f"fast_checks{SUFFIX}"
    assert native.stale_extensions(tmp_path) == sorted([*figures, decoder])
    kpi_modules = [m for m in NATIVE_MODULES if m.startswith(native.PACKAGE + ".")]
    assert native.stale_extensions(tmp_path, "ccpulse.schemas") == sorted(
        [*figures, *(tmp_path / f"{m.rpartition('.')[2]}{SUFFIX}" for m in kpi_modules)]
    )


def test_no_stamp_or_a_missing_extension_is_no_build(tmp_path: Path) -> None:
    stamp = built(tmp_path)
    (tmp_path / f"contact{SUFFIX}").unlink()
    assert native.build_state(tmp_path, stamp) == "none"
    stamp = built(tmp_path)
    stamp.unlink()
    assert native.build_state(tmp_path, stamp) == "none"
    sources_only = tmp_path / "sources"
    sources_only.mkdir()
    assert native.build_state(sources_only, built(sources_only, extensions=False)) == "none"


@pytest.mark.parametrize(
    ("mode", "state", "compiled"),
    [
        ("auto", "compiled", True),
        ("auto", "stale", False),
        ("auto", "none", False),
        ("off", "compiled", False),
        ("off", "none", False),
        ("require", "compiled", True),
    ],
)
def test_the_mode_and_the_build_choose(mode: str, state: str, compiled: bool) -> None:
    assert native.choose(mode, state) is compiled


@pytest.mark.parametrize(("state", "why"), [("none", "no build"), ("stale", "older than")])
def test_require_without_a_usable_build_fails_saying_why(state: str, why: str) -> None:
    with pytest.raises(native.BuildChoiceError, match=why):
        native.choose("require", state)


def test_an_unknown_mode_is_refused() -> None:
    with pytest.raises(native.BuildChoiceError, match="CCPULSE_NATIVE must be one of"):
        native.choose("fast", "compiled")


def test_the_sources_finder_loads_the_python_source_of_a_compiled_module(tmp_path: Path) -> None:
    built(tmp_path)
    spec = native._SourcesFirst().find_spec(native.NATIVE_MODULES[0], [str(tmp_path)])
    assert spec is not None and spec.origin == str(tmp_path / f"{NAMES[0]}.py")
    assert native._SourcesFirst().find_spec("ccpulse.streams.kpi.figures", [str(tmp_path)]) is None


def test_this_run_uses_the_build_its_environment_asks_for() -> None:
    """CI runs the suite with CCPULSE_NATIVE=require, then the exactness tests with =off: each
    run checks here that it tests the build it means to."""
    mode = os.environ.get("CCPULSE_NATIVE", "auto")
    for module in (engine, fast_checks):  # one of each package that holds compiled modules
        source = Path(module.__file__ or "")
        if mode == "require":
            assert native.in_use == "compiled" and source.name.endswith(SUFFIX)
        elif mode == "off":
            assert native.in_use == "python" and source.suffix == ".py"
        else:
            assert (native.in_use == "compiled") is source.name.endswith(SUFFIX)


def test_the_worker_says_which_build_runs() -> None:
    from ccpulse.config import Settings
    from ccpulse.streams.worker import startup_line

    assert startup_line(Settings()).endswith(f"KPI core {native.in_use}")
