"""Serve fleetcast's deployments locally: the process work pool, `prefect deploy`, a worker.

The deployments, their schedule and their triggers live in `prefect.yaml` at the project root.
Call `features.local.prefect_server.use_prefect_server(settings)` before importing this module:
Prefect reads `PREFECT_API_URL` when first imported, and the worker must use the same server.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import httpx
import yaml
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterName,
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
    WorkPoolFilter,
    WorkPoolFilterName,
)
from prefect.client.schemas.objects import StateType
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound
from prefect.states import Crashed
from prefect.workers.process import ProcessWorker
from pydantic import SecretStr

from features.contract.errors import FleetcastError
from features.settings import PROJECT_ROOT, Settings
from flows.cli import foreground

WORK_POOL = "fleetcast"
PREFECT_FILE = PROJECT_ROOT / "prefect.yaml"
# Prefect's default poll (10 s) would be paid again at every link of the trigger chain.
WORKER_QUERY_SECONDS = 2
# A worker that has not stopped this long after its SIGINT is killed.
ERROR_TAIL_LINES = 30

logger = logging.getLogger(__name__)


class DeployError(FleetcastError, RuntimeError):
    """`prefect deploy` failed; the message ends with the tail of its output."""


def declared_deployments(prefect_file: Path = PREFECT_FILE) -> dict[str, str]:
    """Deployment name -> flow entrypoint, as `prefect.yaml` declares them (file order)."""
    config = yaml.safe_load(prefect_file.read_text())
    return {item["name"]: item["entrypoint"] for item in config["deployments"]}


def ensure_work_pool(name: str = WORK_POOL) -> bool:
    """Create the process work pool `name` unless it exists; True if this call created it."""
    with get_client(sync_client=True) as client:
        with contextlib.suppress(ObjectNotFound):
            client.read_work_pool(name)
            return False
        pool = WorkPoolCreate(
            name=name,
            type=ProcessWorker.type,
            base_job_template=ProcessWorker.get_default_base_job_template(),
        )
        try:
            client.create_work_pool(pool)
        except ObjectAlreadyExists:  # another `fleetcast deploy` created it meanwhile
            return False
    return True


def settings_env(settings: Settings) -> dict[str, str]:
    """`settings` as the variables it is read from, so child processes see the same values."""
    prefix = settings.model_config.get("env_prefix", "")
    env: dict[str, str] = {}
    for name, field in type(settings).model_fields.items():
        value = getattr(settings, name)
        if value is not None:
            alias = field.validation_alias
            # str() of a SecretStr is its mask: children would read "**********" as the token.
            text = value.get_secret_value() if isinstance(value, SecretStr) else str(value)
            env[alias if isinstance(alias, str) else f"{prefix}{name}".upper()] = text
    return env


def child_env(settings: Settings) -> dict[str, str]:
    """Environment of `prefect deploy` and of the worker (hence of every flow run it starts)."""
    missing = [v for v in ("PREFECT_API_URL", "PREFECT_HOME") if not os.environ.get(v)]
    if missing:
        # Without them the worker would talk to an ephemeral API nobody else sees.
        raise RuntimeError(f"{', '.join(missing)} unset: call use_prefect_server() first")
    defaults = {"PREFECT_WORKER_QUERY_SECONDS": str(WORKER_QUERY_SECONDS)}
    return defaults | dict(os.environ) | settings_env(settings)


def _prefect_executable() -> str:
    """The `prefect` command of this environment (not whichever one is first on PATH)."""
    return str(Path(sys.executable).parent / "prefect")


def deploy_all(settings: Settings, names: Sequence[str] | None = None) -> list[str]:
    """Apply `prefect.yaml` (every deployment, or only `names`) with its schedules and triggers.

    Idempotent: a deployment is updated in place and its automations are replaced.
    Returns the names of the deployments applied.
    """
    ensure_work_pool()
    selection = [arg for name in names for arg in ("--name", name)] if names else ["--all"]
    result = subprocess.run(
        [_prefect_executable(), "--no-prompt", "deploy", *selection],
        cwd=PROJECT_ROOT,  # entrypoints and the recorded code folder are relative to it
        env=child_env(settings),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        # Prefect prints a traceback whose last line names the cause (e.g. a missing entrypoint).
        lines = (result.stdout + result.stderr).strip().splitlines() or ["(no output)"]
        tail = "\n".join(lines[-ERROR_TAIL_LINES:])
        raise DeployError(f"`prefect deploy` failed: {lines[-1]}\n{tail}")
    applied = list(names) if names else list(declared_deployments())
    set_schedules(applied, active=True)  # a clean stop of the last worker paused them
    return applied


def set_schedules(names: Sequence[str], active: bool) -> list[str]:
    """Resume or pause the schedules of the deployments called `names`; those changed.

    Pausing deletes their runs still Scheduled (Prefect does that), so a stopped worker leaves
    no run to turn Late in the UI; `fleetcast deploy` resumes them."""
    only = DeploymentFilter(name=DeploymentFilterName(any_=list(names)))
    with get_client(sync_client=True) as client:
        deployments = client.read_deployments(deployment_filter=only)
        changed = [d for d in deployments if d.paused == active]
        for deployment in changed:
            switch = client.resume_deployment if active else client.pause_deployment
            switch(deployment.id)
    return sorted(d.name for d in changed)


def _worker_command(pool: str, name: str) -> list[str]:
    """`prefect worker start` for `pool`, named `name`."""
    command = ["worker", "start", "--pool", pool, "--type", ProcessWorker.type, "--name", name]
    return [_prefect_executable(), *command]


def crash_abandoned_runs(worker_name: str, pool: str = WORK_POOL) -> list[str]:
    """Mark Crashed the runs a stopped worker left pending or running; their names.

    A stopping Prefect 3.9 worker kills the processes of its in-flight runs without reporting
    a final state, so they would otherwise show as running forever.
    """
    unfinished = FlowRunFilterStateType(any_=[StateType.PENDING, StateType.RUNNING])
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(state=FlowRunFilterState(type=unfinished)),
            work_pool_filter=WorkPoolFilter(name=WorkPoolFilterName(any_=[pool])),
        )
        # The worker labels each run it takes, so other workers' runs are left alone.
        abandoned = [r for r in runs if r.labels.get("prefect.worker.name") == worker_name]
        for run in abandoned:
            message = f"worker {worker_name!r} stopped during this run"
            client.set_flow_run_state(run.id, Crashed(message=message), force=True)
    return [run.name for run in abandoned]


def worker(settings: Settings, pool: str = WORK_POOL) -> tuple[foreground.Child, str]:
    """The worker process for `pool` (as a foreground child), and its name."""
    name = f"fleetcast-{socket.gethostname()}-{os.getpid()}"
    # One SIGINT is how Prefect expects a worker to stop: it answers a second with SIGKILL.
    command = _worker_command(pool, name)
    return foreground.Child(command, PROJECT_ROOT, child_env(settings), signal.SIGINT), name


def run_worker(settings: Settings, pool: str = WORK_POOL) -> int:
    """Run a worker for `pool` in the foreground until Ctrl-C or SIGTERM; its exit code."""
    return run_beside(settings, [], pool)[0]


def run_beside(
    settings: Settings, others: Sequence[foreground.Child], pool: str = WORK_POOL
) -> list[int]:
    """A worker for `pool` with `others` beside it, until one exits or Ctrl-C/SIGTERM; then
    the runs it abandoned are marked Crashed and the schedules paused (no Late runs pile up
    while nothing serves them). Exit codes: the worker's, then the others'."""
    child, name = worker(settings, pool)
    try:
        return foreground.run_together([child, *others])
    finally:
        _report_abandoned(name, pool)
        _pause_schedules()


def _pause_schedules() -> None:
    try:
        paused = set_schedules(list(declared_deployments()), active=False)
    except httpx.HTTPError as error:
        logger.warning("could not pause the deployments' schedules: %s", error)
        return
    if paused:
        logger.warning(
            "worker stopped: paused the schedules of %s (`fleetcast deploy` resumes them)",
            ", ".join(paused),
        )


def _report_abandoned(worker_name: str, pool: str) -> None:
    """Crash and log the runs the worker abandoned; a server that is gone is not an error."""
    try:
        abandoned = crash_abandoned_runs(worker_name, pool)
    except httpx.HTTPError as error:
        logger.warning("could not check the worker's unfinished runs: %s", error)
        return
    if abandoned:
        logger.warning("stopped during a run, marked Crashed: %s", ", ".join(abandoned))
