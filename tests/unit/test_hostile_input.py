"""Hostile input never raises, never costs a valid event and costs bounded memory (issue 17).

The decoder, `Pipeline.process` and `ccpulse report` are fed the shared hostile generator
(tests/hostile.py) between valid events; every valid event must count and every hostile element
must be dead-lettered one by one or counted in a summary record.
"""

from __future__ import annotations

import gc
import hashlib
import json
import tracemalloc
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ccpulse import cli
from ccpulse.config import LimitsSettings
from ccpulse.report import build_report
from ccpulse.schemas import decode_message
from ccpulse.streams.deadletter import DeadLetter
from ccpulse.streams.kpi import PolicyBook
from ccpulse.streams.pipeline import Message, Pipeline
from tests.hostile import every_kind, hostile_messages, nested

NOW = 1_765_000_000_000
KEY = b"acme/sales"


def offered(n: int) -> dict[str, Any]:
    return {
        "event_id": f"v-{n}", "type": "contact.offered", "ts": NOW - 600_000 + n,
        "tenant": "acme", "queue": "sales", "channel": "voice", "contact_id": f"c-{n}",
    }  # fmt: skip


def run(values: list[tuple[bytes | None, bytes]], limits: LimitsSettings | None = None
        ) -> tuple[Pipeline, list[DeadLetter]]:  # fmt: skip
    pipeline = Pipeline(PolicyBook(), limits)
    letters: list[DeadLetter] = []
    for offset, (key, value) in enumerate(values):
        pipeline.process(Message("cc.contacts", 0, offset, key, value), letters.append)
    return pipeline, letters


def offered_count(pipeline: Pipeline) -> int:
    qs = pipeline.engines[0].queues[("acme", "sales")]
    return sum(b.tally[0] for (g, _, _), b in qs.buckets.items() if g == "t")


def dead_lettered(letters: list[DeadLetter]) -> int:
    """Hostile elements accounted for: one per dead letter, `count` per summary record."""
    return sum(d.count for d in letters)


def test_the_decoder_refuses_nesting_at_every_depth_without_raising() -> None:
    for depth in range(1, 2001):
        for value in (nested(depth), b'{"a":' * depth + b"1" + b"}" * depth):
            result = decode_message(value, NOW)
            assert result.events == []
            assert len(result.rejections) == result.elements - result.unreported


def test_deep_nesting_between_two_batches_loses_neither() -> None:
    batch = [offered(n) for n in range(3)]
    later = [offered(n) for n in range(3, 6)]
    pipeline, letters = run(
        [(KEY, orjson.dumps(batch)), (KEY, b"[" * 300 + b"]" * 300), (KEY, orjson.dumps(later))]
    )
    assert offered_count(pipeline) == 6
    assert [d.reason for d in letters] == ["invalid"]
    assert "nested" in letters[0].to_bytes().decode() or letters[0].raw


def test_every_hostile_kind_is_dead_lettered_and_valid_events_all_count() -> None:
    values: list[tuple[bytes | None, bytes]] = []
    hostile = list(every_kind()) + list(hostile_messages(7, 300))
    elements = 0
    for n, (_, key, value) in enumerate(hostile):
        values.append((KEY, orjson.dumps(offered(n))))
        values.append((key, value))
        elements += max(1, decode_message(value, NOW).elements)
    pipeline, letters = run(values)
    assert offered_count(pipeline) == len(hostile)
    # `[]` (depth 1) holds no element and so needs no dead letter: elements counts it as one.
    assert dead_lettered(letters) == elements - sum(v == b"[]" for _, _, v in hostile)
    for letter in letters:
        assert len(letter.to_bytes()) <= 65_536


def test_a_dead_letter_is_bounded_and_names_the_original() -> None:
    huge = orjson.dumps({**offered(1), "queue": "q" * 600_000})
    _, (letter,) = run([(KEY + b"x" * 100_000, huge)])
    out = orjson.loads(letter.to_bytes(65_536))
    assert len(letter.to_bytes(65_536)) <= 65_536
    assert out["original_bytes"] == len(huge)
    assert out["original_sha256"] == hashlib.sha256(huge).hexdigest()
    assert out["original_truncated"] is True
    assert len(out["error"]) < 1100 and len(out["key"]) <= 512
    assert len(letter.kafka_key() or b"") <= 512


def test_a_message_over_the_size_limit_is_refused_unread() -> None:
    limits = LimitsSettings(max_message_bytes=10_000)
    big = orjson.dumps([offered(n) for n in range(100)])
    pipeline, letters = run([(KEY, big), (KEY, orjson.dumps(offered(500)))], limits)
    assert offered_count(pipeline) == 1
    assert len(letters) == 1 and "over the limit of 10000 bytes" in letters[0].error


def test_half_a_million_bad_elements_cost_bounded_memory_and_one_summary() -> None:
    value = b"[" + b",".join([b"0"] * 500_000) + b"]"
    assert len(value) == 1_000_001
    gc.collect()
    tracemalloc.start()
    pipeline, letters = run([(KEY, value), (KEY, orjson.dumps(offered(1)))])
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 40_000_000  # was ~2 GB: 4.3 KB held per refused element
    assert offered_count(pipeline) == 1
    assert len(letters) == 101  # 100 one by one, then one summary
    summary = letters[-1]
    assert summary.count == 500_000 - 100
    assert summary.detail == {"element": 9_900, "not_decoded": 490_000}
    assert dead_lettered(letters) == 500_000
    assert pipeline.health.invalid == 500_000


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=5)
    | st.dictionaries(st.text(max_size=8), inner, max_size=5),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(json_values, st.fixed_dictionaries({"type": st.just("contact.offered")},
                                                     optional={"ts": json_values,
                                                               "queue": json_values})))  # fmt: skip
def test_the_decoder_and_the_report_never_raise_on_generated_json(value: Any) -> None:
    raw = json.dumps(value).encode()  # NaN, Infinity and big integers included
    result = decode_message(raw, NOW)
    assert result.events == [] or isinstance(value, dict | list)
    build_report([raw], PolicyBook(), at_ms=NOW)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_the_decoder_never_raises_on_bytes(raw: bytes) -> None:
    decode_message(raw, NOW)


def test_the_report_reads_hostile_lines_and_counts_only_valid_events() -> None:
    valid = [orjson.dumps(offered(n)) for n in range(50)]
    lines: list[bytes] = []
    for n, (_, _, value) in enumerate(hostile_messages(3, 200)):
        lines.append(value.replace(b"\n", b" "))
        if n < len(valid):
            lines.append(valid[n])
    lines.extend(valid[len(lines) :])
    clean = build_report(valid, PolicyBook(), at_ms=NOW)
    dirty = build_report(lines, PolicyBook(), at_ms=NOW)
    assert dirty["queues"] == clean["queues"]


def test_ccpulse_report_reads_a_file_of_hostile_lines_without_a_traceback(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    valid = [orjson.dumps(offered(n)) for n in range(20)]
    hostile = [v.replace(b"\n", b" ") for _, _, v in every_kind()]
    hostile += [v.replace(b"\n", b" ") for _, _, v in hostile_messages(11, 300)]
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(hostile[:150] + valid + hostile[150:]) + b"\n")
    assert cli.main(["report", str(path), "--format", "json", "--at", str(NOW)]) == 0
    out, err = capsysbinary.readouterr()
    report = orjson.loads(out)
    assert report["input"]["events"] == 20
    assert report["input"]["rejected"] > len(hostile)
    assert b"Traceback" not in err
