"""The wallboard page in a real browser (Debian's chromium, headless, driven by Playwright)
against a real Redis fed by a real worker from the embedded broker: the tiles show what
`ccpulse report` computes for the same events, a new event reaches the page within a second,
the longest wait ticks, a threshold breach changes a tile's state, and losing Redis turns the
page "stale" until Redis is back, without a reload."""

from __future__ import annotations

import contextlib
import statistics
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from ccpulse.embedded import Service, start_redis
from tests.integration.conftest import ROOT, Deployment
from tests.integration.helpers import report_for
from tests.integration.wallboard_helpers import (
    CHROMIUM,
    CHROMIUM_ARGS,
    ThreadedProducer,
    expected_tiles,
    wallboard_server,
)

pytestmark = pytest.mark.integration

CONFIG = """
[wallboard]
stale_seconds = 30

[wallboard.queue_thresholds."acme/sales"]
in_queue = { amber = 2, red = 3 }
"""

#: What the page shows of one queue: its `as_of_ms` and, per tile, text, line below, raw
#: value and state, read in one go so that they belong to the same update.
READ_QUEUE = """member => {
  const panel = document.querySelector(`[data-queue="${member}"]`);
  if (!panel || !panel.dataset.asOfMs) return null;
  const tiles = {};
  for (const t of panel.querySelectorAll('.tile')) {
    tiles[t.dataset.tile] = {text: t.querySelector('.value').textContent,
      sub: t.querySelector('.sub').textContent, value: t.dataset.value, state: t.dataset.state};
  }
  return {asOf: Number(panel.dataset.asOfMs), tiles};
}"""


def _contacts(now: int) -> list[dict[str, Any]]:
    """acme/sales over the last ten minutes: answered within and beyond 20 s, an abandon, a
    completion, and one contact still waiting; a second queue beside it."""
    def ev(n: int, kind: str, at_ms: int, cid: str, queue: str = "sales",
           **extra: Any) -> dict[str, Any]:  # fmt: skip
        return {"event_id": f"w{n}", "type": kind, "ts": at_ms, "tenant": "acme",
                "queue": queue, "contact_id": cid, **extra}  # fmt: skip

    m = 60_000
    return [
        ev(1, "contact.offered", now - 9 * m, "c1"),
        ev(2, "contact.answered", now - 9 * m + 12_000, "c1", agent_id="ann"),
        ev(3, "contact.offered", now - 8 * m, "c2"),
        ev(4, "contact.answered", now - 8 * m + 41_000, "c2", agent_id="bob"),
        ev(5, "contact.completed", now - 6 * m, "c1", agent_id="ann", talk_seconds=150,
           wrap_seconds=20),
        ev(6, "contact.offered", now - 7 * m, "c3"),
        ev(7, "contact.abandoned", now - 7 * m + 33_000, "c3"),
        ev(8, "contact.offered", now - 5 * m, "c4", channel="chat"),
        ev(9, "contact.answered", now - 5 * m + 4_000, "c4", channel="chat", agent_id="cy"),
        ev(10, "contact.offered", now - 4 * m, "s1", queue="support"),
        ev(11, "contact.answered", now - 4 * m + 9_000, "s1", queue="support", agent_id="dee"),
        ev(12, "contact.offered", now - 40_000, "c5"),  # still waiting
    ]


@pytest.fixture
def own_redis() -> Iterator[Service]:
    """A Redis of this test's own: it is stopped and started again on the same port."""
    service = start_redis()
    yield service
    service.stop()


@contextlib.contextmanager
def chromium() -> Iterator[Browser]:
    """Headless chromium. Started after the asyncio set-up of the deployment: Playwright's
    sync API keeps an event loop running on this thread while it is open."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: scripts/setup.sh installs Debian's chromium (as root)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def _read(page: Page, member: str) -> dict[str, Any] | None:
    result: dict[str, Any] | None = page.evaluate(READ_QUEUE, member)
    return result


def _wait_tiles_equal_report(page: Page, events: list[dict[str, Any]], config: Path,
                             timeout: float) -> dict[str, Any]:  # fmt: skip
    """Poll the page until the acme/sales tiles equal the report at the page's own as_of."""
    deadline = time.monotonic() + timeout
    problems = ["the page never showed acme/sales"]
    while time.monotonic() < deadline:
        shown = _read(page, "acme/sales")
        if shown is not None:
            report = report_for(events, shown["asOf"], config)
            snap = next(s for s in report["queues"] if (s["tenant"], s["queue"]) ==
                        ("acme", "sales"))  # fmt: skip
            expected = expected_tiles(snap)
            problems = [
                f"{name}: page {(t['text'], t['sub'])} report {expected[name]}"
                for name, t in shown["tiles"].items()
                if name in expected and (t["text"], t["sub"]) != expected[name]
            ]
            longest = snap["live"]["all"]["longest_wait_seconds"]
            if float(shown["tiles"]["longest_wait"]["value"]) < longest:
                problems.append(f"longest wait {shown['tiles']['longest_wait']} < {longest}")
            if not problems:
                return shown
        time.sleep(0.5)
    raise AssertionError("tiles never matched the report:\n" + "\n".join(problems))


def _in_queue_shown(page: Page, count: int, timeout_ms: float) -> None:
    page.wait_for_function(
        """n => document.querySelector('[data-queue="acme/sales"] [data-tile="in_queue"]')
                ?.dataset.value === String(n)""",
        arg=count, timeout=timeout_ms, polling="raf",
    )  # fmt: skip


def test_wallboard_in_a_browser(broker: Service, own_redis: Service, tmp_path: Path) -> None:
    config = tmp_path / "ccpulse.toml"
    config.write_text(CONFIG)
    dep = Deployment(broker, own_redis, f"w{uuid.uuid4().hex[:8]}", config=config)
    dep.create_topics()
    dep.start_worker()
    producer = ThreadedProducer(dep.broker_url, dep.topic)
    log = ROOT / ".ccpulse" / "test-logs" / f"{dep.name}-wallboard.log"
    try:
        now = int(time.time() * 1000)
        events = _contacts(now)
        producer.send(events)
        with wallboard_server(dep.env(0), log) as url, chromium() as browser:
            page = browser.new_page(viewport={"width": 1920, "height": 1080})
            page.goto(f"{url}/?tenant=acme")
            page.evaluate("window.notReloaded = true")

            # The tiles show the report's figures for the same events.
            shown = _wait_tiles_equal_report(page, events, config, timeout=90)
            assert shown["tiles"]["in_queue"]["state"] == "ok"  # 1 waiting, amber from 2

            # The longest wait counts every second in the browser.
            waits = []
            for _ in range(3):
                tile = _read(page, "acme/sales")
                assert tile is not None
                waits.append(float(tile["tiles"]["longest_wait"]["value"]))
                page.wait_for_timeout(1100)
            assert waits == sorted(waits) and waits[0] < waits[1] < waits[2], waits

            # A new event is on the page within a second of the broker acknowledging it: the
            # worker's flush (every 0.5 s), the wallboard's read and the stream all included.
            # Measured three times; the median must be under a second (a loaded 2-core machine
            # may delay one of them).
            delays = []
            states = []
            for n, count in enumerate((2, 3, 4)):
                started = time.monotonic()
                producer.send([{"event_id": f"new-{n}", "type": "contact.offered",
                                "ts": int(time.time() * 1000), "tenant": "acme",
                                "queue": "sales", "contact_id": f"new-{n}"}])  # fmt: skip
                _in_queue_shown(page, count, timeout_ms=20_000)
                delays.append(time.monotonic() - started)
                shown_now = _read(page, "acme/sales")
                assert shown_now is not None
                states.append(shown_now["tiles"]["in_queue"]["state"])
            assert statistics.median(delays) < 1.0, delays
            # A breach changes the tile's state: 2 waiting is amber, 3 and more red.
            assert states == ["amber", "red", "red"]
            badge = page.locator('[data-queue="acme/sales"] [data-tile="in_queue"] .badge')
            assert badge.text_content() == "■"  # a shape beside the colour

            # Redis goes away: the page says "stale"; it comes back: the page recovers.
            page.wait_for_function("document.body.dataset.connection === 'live'")
            port = own_redis.port
            own_redis.stop()
            page.wait_for_function("document.body.dataset.connection === 'stale'",
                                   timeout=15_000)  # fmt: skip
            assert "STALE" in (page.text_content("#health") or "")
            restarted = start_redis(port)
            own_redis.proc, own_redis.workdir, own_redis.log = (
                restarted.proc, restarted.workdir, restarted.log)  # fmt: skip
            page.wait_for_function("document.body.dataset.connection === 'live'",
                                   timeout=30_000)  # fmt: skip
            _in_queue_shown(page, 4, timeout_ms=30_000)  # the worker wrote the queue again
            assert page.evaluate("window.notReloaded") is True
            page.screenshot(path=str(tmp_path / "wallboard.png"))
    finally:
        producer.close()
        dep.stop_all()
