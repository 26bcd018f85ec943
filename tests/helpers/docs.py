"""What ccpulse publishes, as the tests read it: the code blocks of docs/*.md, the JSON Schemas
of schemas/, and `ccpulse report` run as a user runs it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
SCHEMAS = ROOT / "schemas"


def code_blocks(doc: str, language: str) -> list[str]:
    """The fenced code blocks of docs/`doc` marked as `language`, in order."""
    text = (DOCS / doc).read_text(encoding="utf-8")
    return re.findall(rf"^```{language}\n(.*?)^```", text, flags=re.S | re.M)


def schema(name: str) -> dict[str, Any]:
    """schemas/`name`, parsed."""
    loaded: dict[str, Any] = json.loads((SCHEMAS / name).read_text(encoding="utf-8"))
    return loaded


def schema_validator(name: str) -> Draft202012Validator:
    """A validator of schemas/`name` that checks formats and resolves the contact schemas'
    `$id`s (the batch schema refers to the event schema)."""
    registry: Registry[Any] = Registry().with_resources(
        (s["$id"], Resource.from_contents(s))
        for s in (schema("contact-event.v1.json"), schema("contact-batch.v1.json"))
    )
    return Draft202012Validator(
        schema(name), registry=registry, format_checker=Draft202012Validator.FORMAT_CHECKER
    )


def _ccpulse() -> list[str]:
    script = Path(sys.executable).with_name("ccpulse")
    return [str(script)] if script.exists() else [sys.executable, "-m", "ccpulse.cli"]


def run_report(events: Path, *args: str, **settings: str) -> tuple[Any, str]:
    """`ccpulse report EVENTS --format json ARGS`: the parsed report and the stderr text.

    `settings` become `CCPULSE_*` variables; any the caller's environment has are dropped.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("CCPULSE_")}
    env.update({f"CCPULSE_{name.upper()}": value for name, value in settings.items()})
    done = subprocess.run(
        [*_ccpulse(), "report", str(events), "--format", "json", *args],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        timeout=120,
    )
    return json.loads(done.stdout), done.stderr
