"""Packaging: the Bento builds from bentofile.yaml, pins the locked versions, and serves."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path

import httpx
import pytest
from conftest import SYSTEM_PATH, TrainedStore
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from features.local.processes import free_port
from features.settings import PROJECT_ROOT

BENTOML = str(Path(sys.executable).parent / "bentoml")
LISTING = {
    "technology": 1,
    "actual_price": 60.0,
    "recommended_price": 55.0,
    "num_images": 5,
    "street_parked": 0,
    "description": 300,
}


def test_the_service_requirements_are_the_locked_versions() -> None:
    """service/requirements.txt is `uv export --no-default-groups` of uv.lock: what runs here."""
    lines = (PROJECT_ROOT / "service" / "requirements.txt").read_text().splitlines()
    pins = [Requirement(line) for line in lines if "==" in line]
    here = [r for r in pins if r.marker is None or r.marker.evaluate()]
    stale = {
        r.name: (str(r.specifier), version(r.name))
        for r in here
        if r.specifier != SpecifierSet(f"=={version(r.name)}")
    }
    assert not stale, f"regenerate service/requirements.txt (see README): {stale}"
    for name in ("bentoml", "mlflow", "onnxruntime", "scikit-learn", "polars", "redis", "prefect"):
        assert name in {r.name for r in here}


@pytest.mark.integration
@pytest.mark.slow
def test_a_built_bento_serves_predictions(
    trained_store: TrainedStore, tmp_path: Path, prefect_server: str
) -> None:
    # Only system directories on PATH: building must find uv (and all else) in the project.
    env = (
        os.environ
        | trained_store.env
        | {"BENTOML_HOME": str(tmp_path / "bentoml"), "PATH": SYSTEM_PATH}
    )
    built = subprocess.run(
        [BENTOML, "build", str(PROJECT_ROOT)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=PROJECT_ROOT,
    )
    tag = re.search(r"fleetcast:[a-z0-9]+", built.stdout + built.stderr).group(0)
    port = free_port()
    log = (tmp_path / "serve.log").open("w")
    command = [BENTOML, "serve", tag, "--port", str(port)]
    server = subprocess.Popen(
        command, env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        reply = _first_prediction(f"http://127.0.0.1:{port}", deadline=time.monotonic() + 120)
        assert reply["model_version"] == trained_store.result.promotion.candidate_version
        assert reply["predicted_reservations"] >= 0
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
    src = tmp_path / "bentoml" / "bentos" / "fleetcast"
    shipped = {p.name for p in src.glob("*/src/*")}
    assert {"features", "service", "bentofile.yaml"} <= shipped and "tests" not in shipped


def _first_prediction(url: str, deadline: float) -> dict:
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return httpx.post(f"{url}/predict", json=LISTING, timeout=10).json()
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError("the built Bento never became ready")
