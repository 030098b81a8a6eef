"""Shared parts of the fault-injection tests: a steady mixed load loop that records every
answer, a real `mlflow server` to kill and restart, and a service of the test's own."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import redis
from conftest import TrainedStore

from features.contract.prediction_log import decode
from features.contract.schema import ENTITY
from features.local.prefect_server import start_local, stop_local
from features.local.processes import free_port
from features.settings import PROJECT_ROOT, Settings
from features.stores.offline import scan_snapshot
from service.http import REQUEST_ID_HEADER, VERSION_HEADER
from support.registry import register_constant
from support.service_fixtures import (
    RedisServer,
    RunningService,
    _materialize,
    _service_env,
    _settings_of,
    launch,
    wait_ready,
)

if TYPE_CHECKING:
    from collections.abc import Callable

CALLERS = 4  # concurrent callers: a steady stream that leaves the 2 cores room for the fault
PAUSE_S = 0.02  # between one caller's requests, so the loop is bounded, not a flood
ROUTES = ("/predict", "/predict_by_id")


@dataclass(frozen=True)
class Call:
    """One answer (or transport failure: status 0) as the load loop saw it."""

    route: str
    at: float  # time.monotonic() when the answer arrived
    status: int
    request_id: str | None
    version: str | None  # the model version that answered
    text: str


@dataclass
class LoadLoop:
    """CALLERS callers alternating /predict and /predict_by_id until stopped, on a thread."""

    url: str
    listing: dict[str, Any]
    vehicle_ids: list[int]
    calls: list[Call] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> LoadLoop:
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(60)

    async def _run(self) -> None:
        await asyncio.gather(*(self._caller(n) for n in range(CALLERS)))

    async def _caller(self, n: int) -> None:
        async with httpx.AsyncClient(base_url=self.url, timeout=30) as client:
            while not self._stop.is_set():
                n += 1
                route = ROUTES[n % 2]
                body = (
                    self.listing
                    if route == "/predict"
                    else {"vehicle_id": self.vehicle_ids[n % len(self.vehicle_ids)]}
                )
                self.calls.append(await _call(client, route, body))
                await asyncio.sleep(PAUSE_S)

    def between(self, start: float, end: float, route: str | None = None) -> list[Call]:
        return [c for c in list(self.calls) if start <= c.at < end and route in (None, c.route)]

    def statuses(self, start: float, end: float, route: str) -> Counter[int]:
        return Counter(call.status for call in self.between(start, end, route))

    def first(self, after: float, route: str, wanted: Callable[[Call], bool]) -> Call | None:
        return next((c for c in self.between(after, float("inf"), route) if wanted(c)), None)

    def wait_for(self, after: float, route: str, status: int, timeout: float) -> Call:
        """The first answer on `route` with `status` after `after`, waiting up to `timeout`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.first(after, route, lambda call: call.status == status)
            if found is not None:
                return found
            time.sleep(0.1)
        raise AssertionError(f"no {status} on {route} within {timeout} s")


async def _call(client: httpx.AsyncClient, route: str, body: Any) -> Call:
    try:
        reply = await client.post(route, json=body)
    except httpx.HTTPError as error:
        return Call(route, time.monotonic(), 0, None, None, repr(error))
    headers = reply.headers
    return Call(
        route,
        time.monotonic(),
        reply.status_code,
        headers.get(REQUEST_ID_HEADER),
        headers.get(VERSION_HEADER),
        reply.text[:300],
    )


def answered_ids(calls: list[Call]) -> set[str]:
    """Request ids of the predictions answered: each one must reach the prediction log."""
    return {c.request_id for c in calls if c.status == 200 and c.request_id}


def logged_ids(server: RedisServer, service: RunningService) -> set[str]:
    """Request ids in the service's Redis prediction stream."""
    from features.stores.online import OnlineKeys

    key = OnlineKeys(service.settings.redis_key_prefix).prediction_log
    with redis.Redis.from_url(server.url) as client:
        entries = client.xrange(key)
    return set(decode(entries)["request_id"].to_list()) if entries else set()


def known_vehicles(service: RunningService, count: int = 50) -> list[int]:
    """Vehicles of the materialized snapshot, for /predict_by_id."""
    ids = scan_snapshot(service.settings).select(ENTITY).head(count).collect()
    return [int(v) for v in ids[ENTITY].to_list()]


def own_service(
    store: TrainedStore,
    model: Any,
    redis_server: RedisServer,
    prefect_url: str,
    tmp: Path,
    overrides: dict[str, str] | None = None,
) -> RunningService:
    """A service of the test's own (registered model, Redis, folder), champion a constant 12;
    stop it with `service_fixtures.stop`."""
    tmp.mkdir(parents=True, exist_ok=True)
    env = _service_env(store, redis_server.url, prefect_url, tmp) | (overrides or {})
    settings = _settings_of(env)
    register_constant(settings, model, constant=12.0)
    _materialize(settings)
    running = launch(env, tmp, redis_server)
    wait_ready(running)
    return running


def figures(scenario: str, **numbers: object) -> None:
    """One line of the report's table, printed (run pytest with -s to see it)."""
    print(f"\nFIGURES {scenario}: " + ", ".join(f"{k}={v}" for k, v in numbers.items()))


@dataclass
class MlflowServer:
    """A real `mlflow server` (SQLite store unless `store` names one, proxied artifacts) on a
    fixed port, killable."""

    folder: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    store: str | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 300.0) -> None:  # a restart took 125 s at load 10
        self.folder.mkdir(parents=True, exist_ok=True)
        command = [
            str(PROJECT_ROOT / ".venv/bin/mlflow"),
            "server",
            "--backend-store-uri",
            self.store or f"sqlite:///{self.folder / 'mlflow.db'}",
            "--artifacts-destination",
            str(self.folder / "artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            "1",
        ]
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
        with open(self.folder / "server.log", "ab") as log:
            self.process = subprocess.Popen(
                command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while not self._healthy():
            assert self.process.poll() is None, f"mlflow server exited; see {self.folder}"
            assert time.monotonic() < deadline, f"mlflow server not healthy within {timeout} s"
            time.sleep(0.3)

    def kill(self) -> None:
        """SIGKILL the server's process group: as a crash, not a clean stop."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        self.process = None

    def _healthy(self) -> bool:
        try:
            return httpx.get(f"{self.url}/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False


@dataclass
class PrefectServer:
    """A real Prefect server of the test's own (home and port), to stop and start again."""

    home: Path
    port: int = field(default_factory=free_port)

    @property
    def settings(self) -> Settings:
        return Settings(home=self.home)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def start(self) -> None:
        start_local(self.settings, port=self.port)  # same port and database as before

    def stop(self) -> None:
        stop_local(self.settings)


def emit_to(api_url: str, name: str, resource: dict[str, str], payload: dict[str, Any]) -> None:
    """Emit one event to the server at `api_url` (not the session's, which emit_event uses)."""
    from prefect.events.clients import PrefectEventsClient
    from prefect.events.schemas.events import Event

    async def send() -> None:
        async with PrefectEventsClient(api_url=api_url) as client:
            await client.emit(Event(event=name, resource=resource, payload=payload))

    asyncio.run(send())
