"""The README's first command: `ccpulse demo` brings up broker, Redis, worker and simulator,
publishes live figures, and shuts everything down by itself."""

from __future__ import annotations

import re
import subprocess
import sys
import time

import pytest
import redis

pytestmark = pytest.mark.integration


def test_demo_publishes_figures_and_stops_cleanly() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "ccpulse.cli", "demo", "--duration", "40", "--backfill-hours", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    output: list[str] = []
    port = None
    for line in proc.stdout:
        output.append(line)
        found = re.search(r"redis\s+redis://127\.0\.0\.1:(\d+)/0", line)
        if found:
            port = int(found.group(1))
            break
    assert port is not None, "".join(output)
    client = redis.Redis(port=port)
    deadline = time.monotonic() + 35
    queues: list[bytes] = []
    figures: dict[bytes, bytes] = {}
    while time.monotonic() < deadline:
        queues = client.zrange("ccpulse:queues", 0, -1)  # type: ignore[assignment]
        if len(queues) == 6:
            figures = client.hgetall("ccpulse:queue:acme:sales")  # type: ignore[assignment]
            if figures and int(figures[b"today.all.offered"]) > 0:
                break
        time.sleep(1)
    rest, _ = proc.communicate(timeout=90)
    output.append(rest)
    assert proc.returncode == 0, "".join(output)
    assert sorted(q.decode() for q in queues) == [
        "acme/chat", "acme/sales", "acme/support", "globex/billing", "globex/email",
        "globex/helpdesk",
    ]  # fmt: skip
    assert int(figures[b"today.all.offered"]) > 0
    assert "stopping worker, broker and redis" in "".join(output)
    with pytest.raises(redis.ConnectionError):
        client.ping()  # the demo's Redis is gone
