"""The `[wallboard]` section (docs/wallboard.md): defaults, thresholds per figure and per queue,
credentials, and errors that name what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from ccpulse.config import load_settings
from ccpulse.wallboard.settings import QUEUE_TILES, Threshold

CONFIG = """
[wallboard]
host = "0.0.0.0"
port = 8181
tenant = "acme"
queues = ["sales", "support"]
tiles = ["in_queue", "longest_wait", "service_level_interval"]
columns = 2
stale_seconds = 20

[wallboard.thresholds]
in_queue = { amber = 3, red = 6 }
service_level = { amber = 0.85, red = 0.7 }

[wallboard.queue_thresholds."acme/sales"]
longest_wait_seconds = { amber = 20, red = 40 }

[[wallboard.access]]
token = "wall-acme"
tenants = ["acme"]

[[wallboard.access]]
username = "lead"
password = "pw"
tenants = ["*"]
"""


def test_defaults_bind_to_loopback_with_every_tile_and_sensible_thresholds() -> None:
    board = load_settings(env={}).wallboard
    assert (board.host, board.port, board.access) == ("127.0.0.1", 8080, ())
    assert board.tiles == QUEUE_TILES
    assert board.thresholds["longest_wait_seconds"] == Threshold(60, 120, "above")
    assert board.thresholds["agents_available"].bad_when == "below"
    # service level: from each queue's own target unless configured
    assert board.thresholds["service_level"] == Threshold(None, None, "below")


def test_file_sets_layout_thresholds_and_credentials(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(CONFIG)
    board = load_settings(path, env={}).wallboard
    assert (board.host, board.port, board.tenant, board.columns) == ("0.0.0.0", 8181, "acme", 2)
    assert board.queues == ("sales", "support")
    assert board.stale_seconds == 20.0
    sales = board.thresholds_for("acme/sales")
    assert sales["longest_wait_seconds"] == Threshold(20, 40, "above")
    assert sales["in_queue"] == Threshold(3, 6, "above")  # the defaults still apply
    assert board.thresholds_for("acme/support")["longest_wait_seconds"].amber == 60
    assert board.thresholds["service_level"] == Threshold(0.85, 0.7, "below")
    assert [a.token or a.username for a in board.access] == ["wall-acme", "lead"]
    assert board.access[0].reads("acme") and not board.access[0].reads("globex")
    assert board.access[1].reads("globex")


def test_environment_sets_scalar_keys() -> None:
    env = {"CCPULSE_WALLBOARD_PORT": "9000", "CCPULSE_WALLBOARD_QUEUES": "acme/sales,acme/chat"}
    board = load_settings(env=env).wallboard
    assert board.port == 9000 and board.queues == ("acme/sales", "acme/chat")


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("[wallboard]\nprot = 1\n", "prot"),
        ("[wallboard]\ntiles = ['in_queue', 'speed']\n", "speed"),
        ("[wallboard]\ncolumns = 40\n", "columns"),
        ("[wallboard]\nport = 'x'\n", "port"),
        ("[wallboard.thresholds]\nwait = { amber = 1 }\n", "wait"),
        ("[wallboard.thresholds]\nin_queue = { amber = 9, red = 3 }\n", "red must be beyond"),
        ("[wallboard.thresholds]\nservice_level = { amber = 0.7, red = 0.8 }\n", "lower"),
        ("[wallboard.thresholds]\nin_queue = { ambre = 9 }\n", "in_queue"),
        ("[[wallboard.access]]\ntoken = 't'\n", "tenants"),
        ("[[wallboard.access]]\nusername = 'u'\ntenants = ['*']\n", "password"),
        ("[[wallboard.access]]\ntoken = 't'\nusername = 'u'\ntenants = ['*']\n", "not both"),
    ],
)
def test_mistakes_are_errors_that_name_the_key(tmp_path: Path, text: str, named: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match=named):
        load_settings(path, env={})
