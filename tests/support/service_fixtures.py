"""One real BentoML service for the service and reliability tests, as `bentoml serve` runs it.

A plugin of the root conftest, so `tests/service/` and `tests/reliability/` share one session
service.

It serves a registered-model name of its own in the trained store's MLflow (so promotions here
cannot disturb other tests), starting from a constant model as champion, reads a redis-server
of its own (which the outage test stops and restarts) and follows the session's Prefect server
for promotion events. The alias poll is set to 5 minutes: reloads seen here come from events.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from conftest import SYSTEM_PATH, TrainedStore

from features.contract.schema import ENTITY
from features.local.processes import free_port
from features.local.redis_server import redis_executable
from features.settings import PROJECT_ROOT, Settings
from features.stores.offline import read_meta, scan_snapshot
from features.stores.online import OnlineKeys, materialize
from support.factories import vehicle
from support.registry import register_constant, trained_version

READY_TIMEOUT_S = 90.0
WORKERS = 2
ADMIN_TOKEN = f"admin-{uuid.uuid4().hex}"
MAX_BATCH = 50
MAX_REQUEST_BYTES = 64 * 1024
WorkerInfo = dict[str, Any]


@dataclass
class RedisServer:
    """A redis-server on a fixed port that can be stopped and started again with its data."""

    folder: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        args = [
            redis_executable(),
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--dir",
            str(self.folder),
            "--dbfilename",
            "dump.rdb",
            "--save",
            "",
            "--appendonly",
            "no",
            "--logfile",
            "redis.log",
        ]
        self.process = subprocess.Popen(args, start_new_session=True)
        deadline = time.monotonic() + 15
        while not self._answers():
            assert self.process.poll() is None, f"redis-server exited; see {self.folder}"
            assert time.monotonic() < deadline, "redis-server did not answer within 15 s"
            time.sleep(0.02)

    def stop(self) -> None:
        """SHUTDOWN SAVE: the data comes back with the next start."""
        if self.process is None:
            return
        # SHUTDOWN closes the connection as it succeeds.
        with contextlib.suppress(redis.ConnectionError):
            redis.Redis.from_url(self.url, socket_timeout=30).shutdown(save=True)
        self.process.wait(timeout=30)
        self.process = None

    def _answers(self) -> bool:
        try:
            return bool(redis.Redis.from_url(self.url, socket_timeout=1).ping())
        except redis.ConnectionError:
            return False


@dataclass
class RunningService:
    """A `bentoml serve` process group, its settings (as it reads them) and its log."""

    url: str
    env: dict[str, str]
    settings: Settings
    log: Path
    process: subprocess.Popen[bytes]
    redis: RedisServer
    admin: dict[str, str] = field(
        default_factory=lambda: {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    )

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def post(self, path: str, body: Any, **kwargs: Any) -> httpx.Response:
        return httpx.post(f"{self.url}{path}", json=body, timeout=15, **kwargs)

    def each_worker(
        self, wanted: Callable[[WorkerInfo], bool], timeout: float
    ) -> dict[int, WorkerInfo]:
        """GET /model on fresh connections until every worker's latest answer is `wanted`."""
        latest: dict[int, WorkerInfo] = {}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            reply = httpx.get(f"{self.url}/model", timeout=5)  # a new connection each time
            if reply.status_code == 200:
                latest[reply.json()["worker_pid"]] = reply.json()
            if len(latest) >= WORKERS and all(wanted(info) for info in latest.values()):
                return latest
            time.sleep(0.05)
        raise AssertionError(f"not every worker as wanted within {timeout} s: {latest}")


def serves_and_heard(version: str) -> Callable[[WorkerInfo], bool]:
    """A worker serves `version` and its listener received the event announcing it.

    Whether the event or an alias poll did the swap is a race on a busy machine, not a promise;
    that the swap happens and that the event reaches every worker are.
    """

    def wanted(info: WorkerInfo) -> bool:
        return info["version"] == version and info["events"]["last_version"] == version

    return wanted


def use_service_settings(running: RunningService, monkeypatch: pytest.MonkeyPatch) -> None:
    """Flows run by the test (promote, rollback) read the service's registered model and store."""
    for key, setting in running.env.items():
        if key.startswith("FLEETCAST_") or key == "REDIS_URL":
            monkeypatch.setenv(key, setting)


@pytest.fixture(scope="session")
def trained_model(trained_store: TrainedStore) -> Any:
    """The model version the session's pipeline trained and promoted (the real model)."""
    store = trained_store.settings
    return trained_version(store, store.registered_model, trained_store.result.trained.version)


@pytest.fixture
def fresh_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis of the test's own, to stop and start at will."""
    server = RedisServer(tmp_path / "redis")
    server.folder.mkdir()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def service_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("service-redis"))
    server.start()
    yield server
    server.stop()


def _service_env(
    store: TrainedStore, redis_url: str, prefect_url: str, tmp: Path
) -> dict[str, str]:
    ours = ("FLEETCAST_", "MLFLOW_", "REDIS_URL", "BENTOML_")
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(ours)}
    return inherited | {
        "FLEETCAST_HOME": store.env["FLEETCAST_HOME"],
        "FLEETCAST_REGISTERED_MODEL": f"service-{uuid.uuid4().hex[:8]}",
        "REDIS_URL": redis_url,
        "FLEETCAST_REDIS_KEY_PREFIX": "service",
        "FLEETCAST_ADMIN_TOKEN": ADMIN_TOKEN,
        "FLEETCAST_RELOAD_POLL_SECONDS": "300",
        "FLEETCAST_MAX_BATCH": str(MAX_BATCH),
        "FLEETCAST_MAX_REQUEST_BYTES": str(MAX_REQUEST_BYTES),
        "FLEETCAST_SERVICE_WORKERS": str(WORKERS),
        "PREFECT_API_URL": prefect_url,
        "BENTOML_HOME": str(tmp / "bentoml"),
        "BENTOML_DO_NOT_TRACK": "True",
    }


def _settings_of(env: dict[str, str]) -> Settings:
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        return Settings()


def _materialize(settings: Settings) -> None:
    """The trained store's latest offline snapshot into the service's Redis."""
    meta = read_meta(settings)
    features = scan_snapshot(settings, meta.snapshot_id).collect()
    with redis.Redis.from_url(settings.redis_url) as client:
        materialize(
            client,
            OnlineKeys(settings.redis_key_prefix),
            meta.snapshot_id,
            features,
            batch_size=settings.online_write_batch,
            keep=2,
            as_of=meta.as_of,
        )


def wait_ready(running: RunningService) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if running.process.poll() is not None:
            pytest.fail(f"the service exited ({running.process.returncode}):\n{running.tail()}")
        try:
            if httpx.get(f"{running.url}/readyz", timeout=2).status_code == 200:
                # A worker accepts requests only once it has loaded: wait for each to answer.
                running.each_worker(lambda info: True, timeout=deadline - time.monotonic())
                return
        except httpx.TransportError:
            pass
        except AssertionError as error:
            pytest.fail(f"{error}\n{running.tail()}")
        time.sleep(0.5)
    pytest.fail(f"the service was not ready within {READY_TIMEOUT_S:.0f} s:\n{running.tail()}")


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the whole process group (workers, lookup), then SIGKILL whatever is left."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=20)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


@pytest.fixture(scope="session")
def service(
    trained_store: TrainedStore,
    trained_model: Any,
    service_redis: RedisServer,
    prefect_server: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RunningService]:
    """The service on a free port, serving a constant model as its first champion."""
    tmp = tmp_path_factory.mktemp("service")
    env = _service_env(trained_store, service_redis.url, prefect_server, tmp)
    settings = _settings_of(env)
    register_constant(settings, trained_model, constant=12.0)
    _materialize(settings)
    running = launch(env, tmp, service_redis)
    try:
        wait_ready(running)
        yield running
    finally:
        stop(running.process)


def launch(env: dict[str, str], tmp: Path, redis_server: RedisServer) -> RunningService:
    """`bentoml serve` of the service with `env` on a free port, its log and state in `tmp`.
    Wait with `wait_ready`; stop with `stop`."""
    # System directories only on PATH: the service must need nothing the project does not install.
    env = env | {"BENTOML_HOME": str(tmp / "bentoml"), "PATH": SYSTEM_PATH}
    port = free_port()
    log = tmp / "service.log"
    command = [
        str(PROJECT_ROOT / ".venv/bin/bentoml"),
        "serve",
        "service.service:Fleetcast",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    with open(log, "wb") as out:
        process = subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return RunningService(
        f"http://127.0.0.1:{port}", env, _settings_of(env), log, process, redis_server
    )


@pytest.fixture
def another_service(
    service: RunningService, tmp_path: Path
) -> Iterator[Callable[[dict[str, str]], RunningService]]:
    """Start a second service like `service` (same store, Redis, model), with env overrides;
    each one started is stopped at the end of the test."""
    started: list[RunningService] = []

    def start(overrides: dict[str, str]) -> RunningService:
        folder = tmp_path / f"service-{len(started)}"
        folder.mkdir()
        running = launch(service.env | overrides, folder, service.redis)
        started.append(running)
        wait_ready(running)
        return running

    yield start
    for running in started:
        stop(running.process)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """A failed service test shows the end of the service's log."""
    report = yield
    running = getattr(item, "funcargs", {}).get("service")
    if report.failed and isinstance(running, RunningService):
        report.sections.append(("fleetcast service log (tail)", running.tail()))
    return report


@pytest.fixture(scope="session")
def known_vehicle(service: RunningService) -> int:
    """A vehicle of the materialized snapshot."""
    return int(scan_snapshot(service.settings).select(ENTITY).head(1).collect().item())


@pytest.fixture
def listing() -> dict[str, Any]:
    """A valid /predict body: a listing's attributes, from the contract's factory."""
    record = vehicle(1)
    del record[ENTITY]
    return record
