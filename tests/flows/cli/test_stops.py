"""`fleetcast serve` (the end of `make run`) serves the pipeline's champion and online store, and
a stop stops it: SIGINT or SIGTERM to the command alone (or to `make serve`), as a supervisor,
`timeout` or a container runtime sends it, ends the whole service tree within seconds, frees the
port and flushes the prediction log like a clean stop."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import polars as pl
import psutil
import pytest
import redis
from conftest import SYSTEM_PATH, TrainedStore
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterId,
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import StateType
from prefect.client.schemas.responses import DeploymentResponse
from prometheus_client.parser import text_string_to_metric_families

from features.contract.prediction_log import REQUEST_ID
from features.contract.routes import PAGE_PATH
from features.local.processes import free_port
from features.settings import PROJECT_ROOT, Settings
from features.stores.online import OnlineKeys
from features.stores.predictions import scan_predictions
from flows.cli.deploy import declared_deployments

pytestmark = [pytest.mark.integration, pytest.mark.slow]
SCHEDULED = StateType.SCHEDULED
READY_S = 120.0  # a cold start on a busy 2-core machine; ~20 s when quiet
STOPPED_S = 20.0  # "within a few seconds", with room for a loaded machine
COMMANDS = {
    "fleetcast serve": lambda port: [
        str(PROJECT_ROOT / ".venv/bin/fleetcast"),
        "serve",
        "--port",
        str(port),
    ],
    "make serve": lambda port: ["make", "--no-print-directory", "-C", str(PROJECT_ROOT), "serve"],
    # What `make run` ends with: the deployments applied and a worker beside the service.
    "fleetcast serve --deployments": lambda port: [
        str(PROJECT_ROOT / ".venv/bin/fleetcast"),
        "serve",
        "--port",
        str(port),
        "--deployments",
    ],
}
# GNU make forwards SIGTERM to its recipe and waits out a SIGINT, which a terminal's Ctrl-C
# sends to its whole process group (the command included) anyway.
CASES = [
    ("fleetcast serve", signal.SIGINT),
    ("fleetcast serve", signal.SIGTERM),
    ("make serve", signal.SIGTERM),
    ("fleetcast serve --deployments", signal.SIGTERM),
]


def _ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + READY_S
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()[-3000:]
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        time.sleep(0.5)
    raise AssertionError(f"not ready within {READY_S} s:\n{log.read_text()[-3000:]}")


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


@pytest.mark.parametrize(("command", "sig"), CASES, ids=[f"{c}-{s.name}" for c, s in CASES])
def test_a_signal_to_the_command_alone_stops_the_whole_service(
    command: str,
    sig: signal.Signals,
    trained_store: TrainedStore,
    prefect_server: str,
    tmp_path: Path,
) -> None:
    port = free_port()
    stream = OnlineKeys(trained_store.env["FLEETCAST_REDIS_KEY_PREFIX"]).prediction_log
    store = redis.Redis.from_url(trained_store.env["REDIS_URL"])
    logged_before = store.xlen(stream)
    env = (
        os.environ
        | trained_store.env
        | {
            "PATH": SYSTEM_PATH,
            "BENTOML_HOME": str(tmp_path / "bentoml"),
            "FLEETCAST_SERVICE_PORT": str(port),
        }
    )
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        # Its own session, so the signal reaches only the command, never its children directly.
        process = subprocess.Popen(
            COMMANDS[command](port),
            env=env,
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        _ready(url, process, log)
        by_id = httpx.post(f"{url}/predict_by_id", json={"vehicle_id": 1}, timeout=10)
        assert by_id.status_code == 200, log.read_text()[-3000:]
        assert by_id.headers["x-model-version"] == trained_store.result.promotion.candidate_version
        assert f"curl -s -X POST http://127.0.0.1:{port}/predict" in log.read_text()
        page = f"{url}{PAGE_PATH}"  # printed by every way in, `make run` included
        assert f"web page (price a listing, look up a vehicle, the model): {page}" in (
            log.read_text()
        )
        assert httpx.get(page, timeout=10).headers["content-type"].startswith("text/html")
        tree = psutil.Process(process.pid).children(recursive=True)
        assert len(tree) >= 3, tree  # at least bentoml serve and its two workers
        if "--deployments" in command:
            _assert_deployed_with_a_worker(tree, log)
        process.send_signal(sig)
        code = process.wait(STOPPED_S)
        _, alive = psutil.wait_procs(tree, timeout=5)
        assert alive == [], [p.cmdline() for p in alive]
        assert _port_free(port)
        if "--deployments" in command:
            # The worker may have run the drain deployment meanwhile: look in both places.
            logged = _logged_anywhere(store, stream, trained_store, by_id.headers["x-request-id"])
            assert logged, log.read_text()[-3000:]
        else:
            assert store.xlen(stream) == logged_before + 1  # flushed at the stop
        if command.startswith("fleetcast serve"):
            assert code == 0, log.read_text()[-3000:]  # a requested stop is a clean exit
        if "--deployments" in command:
            _assert_paused_with_nothing_scheduled()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)


def _logged_anywhere(
    store: redis.Redis, stream: str, trained: TrainedStore, request_id: str
) -> bool:
    """The prediction of `request_id` is in the Redis log or already drained to Parquet."""
    if any(request_id.encode() in b"".join(f.values()) for _, f in store.xrange(stream)):
        return True
    settings = Settings(home=Path(trained.env["FLEETCAST_HOME"]))
    drained = scan_predictions(settings).filter(pl.col(REQUEST_ID) == request_id)
    return drained.collect().height == 1


def _fleetcast_deployments() -> list[DeploymentResponse]:
    with get_client(sync_client=True) as client:
        return [d for d in client.read_deployments() if d.name in declared_deployments()]


def _assert_deployed_with_a_worker(tree: list[psutil.Process], log: Path) -> None:
    deadline = time.monotonic() + READY_S
    while len(_fleetcast_deployments()) < len(declared_deployments()):
        assert time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.5)
    assert not any(d.paused for d in _fleetcast_deployments())
    commands = [" ".join(p.cmdline()) for p in tree if p.is_running()]
    assert any("worker start --pool fleetcast" in c for c in commands), commands


def _assert_paused_with_nothing_scheduled() -> None:
    """A clean stop leaves no schedule running without a worker: no run turns Late."""
    deployments = _fleetcast_deployments()
    assert deployments and all(d.paused for d in deployments)
    only = DeploymentFilter(id=DeploymentFilterId(any_=[d.id for d in deployments]))
    scheduled = FlowRunFilter(
        state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[SCHEDULED]))
    )
    with get_client(sync_client=True) as client:
        left = client.read_flow_runs(deployment_filter=only, flow_run_filter=scheduled)
    assert left == [], [(r.name, r.state_name) for r in left]


def _predictions_counted(url: str) -> tuple[float, set[str]]:
    """This server's predictions on /metrics, and the worker pids it reports."""
    families = text_string_to_metric_families(httpx.get(f"{url}/metrics", timeout=10).text)
    samples = [sample for family in families for sample in family.samples]
    counted = sum(s.value for s in samples if s.name == "fleetcast_predictions_total")
    pids = {s.labels["pid"] for s in samples if s.name == "fleetcast_worker_model_version"}
    return counted, pids


def test_two_servers_on_one_host_keep_their_own_metrics(
    trained_store: TrainedStore, prefect_server: str, tmp_path: Path
) -> None:
    """Without BENTOML_HOME set, two `fleetcast serve` of one state folder keep separate
    Prometheus files: each counts its own predictions and reports its own workers."""
    env = {k: v for k, v in os.environ.items() if k != "BENTOML_HOME"}
    env |= trained_store.env | {"PATH": SYSTEM_PATH}
    servers: list[tuple[str, subprocess.Popen[bytes], Path]] = []
    try:
        for name in ("first", "second"):
            port, log = free_port(), tmp_path / f"{name}.log"
            with log.open("wb") as out:
                process = subprocess.Popen(
                    COMMANDS["fleetcast serve"](port),
                    env=env,
                    cwd=tmp_path,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            servers.append((f"http://127.0.0.1:{port}", process, log))
            _ready(servers[-1][0], process, log)  # one after the other: the second starts last
        for (url, _, _), calls in zip(servers, (3, 5), strict=True):
            for _ in range(calls):
                reply = httpx.post(f"{url}/predict_by_id", json={"vehicle_id": 1}, timeout=10)
                assert reply.status_code == 200, reply.text
        (first, first_pids), (second, second_pids) = (_predictions_counted(u) for u, *_ in servers)
        assert (first, second) == (3, 5)
        assert first_pids and second_pids and not first_pids & second_pids
    finally:
        for _, process, _ in servers:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for _, process, _ in servers:
            process.wait(STOPPED_S)
