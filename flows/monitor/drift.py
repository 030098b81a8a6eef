"""Drift flow: the champion's training data against what it sees now, and its error on outcomes.

Reference: every vehicle of the champion's training snapshot (its `fleetcast.snapshot_id` tag).
Current: the logged predictions of the last days, or a newer feature snapshot. Outcomes: the
champion's logged predictions for known vehicles, paired with their labels in the newest
snapshot (see `flows.monitor.drift_data.join_outcomes` and docs/monitoring.md). Shadow: the
`challenger`'s logged answers to the same requests, against the champion's on those outcomes
(`flows.monitor.shadow`), written on its version as live evidence for promotion.
"""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from typing import Literal

import polars as pl
from prefect import flow, get_run_logger, runtime
from prefect.artifacts import create_markdown_artifact
from prefect.events import emit_event

from features.contract import clock, input_ranges
from features.contract.events import DRIFT_DETECTED, model_resource
from features.contract.registry import CHALLENGER, Tag, tag_number
from features.settings import Settings, get_settings
from features.stores import model_registry
from features.stores.atomic import atomic_path, write_text_atomic
from features.stores.model_registry import NoChampionError
from features.stores.reports import drift_report_base
from flows.evaluation import NotEnoughDataError, feature_frame
from flows.monitor import drift_data, drift_report, shadow
from flows.monitor.drift_data import Current
from flows.monitor.drift_result import (
    Champion,
    DriftResult,
    drift_metrics,
    judge,
    markdown,
    summary_lines,
)
from flows.monitor.shadow_report import with_html_section
from flows.tasks import network_step, run_name, step

CurrentKind = Literal["predictions", "snapshot"]
MIN_OUTCOMES_FOR_QUALITY = 2  # the quality section needs a spread (R², error std)


@network_step
def resolve_champion(settings: Settings) -> Champion:
    """The version at `champion` now, with its training snapshot, holdout MAE and the level
    and holdout coverage of its ranges."""
    version = model_registry.champion(settings)
    snapshot_id = version.tags.get(Tag.SNAPSHOT_ID)
    if not snapshot_id:
        raise NoChampionError(f"champion v{version.version} lacks the tag {Tag.SNAPSHOT_ID}")
    return Champion(
        version=str(version.version),
        run_id=version.run_id,
        snapshot_id=snapshot_id,
        holdout_mae=tag_number(version.tags, Tag.holdout("mae")),
        interval_level=tag_number(version.tags, Tag.INTERVAL_LEVEL),
        holdout_coverage=tag_number(version.tags, Tag.HOLDOUT_COVERAGE),
        input_ranges=input_ranges.from_tags(dict(version.tags), str(version.version)),
    )


@step
def load_reference(settings: Settings, snapshot_id: str) -> pl.DataFrame:
    """The champion's training snapshot: every vehicle's features."""
    return drift_data.reference_rows(settings, snapshot_id)


@step
def load_current(
    settings: Settings, kind: CurrentKind, snapshot_id: str | None, window_days: int | None
) -> Current:
    """The logged predictions of the last `window_days` (default the setting), or a snapshot."""
    if kind == "snapshot":
        return drift_data.snapshot_window(settings, snapshot_id)
    days = window_days or settings.drift_window_days
    return drift_data.logged_window(settings, days, clock.naive_now())


@network_step
def resolve_shadow(settings: Settings, champion_version: str) -> str | None:
    """The version at `challenger` now, the shadow the workers score; None without one, or
    when it is the champion itself (nothing to compare)."""
    version = model_registry.version_at_alias(settings, CHALLENGER)
    if version is None or str(version.version) == champion_version:
        return None
    return str(version.version)


@step
def measure_shadow(
    settings: Settings, window: Current, champion: Champion, shadow_version: str | None
) -> shadow.LiveComparison | None:
    """The shadow against the champion on the window's requests both answered that have an
    outcome; None without a shadow or for a snapshot window (nobody was served from it)."""
    if shadow_version is None or window.kind == "snapshot":
        return None
    return shadow.measure(settings, window, champion.version, shadow_version)


@network_step
def record_live(settings: Settings, comparison: shadow.LiveComparison) -> dict[str, str]:
    """Write the comparison on the shadow's version (`Tag.LIVE_*`): what promotion reads as
    the shadow's live evidence. Returns the tags written."""
    return shadow.write_tags(settings, comparison)


@step
def load_outcomes(
    settings: Settings, current: Current, champion: Champion
) -> tuple[str | None, pl.DataFrame]:
    """The champion's current predictions paired with what happened (the newest labels)."""
    return drift_data.outcomes(settings, current, champion.version)


@step
def compare(
    settings: Settings, reference: pl.DataFrame, current: Current, outcomes: pl.DataFrame
) -> drift_report.Numbers | None:
    """Run the Evidently reports; None (nothing run) when the window is too small to judge."""
    if current.rows.height < settings.drift_min_rows:
        return None
    pairs = outcomes.to_pandas() if outcomes.height >= MIN_OUTCOMES_FOR_QUALITY else None
    return drift_report.run(
        feature_frame(reference),
        feature_frame(current.rows),
        pairs,
        settings.drift_share_threshold,
    )


@step
def save_report(
    settings: Settings, result: DriftResult, numbers: drift_report.Numbers | None
) -> DriftResult:
    """Write the HTML and its numbers as JSON beside it (each atomically); the result with
    their paths. Named by time and champion version, so reports sort by time."""
    if numbers is None:
        return result
    base = drift_report_base(settings, result.created_at, result.champion_version)
    html, numbers_file = base.with_suffix(".html"), base.with_suffix(".json")
    with atomic_path(html) as tmp:
        tmp.write_text(with_html_section(numbers.html, result.shadow), encoding="utf-8")
    saved = replace(result, report_path=str(html), numbers_path=str(numbers_file))
    write_text_atomic(numbers_file, json.dumps(asdict(saved), indent=1))
    return saved


@network_step
def log_drift_run(settings: Settings, champion: Champion, result: DriftResult) -> DriftResult:
    """One MLflow run per judged window, in the drift experiment: the verdict's numbers as
    metrics (so drift reads as a history), the report and its numbers as artifacts, tagged with
    the champion it judged. The champion's training run stays as it was trained: a report is
    ~4 MB, and a daily drift run would bloat it."""
    from mlflow.utils.mlflow_tags import MLFLOW_RUN_NOTE  # mlflow loads only when logging

    client, experiment_id = model_registry.connect(settings, settings.drift_experiment)
    tags = {
        Tag.JUDGED_MODEL: result.registered_model,
        Tag.JUDGED_VERSION: champion.version,
        Tag.JUDGED_RUN_ID: str(champion.run_id),
        Tag.DRIFT_VERDICT: result.message[:5000],
        MLFLOW_RUN_NOTE: "\n".join(summary_lines(result)),  # the run's description in the UI
    }
    run = client.create_run(experiment_id, run_name=f"drift v{champion.version}", tags=tags)
    run_id = run.info.run_id
    for key, value in drift_metrics(result).items():
        client.log_metric(run_id, key, value)
    for path in (result.report_path, result.numbers_path):
        client.log_artifact(run_id, str(path))
    client.set_terminated(run_id)
    url = model_registry.run_url(settings, experiment_id, run_id)
    return replace(result, mlflow_run_id=run_id, mlflow_run_url=url)


@step
def announce(result: DriftResult) -> None:
    """Emit `fleetcast.drift.detected`: the automation in prefect.yaml retrains on it."""
    emit_event(
        event=DRIFT_DETECTED,
        resource=model_resource(result.registered_model),
        payload={
            "champion_version": result.champion_version,
            "drift_detected": result.drift_detected,
            "error_regressed": result.error_regressed,
            "share_drifted": result.share_drifted,
            "drifted_features": result.drifted_features,
            "mae": result.mae,
            "mae_ratio": result.mae_ratio,
            "coverage": result.coverage,
            "coverage_rows": result.coverage_rows,
            "current": result.current_source,
            "current_rows": result.current_rows,
            "report_path": result.report_path,
            "mlflow_run_id": result.mlflow_run_id,
            "mlflow_run_url": result.mlflow_run_url,
            "shadow_version": result.shadow.shadow_version if result.shadow else None,
            "shadow_mae_diff": result.shadow.diff if result.shadow else None,
        },
    )


@step
def publish(result: DriftResult) -> None:
    """The verdict as a markdown artifact in the Prefect UI, and printed to the run's log."""
    create_markdown_artifact(
        key="drift-report", markdown=markdown(result), description=result.message[:500]
    )
    logger = get_run_logger()
    for line in summary_lines(result):
        logger.info(line)


@flow(name="drift", flow_run_name=run_name("drift", "current", "snapshot_id", "window_days"))
def drift_flow(
    current: CurrentKind = "predictions",
    snapshot_id: str | None = None,
    window_days: int | None = None,
) -> DriftResult:
    """Compare the champion's training snapshot with the logged predictions of the last
    `window_days` (default FLEETCAST_DRIFT_WINDOW_DAYS), or with a feature snapshot (`current`
    = "snapshot", default the latest), and score the champion on the outcomes known so far.
    The Evidently report is saved under the reports folder and as a run of the MLflow drift
    experiment; drift or an error regression past the thresholds emits
    `fleetcast.drift.detected`. A shadow (the `challenger`) is compared with the champion on
    the same requests and its live numbers tagged on its version; they never change the verdict.
    """
    settings = get_settings()
    model_registry.check_answers(settings)
    champion = resolve_champion(settings)
    reference = load_reference(settings, champion.snapshot_id)
    window = load_current(settings, current, snapshot_id, window_days)
    outcome_id, pairs = load_outcomes(settings, window, champion)
    shadow_version = resolve_shadow(settings, champion.version)
    live = measure_shadow(settings, window, champion, shadow_version)
    numbers = compare(settings, reference, window, pairs)
    result = judge(settings, champion, reference, window, (outcome_id, pairs), numbers)
    result = replace(result, shadow=live, flow_run_id=runtime.flow_run.id)
    result = save_report(settings, result, numbers)
    if live is not None and live.pairs:  # none paired yet: the last measurement stands
        record_live(settings, live)
    if result.report_path:
        result = log_drift_run(settings, champion, result)
    if result.detected:
        announce(result)
    publish(result)
    return result


def make_report(
    settings: Settings,
    current: CurrentKind = "predictions",
    snapshot_id: str | None = None,
    window_days: int | None = None,
) -> DriftResult:
    """The drift flow's verdict and HTML report, now, without a Prefect run, MLflow logging,
    event or live tags on the shadow (the result's `report_path` names the HTML)."""
    champion = resolve_champion.fn(settings)
    reference = load_reference.fn(settings, champion.snapshot_id)
    window = load_current.fn(settings, current, snapshot_id, window_days)
    outcome_id, pairs = load_outcomes.fn(settings, window, champion)
    numbers = compare.fn(settings, reference, window, pairs)
    result = judge(settings, champion, reference, window, (outcome_id, pairs), numbers)
    if numbers is None:
        raise NotEnoughDataError(result.message)
    shadow_version = resolve_shadow.fn(settings, champion.version)
    live = measure_shadow.fn(settings, window, champion, shadow_version)
    return save_report.fn(settings, replace(result, shadow=live), numbers)


__all__ = ["DriftResult", "NoChampionError", "drift_flow", "make_report", "summary_lines"]
