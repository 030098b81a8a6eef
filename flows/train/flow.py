"""Train flow: model families under one protocol; the best is refit, exported and registered."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pandas as pd
import polars as pl
from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from sklearn.base import RegressorMixin
from sklearn.inspection import permutation_importance
from threadpoolctl import threadpool_limits

from features.contract import clock
from features.contract.formulas import FEATURE_NAMES
from features.contract.intervals import Calibration, calibrate
from features.settings import Settings, get_settings
from features.stores import model_registry
from features.stores.offline import SnapshotMeta, read_meta, scan_snapshot
from flows.evaluation import (
    FamilyScore,
    NotEnoughDataError,
    Split,
    feature_frame,
    fold_indices,
    sampled,
    split_labeled,
    target,
)
from flows.runners import SettingsTaskRunner
from flows.tasks import named_step, run_name, step
from flows.train import families as family_registry
from flows.train import plots, tracking
from flows.train.compare import best_family, comparison_table
from flows.train.export import ExportError, NoExport, OnnxExport, export_checked
from flows.train.record import TrainResult, record_training
from flows.train.search import nested_cross_validate


@dataclass(frozen=True)
class TrainingData:
    """A snapshot: its metadata, every row (for export parity) and its labeled split."""

    meta: SnapshotMeta
    rows: pl.DataFrame
    split: Split


def choose_families(requested: list[str] | None) -> list[str]:
    """The families to compare (default all); the yardsticks (median baseline, the seed's
    reference model) are always among them, scored on the same folds."""
    names = list(requested or family_registry.FAMILIES)
    unknown = sorted(set(names) - set(family_registry.FAMILIES))
    if unknown:
        raise family_registry.UnknownFamilyError(
            f"families: unknown {unknown}; expected some of {sorted(family_registry.FAMILIES)}"
        )
    if not set(names) - set(family_registry.YARDSTICKS):
        raise family_registry.UnknownFamilyError(
            f"families: name at least one family besides the yardsticks "
            f"{list(family_registry.YARDSTICKS)}"
        )
    return list(dict.fromkeys([*names, *family_registry.YARDSTICKS]))


@step
def load_training_data(settings: Settings, snapshot_id: str | None) -> TrainingData:
    """Read a snapshot (default the latest), set its frozen holdout aside and, above
    `train_max_rows`, sample the training part (every family then sees the same rows)."""
    meta = read_meta(settings, snapshot_id)
    rows = scan_snapshot(settings, meta.snapshot_id).collect()
    split = split_labeled(rows, settings.holdout_percent)
    split = sampled(split, settings.train_max_rows, settings.seed)
    if split.train.height < 2 * settings.cv_folds:
        raise NotEnoughDataError(
            f"snapshot {meta.snapshot_id}: {split.train.height} labeled training rows; "
            f"need at least {2 * settings.cv_folds} for {settings.cv_folds}-fold CV"
        )
    return TrainingData(meta=meta, rows=rows, split=split)


PARALLEL_FIT_ROWS = 10_000  # below it, a fit's own threads cost more than they save


def fit_threads(settings: Settings, rows: int) -> int:
    """Threads each fit may use: the cores the family fan-out leaves idle, once fits are big
    enough to gain (forests build trees without the GIL). On Dask, 1: its workers are the
    parallelism."""
    if settings.dask_address or rows < PARALLEL_FIT_ROWS:
        return 1
    return max(1, len(os.sched_getaffinity(0)) // settings.train_workers)


@named_step("evaluate-{family}")
def evaluate_family(
    family: str,
    features: pd.DataFrame,
    labels: np.ndarray,
    folds: list[tuple[np.ndarray, np.ndarray]],
    seed: int,
    threads: int = 1,
) -> FamilyScore:
    """Nested cross-validation of one family on the shared folds (its grid searched inside
    each training fold), then its configuration picked on all training rows."""
    chosen = family_registry.family(family)
    # The OpenMP/BLAS limit (boosting) is per thread, so each worker thread sets its own;
    # without it, nested pools oversubscribe the cores (boosting ran 2-6x slower).
    with threadpool_limits(limits=threads):
        return nested_cross_validate(family, chosen, features, labels, folds, seed, threads)


@named_step("refit-{best.family}")
def refit(
    best: FamilyScore, features: pd.DataFrame, labels: np.ndarray, seed: int, threads: int = 1
) -> RegressorMixin:
    """Fit the chosen family, in the configuration its search picked, on the training part."""
    with threadpool_limits(limits=threads):
        model = family_registry.build(best.family, seed, best.config, threads)
        return family_registry.single_threaded(model.fit(features, labels))


@step
def calibrate_interval(best: FamilyScore, labels: np.ndarray, level: float) -> Calibration:
    """The conformal range of the chosen family, from its out-of-fold residuals."""
    return calibrate(labels, best.out_of_fold, level)


@step
def export_fast(model: RegressorMixin, rows: pl.DataFrame) -> OnnxExport | NoExport:
    """The ONNX export, checked on every snapshot row; if it fails, the reason instead."""
    try:
        return export_checked(model, feature_frame(rows))
    except ExportError as error:
        get_run_logger().warning("no ONNX export: %s", error)
        return NoExport(str(error))


@step
def diagnostics(
    model: RegressorMixin,
    best: FamilyScore,
    features: pd.DataFrame,
    labels: np.ndarray,
    seed: int,
) -> dict[str, object]:
    """Permutation-importance and out-of-fold residual plots of the chosen family."""
    importance = permutation_importance(
        model,
        features,
        labels,
        scoring="neg_mean_absolute_error",
        n_repeats=3,
        random_state=seed,
        n_jobs=1,
    )
    title = f"{best.family}"
    return {
        "plots/feature_importance.png": plots.importance_figure(
            list(FEATURE_NAMES), importance.importances_mean, importance.importances_std, title
        ),
        "plots/residuals.png": plots.residual_figure(labels, best.out_of_fold, title),
    }


COMPARISON_KEY = (
    "Scores are nested cross-validated on the training part only (each family's grid searched "
    "inside each training fold). `diff_*` is the paired difference to the chosen family over "
    "the same folds, with a 95% corrected-t interval (`diff_low`, `diff_high`): a family whose "
    "interval holds zero is within fold noise of the chosen one. `reference` is the seed's "
    "hand-rolled model (RandomForest, 200 trees, depth 10, on its 5 features) and `median` the "
    "baseline: yardsticks, never registered. `interval_width_*` is the mean width of each "
    "family's conformal range on its out-of-fold rows."
)


def rows_note(result: TrainResult) -> str:
    """What the comparison was run on, when that is a sample of the training rows."""
    used, available = result.train_rows, result.train_rows_available
    if used >= available:
        return ""
    return (
        f"\n\nCompared and fitted on a seeded sample of **{used:,} of {available:,}** labeled "
        f"training rows (`FLEETCAST_TRAIN_MAX_ROWS`); the holdout is whole."
    )


@step
def publish_comparison(settings: Settings, result: TrainResult, table: pd.DataFrame) -> None:
    """The family comparison as a markdown artifact in the Prefect UI (the version linked to
    MLflow's page when a tracking server is set)."""
    version = model_registry.linked(
        f"version {result.version}", model_registry.version_url(settings, result.version)
    )
    create_markdown_artifact(
        key="train-comparison",
        markdown=(
            f"# Training on snapshot `{result.snapshot_id}`\n\n"
            f"{tracking.comparison_markdown(table)}\n\n{COMPARISON_KEY}{rows_note(result)}"
            f"\n\nRegistered **{result.family}** as {version} "
            f"(run `{result.run_id}`), alias `candidate`, with a "
            f"{result.calibration.level:.0%} prediction interval. ONNX: {result.onnx}."
        ),
        description=f"model families compared on {result.snapshot_id}",
    )


@flow(
    name="train",
    flow_run_name=run_name("train", "snapshot_id", "families"),
    task_runner=SettingsTaskRunner(),
)
def train_flow(snapshot_id: str | None = None, families: list[str] | None = None) -> TrainResult:
    """Compare model families by nested, repeated K-fold CV on a feature snapshot (default:
    the latest), excluding its frozen holdout, beside the median baseline and the seed's
    reference model; refit the best, calibrate its prediction interval on out-of-fold residuals,
    export it to ONNX (checked for parity), log everything to MLflow and register it as the
    `candidate` version.
    """
    settings = get_settings()
    model_registry.check_answers(settings)  # before minutes of fitting, not after
    started_at = clock.stamp()  # the MLflow run spans the whole training, not its logging
    names = choose_families(families)
    data = load_training_data(settings, snapshot_id)
    features, labels = feature_frame(data.split.train), target(data.split.train)
    folds = fold_indices(len(labels), settings.cv_folds, settings.cv_repeats, settings.seed)
    threads = fit_threads(settings, len(labels))
    with threadpool_limits(limits=threads):
        futures = [
            evaluate_family.submit(n, features, labels, folds, settings.seed, threads)
            for n in names
        ]
        scores = [future.result() for future in futures]
    best = best_family(scores, settings.selection_metric)
    model = refit(best, features, labels, settings.seed, threads)
    calibration = calibrate_interval(best, labels, settings.interval_level)
    fast = export_fast(model, data.rows)
    figures = diagnostics(model, best, features, labels, settings.seed)
    level, share = settings.interval_level, 1 / settings.cv_folds
    table = comparison_table(scores, settings.selection_metric, best, labels, level, share)
    result = record_training(
        settings,
        data.meta,
        data.split,
        scores,
        best,
        model,
        fast,
        calibration,
        figures,
        table,
        trained_at=clock.stamp(),
        started_at=started_at,
    )
    publish_comparison(settings, result, table)
    return result
