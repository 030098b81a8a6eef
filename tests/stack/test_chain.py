"""The chain of deployments on PostgreSQL-backed MLflow and Prefect, run by a process worker.

Each test starts one deployment (or two, racing) and watches what follows: the automations of
prefect.yaml start the next stages, the promote flow emits its event, and every service worker
swaps. The tests run in file order and build on each other's registry (v1, then a constant
champion, then its retrained replacement), as the stack would in production.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import Any

import mlflow.sklearn
import polars as pl
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName
from prefect.client.schemas.objects import FlowRun
from prefect.client.schemas.sorting import FlowRunSort
from prefect.deployments import run_deployment
from prefect.events.filters import EventFilter, EventNameFilter, EventOccurredFilter
from stack.conftest import IMAGE_COMMIT, Stack
from support.drift import log_rows, write_log
from support.registry import register_constant, register_copy, trained_version
from support.service_fixtures import serves_and_heard

from features.contract import intervals
from features.contract.events import MODEL_PROMOTED, promoted_version
from features.contract.registry import CHAMPION, Tag, model_uri
from features.contract.schema import ENTITY
from features.settings import Settings
from features.stores import model_registry
from features.stores.offline import scan_snapshot
from flows.evaluation import feature_frame
from flows.ingest.flow import ingest_flow
from flows.promote.contenders import champion_history
from flows.snapshot.flow import feature_build_flow
from flows.synthetic.generator import ShiftedMonth, generate

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.stack]

# A stage's run starts seconds after the one before completes; train is the long one (~1 min).
STAGE_TIMEOUT_S = 420
SWAP_TIMEOUT_S = 60
EVENTS_STORED_S = 30
CHAIN = ("fleetcast-features", "fleetcast-train", "fleetcast-promote")


def _runs(deployment: str, since: dt.datetime) -> list[FlowRun]:
    """Runs of the deployment called `deployment` created after `since`, oldest first."""
    only = DeploymentFilter(name=DeploymentFilterName(any_=[deployment]))
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(deployment_filter=only, sort=FlowRunSort.START_TIME_ASC)
    return sorted((r for r in runs if r.created and r.created > since), key=lambda r: r.created)


def _final_run(deployment: str, since: dt.datetime, stack: Stack) -> FlowRun:
    """The first run of `deployment` after `since`, once it has finished."""
    deadline = time.monotonic() + STAGE_TIMEOUT_S
    while time.monotonic() < deadline:
        runs = _runs(deployment, since)
        if runs and runs[0].state and runs[0].state.is_final():
            return runs[0]
        time.sleep(1)
    raise AssertionError(f"no finished run of {deployment} since {since}:\n{stack.worker.output()}")


def _follow_chain(start: FlowRun, stages: tuple[str, ...], stack: Stack) -> list[FlowRun]:
    """Each of `stages` run by an automation once the one before completed, in order."""
    runs, since = [], start.created
    assert since is not None
    for stage in stages:
        run = _final_run(stage, since, stack)
        assert run.state_name == "Completed", (stage, run.state, stack.worker.output())
        assert run.created_by is not None and run.created_by.type == "AUTOMATION", run.created_by
        runs.append(run)
        since = run.created
    return runs


def _promotions(since: dt.datetime, expected: int) -> list[str | None]:
    """Versions announced by MODEL_PROMOTED on the stack's server since `since`, once
    `expected` are stored or EVENTS_STORED_S passed: the server stores events in batches, so
    one sent as the promote run completes may be readable only seconds later."""
    wanted = EventFilter(
        event=EventNameFilter(name=[MODEL_PROMOTED]), occurred=EventOccurredFilter(since=since)
    )
    deadline = time.monotonic() + EVENTS_STORED_S
    with get_client(sync_client=True) as client:
        while True:
            events = client.read_events(filter=wanted, limit=50).events
            if len(events) >= expected or time.monotonic() > deadline:
                return [promoted_version(event.payload) for event in events]
            time.sleep(0.5)


def _champion(settings: Settings) -> str:
    client, _ = model_registry.connect(settings)
    return str(client.get_model_version_by_alias(settings.registered_model, CHAMPION).version)


def _deployment_id(name: str) -> Any:
    only = DeploymentFilter(name=DeploymentFilterName(any_=[name]))
    with get_client(sync_client=True) as client:
        (found,) = client.read_deployments(deployment_filter=only)
    return found.id


def _started(deployment: str) -> FlowRun:
    """A run of `deployment`, started now and waited for until it finished."""
    return run_deployment(_deployment_id(deployment), timeout=STAGE_TIMEOUT_S, poll_interval=1)


def _every_worker(stack: Stack, wanted: Callable[[Any], bool]) -> None:
    stack.service.each_worker(wanted, timeout=SWAP_TIMEOUT_S)


def test_ingest_deployment_chains_to_a_champion_every_worker_swaps_to(stack: Stack) -> None:
    ingest = _started("fleetcast-ingest")
    assert ingest.state_name == "Completed", (ingest.state, stack.worker.output())
    _follow_chain(ingest, CHAIN, stack)
    settings = stack.settings
    champion = _champion(settings)  # on PostgreSQL, through the tracking server
    assert champion == "1"
    trained = model_registry.connect(settings)[0].get_model_version(settings.registered_model, "1")
    assert trained.tags[Tag.GIT_COMMIT] == IMAGE_COMMIT  # the worker's runs read the setting
    assert ingest.created is not None
    assert _promotions(ingest.created, expected=1) == [champion]
    _every_worker(stack, serves_and_heard(champion))


def _served_by_the_champion(settings: Settings, rows: pl.DataFrame) -> pl.DataFrame:
    """What the service would have logged for `rows` a day ago: the champion's answers."""
    client, _ = model_registry.connect(settings)
    version = client.get_model_version_by_alias(settings.registered_model, CHAMPION)
    model = mlflow.sklearn.load_model(model_uri(settings.registered_model, version.version))
    yesterday = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(days=1)
    predicted = model.predict(feature_frame(rows))
    low, high = intervals.from_tags(version.tags, version.version).bounds(predicted)
    bounds = (low.tolist(), high.tolist())
    return log_rows(
        rows, yesterday, predicted, str(version.version), rows[ENTITY].to_list(), bounds
    )


def test_drift_deployment_retrains_and_the_new_champion_reaches_every_worker(stack: Stack) -> None:
    settings = stack.settings
    # The scenario, landed by hand (flow runs without a deployment start no automation): a
    # shifted month of new listings, and a constant champion that served them badly.
    generate(settings.landing_dir, first_id=1001, year=2024, shifted=ShiftedMonth(1))
    ingest_flow()
    feature_build_flow()
    real = trained_version(settings, settings.registered_model, _champion(settings))
    constant = register_constant(settings, real, constant=12.0)
    month = scan_snapshot(settings).filter(pl.col(ENTITY) > 1000).collect()
    write_log(settings, _served_by_the_champion(settings, month))
    drift = _started("fleetcast-drift")
    assert drift.state_name == "Completed", (drift.state, stack.worker.output())
    train, _ = _follow_chain(drift, CHAIN[1:], stack)
    assert train.created_by is not None and "drift" in str(train.created_by.display_value)
    retrained = _champion(settings)
    assert retrained not in ("1", constant)
    assert drift.created is not None
    assert _promotions(drift.created, expected=1) == [retrained]
    _every_worker(stack, serves_and_heard(retrained))
    decision = model_registry.connect(settings)[0].get_model_version(
        settings.registered_model, retrained
    )
    assert decision.tags[Tag.DECISION] == "promoted"


def test_two_promote_runs_racing_on_postgres_yield_exactly_one_champion(stack: Stack) -> None:
    settings = stack.settings
    real = trained_version(settings, settings.registered_model, _champion(settings))
    register_constant(settings, real, constant=12.0)
    candidate = register_copy(settings, real)
    before = len(champion_history(settings))
    promote = _deployment_id("fleetcast-promote")
    submitted = [run_deployment(promote, timeout=0) for _ in range(2)]
    finished = [_wait(run.id, stack) for run in submitted]
    assert [run.state_name for run in finished] == ["Completed", "Completed"]
    assert _champion(settings) == candidate
    history = champion_history(settings)
    assert [entry["version"] for entry in history[before:]] == [candidate]
    _every_worker(stack, serves_and_heard(candidate))


def _wait(run_id: Any, stack: Stack) -> FlowRun:
    deadline = time.monotonic() + STAGE_TIMEOUT_S
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            run = client.read_flow_run(run_id)
            if run.state and run.state.is_final():
                return run
            time.sleep(1)
    raise AssertionError(f"run {run_id} not finished:\n{stack.worker.output()}")
