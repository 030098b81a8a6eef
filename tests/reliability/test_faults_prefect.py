"""The Prefect server stopped and restarted under a steady mixed load: the service keeps
serving, an operator's alias move reaches every worker through the alias poll, and once the
server is back the event listener reconnects by itself. A flow started while the server is
down fails with a message naming it."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import TrainedStore
from support.faults import (
    LoadLoop,
    PrefectServer,
    emit_to,
    figures,
    known_vehicles,
    own_service,
)
from support.metrics import Samples, scrape, value
from support.registry import register_constant
from support.service_fixtures import WORKERS, RedisServer, RunningService, stop

from features.contract.events import MODEL_PROMOTED, model_resource
from features.contract.registry import CANDIDATE, CHAMPION
from features.local.processes import free_port
from features.settings import PROJECT_ROOT
from features.stores import model_registry

# A real server (re)start can take minutes on a busy 2-core machine: above the default 300 s.
pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(900)]
# Short enough to see the poll work while Prefect is down. Once it is back, a poll may beat
# the event to a swap: the test asserts that every worker swaps and hears the event, not which won.
POLL_S = 5
DOWN_S = 15.0  # longer than the ~8 s after which Prefect's own subscriber gives up
SWAP_S = 60.0  # liveness bounds on a busy 2-core machine, not speed claims
RECONNECT_S = 90.0
CLI_DEADLINE_S = 180.0


@pytest.fixture
def own_prefect(tmp_path: Path) -> Iterator[PrefectServer]:
    server = PrefectServer(tmp_path / "prefect-home")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def prefect_service(
    trained_store: TrainedStore,
    trained_model: Any,
    fresh_redis: RedisServer,
    own_prefect: PrefectServer,
    tmp_path: Path,
) -> Iterator[RunningService]:
    overrides = {"FLEETCAST_RELOAD_POLL_SECONDS": str(POLL_S)}
    running = own_service(
        trained_store,
        trained_model,
        fresh_redis,
        own_prefect.api_url,
        tmp_path / "service",
        overrides,
    )
    yield running
    stop(running.process)


def _reloads(service: RunningService, trigger: str, outcome: str | None = None) -> float:
    samples: Samples = scrape(service)
    outcomes = [outcome] if outcome else ["loaded", "unchanged", "failed"]
    return sum(
        value(samples, "fleetcast_reloads_total", trigger=trigger, outcome=o) for o in outcomes
    )


def _until(check: Any, timeout: float, what: str) -> float:
    """Wait until `check()` is true; the time it took."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < timeout, f"{what}: not within {timeout} s"
        time.sleep(0.25)
    return time.monotonic() - started


def _every_worker_got(service: RunningService, prefect: PrefectServer, resource: Any) -> bool:
    """Emit a probe event; whether every worker's listener has received one since it was back.

    Re-emitted until it holds: a probe sent while a listener is still between reconnection
    attempts may be outside the replay it gets, and a lost probe proves nothing.
    """
    emit_to(prefect.api_url, MODEL_PROMOTED, resource, {"version": "probe"})
    try:
        service.each_worker(lambda info: info["events"]["last_version"] == "probe", 3.0)
    except AssertionError:
        return False
    return True


def _serves_and_heard(info: dict[str, Any], version: str) -> bool:
    """The worker serves `version`, and the event announcing it reached its listener."""
    return info["version"] == version and info["events"]["last_version"] == version


def _move_champion(service: RunningService, version: str) -> None:
    """As an operator's rollback does: straight in MLflow, no event."""
    client, _ = model_registry.connect(service.settings)
    client.set_registered_model_alias(service.settings.registered_model, CHAMPION, version)


def test_with_prefect_down_the_poll_follows_the_alias_and_events_resume_when_it_is_back(
    prefect_service: RunningService,
    own_prefect: PrefectServer,
    trained_model: Any,
    listing: dict[str, Any],
) -> None:
    service = prefect_service
    resource = model_resource(service.settings.registered_model)
    rollback = register_constant(service.settings, trained_model, constant=7.0, alias=CANDIDATE)
    promoted = register_constant(service.settings, trained_model, constant=9.0, alias=CANDIDATE)
    polled_before = _reloads(service, "poll", "loaded")
    with LoadLoop(service.url, listing, known_vehicles(service)) as load:
        time.sleep(2)
        down = time.monotonic()
        own_prefect.stop()
        _move_champion(service, rollback)
        service.each_worker(lambda info: info["version"] == rollback, SWAP_S)
        poll_s = time.monotonic() - down
        rolled_back_by_poll = _reloads(service, "poll", "loaded") - polled_before
        time.sleep(max(0.0, DOWN_S - poll_s))
        up = time.monotonic()
        own_prefect.start()
        restarted_s = time.monotonic() - up
        reconnect_s = _until(
            lambda: _every_worker_got(service, own_prefect, resource),
            RECONNECT_S,
            "both listeners receive an event",
        )
        _move_champion(service, promoted)
        emit_to(own_prefect.api_url, MODEL_PROMOTED, resource, {"version": promoted})
        service.each_worker(lambda info: _serves_and_heard(info, promoted), SWAP_S)
        end = time.monotonic()
    figures(
        "prefect-down",
        sent_during_fault=len(load.between(down, up)),
        failures={r: dict(load.statuses(0, end, r)) for r in ("/predict", "/predict_by_id")},
        rollback_by_poll_s=round(poll_s, 2),
        prefect_restart_s=round(restarted_s, 2),
        listener_back_after_restart_s=round(reconnect_s, 2),
    )

    assert {c.status for c in load.calls} == {200}, "a request failed while Prefect was down"
    assert {c.version for c in load.calls} <= {"1", rollback, promoted}
    assert rolled_back_by_poll == WORKERS  # no event could reach them: Prefect was down


def test_a_flow_started_while_prefect_is_down_fails_in_one_line_naming_it(
    tmp_path: Path,
) -> None:
    dead = f"http://127.0.0.1:{free_port()}/api"  # a stopped server: nothing listens there
    result = _ingest_against(dead, tmp_path)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 1 and len(lines) == 1, result.stderr[-2000:]
    assert lines[0].startswith("error: the Prefect server at " + dead)
    assert result.stdout.strip() == ""


def _ingest_against(api_url: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    (tmp_path / "home" / "prefect").mkdir(parents=True, exist_ok=True)
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "PREFECT_API_URL": api_url,
        "FLEETCAST_HOME": str(tmp_path / "home"),
        "FLEETCAST_DATA_DIR": str(PROJECT_ROOT / "data"),
        "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
    }
    return subprocess.run(
        [str(PROJECT_ROOT / ".venv/bin/fleetcast"), "ingest"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=CLI_DEADLINE_S,
    )
