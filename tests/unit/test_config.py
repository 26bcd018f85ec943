"""Configuration: defaults, TOML and YAML files, `CCPULSE_*` environment overrides, errors.

Policies resolve defaults < tenant < queue < channel; time zone, interval length and attribution
shape the buckets and so may only be set per queue (or above), never per channel.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ccpulse.config import (
    KafkaSettings,
    MetricsSettings,
    RedisSettings,
    Settings,
    load_settings,
)
from ccpulse.streams.kpi import Attribution, EngineSettings, PolicyBook, QueuePolicy, SLFormula

TOML = """
[kafka]
broker = "kafka://k1:9092;kafka://k2:9092"
partitions = 12

[redis]
url = "redis://cache:6379/2"

[metrics]
port = 9500

[engine]
lateness_seconds = 3600
rolling_minutes = [5, 15]

[defaults]
sl_threshold_seconds = 30
time_zone = "Europe/Paris"

[tenants.acme]
sl_target = 0.9
interval_minutes = 30

[queues."acme/support"]
sl_formula = "answered"
attribution = "arrival"

[queues."acme/support".channels.chat]
sl_threshold_seconds = 60
short_abandon_seconds = 10

[queues.sales]
short_abandon_seconds = 8
"""

YAML = """
kafka:
  broker: "kafka://k1:9092;kafka://k2:9092"
  partitions: 12
redis:
  url: "redis://cache:6379/2"
metrics:
  port: 9500
engine:
  lateness_seconds: 3600
  rolling_minutes: [5, 15]
defaults:
  sl_threshold_seconds: 30
  time_zone: Europe/Paris
tenants:
  acme:
    sl_target: 0.9
    interval_minutes: 30
queues:
  acme/support:
    sl_formula: answered
    attribution: arrival
    channels:
      chat:
        sl_threshold_seconds: 60
        short_abandon_seconds: 10
  sales:
    short_abandon_seconds: 8
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_no_file_and_no_environment_gives_the_defaults() -> None:
    settings = load_settings(None, env={})
    assert settings == Settings()
    assert settings.kafka.broker == "kafka://127.0.0.1:9092"
    assert settings.redis.url == "redis://127.0.0.1:6379/0"
    assert settings.metrics.port == 9464
    policy = settings.policies.for_channel("default", "any", "voice")
    assert (policy.sl_threshold_seconds, policy.sl_target) == (20.0, 0.80)
    assert policy.sl_formula is SLFormula.EXCLUDE_SHORT_ABANDONS
    assert (policy.time_zone, policy.interval_minutes) == ("UTC", 15)
    assert policy.attribution is Attribution.OUTCOME
    assert settings.policies.engine == EngineSettings()


@pytest.mark.parametrize(("name", "text"), [("ccpulse.toml", TOML), ("ccpulse.yaml", YAML)])
def test_file_with_tenant_queue_and_channel_overrides(tmp_path: Path, name: str, text: str) -> None:
    settings = load_settings(write(tmp_path, name, text), env={})
    assert settings.kafka == KafkaSettings(broker="kafka://k1:9092;kafka://k2:9092", partitions=12)
    assert settings.redis == RedisSettings(url="redis://cache:6379/2")
    assert settings.metrics == MetricsSettings(port=9500)
    book = settings.policies
    assert book.engine == EngineSettings(lateness_seconds=3600, rolling_minutes=(5, 15))

    default = QueuePolicy(sl_threshold_seconds=30, time_zone="Europe/Paris")
    acme = QueuePolicy(
        sl_threshold_seconds=30, time_zone="Europe/Paris", sl_target=0.9, interval_minutes=30
    )
    support = QueuePolicy(
        sl_threshold_seconds=30,
        time_zone="Europe/Paris",
        sl_target=0.9,
        interval_minutes=30,
        sl_formula=SLFormula.ANSWERED,
        attribution=Attribution.ARRIVAL,
    )
    support_chat = QueuePolicy(
        sl_threshold_seconds=60,
        short_abandon_seconds=10,
        time_zone="Europe/Paris",
        sl_target=0.9,
        interval_minutes=30,
        sl_formula=SLFormula.ANSWERED,
        attribution=Attribution.ARRIVAL,
    )
    sales = QueuePolicy(sl_threshold_seconds=30, time_zone="Europe/Paris", short_abandon_seconds=8)

    assert book.for_queue("other", "anything") == default
    assert book.for_queue("acme", "billing") == acme
    assert book.for_queue("acme", "support") == support
    assert book.for_channel("acme", "support", "voice") == support
    assert book.for_channel("acme", "support", "chat") == support_chat
    # A bare queue name belongs to the tenant "default".
    assert book.for_queue("default", "sales") == sales
    assert book.for_queue("acme", "sales") == acme


def test_yml_suffix_is_yaml(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, "c.yml", "metrics:\n  port: 9999\n"), env={})
    assert settings.metrics.port == 9999


def test_empty_yaml_file_gives_the_defaults(tmp_path: Path) -> None:
    assert load_settings(write(tmp_path, "c.yaml", ""), env={}) == Settings()


def test_file_named_by_environment(tmp_path: Path) -> None:
    path = write(tmp_path, "c.toml", "[metrics]\nport = 9100\n")
    assert load_settings(None, env={"CCPULSE_CONFIG": str(path)}).metrics.port == 9100


def test_environment_overrides() -> None:
    settings = load_settings(
        None,
        env={
            "CCPULSE_DEFAULTS_SL_THRESHOLD_SECONDS": "30",
            "CCPULSE_DEFAULTS_TIME_ZONE": "America/St_Johns",
            "CCPULSE_KAFKA_BROKER": "kafka://broker-1:9092",
            "CCPULSE_REDIS_KEY_PREFIX": "cc",
            "CCPULSE_REDIS_FLUSH_INTERVAL_SECONDS": "2.5",
            "CCPULSE_METRICS_PORT": "9700",
            "CCPULSE_ENGINE_ROLLING_MINUTES": "[5, 30]",
            "PATH": "/usr/bin",
            "CCPULSE_UNRELATED_THING": "ignored: not a configuration section",
        },
    )
    policy = settings.policies.default
    assert policy.sl_threshold_seconds == 30
    assert policy.sl_threshold_ms == 30_000
    assert policy.time_zone == "America/St_Johns"
    assert settings.kafka.broker == "kafka://broker-1:9092"
    assert (settings.redis.key_prefix, settings.redis.flush_interval_seconds) == ("cc", 2.5)
    assert settings.metrics.port == 9700
    assert settings.policies.engine.rolling_minutes == (5, 30)


def test_environment_wins_over_the_file_and_flows_down_to_queues(tmp_path: Path) -> None:
    path = write(tmp_path, "c.toml", TOML)
    settings = load_settings(
        path,
        env={
            "CCPULSE_DEFAULTS_SL_THRESHOLD_SECONDS": "45",
            "CCPULSE_KAFKA_BROKER": "kafka://elsewhere:9092",
        },
    )
    book = settings.policies
    assert settings.kafka.broker == "kafka://elsewhere:9092"
    assert settings.kafka.partitions == 12  # the rest of [kafka] still comes from the file
    assert book.default.sl_threshold_seconds == 45
    assert book.for_queue("acme", "support").sl_threshold_seconds == 45
    assert book.for_queue("default", "sales").sl_threshold_seconds == 45
    # A channel that sets its own threshold keeps it.
    assert book.for_channel("acme", "support", "chat").sl_threshold_seconds == 60


def test_policy_book_resolution_order() -> None:
    low = QueuePolicy(sl_target=0.5)
    book = PolicyBook(
        default=QueuePolicy(sl_target=0.1),
        tenants={"t": QueuePolicy(sl_target=0.2)},
        queues={("t", "q"): QueuePolicy(sl_target=0.3)},
        channels={("t", "q", "chat"): low},
    )
    assert book.for_channel("t", "q", "chat") is low
    assert book.for_channel("t", "q", "voice").sl_target == 0.3
    assert book.for_channel("t", "other", "chat").sl_target == 0.2
    assert book.for_channel("u", "q", "chat").sl_target == 0.1


# -- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("[kafak]\nbroker = 'x'\n", "kafak"),
        ("[kafka]\nbrokers = 'x'\n", "brokers"),
        ("[redis]\nhost = 'x'\n", "host"),
        ("[engine]\nlateness = 5\n", "lateness"),
        ("[defaults]\nsl_treshold_seconds = 30\n", "sl_treshold_seconds"),
        ("[tenants.acme]\ninterval = 30\n", "interval"),
        ("[queues.sales]\ntarget = 0.9\n", "target"),
        ("[queues.sales.channels.chat]\nthreshold = 9\n", "threshold"),
    ],
)
def test_unknown_keys_are_errors(tmp_path: Path, text: str, named: str) -> None:
    with pytest.raises(ValueError, match=named):
        load_settings(write(tmp_path, "c.toml", text), env={})


def test_the_state_write_bound_within_a_fetch_is_a_setting() -> None:
    assert load_settings(env={}).kafka.state_write_every_events == 50_000
    env = {"CCPULSE_KAFKA_STATE_WRITE_EVERY_EVENTS": "300"}
    assert load_settings(env=env).kafka.state_write_every_events == 300
    with pytest.raises(ValueError, match="state_write_every_events must be >= 1"):
        load_settings(env={"CCPULSE_KAFKA_STATE_WRITE_EVERY_EVENTS": "0"})


def test_unknown_key_from_the_environment_is_an_error() -> None:
    with pytest.raises(ValueError, match="brokers"):
        load_settings(None, env={"CCPULSE_KAFKA_BROKERS": "kafka://x:9092"})
    with pytest.raises(ValueError, match="sl_treshold_seconds"):
        load_settings(None, env={"CCPULSE_DEFAULTS_SL_TRESHOLD_SECONDS": "30"})


@pytest.mark.parametrize(
    ("key", "value"),
    [("time_zone", '"Europe/Paris"'), ("interval_minutes", "30"), ("attribution", '"arrival"')],
)
def test_queue_level_settings_cannot_be_set_per_channel(
    tmp_path: Path, key: str, value: str
) -> None:
    text = f'[queues."acme/support".channels.chat]\n{key} = {value}\n'
    with pytest.raises(ValueError, match=f"{key}.*only be set per queue"):
        load_settings(write(tmp_path, "c.toml", text), env={})


def test_queue_level_settings_per_channel_in_yaml(tmp_path: Path) -> None:
    text = "queues:\n  support:\n    channels:\n      email:\n        interval_minutes: 60\n"
    with pytest.raises(ValueError, match="'support' channel 'email'"):
        load_settings(write(tmp_path, "c.yaml", text), env={})


def test_queue_level_settings_per_queue_are_fine(tmp_path: Path) -> None:
    text = '[queues.support]\ntime_zone = "Asia/Kolkata"\ninterval_minutes = 60\n'
    policy = load_settings(write(tmp_path, "c.toml", text), env={}).policies.for_queue(
        "default", "support"
    )
    assert (policy.time_zone, policy.interval_minutes) == ("Asia/Kolkata", 60)


@pytest.mark.parametrize(
    "text",
    [
        "[defaults]\ninterval_minutes = 20\n",
        "[defaults]\nsl_target = 80\n",
        "[defaults]\nsl_threshold_seconds = -1\n",
        '[defaults]\nsl_formula = "answered_quickly"\n',
        '[defaults]\nattribution = "arrivals"\n',
    ],
)
def test_invalid_policy_values_are_errors(tmp_path: Path, text: str) -> None:
    with pytest.raises(ValueError):
        load_settings(write(tmp_path, "c.toml", text), env={})


@pytest.mark.parametrize("windows", ["[0, 15]", "[15, -60]", "[2000]", "[15.5]", '["15"]'])
def test_rolling_windows_are_whole_minutes_up_to_a_day(tmp_path: Path, windows: str) -> None:
    with pytest.raises(ValueError, match=r"engine\.rolling_minutes: each window is a whole number"):
        load_settings(write(tmp_path, "c.toml", f"[engine]\nrolling_minutes = {windows}\n"),
                      env={})  # fmt: skip


def test_unknown_time_zone_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus_Mons'"):
        load_settings(
            write(tmp_path, "c.toml", '[defaults]\ntime_zone = "Mars/Olympus_Mons"\n'), env={}
        )


def test_file_that_is_not_a_mapping_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="mapping"):
        load_settings(write(tmp_path, "c.yaml", "- just\n- a list\n"), env={})


def test_a_text_setting_keeps_digits_from_the_environment_as_text() -> None:
    settings = load_settings(env={"CCPULSE_REDIS_KEY_PREFIX": "123"})
    assert settings.redis.key_prefix == "123"


def test_opening_hours_per_queue(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        '[opening_hours."acme/sales"]\nweekdays = "08:00-18:00"\n'
        'sat = ["09:00-12:00", "14:00-17:00"]\nclosed_dates = ["2026-12-25"]\n'
        "[opening_hours.support]\ndaily = \"22:00-06:00\"\n"
    )
    hours = load_settings(path, env={}).opening_hours
    sales = hours[("acme", "sales")]
    assert sorted(sales.hours) == [*((d, "08:00", "18:00") for d in range(5)),
                                   (5, "09:00", "12:00"), (5, "14:00", "17:00")]  # fmt: skip
    assert sales.closed_dates == ("2026-12-25",)
    assert hours[("default", "support")].hours == tuple((d, "22:00", "06:00") for d in range(7))
    path.write_text('[opening_hours.sales]\nmonday = "9 to 5"\n')
    with pytest.raises(ValueError, match="HH:MM-HH:MM"):
        load_settings(path, env={})
    path.write_text('[opening_hours.sales]\nholidays = "09:00-17:00"\n')
    with pytest.raises(ValueError, match="unknown key 'holidays'"):
        load_settings(path, env={})
