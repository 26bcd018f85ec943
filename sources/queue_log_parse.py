"""Parse Asterisk queue_log lines into `QueueLogLine`s; bad input becomes a `DeadLetter`, never an
exception.

Two layouts (docs/asterisk-queue-log.md):

* the flat file Asterisk writes, `epoch|callid|queue|agent|EVENT|data...`: everything after the
  event is the event's data, split on `|` (the "old" single `data` field and the newer
  `data1..data5` are the same bytes in a file);
* the realtime database table exported as CSV with a header: `time, callid, queuename, agent,
  event` and either `data1..data5` or a single `data` column (the same split on `|`). `time` is
  epoch seconds or a date-time; a date-time without offset is read in the given time zone
  (Asterisk writes local time unless `queue_log_realtime_use_gmt = yes`).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo

#: Instants before 2000-01-01 are refused, as the contract's decoder does.
MIN_EPOCH_S: Final = 946_684_800
_NUMBER_RE: Final = re.compile(r"^\d+(\.\d+)?\Z")
_NULLS: Final = frozenset(("NULL", "\\N"))
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS: Final = timedelta(milliseconds=1)
#: Accepted header names per column (Asterisk's table; `call_id`/`queue`/`verb`/`time_id` as
#: some reporting tools name them).
_COLUMNS: Final = {
    "time": ("time", "time_id", "timestamp", "datetime"),
    "callid": ("callid", "call_id", "uniqueid"),
    "queuename": ("queuename", "queue", "queue_name"),
    "agent": ("agent", "membername"),
    "event": ("event", "verb"),
}
_DATA_COLUMNS: Final = ("data1", "data2", "data3", "data4", "data5")


@dataclass(slots=True)
class QueueLogLine:
    """One parsed line. `data` is the event's parameters (trailing empty ones dropped).

    Nothing changes a line once parsed; the class is not frozen only because a frozen
    dataclass sets each field through `object.__setattr__`, a quarter of a line's parse."""

    line_no: int
    raw: str
    ts_ms: int
    callid: str
    queue: str
    agent: str
    event: str
    data: tuple[str, ...] = ()

    def d(self, n: int) -> str:
        """Parameter `dataN` (1-based), "" when absent."""
        return self.data[n - 1] if 0 < n <= len(self.data) else ""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A line that could not be used, with why and where."""

    line_no: int
    reason: str
    raw: str

    def describe(self) -> str:
        return f"line {self.line_no}: {self.reason}: {self.raw[:200]!r}"


def strip_eol(raw: str) -> str:
    """The line without its `\\n`, `\\r\\n` or `\\r` terminator."""
    return raw.rstrip("\r\n")


def split_data(text: str) -> tuple[str, ...]:
    """Event parameters from the `|`-joined data, without trailing empty ones."""
    parts = text.split("|")
    if parts[-1]:  # nothing to drop (`split` gives one part at least)
        return tuple(parts)
    while parts and not parts[-1]:
        parts.pop()
    return tuple(parts)


def epoch_ms(text: str) -> int | None:
    """Epoch seconds (a 13-digit number is taken as milliseconds), or None if not a number.
    A fraction is cut to whole milliseconds toward the past (never rounded up into the next
    second, minute or interval), with integer arithmetic."""
    text = text.strip()
    if text.isdecimal():  # whole seconds (or milliseconds): the usual case, `_NUMBER_RE` without
        value = int(text)  # a fraction ("decimal" is `\d`: any Unicode digit, as `int` reads)
        return value if value >= 100_000_000_000 else value * 1000
    if not _NUMBER_RE.match(text):
        return None
    whole, _, fraction = text.partition(".")
    if int(whole) >= 100_000_000_000:  # already milliseconds
        return int(whole)
    return int(whole) * 1000 + int(fraction[:3].ljust(3, "0"))


def _check_ts(ts_ms: int | None, text: str) -> int | str:
    if ts_ms is None:
        return f"timestamp {text!r} is not epoch seconds"
    if ts_ms < MIN_EPOCH_S * 1000:
        return f"timestamp {text!r} is before 2000"
    return ts_ms


def parse_pipe_line(raw: str, line_no: int) -> QueueLogLine | DeadLetter:
    """Parse one flat-file line `epoch|callid|queue|agent|EVENT|data...`."""
    return _pipe_line(strip_eol(raw), line_no)


def _pipe_line(line: str, line_no: int) -> QueueLogLine | DeadLetter:
    """`parse_pipe_line` of a line without its terminator (`LineParser` has stripped it)."""
    parts = line.split("|", 5)
    if len(parts) < 5:
        return DeadLetter(
            line_no,
            f"expected at least 5 '|'-separated fields (time|callid|queue|agent|event), "
            f"got {len(parts)}",
            line,
        )
    ts = epoch_ms(parts[0])
    if ts is None or ts < MIN_EPOCH_S * 1000:
        return DeadLetter(line_no, str(_check_ts(ts, parts[0])), line)
    event = parts[4].strip()
    if not event:
        return DeadLetter(line_no, "empty event name", line)
    data = split_data(parts[5]) if len(parts) > 5 else ()
    return QueueLogLine(line_no, line, ts, parts[1].strip(), parts[2].strip(),
                        parts[3].strip(), event, data)  # fmt: skip


@dataclass(frozen=True, slots=True)
class CsvLayout:
    """Where each column sits in a CSV export, from its header line."""

    header: str
    delimiter: str
    index: dict[str, int] = field(default_factory=dict)
    data: tuple[int, ...] = ()
    width: int = 0


def csv_layout(line: str) -> CsvLayout | None:
    """The layout if `line` is a CSV header naming time, callid, queue, agent and event."""
    text = strip_eol(line).lstrip("\ufeff")
    if "|" in text:
        return None
    delimiter = max(",;\t", key=text.count)
    if text.count(delimiter) < 4:
        return None
    cells = [c.strip().strip('"').lower() for c in next(csv.reader([text], delimiter=delimiter))]
    index: dict[str, int] = {}
    for name, aliases in _COLUMNS.items():
        found = [i for i, c in enumerate(cells) if c in aliases]
        if not found:
            return None
        index[name] = found[0]
    if all(c in cells for c in _DATA_COLUMNS):
        data = tuple(cells.index(c) for c in _DATA_COLUMNS)
    elif "data" in cells:
        data = (cells.index("data"),)
    else:
        return None
    return CsvLayout(strip_eol(line), delimiter, index, data, len(cells))


#: How far before the row above a row of a CSV export may lie (lines written a little out of
#: order) and still be read in the first occurrence of a repeated local hour.
_DISORDER_MS = 5 * 60_000


def _csv_time(text: str, zone: ZoneInfo, previous_ms: int | None = None) -> int | str:
    """Epoch ms of a CSV time cell: epoch seconds, or a date-time (local to `zone` without an
    offset). A local time that occurs twice (the hour repeated when clocks go back) is its
    first occurrence unless that lies more than `_DISORDER_MS` before `previous_ms`, the row
    before's instant: the file is in time order, so 02:05 after 02:50 summer time is 02:05
    winter time. With no row before, the first occurrence."""
    text = text.strip()
    if _NUMBER_RE.match(text):
        return _check_ts(epoch_ms(text), text)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return f"time {text!r} is neither epoch seconds nor a date-time"
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
        if previous_ms is not None:
            later = parsed.replace(fold=1)
            if (  # occurs twice, and the first occurrence would go back in the file
                later.utcoffset() != parsed.utcoffset()
                and (parsed - _EPOCH) // _ONE_MS < previous_ms - _DISORDER_MS
            ):
                parsed = later
    return _check_ts((parsed - _EPOCH) // _ONE_MS, text)  # microseconds cut, not rounded


def parse_csv_line(
    raw: str, line_no: int, layout: CsvLayout, zone: ZoneInfo, previous_ms: int | None = None
) -> QueueLogLine | DeadLetter:
    """Parse one row of a database-table CSV export; `previous_ms` is the instant of the row
    before (it settles local times that occur twice, see `_csv_time`)."""
    line = strip_eol(raw)
    try:
        cells = next(csv.reader([line], delimiter=layout.delimiter, strict=True))
    except (csv.Error, StopIteration) as exc:
        return DeadLetter(line_no, f"not a CSV row: {exc}", line)
    if len(cells) > layout.width:
        return DeadLetter(line_no, f"{len(cells)} CSV columns, the header has {layout.width}", line)
    need = max(layout.index.values()) + 1
    if len(cells) < need:
        return DeadLetter(line_no, f"{len(cells)} CSV columns, expected at least {need}", line)
    cells += [""] * (layout.width - len(cells))
    cells = ["" if c.strip() in _NULLS else c for c in cells]
    ts = _csv_time(cells[layout.index["time"]], zone, previous_ms)
    if isinstance(ts, str):
        return DeadLetter(line_no, ts, line)
    event = cells[layout.index["event"]].strip()
    if not event:
        return DeadLetter(line_no, "empty event name", line)
    # data5 holds the rest of the message, pipes included (Asterisk's app-args split), so
    # joining data1..data5 with '|' gives back the message as the flat file has it.
    data = split_data("|".join(cells[i] for i in layout.data))
    col = layout.index
    return QueueLogLine(line_no, line, ts, cells[col["callid"]].strip(),
                        cells[col["queuename"]].strip(), cells[col["agent"]].strip(), event,
                        data)  # fmt: skip


class LineParser:
    """Parses the lines of one file in order: a CSV header on the first non-blank line switches
    to the CSV layout, otherwise lines are flat-file lines."""

    def __init__(self, time_zone: str = "UTC", header: str | None = None) -> None:
        self.zone = ZoneInfo(time_zone)
        self.layout = csv_layout(header) if header else None
        self._seen_first = header is not None
        #: The instant of the last CSV row parsed (for local times that occur twice).
        self._last_ms: int | None = None

    def parse(self, raw: str, line_no: int) -> QueueLogLine | DeadLetter | None:
        """One line; None for blank lines and CSV header lines."""
        line = raw.rstrip("\r\n")  # `strip_eol`
        if not line or line.isspace():  # blank: `not line.strip()` without the copy
            return None
        if not self._seen_first:
            self._seen_first = True
            self.layout = csv_layout(line)
            if self.layout is not None:
                return None
        if self.layout is not None:
            if line == self.layout.header:
                return None  # a repeated header (concatenated exports)
            parsed = parse_csv_line(line, line_no, self.layout, self.zone, self._last_ms)
            if isinstance(parsed, QueueLogLine):
                self._last_ms = parsed.ts_ms
            return parsed
        return _pipe_line(line, line_no)

    def state(self) -> str | None:
        """What must be kept to go on parsing after a restart mid-file: the CSV header."""
        return self.layout.header if self.layout else None

    def reset(self) -> None:
        """A new file starts (rotation): detect its layout again."""
        self.layout = None
        self._seen_first = False
        self._last_ms = None


def parse_lines(
    lines: Iterable[str], time_zone: str = "UTC", first_line_no: int = 1
) -> Iterator[QueueLogLine | DeadLetter]:
    """Parse the lines of one file (numbered from `first_line_no`), skipping blank lines."""
    parser = LineParser(time_zone)
    for line_no, raw in enumerate(lines, start=first_line_no):
        item = parser.parse(raw, line_no)
        if item is not None:
            yield item
