"""Step 1: a state folder with a champion, its Redis and a Prefect server, all under the workdir.

The embedded Redis and the local Prefect server are started through the CLI (`fleetcast redis
start`, `fleetcast server start`) unless this state folder already has them running; whatever
this run started is stopped again when the run ends (`fleetcast redis stop`, `server stop`).
Then `fleetcast pipeline` trains and promotes a champion on the shipped data, unless `--reuse`
finds one from an earlier run.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import redis

from bench.service.procs import base_env, run_cli
from features.local.prefect_server import running_local_url
from features.local.redis_server import running_embedded_url
from features.settings import Settings
from features.stores.offline import list_snapshots


@dataclass
class State:
    """The environment every fleetcast process of the run gets, and what was done to get it."""

    env: dict[str, str]
    settings: Settings
    pipeline_seconds: float | None = None
    notes: list[str] = field(default_factory=list)


def _stopper(env: dict[str, str], log: Path, *args: str) -> None:
    """A cleanup that must not hide the error that got us here: report, do not raise."""
    try:
        run_cli(env, *args, log=log, timeout=300)
        print(f"stopped: fleetcast {' '.join(args)}", flush=True)
    except Exception as error:  # cleanup is best effort, and says so
        print(f"warning: fleetcast {' '.join(args)} failed: {error}", flush=True)


def _redis(state: State, stack: contextlib.ExitStack, log: Path) -> str:
    url = running_embedded_url(state.settings)
    if url is not None:
        state.notes.append(f"reused the embedded Redis already running for this state ({url})")
        return url
    url = run_cli(state.env, "redis", "start", log=log).strip().splitlines()[-1]
    stack.callback(_stopper, state.env, log, "redis", "stop")
    return url


def _prefect(state: State, stack: contextlib.ExitStack, log: Path) -> str:
    given = os.environ.get("PREFECT_API_URL")
    if given:
        state.notes.append(f"Prefect server from PREFECT_API_URL ({given})")
        return given
    url = running_local_url(state.settings)
    if url is not None:
        state.notes.append(f"reused the local Prefect server already running ({url})")
        return url
    started = time.perf_counter()
    out = run_cli(state.env, "server", "start", log=log)
    stack.callback(_stopper, state.env, log, "server", "stop")
    url = out.strip().splitlines()[-1].removeprefix("Prefect API: ").strip()
    print(f"Prefect server up at {url} in {time.perf_counter() - started:.0f} s", flush=True)
    return url


def daemon_pids(state: State) -> list[int]:
    """Redis and the local Prefect server (with its children) serving this run, if local."""
    pids = [redis.Redis.from_url(state.env["REDIS_URL"]).info("server")["process_id"]]
    server = state.settings.prefect_home / "server.json"
    if server.exists() and not os.environ.get("PREFECT_API_URL"):
        with contextlib.suppress(psutil.Error):
            leader = psutil.Process(json.loads(server.read_text())["pid"])
            pids += [leader.pid, *(p.pid for p in leader.children(recursive=True))]
    return pids


def _has_champion_state(settings: Settings) -> bool:
    return bool(list_snapshots(settings)) and (settings.mlflow_dir / "mlflow.db").exists()


def prepare(workdir: Path, reuse: bool, stack: contextlib.ExitStack) -> State:
    """Redis, Prefect and (unless reused) a pipeline run; cleanups registered on `stack`."""
    env = base_env(workdir)
    home = Path(env["FLEETCAST_HOME"])
    state = State(env, Settings(home=home, redis_url=None, mlflow_tracking_uri=None))
    log = workdir / "logs" / "state.log"
    env["REDIS_URL"] = _redis(state, stack, log)
    env["PREFECT_API_URL"] = _prefect(state, stack, log)
    if reuse and _has_champion_state(state.settings):
        state.notes.append(f"--reuse: kept the champion and snapshot already in {home}")
        return state
    print(f"running `fleetcast pipeline` in {home} (trains and promotes a champion)", flush=True)
    started = time.perf_counter()
    out = run_cli(env, "pipeline", log=workdir / "logs" / "pipeline.log")
    state.pipeline_seconds = time.perf_counter() - started
    decision = [x for x in out.splitlines() if x.startswith(("PROMOTED", "REJECTED"))]
    state.notes += [f"`fleetcast pipeline` ({state.pipeline_seconds:.0f} s): {x}" for x in decision]
    print(f"pipeline done in {state.pipeline_seconds:.0f} s: {decision}", flush=True)
    return state
