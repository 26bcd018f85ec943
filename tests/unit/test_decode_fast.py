"""The fast lane's checks (schemas/fast_checks.py): durations rounded as the general decoder
rounds them, and the build `ccpulse.native` chose, whichever package is imported first."""

from __future__ import annotations

import os
import random
import subprocess
import sys

import pytest

from ccpulse.schemas.fast_checks import _ms


def test_durations_round_to_the_nearest_millisecond_ties_to_even_as_round_does() -> None:
    rng = random.Random(7)
    ties = [(k + 0.5) / 1000 for k in range(0, 20_000)]
    plain = [rng.randint(0, 604_800_000) / 1000 for _ in range(20_000)]
    anywhere = [rng.uniform(0, 604_800) for _ in range(20_000)]
    for seconds in [0.0, 0.0005, 0.0015, 0.0025, 1.2345, 604_800.0, *ties, *plain, *anywhere]:
        assert _ms(seconds) == round(seconds * 1000), seconds
    assert (_ms(0.0005), _ms(0.0015), _ms(0.0025)) == (0, 2, 2)  # halves go to the even one


@pytest.mark.parametrize("mode", ["off", "auto"])
def test_the_decoder_alone_imports_the_build_the_environment_chose(mode: str) -> None:
    """`ccpulse.schemas` imported on its own (no KPI package yet) still chooses the build
    before its compiled module loads: with CCPULSE_NATIVE=off, the module's source."""
    code = (
        "import ccpulse.schemas.fast_checks as f, ccpulse.native as n, sys;"
        "assert 'ccpulse.streams.kpi' not in sys.modules;"
        "print(n.in_use, f.__file__.endswith('.py'))"
    )
    env = {**os.environ, "CCPULSE_NATIVE": mode}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout.split()  # fmt: skip
    if mode == "off":
        assert out == ["python", "True"]
    else:
        assert out[1] == str(out[0] == "python")
