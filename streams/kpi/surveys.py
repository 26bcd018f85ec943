"""Survey KPIs per tenant, exactly once: CSAT, NPS and CES (the "surveys" event family).

Pure Python, no I/O; definitions and worked examples in docs/survey-kpis.md. A tenant's state
is a set of records, each carrying `pos`, the input position that last changed it:

- tallies ``(tenant, "tally", gran, start, dim, value)``: counts of one local interval ("i") or
  local day ("d") for everything ("all", "") or one queue, agent or channel;
- totals ``(tenant, "totals")``: responses too late, duplicated or outside the scale;
- seen ``(tenant, "seen", event_id)``: one per response, kept until it is past lateness;
- meta ``(tenant, "meta")``: the tenant's position and watermark.

`drain_writes` lists them tallies, totals, seen, meta, then deletions. A seen record found
written implies the tallies of its response were written, and a meta record implies everything
before its position was written, so replaying from any earlier position applies each response
to each record exactly once (see `SurveyEngine.apply`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any, Final

from ccpulse.schemas.decode import SURVEY_SCORE_RANGE
from ccpulse.schemas.events import SURVEYS_KEY, SurveyEvent
from ccpulse.streams.kpi.engine import Verdict
from ccpulse.streams.kpi.family import RecordKey, RecordWrite
from ccpulse.streams.kpi.policy import PolicyBook
from ccpulse.streams.kpi.windows import Calendar

#: by_queue key of responses that name no queue ('(' cannot start a queue name).
NO_QUEUE: Final = "(none)"
#: Local days in the rolling window: today and the 6 before.
ROLLING_DAYS: Final = 7

# Tally slots (after `pos` at index 0). CES scores are summed in thousandths, so sums are exact
# integers whatever the order of arrival.
CSAT_N: Final = 1
CSAT_SAT: Final = 2
PROMOTERS: Final = 3
PASSIVES: Final = 4
DETRACTORS: Final = 5
CES_N: Final = 6
CES_MILLI: Final = 7
TALLY_LEN: Final = 8
# Totals slots (after `pos`).
TOO_LATE: Final = 1
DUPLICATES: Final = 2
OUT_OF_SCALE: Final = 3

#: (granularity "i"/"d", start ms) of a period; (dimension, value) of a breakdown row.
Period = tuple[str, int]
Row = tuple[str, str]
DIMENSIONS: Final = (("queue", "by_queue"), ("agent", "by_agent"), ("channel", "by_channel"))
#: The row of every response (built once).
ALL_ROW: Final = ("all", "")


@dataclass(frozen=True, slots=True)
class SurveySettings:
    """Scales of CSAT and CES (NPS is always 0-10: promoters 9-10, detractors 0-6)."""

    csat_scale_min: float = 1.0
    csat_scale_max: float = 5.0
    #: A CSAT score at or above this is "satisfied" (4-5 on 1-5; e.g. 8 on 1-10).
    csat_satisfied_min: float = 4.0
    ces_scale_min: float = 1.0
    ces_scale_max: float = 7.0

    def __post_init__(self) -> None:
        low, high = SURVEY_SCORE_RANGE["csat"]
        if not low <= self.csat_scale_min < self.csat_satisfied_min <= self.csat_scale_max <= high:
            raise ValueError(
                f"CSAT needs {low:g} <= scale_min < satisfied_min <= scale_max <= {high:g}"
            )
        low, high = SURVEY_SCORE_RANGE["ces"]
        if not low <= self.ces_scale_min < self.ces_scale_max <= high:
            raise ValueError(f"CES needs {low:g} <= scale_min < scale_max <= {high:g}")


def nps_slot(score: float) -> int:
    """PROMOTERS for 9-10, PASSIVES for 7-8, DETRACTORS for 0-6."""
    return PROMOTERS if score >= 9 else PASSIVES if score >= 7 else DETRACTORS


def figures(t: list[int]) -> dict[str, Any]:
    """CSAT (0-1), NPS (-100..100) and CES average of a tally, each beside its response count."""
    nps_n = t[PROMOTERS] + t[PASSIVES] + t[DETRACTORS]
    return {
        "csat": t[CSAT_SAT] / t[CSAT_N] if t[CSAT_N] else None,
        "csat_responses": t[CSAT_N],
        "csat_satisfied": t[CSAT_SAT],
        "nps": 100 * (t[PROMOTERS] - t[DETRACTORS]) / nps_n if nps_n else None,
        "nps_responses": nps_n,
        "promoters": t[PROMOTERS],
        "passives": t[PASSIVES],
        "detractors": t[DETRACTORS],
        "ces_average": t[CES_MILLI] / (1000 * t[CES_N]) if t[CES_N] else None,
        "ces_responses": t[CES_N],
    }


def _new_tally() -> list[int]:
    return [-1] + [0] * (TALLY_LEN - 1)


def day_start_back(cal: Calendar, ts_ms: int, days: int) -> int:
    """Start of the local day `days` calendar days before the one holding `ts_ms`."""
    local = datetime.fromtimestamp(ts_ms / 1000, cal.zone).date() - timedelta(days=days)
    noon = datetime.combine(local, time(12), tzinfo=cal.zone)  # never in a DST gap
    return cal.day_bounds(round(noon.timestamp() * 1000))[0]


class TenantSurveys:
    """All survey state of one tenant."""

    __slots__ = ("calendar", "interval_minutes", "periods", "pos", "seen", "tenant", "time_zone",
                 "totals", "watermark_ms")  # fmt: skip

    def __init__(self, tenant: str, book: PolicyBook) -> None:
        policy = book.for_queue(tenant, SURVEYS_KEY)
        self.tenant = tenant
        self.time_zone = policy.time_zone
        self.interval_minutes = policy.interval_minutes
        self.calendar = Calendar(policy.time_zone, policy.interval_ms)
        #: period -> breakdown row -> tally ([pos, counts...]).
        self.periods: dict[Period, dict[Row, list[int]]] = {}
        self.totals = [-1, 0, 0, 0]
        #: event_id -> [pos, ts_ms] of every response not yet past lateness.
        self.seen: dict[str, list[int]] = {}
        self.pos = -1
        self.watermark_ms = 0


@dataclass(slots=True)
class _Changes:
    """The records changed since the last drain, each kind in the order first changed (dicts
    as ordered sets: the drain lists them in that order, no sort needed)."""

    #: (tenant, period, row); typed Any so that, compiled, the period and row tuples a key
    #: holds are the ones `_add` built once per response, not copies boxed again per key.
    tallies: dict[Any, None]
    totals: dict[str, None]
    seen: dict[tuple[str, str], None]
    meta: dict[str, None]
    deleted: set[RecordKey]

    @classmethod
    def empty(cls) -> _Changes:
        return cls({}, {}, {}, {}, set())


class SurveyEngine:
    """CSAT, NPS and CES per tenant, by queue, agent and channel; one per input partition."""

    family = "surveys"

    def __init__(self, book: PolicyBook, settings: SurveySettings | None = None) -> None:
        self.book = book
        self.settings = settings or SurveySettings()
        self.lateness_ms = book.engine.lateness_seconds * 1000
        self.retention_ms = book.engine.interval_retention_hours * 3_600_000
        self.states: dict[str, TenantSurveys] = {}
        self._changes = _Changes.empty()
        self._dirty: set[str] = set()

    def state(self, tenant: str) -> TenantSurveys:
        found = self.states.get(tenant)
        if found is None:
            found = self.states[tenant] = TenantSurveys(tenant, self.book)
        return found

    # -- applying events -------------------------------------------------------------------

    def apply(self, event: SurveyEvent, pos: int | None = None) -> str:
        """Apply one response; with `pos` (increasing per input partition) replay-safe.

        Order of checks: already held (REPLAYED: the tenant's meta, or the response's seen
        record, is at or past `pos`), too late (more than lateness behind the watermark),
        DUPLICATE (event_id seen before), then APPLIED, scores outside the configured scale
        counting only in `out_of_scale`. Each tally or totals record takes the event only if
        its own `pos` is below the event's.
        """
        st = self.state(event.tenant)
        if pos is not None and st.pos >= pos:
            return Verdict.REPLAYED
        seen = st.seen.get(event.event_id)
        if pos is not None and seen is not None and seen[0] >= pos:
            self._advance(st, event.ts_ms, pos)
            return Verdict.REPLAYED
        if st.watermark_ms - event.ts_ms > self.lateness_ms:
            self._count(st, TOO_LATE, pos)
            self._advance(st, event.ts_ms, pos)
            return Verdict.TOO_LATE
        if seen is not None:
            self._count(st, DUPLICATES, pos)
            self._advance(st, event.ts_ms, pos)
            return Verdict.DUPLICATE
        delta = self._delta(event)
        if delta is None:
            self._count(st, OUT_OF_SCALE, pos)
        else:
            self._add(st, event, delta, pos)
        st.seen[event.event_id] = [-1 if pos is None else pos, event.ts_ms]
        self._changes.seen[(st.tenant, event.event_id)] = None
        if self._changes.deleted:
            self._changes.deleted.discard((st.tenant, "seen", event.event_id))
        self._advance(st, event.ts_ms, pos)
        return Verdict.APPLIED

    def _delta(self, event: SurveyEvent) -> list[tuple[int, int]] | None:
        """Tally slot increments of one response, or None when outside the configured scale."""
        score, cfg = event.score, self.settings
        if event.survey == "nps":
            return [(nps_slot(score), 1)]
        if event.survey == "csat":
            if not cfg.csat_scale_min <= score <= cfg.csat_scale_max:
                return None
            return [(CSAT_N, 1), (CSAT_SAT, int(score >= cfg.csat_satisfied_min))]
        if not cfg.ces_scale_min <= score <= cfg.ces_scale_max:
            return None
        return [(CES_N, 1), (CES_MILLI, round(score * 1000))]

    def _add(
        self, st: TenantSurveys, event: SurveyEvent, delta: list[tuple[int, int]], pos: int | None
    ) -> None:
        cal = st.calendar
        ts_ms, agent_id, tenant = event.ts_ms, event.agent_id, st.tenant
        # Periods and rows typed Any: compiled, each tuple is built once here and used as it
        # is in every key below (a typed tuple would be boxed again at each use).
        rows: list[Any] = [ALL_ROW, ("queue", event.queue or NO_QUEUE), ("channel", event.channel)]
        if agent_id is not None:
            rows.append(("agent", agent_id))
        interval: Any = ("i", cal.interval_start(ts_ms))
        day: Any = ("d", cal.day_bounds(ts_ms)[0])
        periods: dict[Any, dict[Any, list[int]]] = st.periods
        changed, deleted = self._changes.tallies, self._changes.deleted
        for period in (interval, day):
            tallies = periods.get(period)
            if tallies is None:
                tallies = periods[period] = {}
            for row in rows:
                tally = tallies.get(row)
                if tally is None:
                    tally = tallies[row] = _new_tally()
                elif pos is not None and tally[0] >= pos:
                    continue  # already holds this response (written before a crash)
                for slot, value in delta:
                    tally[slot] += value
                if pos is not None:
                    tally[0] = pos
                changed[(tenant, period, row)] = None
                if deleted:  # deletions wait for the next drain only after a garbage collection
                    deleted.discard(_tally_key(tenant, period, row))

    def _count(self, st: TenantSurveys, slot: int, pos: int | None) -> None:
        if pos is not None and st.totals[0] >= pos:
            return
        st.totals[slot] += 1
        if pos is not None:
            st.totals[0] = pos
        self._changes.totals[st.tenant] = None

    def _advance(self, st: TenantSurveys, ts_ms: int, pos: int | None) -> None:
        st.watermark_ms = max(st.watermark_ms, ts_ms)
        if pos is not None and pos > st.pos:
            st.pos = pos
        self._changes.meta[st.tenant] = None
        self._dirty.add(st.tenant)

    # -- changelog -------------------------------------------------------------------------

    def drain_writes(self) -> list[RecordWrite]:
        """Changed records: tallies, totals, seen, meta, then deletions (replay-safe order;
        within a kind, in the order first changed)."""
        ch, self._changes = self._changes, _Changes.empty()
        writes: list[RecordWrite] = []
        for tenant, period, row in ch.tallies:
            tally = self.states[tenant].periods[period][row]
            writes.append((_tally_key(tenant, period, row), list(tally)))
        writes += [((t, "totals"), list(self.states[t].totals)) for t in ch.totals]
        for tenant, event_id in ch.seen:
            writes.append(((tenant, "seen", event_id), list(self.states[tenant].seen[event_id])))
        for t in ch.meta:
            writes.append(((t, "meta"), [self.states[t].pos, self.states[t].watermark_ms]))
        # Deletions last: one found written implies the meta of every event before the garbage
        # collection that made it was written, so no replayed event can miss the record.
        writes += [(key, None) for key in sorted(ch.deleted)]
        return writes

    def restore(self, key: RecordKey, record: list[Any]) -> None:
        """Load one record read back from the changelog (any order)."""
        st = self.state(key[0])
        kind = key[1]
        if kind == "tally":
            gran, start, dim, value = key[2:]
            st.periods.setdefault((gran, int(start)), {})[(dim, value)] = [int(x) for x in record]
        elif kind == "totals":
            st.totals = [int(x) for x in record]
        elif kind == "seen":
            st.seen[key[2]] = [int(x) for x in record]
        elif kind == "meta":
            st.pos, st.watermark_ms = int(record[0]), int(record[1])
        else:
            raise ValueError(f"unknown survey record kind {kind!r}")

    def finish_restore(self) -> None:
        """Nothing is derived from records; mark every tenant for publication."""
        self._changes = _Changes.empty()
        self._dirty.update(self.states)

    def dirty_tenants(self) -> set[str]:
        dirty, self._dirty = self._dirty, set()
        return dirty

    def tenants(self) -> list[str]:
        return sorted(self.states)

    def collect_garbage(self) -> None:
        """Drop seen records and tallies that no event short of too late can touch and no
        snapshot at or after the watermark shows (driven by event time, so no figure changes)."""
        for tenant, st in self.states.items():
            if not st.watermark_ms:
                continue
            horizon = st.watermark_ms - self.lateness_ms
            stale = [eid for eid, (_, ts_ms) in st.seen.items() if ts_ms < horizon]
            for eid in stale:
                del st.seen[eid]
                self._changes.seen.pop((tenant, eid), None)
                self._changes.deleted.add((tenant, "seen", eid))
            cal = st.calendar
            # Interval retention 0 keeps every interval (as the queue engine does).
            floors = {"d": min(horizon, day_start_back(cal, st.watermark_ms, ROLLING_DAYS - 1))}
            if self.retention_ms:
                floors["i"] = min(horizon, st.watermark_ms - self.retention_ms)
            for period in list(st.periods):
                gran, start = period
                if gran not in floors:
                    continue
                end = cal.interval_end(start) if gran == "i" else cal.day_bounds(start)[1]
                if end > floors[gran]:
                    continue
                for row in st.periods.pop(period):
                    self._changes.tallies.pop((tenant, period, row), None)
                    self._changes.deleted.add(_tally_key(tenant, period, row))

    # -- reading ---------------------------------------------------------------------------

    def snapshot(self, tenant: str, now_ms: int, history: bool = True) -> dict[str, Any]:
        """Every figure of one tenant as of `now_ms` (JSON-ready; see docs/survey-kpis.md);
        `intervals` only with `history`."""
        st = self.states.get(tenant) or TenantSurveys(tenant, self.book)
        cal = st.calendar
        current = cal.interval_start(now_ms)
        today, today_end = cal.day_bounds(now_ms)
        week = day_start_back(cal, now_ms, ROLLING_DAYS - 1)
        floor = max(today, now_ms - self.retention_ms) if self.retention_ms else today
        days = [p for p in st.periods if p[0] == "d" and week <= p[1] <= today]

        def window(periods: list[Period], start: int, end: int) -> dict[str, Any]:
            return {"start": cal.label(start), "end": cal.label(end),
                    **_breakdown(st.periods.get(p, {}) for p in periods)}  # fmt: skip

        def each_interval() -> list[dict[str, Any]]:
            starts = sorted(s for g, s in st.periods if g == "i" and floor <= s <= now_ms)
            return [window([("i", s)], s, cal.interval_end(s)) for s in starts]

        return {
            "tenant": tenant,
            "as_of": cal.label(now_ms),
            "as_of_ms": now_ms,
            "time_zone": st.time_zone,
            "interval_minutes": st.interval_minutes,
            "current_interval": window([("i", current)], current, cal.interval_end(current)),
            "today": window([("d", today)], today, today_end),
            "rolling_7d": window(days, week, today_end),
            **({"intervals": each_interval()} if history else {}),
            "pipeline": {
                "too_late": st.totals[TOO_LATE],
                "duplicates": st.totals[DUPLICATES],
                "out_of_scale": st.totals[OUT_OF_SCALE],
                "watermark": cal.label(st.watermark_ms) if st.watermark_ms else None,
            },
        }


def _tally_key(tenant: str, period: Period, row: Row) -> RecordKey:
    return (tenant, "tally", period[0], str(period[1]), row[0], row[1])


def _breakdown(parts: Iterable[dict[Row, list[int]]]) -> dict[str, Any]:
    """Sum the tallies of some periods row by row: {"all", "by_queue", "by_agent", "by_channel"}."""
    sums: dict[Row, list[int]] = {}
    for rows in parts:
        for row, tally in rows.items():
            acc = sums.setdefault(row, _new_tally())
            for i in range(1, TALLY_LEN):
                acc[i] += tally[i]
    out: dict[str, Any] = {"all": figures(sums.get(("all", ""), _new_tally()))}
    for dim, name in DIMENSIONS:
        out[name] = {v: figures(t) for (d, v), t in sorted(sums.items()) if d == dim}
    return out
