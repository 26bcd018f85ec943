"""`python -m ccpulse.monitoring [--check] [--runbook-base URL]`: write the rule files and the
dashboards under deploy/, or with `--check` exit 1 naming every file that differs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ccpulse.monitoring.alerts import RUNBOOK
from ccpulse.monitoring.generate import generated_files

DEPLOY = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ccpulse.monitoring", description=__doc__)
    parser.add_argument("--check", action="store_true", help="compare, write nothing")
    parser.add_argument(
        "--out", type=Path, default=DEPLOY, help="the deploy folder (default: %(default)s)"
    )
    parser.add_argument(
        "--runbook-base", default=RUNBOOK, help="runbook_url prefix (default: %(default)s)"
    )
    args = parser.parse_args(argv)
    stale = []
    for rel, text in generated_files(args.runbook_base).items():
        path = args.out / rel
        if path.exists() and path.read_text(encoding="utf-8") == text:
            continue
        if args.check:
            stale.append(rel)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}", file=sys.stderr)
    for rel in stale:
        print(f"{rel} differs from what deploy/monitoring generates: "
              "run python -m ccpulse.monitoring", file=sys.stderr)  # fmt: skip
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
