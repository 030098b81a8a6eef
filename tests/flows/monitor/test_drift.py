"""Drift flow against real stores: the session's MLflow registry (a champion of the test's own,
copied from the pipeline's model), a fresh state folder, the real Prefect server and its
event stream (the store: `drift_settings` in conftest.py). Evidently runs for real; its first
import in the session takes ~15 s."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import mlflow.sklearn
import polars as pl
import pytest
from prefect.client.orchestration import get_client
from prefect.events import emit_event
from prefect.events.clients import get_events_subscriber
from prefect.events.filters import EventFilter, EventNameFilter
from support.drift import log_rows, write_log

from features.contract import intervals
from features.contract.events import DRIFT_DETECTED, model_resource
from features.contract.formulas import FEATURE_NAMES, TARGET
from features.contract.prediction_log import LOWER, UPPER
from features.contract.registry import CHAMPION, Tag, model_uri
from features.contract.schema import ENTITY
from features.settings import Settings
from features.stores import model_registry
from features.stores.offline import scan_snapshot
from flows.evaluation import NotEnoughDataError, feature_frame
from flows.ingest.flow import ingest_flow
from flows.monitor.drift import drift_flow, make_report, summary_lines
from flows.snapshot.flow import feature_build_flow
from flows.synthetic.generator import ShiftedMonth, generate

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SENTINEL = "fleetcast.test.drift-sentinel"
SHIFTED = {"actual_price", "num_images", "price_diff", "price_ratio"}


@contextmanager
def drift_events(settings: Settings) -> Iterator[list[Any]]:
    """Every `fleetcast.drift.detected` about this test's model, up to a sentinel event sent
    when the block ends (so "none arrived" is checked, not waited out)."""
    resource = model_resource(settings.registered_model)
    received: list[Any] = []
    listening = threading.Event()

    async def listen() -> None:
        wanted = EventFilter(event=EventNameFilter(name=[DRIFT_DETECTED, SENTINEL]))
        async with get_events_subscriber(filter=wanted) as subscriber:
            listening.set()
            async with asyncio.timeout(60):
                async for event in subscriber:
                    if event.resource.id != resource["prefect.resource.id"]:
                        continue
                    if event.event == SENTINEL:
                        return
                    received.append(event)

    listener = threading.Thread(target=lambda: asyncio.run(listen()), daemon=True)
    listener.start()
    assert listening.wait(20)
    yield received
    emit_event(event=SENTINEL, resource=resource)
    listener.join(60)
    assert not listener.is_alive(), "the sentinel event never arrived"


def test_identical_reference_and_current_find_no_drift_and_announce_nothing(
    drift_settings: Settings,
) -> None:
    with drift_events(drift_settings) as received:
        result = drift_flow(current="snapshot")  # the latest snapshot is the reference itself
        on_demand = make_report(drift_settings, current="snapshot")
    assert result.decided and not result.drift_detected and not result.detected
    assert result.current_source == f"snapshot {result.reference_snapshot_id}"
    assert result.current_rows == result.reference_rows == 1000
    assert result.share_drifted == 0 and result.drifted_features == []
    assert {c.value for c in result.columns.values()} == {0.0}
    assert {c.ks_p_value for c in result.columns.values()} == {1.0}
    assert on_demand.message == result.message  # the report says the flow's verdict
    assert Path(result.report_path).exists() and Path(str(on_demand.report_path)).exists()
    assert on_demand.report_path != result.report_path
    assert str(on_demand.report_path).endswith(".html")
    assert received == []


def _served_by_the_champion(settings: Settings, rows: pl.DataFrame) -> pl.DataFrame:
    """What the service would have logged for `rows` a day ago: the champion's predictions
    and their ranges."""
    client, _ = model_registry.connect(settings)
    version = client.get_model_version_by_alias(settings.registered_model, CHAMPION)
    model = mlflow.sklearn.load_model(model_uri(settings.registered_model, version.version))
    yesterday = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(days=1)
    predicted = model.predict(feature_frame(rows))
    low, high = intervals.from_tags(version.tags, version.version).bounds(predicted)
    ids = rows[ENTITY].to_list()
    bounds = (low.tolist(), high.tolist())
    return log_rows(rows, yesterday, predicted, str(version.version), ids, bounds)


def test_a_shifted_month_is_detected_announced_and_reported(drift_settings: Settings) -> None:
    generate(drift_settings.landing_dir, first_id=1001, year=2024, shifted=ShiftedMonth(1))
    ingest_flow()
    feature_build_flow()  # the newest snapshot: the month's listings with their labels
    month = scan_snapshot(drift_settings).filter(pl.col(ENTITY) > 1000).collect()
    served = _served_by_the_champion(drift_settings, month)
    write_log(drift_settings, served)
    with drift_events(drift_settings) as received:
        result = drift_flow()
    assert result.drift_detected and set(result.drifted_features) == SHIFTED
    assert result.share_drifted == pytest.approx(0.5)
    assert result.current_rows == result.outcome_rows == 1000
    # The month's listings are overforecast (~0.1 bookings each against ~3.8), but with the
    # marketplace's noise the holdout MAE is ~3.4 already: the error is worse, yet under the
    # 1.25 threshold. This drift is the features' to announce (test_drift_result covers a
    # regressed error).
    assert result.mae_ratio > 1 and not result.error_regressed
    assert "error ok" in result.message
    _assert_covered(drift_settings, result, served, month)
    (event,) = received
    assert event.payload["coverage"] == pytest.approx(result.coverage)
    assert event.payload["champion_version"] == result.champion_version
    assert set(event.payload["drifted_features"]) == SHIFTED
    assert event.payload["report_path"] == result.report_path
    assert event.payload["mae_ratio"] == pytest.approx(result.mae_ratio)
    html = Path(result.report_path).read_text()
    assert all(name in html for name in FEATURE_NAMES)
    stored = json.loads(Path(result.numbers_path).read_text())
    assert set(stored["drifted_features"]) == SHIFTED and stored["columns"]["num_images"]["drifted"]
    _assert_attached(drift_settings, result)


def _assert_covered(
    settings: Settings, result: Any, served: pl.DataFrame, month: pl.DataFrame
) -> None:
    """The live coverage: each outcome (the month's label) against the range it was logged
    with, counted on every outcome, beside the level the champion's tags name."""
    outcome = served.join(month.select(ENTITY, TARGET), on=ENTITY)
    assert outcome[LOWER].null_count() == 0 and outcome.height == 1000
    covered = intervals.coverage(
        outcome[TARGET].to_numpy(), outcome[LOWER].to_numpy(), outcome[UPPER].to_numpy()
    )
    assert 0 < covered < 1  # outcomes on both sides: a count that could be wrong either way
    assert result.coverage == pytest.approx(covered) and result.coverage_rows == 1000
    client, _ = model_registry.connect(settings)
    tags = client.get_model_version(settings.registered_model, result.champion_version).tags
    assert result.interval_level == float(tags[Tag.INTERVAL_LEVEL])
    printed = f"interval coverage on 1000 outcomes: {result.coverage:.3f}"
    assert any(line.startswith(printed) for line in summary_lines(result))


def _assert_attached(settings: Settings, result: Any) -> None:
    """The report is in a run of the drift experiment that names the champion it judged (the
    champion's training run is left as trained), and the verdict in the flow run's artifact."""
    client, experiment_id = model_registry.connect(settings, settings.drift_experiment)
    judged = (
        f"tags.`{Tag.JUDGED_MODEL}` = '{settings.registered_model}' and "
        f"tags.`{Tag.JUDGED_VERSION}` = '{result.champion_version}'"
    )
    (run,) = client.search_runs([experiment_id], judged)
    logged = {Path(a.path).name for a in client.list_artifacts(run.info.run_id)}
    assert {Path(result.report_path).name, Path(result.numbers_path).name} <= logged
    assert run.data.metrics["share_drifted"] == pytest.approx(result.share_drifted)
    assert run.data.metrics["coverage"] == pytest.approx(result.coverage)
    assert run.data.metrics["coverage_rows"] == result.coverage_rows
    assert run.data.tags[Tag.DRIFT_VERDICT] == result.message
    version = client.get_model_version(settings.registered_model, result.champion_version)
    assert not client.list_artifacts(version.run_id, "drift")
    with get_client(sync_client=True) as prefect:
        artifacts = prefect.read_artifacts()
    mine = [a for a in artifacts if str(a.flow_run_id) == result.flow_run_id]
    assert [a.key for a in mine] == ["drift-report"]
    assert str(mine[0].data).startswith("# Drift detected")
    assert run.info.run_id in str(mine[0].data) and "file://" not in str(mine[0].data)
    assert f"Interval coverage on {result.coverage_rows} outcomes" in str(mine[0].data)
    assert result.mlflow_run_id == run.info.run_id


def test_too_few_rows_make_no_decision(drift_settings: Settings) -> None:
    empty = drift_flow()
    assert not empty.decided and "no logged predictions" in empty.message
    rows = scan_snapshot(drift_settings).head(5).collect()
    write_log(
        drift_settings, log_rows(rows, dt.datetime.now(dt.UTC).replace(tzinfo=None), [1.0] * 5, "1")
    )
    few = drift_flow()
    assert not few.decided and not few.detected and few.current_rows == 5
    assert "5 current rows, fewer than the 200" in few.message
    assert "--current snapshot" in few.message and "--current snapshot" in empty.message
    assert few.report_path is None and few.columns == {}
    with pytest.raises(NotEnoughDataError, match="fewer than the 200"):
        make_report(drift_settings)
