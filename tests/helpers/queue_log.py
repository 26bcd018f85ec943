"""Asterisk queue_log lines for the tests: the sample log and flat-file lines written by hand.

Clock: T0 = 1 741 078 800 = 2025-03-04T09:00:00Z. 2025-01-01T00:00:00Z is 20 089 days after
the epoch (55 years, 14 of them leap years), i.e. 1 735 689 600 s; 2025-03-04 is 62 days later
(1 741 046 400 s) and 09:00 UTC 32 400 s after that.
"""

from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "data" / "queue_log"
#: tests/data/queue_log/sample.queue_log: the log whose figures the tests work out by hand.
SAMPLE = DATA / "sample.queue_log"
T0 = 1_741_078_800  # 2025-03-04T09:00:00Z


def at(hms: str) -> int:
    """Epoch seconds of 2025-03-04 hh:mm:ss UTC."""
    h, m, s = (int(x) for x in hms.split(":"))
    return T0 + (h - 9) * 3600 + m * 60 + s


def ms(hms: str) -> int:
    """Epoch milliseconds of 2025-03-04 hh:mm:ss UTC."""
    return at(hms) * 1000


def ql(hms: str, callid: str, queue: str, agent: str, event: str, *data: str) -> str:
    """One flat-file line, stamped 2025-03-04 hh:mm:ss UTC."""
    return "|".join((str(at(hms)), callid, queue, agent, event, *data))
