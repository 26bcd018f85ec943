"""The compiled KPI core reads a module constant as the value it is only when the constant is
declared `Final`; any other module-level name is looked up in the module's dictionary at each
read (docs/performance.md, "The compiled core"). Every constant of the compiled modules is
therefore Final, but for the one the tests set."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from ccpulse.native import NATIVE_MODULES

#: Constants the tests change (monkeypatch), which must stay plain names to be changeable.
PATCHED = {"ccpulse.streams.kpi.agent_records": {"MAX_BATCH_EVENTS"}}
CONSTANT = re.compile(r"_?[A-Z][A-Z0-9_]*")
ROOT = Path(__file__).resolve().parents[2]


def _source(module: str) -> Path:
    """The module's Python source in this checkout (`ccpulse.streams.kpi.x`: streams/kpi/x.py)."""
    return ROOT.joinpath(*module.split(".")[1:]).with_suffix(".py")


def _plain_constants(tree: ast.Module) -> list[str]:
    """Names of module-level constants (UPPER_CASE) assigned without a Final annotation."""
    found = []
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets = [t for target in node.targets for t in ast.walk(target)]
            found += [t.id for t in targets if isinstance(t, ast.Name)]
        elif (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and "Final" not in ast.unparse(node.annotation)
        ):
            found.append(node.target.id)
    return [name for name in found if CONSTANT.fullmatch(name)]


def test_the_compiled_modules_declare_their_constants_final() -> None:
    offenders = {}
    for module in NATIVE_MODULES:
        tree = ast.parse(_source(module).read_text(encoding="utf-8"))
        plain = set(_plain_constants(tree)) - PATCHED.get(module, set())
        if plain:
            offenders[module] = sorted(plain)
    assert offenders == {}


def test_the_check_finds_a_plain_constant() -> None:
    tree = ast.parse("A, B = range(2)\nC: Final = 3\nD: int = 4\nAlias = list[int]\n")
    assert _plain_constants(tree) == ["A", "B", "D"]
