"""The demo's configuration (ccpulse/demo.toml) matches the simulated contact centre it runs:
each queue's time zone, opening hours and channel thresholds, and each ticket desk's business
hours; and the demo's banner names the keys of every family under the configured prefix."""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

from ccpulse.config import load_settings
from ccpulse.demo import DEMO_CONFIG, banner, simulated_events, write_events
from ccpulse.report import build_report, render_table
from ccpulse.sources.simulator import default_desks, default_queues

SETTINGS = load_settings(DEMO_CONFIG, env={})
BOOK = SETTINGS.policies


def test_every_simulated_queue_has_its_time_zone() -> None:
    for q in default_queues():
        assert BOOK.for_queue(q.tenant, q.name).time_zone == q.time_zone, q.key


def test_opening_hours_are_the_simulated_ones() -> None:
    configured = {key: {(h[1], h[2]) for h in s.hours} for key, s in SETTINGS.opening_hours.items()}
    simulated = {
        (q.tenant, q.name): {(f"{q.open_hours[0]:02d}:00", f"{q.open_hours[1]:02d}:00")}
        for q in default_queues()
        if q.open_hours is not None
    }
    assert configured == simulated
    assert all(len(s.hours) == 7 for s in SETTINGS.opening_hours.values())  # every day


def test_thresholds_suit_each_channel() -> None:
    thresholds = {
        q.channel: BOOK.for_channel(q.tenant, q.name, q.channel).sl_threshold_seconds
        for q in default_queues()
    }
    assert thresholds == {"voice": 20, "chat": 60, "email": 3600}
    (email,) = [q for q in default_queues() if q.channel == "email"]
    limit = BOOK.for_channel(email.tenant, email.name, "email").longest_wait_limit_seconds
    assert email.max_wait_seconds is not None and limit >= email.max_wait_seconds


def test_ticket_clocks_follow_each_desk_in_its_tenants_time_zone() -> None:
    tickets = BOOK.tickets
    assert tickets is not None
    for desk in default_desks(default_queues()):
        schedule = tickets.schedule_for(desk.tenant)
        assert schedule is not None and schedule.time_zone is None  # the tenant's own zone
        opening, closing = desk.business_hours
        assert set(schedule.hours) == {(d, f"{opening:02d}:00", f"{closing:02d}:00")
                                       for d in range(5)}  # fmt: skip
        assert BOOK.for_queue(desk.tenant, "#tickets").time_zone == desk.time_zone


def test_the_banner_names_every_familys_keys_under_the_prefix() -> None:
    settings = replace(SETTINGS, redis=replace(SETTINGS.redis, key_prefix="mydemo"))
    text = banner(settings, "cfg.toml", 9092, 6379, 9464, "http://127.0.0.1:8080/",
                  "http://127.0.0.1:9090", Path(".ccpulse/demo-worker.log"))  # fmt: skip
    for line in ("config      cfg.toml",
                 "queues      redis-cli -p 6379 zrange mydemo:queues 0 -1",
                 "queue hash  redis-cli -p 6379 hgetall mydemo:queue:acme:sales",
                 "agents      redis-cli -p 6379 hgetall mydemo:agent-summary:acme:#all",
                 "tickets     redis-cli -p 6379 hgetall mydemo:tickets:acme",
                 "surveys     redis-cli -p 6379 hgetall mydemo:surveys:acme",
                 "wallboard   http://127.0.0.1:8080/",
                 "prometheus  http://127.0.0.1:9090"):  # fmt: skip
        assert f"  {line}\n" in text


def test_the_report_table_has_ticket_and_survey_sections() -> None:
    out = io.BytesIO()
    write_events(simulated_events(1, 1_764_928_800_000, 3.0), out)  # 2025-12-05 10:00 UTC
    report = build_report(out.getvalue().splitlines(), BOOK, 1_764_939_600_000)
    table = io.StringIO()
    render_table(report, table)
    text = table.getvalue()
    for tenant in ("acme", "globex"):
        assert f"\n== tickets of {tenant}  as of " in text
        assert f"\n== surveys of {tenant}  as of " in text
    assert "all tickets" in text and "group desk" in text and "priority urgent" in text
    assert "all responses" in text and "queue sales" in text
