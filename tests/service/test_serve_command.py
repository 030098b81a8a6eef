"""`fleetcast serve` (the end of `make run`) serves the champion and stops on Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from conftest import TrainedStore

from features.local.processes import free_port
from features.settings import PROJECT_ROOT

pytestmark = [pytest.mark.integration, pytest.mark.slow]
FLEETCAST = str(Path(sys.executable).parent / "fleetcast")


def test_serve_answers_by_id_from_the_pipelines_online_store_and_stops_on_ctrl_c(
    trained_store: TrainedStore, prefect_server: str, tmp_path: Path
) -> None:
    port = free_port()
    env = os.environ | trained_store.env | {"FLEETCAST_SERVICE_PORT": str(port)}
    with (tmp_path / "serve.log").open("w") as log:
        serve = subprocess.Popen(
            [FLEETCAST, "serve"],
            env=env,
            cwd=PROJECT_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            reply = _wait_for_prediction(f"http://127.0.0.1:{port}", time.monotonic() + 120)
        finally:
            os.killpg(serve.pid, signal.SIGINT)
            code = serve.wait(60)
    output = (tmp_path / "serve.log").read_text()
    assert reply.status_code == 200, output[-3000:]
    assert reply.headers["x-model-version"] == trained_store.result.promotion.candidate_version
    assert f"curl -s -X POST http://127.0.0.1:{port}/predict" in output
    assert code == 0, output[-3000:]


def _wait_for_prediction(url: str, deadline: float) -> httpx.Response:
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return httpx.post(f"{url}/predict_by_id", json={"vehicle_id": 1}, timeout=10)
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError("fleetcast serve never became ready")
