"""The pipeline bench's verdicts: ratios paired by round, targets judged on the median."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from pipeline.__main__ import parse_args
from pipeline.runner import Run
from pipeline.targets import ratio_check
from pipeline.throughput import median, median_run, round_ratios


def rows_of(a: list[float], b: list[float]) -> dict[tuple[str, str], list[Run]]:
    return {
        ("ccpulse", "batched"): [Run("ccpulse", "batched", i, rate) for i, rate in enumerate(a)],
        ("quix", "batched"): [Run("quix", "batched", i, rate) for i, rate in enumerate(b)],
    }


def test_ratios_are_taken_within_a_round() -> None:
    rows = rows_of([100.0, 300.0, 200.0], [100.0, 100.0, 400.0])
    assert round_ratios(rows, ("ccpulse", "batched"), ("quix", "batched")) == [1.0, 3.0, 0.5]
    del rows[("quix", "batched")][1]  # a round the denominator did not run is left out
    assert round_ratios(rows, ("ccpulse", "batched"), ("quix", "batched")) == [1.0, 0.5]


def test_a_target_passes_only_when_the_median_passes() -> None:
    lucky = rows_of([90.0, 95.0, 300.0], [100.0, 100.0, 100.0])  # one round far above
    check = ratio_check("t", lucky, ("ccpulse", "batched"), ("quix", "batched"), 1.0)
    assert check.ok is False
    assert check.value == "0.95x (0.90-3.00x over 3 rounds)"
    steady = rows_of([110.0, 80.0, 105.0], [100.0, 100.0, 100.0])  # one round below
    assert ratio_check("t", steady, ("ccpulse", "batched"), ("quix", "batched"), 1.0).ok is True
    assert ratio_check("t", {}, ("ccpulse", "batched"), ("quix", "batched"), 1.0).ok is None


def test_median_and_median_run() -> None:
    assert median([3.0, float("nan"), 1.0, 2.0]) == 2.0
    runs = [Run("a", "single", i, rate) for i, rate in enumerate([5.0, 1.0, 3.0, 4.0])]
    assert median_run(runs) is runs[2]  # the lower median of an even count
    assert median_run([]) is None


def test_quick_lowers_only_what_is_not_given() -> None:
    full = parse_args([])
    assert (full.repeat, full.many_queues, full.memory_sizes) == (3, 10_000, [1_000, 10_000])
    assert full.latency_rate == 5000.0
    quick = parse_args(["--quick"])
    assert (quick.repeat, quick.many_queues, quick.memory_sizes) == (1, 1_000, [100, 1_000])
    assert parse_args(["--quick", "--repeat", "2", "--memory-queues", "1000"]).repeat == 2
    assert parse_args(["--quick", "--memory-queues", "1000"]).memory_sizes == [1_000]
