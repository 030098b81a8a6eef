"""Setting the soak up: the service, the request bodies, a check of each route, and the
background children (client, promoter) whose last stdout line is their JSON report."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from bench.children import PROJECT_ROOT
from bench.service import procs
from bench.service.bodies import write_bodies
from bench.service.procs import VENV_BIN, Server
from bench.service.servers import FLEETCAST, READY_TIMEOUT_S
from bench.service.state import State
from features.local.processes import free_port

UNKNOWN_IDS = [10**12 + k for k in range(8)]  # far above any generated id: must answer 404


def start_service(state: State, workdir: Path, stack: contextlib.ExitStack) -> Server:
    """The service as shipped, on a free port; returns once every worker answers /model."""
    port = free_port()
    command = [
        str(VENV_BIN / "bentoml"),
        "serve",
        FLEETCAST,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    server = procs.start(
        "fleetcast", command, state.env, f"http://127.0.0.1:{port}", workdir / "logs"
    )
    stack.callback(procs.stop, server)
    procs.wait_ready(server, "/readyz", READY_TIMEOUT_S)
    procs.worker_infos(server.url, state.settings.service_workers, READY_TIMEOUT_S)
    return server


def write_soak_bodies(state: State, workdir: Path) -> Path:
    """Listings and known ids of the snapshot, and ids no store holds, as one JSON file."""
    bodies = write_bodies(state.settings, workdir / "bodies", count=256)
    unknown = [json.dumps({"vehicle_id": v}) for v in UNKNOWN_IDS]
    path = workdir / "bodies" / "soak.json"
    path.write_text(
        json.dumps({"listings": bodies.listings, "ids": bodies.ids, "unknown_ids": unknown})
    )
    return path


def check_routes(url: str, bodies_file: Path) -> None:
    """One request of each kind answers as the soak expects, before any clock starts."""
    bodies = json.loads(bodies_file.read_text())
    listings = [json.loads(x) for x in bodies["listings"][:10]]
    checks = [
        ("/predict", bodies["listings"][0], 200),
        ("/predict_by_id", bodies["ids"][0], 200),
        ("/predict_by_id", bodies["unknown_ids"][0], 404),
        ("/predict_batch", json.dumps({"listings": listings}), 200),
    ]
    for path, body, expected in checks:
        reply = httpx.post(
            f"{url}{path}", content=body, timeout=30, headers={"content-type": "application/json"}
        )
        if reply.status_code != expected:
            raise RuntimeError(
                f"{path} {body[:80]}: {reply.status_code} (expected {expected}): {reply.text[:300]}"
            )


def start_child(
    module: str, args: list[str], env: dict[str, str], logs: Path, stack: contextlib.ExitStack
) -> tuple[subprocess.Popen[bytes], Path]:
    """`python -m module` in the background; stdout to a file (its JSON report), stderr to a
    log, stdin a pipe."""
    name = module.rsplit(".", 1)[-1]
    out, err = logs / f"{name}.out", logs / f"{name}.log"
    with open(out, "wb") as stdout, open(err, "wb") as stderr:
        child = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            cwd=PROJECT_ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=stdout,
            stderr=stderr,
        )
    stack.callback(_end_child, child)
    return child, out


def wait_for_line(child: subprocess.Popen[bytes], out: Path, line: str, timeout: float) -> None:
    """Until the child's stdout file holds `line` (it is set up)."""
    deadline = time.monotonic() + timeout
    while line not in out.read_text().splitlines():
        if child.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{child.args} not {line}; see {out.with_suffix('.log')}")
        time.sleep(0.2)


def _end_child(child: subprocess.Popen[bytes]) -> None:
    if child.poll() is None:
        child.terminate()
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def report_of(child: subprocess.Popen[bytes], out: Path, timeout: float) -> dict[str, Any]:
    code = child.wait(timeout=timeout)
    lines = out.read_text().strip().splitlines()
    if code != 0 or not lines:
        raise RuntimeError(f"{child.args} exited {code}; see {out.with_suffix('.log')}")
    return dict(json.loads(lines[-1]))
