"""Step 2: the servers under test, each on a free loopback port and in its own process group.

- fleetcast: `bentoml serve service.service:Fleetcast`, with the state folder's MLflow store,
  Redis and Prefect server; ready once every worker answers GET /model.
- baseline: `uvicorn bench.service.baseline:app --workers 1`, serving the pickled forest.
- floor (optional): `bentoml serve bench.service.noop:Noop`, the framework's no-op cost.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.service import procs
from bench.service.baseline import MODEL_ENV
from bench.service.procs import VENV_BIN, Server
from bench.service.state import State
from features.local.processes import free_port

READY_TIMEOUT_S = 240.0  # a cold BentoML start with mlflow imports, on a busy 2-core machine
FLEETCAST = "service.service:Fleetcast"
FLOOR = "bench.service.noop:Noop"


@dataclass
class Servers:
    fleetcast: Server
    baseline: Server
    floor: Server | None
    workers: int
    ready_seconds: dict[str, float] = field(default_factory=dict)
    model: dict[str, Any] = field(default_factory=dict)  # GET /model of one worker

    def stop(self) -> None:
        for server in (self.fleetcast, self.baseline, self.floor):
            if server is not None:
                procs.stop(server)


def bentoml_server(name: str, target: str, env: dict[str, str], logs: Path) -> Server:
    port = free_port()
    command = [
        str(VENV_BIN / "bentoml"),
        "serve",
        target,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    return procs.start(name, command, env, f"http://127.0.0.1:{port}", logs)


def _uvicorn(env: dict[str, str], model: Path, logs: Path) -> Server:
    port = free_port()
    command = [
        str(VENV_BIN / "uvicorn"),
        "bench.service.baseline:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    return procs.start(
        "baseline", command, env | {MODEL_ENV: str(model)}, f"http://127.0.0.1:{port}", logs
    )


def start_all(
    state: State, model: Path, workdir: Path, floor: bool, stack: contextlib.ExitStack
) -> Servers:
    """Start every server (stops registered on `stack` at once), then wait for each."""
    logs = workdir / "logs"
    started = time.monotonic()
    fleetcast = bentoml_server("fleetcast", FLEETCAST, state.env, logs)
    stack.callback(procs.stop, fleetcast)
    baseline = _uvicorn(state.env, model, logs)
    stack.callback(procs.stop, baseline)
    noop = bentoml_server("floor", FLOOR, state.env, logs) if floor else None
    if noop is not None:
        stack.callback(procs.stop, noop)
    servers = Servers(fleetcast, baseline, noop, state.settings.service_workers)
    procs.wait_ready(fleetcast, "/readyz", READY_TIMEOUT_S)
    infos = procs.worker_infos(fleetcast.url, servers.workers, READY_TIMEOUT_S)
    servers.model = next(iter(infos.values()))
    servers.ready_seconds["fleetcast"] = time.monotonic() - started
    procs.wait_ready(baseline, "/health", READY_TIMEOUT_S)
    servers.ready_seconds["baseline"] = time.monotonic() - started
    if noop is not None:
        procs.wait_ready(noop, "/readyz", READY_TIMEOUT_S)
        servers.ready_seconds["floor"] = time.monotonic() - started
    print(
        f"servers ready: {', '.join(f'{k} {v:.0f} s' for k, v in servers.ready_seconds.items())}",
        flush=True,
    )
    return servers
