"""ccpulse pipeline bench (entry point): the code is the package `bench/pipeline/`.

    .venv/bin/python bench/pipeline_bench.py --help
    .venv/bin/python bench/pipeline_bench.py --quick

Consumer subprocesses run this script too (with --child).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/, whatever the caller's path

from pipeline.__main__ import main

if __name__ == "__main__":
    sys.exit(main())
