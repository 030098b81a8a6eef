"""Servers the benchmark starts: each in its own process group, logged to a file, stopped whole.

Every server goes into an `ExitStack` as soon as it is started, so an error or Ctrl-C anywhere
later still stops it (SIGTERM to the group, then SIGKILL to what is left).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.children import PROJECT_ROOT

VENV_BIN = PROJECT_ROOT / ".venv" / "bin"
OURS = ("FLEETCAST_HOME", "FLEETCAST_PREFECT_PORT", "REDIS_URL", "MLFLOW_", "BENTOML_")


class ServerFailedError(RuntimeError):
    """A server exited or did not become ready in time."""


@dataclass
class Server:
    """A started process group and where its output goes."""

    name: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def base_env(workdir: Path) -> dict[str, str]:
    """The caller's environment, with every store pointed at the benchmark's workdir."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(OURS)}
    return inherited | {
        "FLEETCAST_HOME": str(workdir / "home"),
        "FLEETCAST_PREFECT_PORT": "0",
        "BENTOML_HOME": str(workdir / "bentoml"),
        "BENTOML_DO_NOT_TRACK": "True",
    }


def start(name: str, command: list[str], env: dict[str, str], url: str, logs: Path) -> Server:
    """Start `command` from the project root in a new session (its own process group)."""
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"{name}.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Server(name, url, process, log)


def stop(server: Server) -> None:
    """SIGTERM the whole group, then SIGKILL whatever is left of it."""
    for sig, grace in ((signal.SIGTERM, 20.0), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(server.process.pid, sig)
        except ProcessLookupError:
            return
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.process.wait(timeout=grace)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.process.pid, signal.SIGKILL)  # stragglers of an exited leader
            return


def _get(url: str) -> httpx.Response | None:
    try:
        return httpx.get(url, timeout=2)  # a new connection each time
    except httpx.TransportError:
        return None


def wait_ready(server: Server, path: str, timeout: float) -> float:
    """Poll `path` until it answers 200; the seconds it took."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if server.process.poll() is not None:
            raise ServerFailedError(f"{server.name} exited:\n{server.tail()}")
        reply = _get(f"{server.url}{path}")
        if reply is not None and reply.status_code == 200:
            return time.monotonic() - started
        time.sleep(0.25)
    raise ServerFailedError(f"{server.name} not ready in {timeout:.0f} s:\n{server.tail()}")


def worker_infos(url: str, workers: int, timeout: float) -> dict[int, dict[str, Any]]:
    """GET /model on fresh connections until `workers` distinct worker pids have answered."""
    seen: dict[int, dict[str, Any]] = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reply = _get(f"{url}/model")
        if reply is not None and reply.status_code == 200:
            seen[reply.json()["worker_pid"]] = reply.json()
            if len(seen) >= workers:
                return seen
        time.sleep(0.05)
    raise ServerFailedError(f"only {len(seen)} of {workers} workers answered /model: {seen}")


def run_cli(env: dict[str, str], *args: str, log: Path, timeout: float = 900) -> str:
    """`fleetcast ARGS` in the benchmark's environment, stderr appended to `log`; its stdout.

    Files, not pipes: `redis start` and `server start` leave daemons behind that inherit the
    command's output streams, and a pipe would then never reach end-of-file.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile("w+") as out, open(log, "a") as err:
        err.write(f"$ fleetcast {' '.join(args)}\n")
        err.flush()
        done = subprocess.run(
            [str(VENV_BIN / "fleetcast"), *args],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=out,
            stderr=err,
            timeout=timeout,
            check=False,
        )
        out.seek(0)
        stdout = out.read()
        err.write(stdout)
    if done.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
        raise ServerFailedError(f"fleetcast {' '.join(args)} exited {done.returncode}:\n{tail}")
    return stdout
