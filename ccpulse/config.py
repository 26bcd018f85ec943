"""One place for configuration: a TOML or YAML file, then `CCPULSE_*` environment overrides.

With no file and no environment, the defaults run the demo: embedded broker, local Redis, the
industry-default KPI policy. The file layout and every key are documented in
docs/configuration.md.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from ccpulse.opening_hours import OpeningHours, parse_opening_hours
from ccpulse.streams.kpi.policy import (
    QUEUE_LEVEL_FIELDS,
    EngineSettings,
    PolicyBook,
    QueuePolicy,
    policy_from_mapping,
)
from ccpulse.ticket_config import ticket_settings
from ccpulse.wallboard.settings import WallboardSettings, wallboard_settings

ENV_PREFIX = "CCPULSE_"
#: Sections that `CCPULSE_<SECTION>_<KEY>` variables may set.
ENV_SECTIONS = ("kafka", "redis", "metrics", "limits", "engine", "defaults", "wallboard")
#: `scheme://user:password@host` in a URL: the part to hide when a URL is logged or shown.
_CREDENTIALS_RE = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<auth>[^/?#\s]*)@")


def mask_url(text: str) -> str:
    """`text` with the credentials of every URL in it replaced by `***` (user names too: an
    ACL user name is half a secret). For log lines, banners and error messages."""
    return _CREDENTIALS_RE.sub(lambda m: f"{m['scheme']}***@", text)


@dataclass(frozen=True, slots=True)
class KafkaSettings:
    #: faust broker URL(s), e.g. "kafka://host1:9092;kafka://host2:9092".
    broker: str = "kafka://127.0.0.1:9092"
    contacts_topic: str = "cc.contacts"
    deadletter_topic: str = "cc.deadletter"
    #: Partitions for topics ccpulse creates (input, dead letters, changelogs).
    partitions: int = 4
    replication_factor: int = 1
    app_id: str = "ccpulse"
    #: Read input keyed any way (or not at all) through a repartition stage that re-keys it
    #: into the internal topic `<app_id>-contacts-repartition` (streams/repartition.py).
    repartition: bool = False
    #: Longest a fetch waits at the broker for data. Kafka answers as soon as data arrives;
    #: the embedded broker only when this expires, so it bounds the delay there.
    fetch_max_wait_ms: int = 50
    #: Within one fetch, the worker writes its state every this many events, and at the
    #: fetch's end: a bound on one write's memory (~20 MB of records per 50,000 events at
    #: 10,000 queues) and on the events a crash makes it apply again (docs/exactly-once.md).
    state_write_every_events: int = 50_000
    #: Connection security (docs/configuration.md): PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL.
    security_protocol: str = "PLAINTEXT"
    #: SASL: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512, with these credentials.
    sasl_mechanism: str = "PLAIN"
    sasl_username: str = ""
    sasl_password: str = ""
    #: TLS: CA bundle (system CAs when empty) and an optional client certificate and key.
    ssl_cafile: str = ""
    ssl_certfile: str = ""
    ssl_keyfile: str = ""

    def __post_init__(self) -> None:
        if self.state_write_every_events < 1:
            raise ValueError(f"[kafka] state_write_every_events must be >= 1, "
                             f"got {self.state_write_every_events!r}")  # fmt: skip


@dataclass(frozen=True, slots=True)
class RedisSettings:
    url: str = "redis://127.0.0.1:6379/0"
    key_prefix: str = "ccpulse"
    #: Changed fields only, one round trip per flush: figures reach Redis within ~0.5 s.
    flush_interval_seconds: float = 0.5
    #: While the worker is catching up (after downtime or a burst: more than this many input
    #: messages waiting, and more than `catch_up_backlog_seconds` of work at its current rate),
    #: it writes only every `catch_up_flush_interval_seconds`, spending its time on the backlog:
    #: figures that far behind are not live anyway.
    catch_up_lag_messages: int = 500
    catch_up_backlog_seconds: float = 2.0
    catch_up_flush_interval_seconds: float = 5.0
    #: While catching up, publishing takes at most this share of the time: flushes that take
    #: longer than `catch_up_flush_interval_seconds` times this (thousands of queues) are
    #: spaced further apart, each at least its own length divided by this share.
    catch_up_flush_share: float = 0.2
    #: While keeping up with messages waiting, likewise at most this share: a worker of
    #: thousands of changing queues, whose flush takes longer than the flush interval, flushes
    #: less often instead of doing nothing else and falling behind.
    flush_share: float = 0.5

    def __post_init__(self) -> None:
        for name in ("catch_up_flush_share", "flush_share"):
            share = getattr(self, name)
            if not 0 < share <= 1:
                raise ValueError(f"[redis] {name} must be > 0 and <= 1, got {share!r}")
    #: The hash of an interval still open is rewritten at most this often (its figures are in
    #: the queue hash's current_interval fields, written at every flush); an interval that has
    #: ended, and any late change to one, goes out at the next flush.
    open_interval_refresh_seconds: float = 5.0
    #: A queue with no update for a day vanishes from Redis.
    ttl_seconds: int = 86_400
    #: Completed intervals kept in Redis for history and exports.
    interval_retention_hours: int = 48


@dataclass(frozen=True, slots=True)
class MetricsSettings:
    host: str = "127.0.0.1"
    port: int = 9464
    #: Export per-agent series (label `agent`): one series set per agent, so off by default.
    agent_labels: bool = False


@dataclass(frozen=True, slots=True)
class LimitsSettings:
    """What one worker takes on at most (docs/operations.md, "Limits and failure modes").

    Input past a limit is dead-lettered (reason `over_limit` for names, `invalid` for
    messages), counted in metrics and logged once per name: never silently tracked or dropped.
    """

    #: Messages larger than this are dead-lettered whole, unread (Kafka's default is ~1 MB).
    max_message_bytes: int = 1_048_576
    #: Elements of one JSON array message that are decoded; the rest go to one summary record.
    max_elements_per_message: int = 10_000
    #: Refused elements of one message dead-lettered one by one; the rest in one summary record.
    max_dead_letters_per_message: int = 100
    #: A dead letter's copy of the original and of the error is cut to fit this (with the
    #: original's size and SHA-256 recorded); its offset locates the whole message.
    max_dead_letter_bytes: int = 65_536
    #: Tenants, queues (per tenant and in all) and agents (likewise) this worker tracks. Each
    #: queue costs ~150 Prometheus series per channel and a Redis hash; see docs/deploy.md.
    max_tenants: int = 100
    max_queues_per_tenant: int = 2_000
    max_queues: int = 2_000
    max_agents_per_tenant: int = 5_000
    max_agents: int = 50_000

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"[limits] {f.name} must be a whole number >= 1, got {value!r}")
        if self.max_dead_letter_bytes < 1024:
            raise ValueError("[limits] max_dead_letter_bytes must be at least 1024")


@dataclass(frozen=True, slots=True)
class Settings:
    kafka: KafkaSettings = field(default_factory=KafkaSettings)
    redis: RedisSettings = field(default_factory=RedisSettings)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    limits: LimitsSettings = field(default_factory=LimitsSettings)
    policies: PolicyBook = field(default_factory=PolicyBook)
    wallboard: WallboardSettings = field(default_factory=WallboardSettings)
    #: (tenant, queue) -> opening hours (ccpulse/opening_hours.py); none: open around the clock.
    opening_hours: OpeningHours = field(default_factory=dict)


def load_settings(path: str | Path | None = None, env: dict[str, str] | None = None) -> Settings:
    """Read the file (if any; `CCPULSE_CONFIG` names one too), then apply the environment."""
    env = dict(os.environ) if env is None else env
    path = path or env.get(ENV_PREFIX + "CONFIG")
    doc: dict[str, Any] = _read_file(Path(path)) if path else {}
    for section, key, value in _env_overrides(env):
        doc.setdefault(section, {})[key] = value
    known = {"kafka", "redis", "metrics", "limits", "engine", "defaults", "tenants", "queues",
             "opening_hours", "wallboard", "tickets"}  # fmt: skip
    unknown = set(doc) - known
    if unknown:
        raise ValueError(f"unknown configuration section(s): {', '.join(sorted(unknown))}")
    return Settings(
        kafka=_section(KafkaSettings, doc.get("kafka", {}), "kafka"),
        redis=_section(RedisSettings, doc.get("redis", {}), "redis"),
        metrics=_section(MetricsSettings, doc.get("metrics", {}), "metrics"),
        limits=_section(LimitsSettings, doc.get("limits", {}), "limits"),
        policies=_policy_book(doc),
        wallboard=wallboard_settings(doc.get("wallboard", {})),
        opening_hours=parse_opening_hours(doc.get("opening_hours", {})),
    )


def _read_file(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    is_yaml = path.suffix in (".yaml", ".yml")
    loaded = (yaml.safe_load(text) or {}) if is_yaml else tomllib.loads(text)
    if not isinstance(loaded, dict):
        raise ValueError(f"{path}: configuration must be a mapping")
    return loaded


def _env_overrides(env: dict[str, str]) -> list[tuple[str, str, Any]]:
    """`CCPULSE_SECTION_KEY=value` for the sections kafka, redis, metrics, limits, engine,
    defaults, wallboard (its scalar keys: host, port, tenant, queues, tiles, columns,
    stale_seconds)."""
    out = []
    for name, raw in env.items():
        if not name.startswith(ENV_PREFIX) or name == ENV_PREFIX + "CONFIG":
            continue
        rest = name[len(ENV_PREFIX) :].lower()
        section, _, key = rest.partition("_")
        if section in ENV_SECTIONS and key:
            out.append((section, key, _parse_scalar(raw)))
    return out


def _parse_scalar(raw: str) -> Any:
    """Environment values: TOML literal syntax when it parses (numbers, booleans, arrays)."""
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def _section(cls: Any, values: dict[str, Any], name: str) -> Any:
    types = {f.name: f.type for f in fields(cls)}
    unknown = set(values) - set(types)
    if unknown:
        raise ValueError(f"unknown [{name}] setting(s): {', '.join(sorted(unknown))}")
    # An environment value such as CCPULSE_REDIS_KEY_PREFIX=123 parses as a number: a setting
    # declared as text takes it as the text it was.
    values = {k: str(v) if types[k] in ("str", str) and not isinstance(v, str) else v
              for k, v in values.items()}  # fmt: skip
    return cls(**values)


def _policy_book(doc: dict[str, Any]) -> PolicyBook:
    engine_values = dict(doc.get("engine", {}))
    if "rolling_minutes" in engine_values:
        engine_values["rolling_minutes"] = tuple(engine_values["rolling_minutes"])
    engine = _section(EngineSettings, engine_values, "engine")
    default = policy_from_mapping(QueuePolicy(), doc.get("defaults", {}))
    tenants = {
        name: policy_from_mapping(default, dict(values))
        for name, values in doc.get("tenants", {}).items()
    }
    queues: dict[tuple[str, str], QueuePolicy] = {}
    channels: dict[tuple[str, str, str], QueuePolicy] = {}
    for qname, values in doc.get("queues", {}).items():
        tenant, _, queue = qname.rpartition("/")
        tenant = tenant or "default"
        values = dict(values)
        per_channel = values.pop("channels", {})
        qpol = policy_from_mapping(tenants.get(tenant, default), values)
        queues[(tenant, queue)] = qpol
        for channel, cvalues in per_channel.items():
            bad = set(cvalues) & set(QUEUE_LEVEL_FIELDS)
            if bad:
                raise ValueError(
                    f"queue {qname!r} channel {channel!r}: {', '.join(sorted(bad))} "
                    "can only be set per queue (intervals of all channels must align)"
                )
            channels[(tenant, queue, channel)] = policy_from_mapping(qpol, dict(cvalues))
    tickets = ticket_settings(doc["tickets"]) if doc.get("tickets") else None
    return PolicyBook(default, tenants, queues, channels, engine, tickets)
