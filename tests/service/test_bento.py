"""Packaging: the Bento builds from bentofile.yaml, pins the locked versions, and serves."""

from __future__ import annotations

import ast
import os
import re
import signal
import subprocess
import sys
import time
import tomllib
from importlib.metadata import version
from pathlib import Path

import httpx
import pytest
import yaml
from conftest import SYSTEM_PATH, TrainedStore
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from features.contract.schema import ENTITY, EXAMPLE_VEHICLE
from features.local.processes import free_port
from features.settings import PROJECT_ROOT

BENTOML = str(Path(sys.executable).parent / "bentoml")
LISTING = EXAMPLE_VEHICLE.model_dump(exclude={ENTITY})


def _imported_modules(module: str, seen: set[str] | None = None) -> set[str]:
    """`module` and every project module it imports, transitively (read from the source)."""
    seen = set() if seen is None else seen
    path = PROJECT_ROOT / (module.replace(".", "/") + ".py")
    if not path.exists():
        path = PROJECT_ROOT / module.replace(".", "/") / "__init__.py"
    if module in seen or not path.exists():
        return seen
    seen.add(module)
    parents = module.split(".")
    seen.update(".".join(parents[:i]) for i in range(1, len(parents)))  # their packages
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for name in names:
            if name.split(".")[0] in {"features", "flows", "service"}:
                _imported_modules(name, seen)
    return seen


def test_the_bento_ships_exactly_what_the_service_imports() -> None:
    bentofile = yaml.safe_load((PROJECT_ROOT / "bentofile.yaml").read_text())
    shipped = {
        ".".join(path.relative_to(PROJECT_ROOT).with_suffix("").parts).removesuffix(".__init__")
        for pattern in bentofile["include"]
        for path in PROJECT_ROOT.glob(pattern)
    }
    needed = _imported_modules("service.service") | _imported_modules("service.lookup")
    assert needed <= shipped, f"add to bentofile.yaml: {sorted(needed - shipped)}"
    assert not {m for m in shipped - needed if not m.startswith("service")}, "ships unused code"
    assert not any(m.startswith("flows") for m in shipped)


def test_the_service_requirements_are_the_locked_versions() -> None:
    """service/requirements.txt pins uv.lock's versions (what runs here) of the service's
    packages only: `make service-requirements`."""
    lines = (PROJECT_ROOT / "service" / "requirements.txt").read_text().splitlines()
    pins = [Requirement(line) for line in lines if "==" in line]
    here = [r for r in pins if r.marker is None or r.marker.evaluate()]
    stale = {
        r.name: (str(r.specifier), version(r.name))
        for r in here
        if r.specifier != SpecifierSet(f"=={version(r.name)}")
    }
    assert not stale, f"regenerate service/requirements.txt (see README): {stale}"
    names = {r.name for r in here}
    for name in ("bentoml", "mlflow-skinny", "onnxruntime", "scikit-learn", "polars", "redis"):
        assert name in names
    # The flows' and the tracking server's, not the service's: the image would carry them.
    assert not names & {"mlflow", "dask", "distributed", "matplotlib", "evidently", "skl2onnx"}


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
    # Served from a virtualenv of service/requirements.txt alone, as the image installs it: a
    # package the service imports but the lean set lacks fails here, not in production.
    lean = _lean_environment(tmp_path / "lean", env)
    port = free_port()
    log = (tmp_path / "serve.log").open("w")
    command = [str(lean / "bin" / "bentoml"), "serve", tag, "--port", str(port)]
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


def _lean_environment(folder: Path, env: dict[str, str]) -> Path:
    """A virtualenv holding service/requirements.txt only, offline: the lock synced into it from
    uv's cache (as `make setup` fills it) leaving out every locked package the requirements do
    not name, then checked for missing dependencies. (`uv pip install --offline -r` would need
    PyPI's index pages, which a fresh machine's cache does not hold; uninstalling after a full
    sync would break packages sharing files, as mlflow and mlflow-skinny do.)"""
    uv = str(Path(sys.executable).parent / "uv")
    run = {"env": env, "capture_output": True, "text": True, "check": True}
    locked = {p["name"] for p in tomllib.loads((PROJECT_ROOT / "uv.lock").read_text())["package"]}
    wanted = _names((PROJECT_ROOT / "service/requirements.txt").read_text())
    left_out = sorted(_names("\n".join(f"{n}==" for n in locked)) - wanted - {"fleetcast"})
    sync = ["sync", "--frozen", "--offline", "--no-install-project", "--python", sys.executable]
    sync += [f"--no-install-package={name}" for name in left_out]
    synced = env | {"UV_PROJECT_ENVIRONMENT": str(folder)}
    subprocess.run([uv, *sync], **(run | {"env": synced, "cwd": PROJECT_ROOT}))
    python = str(folder / "bin" / "python")
    installed = _names(subprocess.run([uv, "pip", "freeze", "--python", python], **run).stdout)
    assert installed <= wanted, f"installed beyond the requirements: {installed - wanted}"
    subprocess.run([uv, "pip", "check", "--python", python], **run)
    return folder


def _names(requirements: str) -> set[str]:
    """The normalized names pinned in a requirements or `pip freeze` text."""
    pinned = (line.split("==")[0] for line in requirements.splitlines() if "==" in line)
    return {re.sub(r"[-_.]+", "-", name).strip().lower() for name in pinned}


def _first_prediction(url: str, deadline: float) -> dict:
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return httpx.post(f"{url}/predict", json=LISTING, timeout=10).json()
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError("the built Bento never became ready")
