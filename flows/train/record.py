"""The record a training run leaves in MLflow: runs, artifacts, and the registered version."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sklearn.base import RegressorMixin

from features.contract.formulas import FEATURE_NAMES, TARGET
from features.contract.input_ranges import INPUT_RANGES_ARTIFACT, InputRanges, observe
from features.contract.intervals import CALIBRATION_ARTIFACT, Calibration
from features.contract.registry import Tag, as_tags
from features.contract.schema import SCHEMA_VERSION
from features.settings import Settings
from features.stores import model_registry
from features.stores.offline import SnapshotMeta, snapshot_file
from flows.evaluation import FamilyScore, Split, feature_frame, target
from flows.tasks import step
from flows.train import families as family_registry
from flows.train import tracking
from flows.train.export import NoExport, OnnxExport


@dataclass(frozen=True)
class TrainResult:
    """What a train run produced: the registered candidate and where it came from."""

    version: str
    run_id: str
    family: str
    snapshot_id: str
    cv: dict[str, float]
    baseline_cv: dict[str, float]
    reference_cv: dict[str, float]
    onnx: str
    calibration: Calibration
    train_rows: int  # the rows compared and fitted on
    train_rows_available: int  # the labeled training rows before sampling


def _run_params(
    settings: Settings,
    split: Split,
    scores: list[FamilyScore],
    best: FamilyScore,
    model: RegressorMixin,
) -> dict[str, Any]:
    protocol = {
        "selection_metric": settings.selection_metric,
        "cv_folds": settings.cv_folds,
        "cv_repeats": settings.cv_repeats,
        "seed": settings.seed,
        "holdout_percent": settings.holdout_percent,
        "train_rows": split.train.height,
        "train_rows_available": split.train_available,
        "train_max_rows": settings.train_max_rows,
        "holdout_rows": split.holdout.height,
        "families": ",".join(s.family for s in scores),
        "family": best.family,
        **{f"config.{key}": value for key, value in best.config.items()},
    }
    hyper = {f"model.{k}": v for k, v in family_registry.hyperparameters(model).items()}
    return protocol | hyper


def _lineage(
    settings: Settings,
    meta: SnapshotMeta,
    scores: list[FamilyScore],
    best: FamilyScore,
    trained_at: str,
    onnx: OnnxExport | NoExport,
    calibration: Calibration,
    ranges: InputRanges,
) -> dict[str, Any]:
    """Tags on both the run and the registered version: enough to reproduce and audit it."""
    if isinstance(onnx, OnnxExport):
        export = {Tag.ONNX: "ok", Tag.ONNX_MAX_ABS_DIFF: onnx.max_abs_diff}
    else:
        export = {Tag.ONNX: onnx.reason, Tag.ONNX_MAX_ABS_DIFF: None}
    return {
        Tag.SNAPSHOT_ID: meta.snapshot_id,
        Tag.SNAPSHOT_SHA256: meta.content_sha256,
        Tag.SNAPSHOT_AS_OF: meta.as_of,
        Tag.GIT_COMMIT: tracking.git_commit(settings),
        Tag.FAMILY: best.family,
        Tag.FEATURES: ",".join(FEATURE_NAMES),
        Tag.FEATURE_SET: best.config[family_registry.FEATURE_SET],
        Tag.SCHEMA_VERSION: SCHEMA_VERSION,
        Tag.HOLDOUT_PERCENT: settings.holdout_percent,
        Tag.TRAINED_AT: trained_at,
        **export,
        **calibration.tags(),
        **ranges.tags(),
        **{Tag.cv(m): best.mean(m) for m in best.folds[0]},
        # The yardsticks' scores on the same folds: what the version's own score is read against.
        **{
            Tag.cv(m, of=name): _of(scores, name).mean(m)
            for name in family_registry.YARDSTICKS
            for m in best.folds[0]
        },
    }


def _artifacts(
    split: Split,
    onnx: OnnxExport | NoExport,
    calibration: Calibration,
    ranges: InputRanges,
    figures: dict[str, Any],
    table: pd.DataFrame,
) -> tracking.ModelArtifacts:
    """What the training run logs beside the model."""
    return tracking.ModelArtifacts(
        features=feature_frame(split.train),
        onnx=onnx.model if isinstance(onnx, OnnxExport) else None,
        figures=figures,
        tables={"comparison.csv": table},
        documents={
            "comparison.md": tracking.comparison_markdown(table),
            "features.json": tracking.features_document(list(FEATURE_NAMES), SCHEMA_VERSION),
            CALIBRATION_ARTIFACT: calibration.document(),
            INPUT_RANGES_ARTIFACT: ranges.document(),
        },
    )


def _of(scores: list[FamilyScore], family: str) -> FamilyScore:
    return next(s for s in scores if s.family == family)


def summary(
    meta: SnapshotMeta,
    scores: list[FamilyScore],
    best: FamilyScore,
    onnx: str,
    calibration: Calibration,
) -> str:
    """The run's and the version's description in the MLflow UI, from the facts of its tags."""
    baseline = _of(scores, family_registry.BASELINE)
    reference = _of(scores, family_registry.REFERENCE)
    others = ", ".join(
        f"{s.family} {s.mean('mae'):.3f}"
        for s in scores
        if s.family not in (best.family, *family_registry.YARDSTICKS)
    )
    return (
        f"**{best.family}**, trained on snapshot `{meta.snapshot_id}` (as of {meta.as_of}, "
        f"{meta.labeled} labeled vehicles). Nested CV MAE {best.mean('mae'):.3f} against the "
        f"seed's reference model's {reference.mean('mae'):.3f} and the median baseline's "
        f"{baseline.mean('mae'):.3f} (others: {others}). "
        f"{calibration.level:.0%} range calibrated on {calibration.rows} out-of-fold residuals. "
        f"ONNX export: {onnx}. Its holdout scores and promotion decision are added by the "
        "promote flow."
    )


@step
def record_training(
    settings: Settings,
    meta: SnapshotMeta,
    split: Split,
    scores: list[FamilyScore],
    best: FamilyScore,
    model: RegressorMixin,
    onnx: OnnxExport | NoExport,
    calibration: Calibration,
    figures: dict[str, Any],
    table: pd.DataFrame,
    trained_at: str,
    started_at: str,
) -> TrainResult:
    """Log a parent run (chosen model, plots, comparison, ONNX) with one nested run per family,
    then register the model as a new `candidate` version carrying its lineage tags."""
    from mlflow.utils.mlflow_tags import MLFLOW_GIT_COMMIT, MLFLOW_RUN_NOTE, MLFLOW_SOURCE_NAME

    client, experiment_id = model_registry.connect(settings)
    # What the model has seen: the rows it was fit on (the holdout is not among them).
    fit_on = feature_frame(split.train)
    ranges = observe(fit_on.to_numpy())
    lineage = _lineage(settings, meta, scores, best, trained_at, onnx, calibration, ranges)
    described = summary(meta, scores, best, str(lineage[Tag.ONNX]), calibration)
    run_tags = as_tags(lineage) | {
        MLFLOW_GIT_COMMIT: lineage[Tag.GIT_COMMIT],
        MLFLOW_SOURCE_NAME: "flows/train/flow.py:train_flow",
        MLFLOW_RUN_NOTE: described,
    }
    started = int(dt.datetime.fromisoformat(started_at).timestamp() * 1000)
    run = client.create_run(
        experiment_id, started, tags=run_tags, run_name=f"train-{meta.snapshot_id}"
    )
    run_id = run.info.run_id
    try:
        _log_family_runs(client, experiment_id, run_id, scores, settings.seed)
        client.log_batch(
            run_id, params=tracking.params_of(_run_params(settings, split, scores, best, model))
        )
        tracking.log_fold_metrics(client, run_id, best)
        training_rows = fit_on.assign(**{TARGET: target(split.train)})
        source = snapshot_file(settings, meta.snapshot_id)
        tracking.log_training_input(client, run_id, training_rows, source, meta)
        artifacts = _artifacts(split, onnx, calibration, ranges, figures, table)
        model_uri = tracking.log_model(client, run_id, model, artifacts)
        version = tracking.register_candidate(client, settings, model_uri, lineage, described)
    except BaseException:
        client.set_terminated(run_id, status="FAILED")
        raise
    client.set_terminated(run_id)
    means = {s.family: {m: s.mean(m) for m in s.folds[0]} for s in scores}
    return TrainResult(
        version=str(version.version),
        run_id=run_id,
        family=best.family,
        snapshot_id=meta.snapshot_id,
        cv=means[best.family],
        baseline_cv=means[family_registry.BASELINE],
        reference_cv=means[family_registry.REFERENCE],
        onnx=lineage[Tag.ONNX],
        calibration=calibration,
        train_rows=split.train.height,
        train_rows_available=split.train_available,
    )


def _log_family_runs(
    client: Any, experiment_id: str, parent_run_id: str, scores: list[FamilyScore], seed: int
) -> None:
    """One nested run per family (yardsticks included): its chosen configuration's parameters."""
    for score in scores:
        model = family_registry.build(score.family, seed, score.config)
        params = family_registry.hyperparameters(model) | {
            f"config.{key}": value for key, value in score.config.items()
        }
        tracking.log_family_run(client, experiment_id, parent_run_id, score, params)
