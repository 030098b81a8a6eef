"""The production-shaped stack without containers, as docker-compose.yml lays it out.

One PostgreSQL holding MLflow's and Prefect's databases, an `mlflow server` on it with proxied
artifacts, a Prefect server on it, the deployments of prefect.yaml applied with a process worker
running them, a Redis, and the service following the champion. Nothing is chained by hand: the
tests start a deployment and watch what the automations run.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from prefect.settings import PREFECT_API_URL, temporary_settings
from support.faults import MlflowServer, PrefectServer
from support.postgres import PostgresServer
from support.postgres import installed as postgres_installed
from support.prefect_worker import Worker, start_worker
from support.service_fixtures import ADMIN_TOKEN, WORKERS, RedisServer, RunningService, launch, stop

from features.settings import PROJECT_ROOT, Settings
from flows.cli.deploy import deploy_all

SERVICE_START_S = 180
# As an image built with `--build-arg FLEETCAST_GIT_COMMIT=...` sets it (it holds no .git).
IMAGE_COMMIT = "5ca1ab1e0123456789abcdef0123456789abcdef"


@dataclass
class Stack:
    """The running parts, and the environment every fleetcast process of the stack reads."""

    env: dict[str, str]
    postgres: PostgresServer
    mlflow: MlflowServer
    prefect: PrefectServer
    worker: Worker
    service: RunningService

    @property
    def settings(self) -> Settings:
        return Settings()  # read from `env`, set in this process while the stack runs


def _stack_env(
    folder: Path, mlflow: MlflowServer, prefect: PrefectServer, redis_url: str
) -> dict[str, str]:
    ours = ("FLEETCAST_", "MLFLOW_", "REDIS_URL", "BENTOML_", "PREFECT_API_URL", "PREFECT_HOME")
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(ours)}
    return inherited | {
        "FLEETCAST_HOME": str(folder / "home"),
        "FLEETCAST_DATA_DIR": str(PROJECT_ROOT / "data"),
        "MLFLOW_TRACKING_URI": mlflow.url,
        "REDIS_URL": redis_url,
        "FLEETCAST_REDIS_KEY_PREFIX": "stack",
        "FLEETCAST_REGISTERED_MODEL": "fleetcast-reservations",
        "FLEETCAST_ADMIN_TOKEN": ADMIN_TOKEN,
        "FLEETCAST_SERVICE_WORKERS": str(WORKERS),
        # Swaps are the promotion event's to make; a poll would hide a lost event.
        "FLEETCAST_RELOAD_POLL_SECONDS": "3600",
        "FLEETCAST_GIT_COMMIT": IMAGE_COMMIT,
        "PREFECT_API_URL": prefect.api_url,
        "PREFECT_HOME": str(prefect.home),
    }


def _wait_alive(service: RunningService) -> None:
    """Up and answering, with nothing to serve yet: readiness waits for a champion."""
    deadline = time.monotonic() + SERVICE_START_S
    while time.monotonic() < deadline:
        assert service.process.poll() is None, service.tail()
        try:
            if httpx.get(f"{service.url}/livez", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise AssertionError(
        f"the service did not come up within {SERVICE_START_S} s\n{service.tail()}"
    )


def _deliver_pending_logs_and_events() -> None:
    """Flush this process's Prefect log and event workers and stop them.

    Prefect keeps one events worker per process whatever the API URL (its key holds no URL),
    bound to the server it first talked to. Stopped here before the stack's URL is set, the
    next event starts a worker bound to the stack's server; stopped again before the stack
    stops, pending events reach it. Without the first stop, a test run after others sent the
    stack's events to the session's server, which refused them (unknown flow runs).
    """
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=10)
    EventsWorker.drain_all(timeout=10)


@pytest.fixture(scope="package")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Every part started in order and stopped in reverse, whatever failed in between."""
    if not postgres_installed():
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    folder = tmp_path_factory.mktemp("stack")
    with contextlib.ExitStack() as started, pytest.MonkeyPatch.context() as patch:
        postgres = PostgresServer()
        started.callback(postgres.stop)
        postgres.start()
        for database in ("mlflow", "prefect"):
            postgres.create_database(database)
        # SQLAlchemy 2.1 reads a bare postgresql:// as psycopg 3; the stack installs psycopg2.
        mlflow = MlflowServer(
            folder / "mlflow", store=postgres.url("mlflow", "postgresql+psycopg2")
        )
        started.callback(mlflow.kill)
        mlflow.start()
        prefect = PrefectServer(folder / "prefect")
        database = postgres.url("prefect", driver="postgresql+asyncpg")
        patch.setenv("PREFECT_API_DATABASE_CONNECTION_URL", database)  # the server's only
        started.callback(prefect.stop)
        prefect.start()
        patch.delenv("PREFECT_API_DATABASE_CONNECTION_URL")
        redis = RedisServer(folder / "redis")
        redis.folder.mkdir()
        started.callback(redis.stop)
        redis.start()
        env = _stack_env(folder, mlflow, prefect, redis.url)
        for key, value in env.items():
            patch.setenv(key, value)
        _deliver_pending_logs_and_events()  # those bound to the session's server
        started.enter_context(temporary_settings(updates={PREFECT_API_URL: prefect.api_url}))
        started.callback(_deliver_pending_logs_and_events)  # to the stack's, before it stops
        deploy_all(Settings())
        worker = start_worker(env, folder / "worker.log")
        started.callback(worker.stop_like_ctrl_c)
        (folder / "service").mkdir()
        service = launch(env, folder / "service", redis)
        started.callback(stop, service.process)
        _wait_alive(service)
        yield Stack(env, postgres, mlflow, prefect, worker, service)
