"""The lookup served on its own (FLEETCAST_LOOKUP_URL), for users who scale it apart from the
predictors: the same answers as the lookup inside each worker, and its outage costs only the
by-id routes."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from support.service_fixtures import stop

from features.local.processes import free_port
from features.settings import PROJECT_ROOT

if TYPE_CHECKING:
    from support.service_fixtures import RunningService

pytestmark = [pytest.mark.integration, pytest.mark.slow]
READY_S = 120.0
UNKNOWN_ID = 987_654_321


@contextlib.contextmanager
def served_lookup(
    env: dict[str, str], folder: Path
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`bentoml serve service.lookup:OnlineLookup` on a free port, ready; stopped after."""
    port = free_port()
    command = [str(PROJECT_ROOT / ".venv/bin/bentoml"), "serve", "service.lookup:OnlineLookup"]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    with open(folder / "lookup.log", "wb") as log:
        process = subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            env=env | {"BENTOML_HOME": str(folder / "bentoml")},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, process, folder / "lookup.log")
        yield url, process
    finally:
        stop(process)


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + READY_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the lookup exited ({process.returncode}):\n{log.read_text()[-3000:]}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        time.sleep(0.5)
    pytest.fail(f"the lookup was not ready within {READY_S:.0f} s:\n{log.read_text()[-3000:]}")


def _answers(service: RunningService, vehicle_id: int) -> list[tuple[int, Any]]:
    replies = [
        service.post("/predict_by_id", {"vehicle_id": vehicle_id}),
        httpx.get(f"{service.url}/vehicles/{vehicle_id}", timeout=15),
    ]
    return [(reply.status_code, reply.json()) for reply in replies]


def test_a_lookup_served_apart_answers_as_the_one_inside_and_its_outage_costs_only_by_id(
    service: RunningService,
    another_service: Callable[[dict[str, str]], RunningService],
    known_vehicle: int,
    listing: dict[str, Any],
    tmp_path: Path,
) -> None:
    with served_lookup(service.env, tmp_path) as (url, lookup):
        apart = another_service({"FLEETCAST_LOOKUP_URL": url})
        for vehicle_id in (known_vehicle, UNKNOWN_ID):
            assert _answers(apart, vehicle_id) == _answers(service, vehicle_id)
        assert [status for status, _ in _answers(apart, known_vehicle)] == [200, 200]
        stop(lookup)
        down = apart.post("/predict_by_id", {"vehicle_id": known_vehicle})
        assert down.status_code == 503, down.text
        assert "POST /predict with the attributes still works" in down.json()["error"]
        assert apart.post("/predict", listing).status_code == 200
    assert service.post("/predict_by_id", {"vehicle_id": known_vehicle}).status_code == 200
