"""The MLflow tracking server killed as a promotion arrives, under a steady mixed load: the old
model keeps serving, /model shows the failed attempt without the store's address, each
attempt fails within a bounded time, and once MLflow is back the next reload reaches every
worker. And a hung MLflow (accepts, never answers): each attempt gives up within seconds."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import TrainedStore
from prefect.events import emit_event
from support.faults import LoadLoop, MlflowServer, figures, known_vehicles, own_service
from support.hanging import hanging_port
from support.registry import register_constant
from support.service_fixtures import RedisServer, RunningService, WorkerInfo, serves_and_heard, stop

from features.contract import clock
from features.contract.events import MODEL_PROMOTED, model_resource
from features.contract.registry import CANDIDATE, CHAMPION
from features.stores import model_registry
from service.http import VERSION_HEADER
from service.reloader import ALIAS_WAIT_SECONDS

# A real server (re)start can take minutes on a busy 2-core machine: above the default 300 s.
pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(900)]
# A reload against a dead MLflow must give up within this (MLflow's own HTTP retries take
# minutes by default); generous for a loaded machine, far below those minutes.
ATTEMPT_BOUND_S = 30.0
SWAP_S = 60.0  # every worker serves the new version this soon once MLflow is back


@pytest.fixture
def mlflow_server(tmp_path: Path) -> Iterator[MlflowServer]:
    server = MlflowServer(tmp_path / "mlflow")
    server.start()
    yield server
    server.kill()


@pytest.fixture
def mlflow_service(
    trained_store: TrainedStore,
    trained_model: Any,
    fresh_redis: RedisServer,
    prefect_server: str,
    mlflow_server: MlflowServer,
    tmp_path: Path,
) -> Iterator[RunningService]:
    """A service whose MLFLOW_TRACKING_URI is the real `mlflow server`."""
    overrides = {"MLFLOW_TRACKING_URI": mlflow_server.url}
    running = own_service(
        trained_store, trained_model, fresh_redis, prefect_server, tmp_path / "service", overrides
    )
    yield running
    stop(running.process)


def _announce(service: RunningService, version: str, previous: str) -> None:
    """The promotion event, as the promote flow emits it."""
    emit_event(
        event=MODEL_PROMOTED,
        resource=model_resource(service.settings.registered_model),
        payload={"version": version, "previous_version": previous},
    )


def _failed_since(since: str, announced: str) -> Any:
    """The worker's latest load failed after `since`, and the event announcing `announced`
    reached it (a poll may have made the failed attempt first: a race, not a promise)."""

    def wanted(info: WorkerInfo) -> bool:
        last = info["last_reload"]
        heard = info["events"]["last_version"] == announced
        return last["outcome"] == "failed" and last["at"] > since and heard

    return wanted


def _kill_then_revive(
    service: RunningService, server: MlflowServer, v1: str, v2: str
) -> dict[str, Any]:
    """Promote v2 and kill MLflow before any worker loads it; ask every worker to reload
    (event) and one through POST /reload; revive MLflow and announce again. The timeline."""
    t: dict[str, Any] = {"before": _iso_now(), "start": time.monotonic()}
    client, _ = model_registry.connect(service.settings)
    client.set_registered_model_alias(service.settings.registered_model, CHAMPION, v2)
    server.kill()
    t["killed"] = time.monotonic()
    _announce(service, v2, v1)
    t["failed"] = service.each_worker(_failed_since(t["before"], v2), ATTEMPT_BOUND_S)
    t["all_failed"] = time.monotonic()
    t["reply"] = httpx.post(f"{service.url}/reload", headers=service.admin, timeout=120)
    t["api_s"] = time.monotonic() - t["all_failed"]
    time.sleep(2)
    server.start()
    t["up"] = time.monotonic()
    _announce(service, v2, v1)
    t["swapped"] = service.each_worker(serves_and_heard(v2), SWAP_S)
    t["recovered"] = time.monotonic()
    return t


def _served_and_next(service: RunningService, trained_model: Any) -> tuple[str, str]:
    """The version every worker serves, and a new one registered (not yet promoted)."""
    (served,) = {info["version"] for info in service.each_worker(lambda info: True, 10).values()}
    return served, register_constant(service.settings, trained_model, 7.0, alias=CANDIDATE)


def test_a_reload_while_mlflow_is_down_keeps_the_old_model_and_succeeds_once_it_is_back(
    mlflow_service: RunningService,
    mlflow_server: MlflowServer,
    trained_model: Any,
    listing: dict[str, Any],
) -> None:
    service = mlflow_service
    v1, v2 = _served_and_next(service, trained_model)
    with LoadLoop(service.url, listing, known_vehicles(service)) as load:
        time.sleep(2)
        t = _kill_then_revive(service, mlflow_server, v1, v2)
        time.sleep(2)
    fault, reply = load.between(t["killed"], t["up"]), t["reply"]
    routes = ("/predict", "/predict_by_id")
    figures(
        "mlflow-down",
        sent_during_fault=len(fault),
        failures={r: dict(load.statuses(t["start"], t["recovered"], r)) for r in routes},
        attempts_failed_within_s=round(t["all_failed"] - t["killed"], 2),
        api_reload_s=round(t["api_s"], 2),
        all_workers_on_new_s=round(t["recovered"] - t["up"], 2),
    )

    assert {c.status for c in load.calls} == {200}, "a request failed while MLflow was down"
    assert {c.version for c in fault} == {v1}  # the old model served throughout
    assert {info["version"] for info in t["failed"].values()} == {v1}
    for info in t["failed"].values():
        _assert_reported_without_address(info["last_reload"], mlflow_server)
    assert reply.status_code == 200 and reply.json()["outcome"] == "failed", reply.text
    _assert_reported_without_address(reply.json(), mlflow_server)
    assert t["api_s"] < ATTEMPT_BOUND_S, f"POST /reload held {t['api_s']:.0f} s, MLflow down"
    assert {info["version"] for info in t["swapped"].values()} == {v2}


def test_a_reload_against_a_hung_mlflow_gives_up_within_seconds_and_keeps_the_old_model(
    mlflow_service: RunningService,
    mlflow_server: MlflowServer,
    trained_model: Any,
    listing: dict[str, Any],
) -> None:
    service = mlflow_service
    v1, v2 = _served_and_next(service, trained_model)
    client, _ = model_registry.connect(service.settings)
    client.set_registered_model_alias(service.settings.registered_model, CHAMPION, v2)
    before = _iso_now()
    mlflow_server.kill()
    with hanging_port(mlflow_server.port) as accepted:
        _announce(service, v2, v1)
        failed = service.each_worker(_failed_since(before, v2), ATTEMPT_BOUND_S)
        started = time.monotonic()
        reply = httpx.post(f"{service.url}/reload", headers=service.admin, timeout=120)
        api_s = time.monotonic() - started
        answered = service.post("/predict", listing)
        assert accepted, "the workers never reached the hung port: the test proves nothing"
    figures("mlflow-hung", api_reload_s=round(api_s, 2), connections_held=len(accepted))
    assert {info["version"] for info in failed.values()} == {v1}
    for attempt in [info["last_reload"] for info in failed.values()] + [reply.json()]:
        assert "did not answer within" in attempt["message"], attempt
        _assert_reported_without_address(attempt, mlflow_server)
    assert reply.status_code == 200 and reply.json()["outcome"] == "failed", reply.text
    assert api_s < ALIAS_WAIT_SECONDS + 5, f"POST /reload held {api_s:.0f} s, MLflow hung"
    assert answered.status_code == 200 and answered.headers[VERSION_HEADER] == v1


def _assert_reported_without_address(attempt: dict[str, str], server: MlflowServer) -> None:
    """The attempt says when and why it failed, without the tracking server's address."""
    assert attempt["at"] and attempt["message"], attempt
    assert "MLflow" in attempt["message"], attempt
    assert str(server.port) not in attempt["message"], attempt
    assert "127.0.0.1" not in attempt["message"], attempt


def _iso_now() -> str:

    return clock.stamp("milliseconds")
