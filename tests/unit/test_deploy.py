"""The deployment files: docker-compose.yml is valid for the Compose Specification (no Docker
engine runs here, so it is checked, not started), every file it mounts exists, the image
builds from every package folder, and the Prometheus config is valid for promtool."""

from __future__ import annotations

import json
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import yaml

ROOT = Path(__file__).resolve().parents[2]
#: The Compose Specification's JSON Schema (github.com/compose-spec/compose-spec,
#: schema/compose-spec.json, Apache-2.0), kept beside the tests: CI has no network for it.
SCHEMA = ROOT / "tests" / "data" / "compose-spec.json"


def _compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())  # type: ignore[no-any-return]


def test_compose_file_follows_the_compose_specification() -> None:
    schema = json.loads(SCHEMA.read_text())
    errors = [e.message for e in jsonschema.Draft201909Validator(schema).iter_errors(_compose())]
    assert errors == []


def test_the_schema_check_catches_a_mistake() -> None:
    schema = json.loads(SCHEMA.read_text())
    broken = _compose()
    broken["services"]["worker"]["healthcheck"]["intervall"] = "15s"
    assert not jsonschema.Draft201909Validator(schema).is_valid(broken)


def test_every_mounted_file_exists() -> None:
    for name, service in _compose()["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (ROOT / source).exists(), f"{name}: {source} is missing"


def test_services_depend_on_services_that_exist() -> None:
    services = _compose()["services"]
    for name, service in services.items():
        depends = service.get("depends_on", [])
        assert set(depends) <= set(services), name


def test_every_published_port_is_on_loopback_only() -> None:
    published = {
        name: service["ports"] for name, service in _compose()["services"].items()
        if "ports" in service
    }  # fmt: skip
    services = {"kafka", "redis", "wallboard", "prometheus", "alertmanager", "grafana"}
    assert services <= set(published)
    for name, ports in published.items():
        assert all(str(p).startswith("127.0.0.1:") for p in ports), name


def test_redis_requires_the_password_from_the_env_file_and_the_workers_use_it() -> None:
    compose = _compose()
    redis = compose["services"]["redis"]
    command = redis["command"]
    assert command[command.index("--requirepass") + 1].startswith("${REDIS_PASSWORD:?")
    assert redis["environment"]["REDISCLI_AUTH"].startswith("${REDIS_PASSWORD:?")
    url = compose["x-ccpulse-env"]["CCPULSE_REDIS_URL"]
    assert url.startswith("redis://:${REDIS_PASSWORD:?") and url.endswith("@redis:6379/0")
    example = (ROOT / ".env.example").read_text()
    assert "\nREDIS_PASSWORD=\n" in example  # shipped empty: compose refuses to start so
    assert ".env" in (ROOT / ".gitignore").read_text().split()
    assert ".env" in (ROOT / ".dockerignore").read_text().split()


def test_the_image_copies_every_package_folder() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    folders = set(pyproject["tool"]["setuptools"]["package-dir"].values())
    dockerfile = (ROOT / "Dockerfile").read_text()
    copied = {line.split()[1] for line in dockerfile.splitlines() if line.startswith("COPY ")}
    missing = {f for f in folders if not any(f == c or f.startswith(c + "/") for c in copied)}
    assert not missing, f"Dockerfile does not COPY {sorted(missing)}"


def test_the_image_runs_the_compiled_core_it_builds() -> None:
    """setup.py compiles the KPI core in the build stage; the image refuses to run without it."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    copies = [line.split()[1:] for line in dockerfile.splitlines() if line.startswith("COPY ")]
    assert any("setup.py" in files for files in copies)
    assert "CCPULSE_NATIVE=require" in dockerfile


def test_prometheus_config_is_valid(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool not found: apt-get install prometheus (scripts/setup.sh does)"
    config = yaml.safe_load((ROOT / "deploy" / "prometheus.yml").read_text())
    assert config["rule_files"] == ["/etc/prometheus/rules/*.yml"]
    # The path inside the container, pointed at the checkout's rules for the check.
    config["rule_files"] = [str(ROOT / "deploy" / "prometheus" / "rules" / "*.yml")]
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    done = subprocess.run([promtool, "check", "config", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 2 rule files found" in done.stdout + done.stderr
