"""What the drift flow compares: the reference and current rows, and predictions' outcomes.

Plain functions on Polars frames, no Prefect and no Evidently, so the CLI can import the errors
and the tests can check the outcome join on hand-made rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

import polars as pl

from features.contract import clock
from features.contract.formulas import FEATURE_NAMES, TARGET
from features.contract.prediction_log import (
    MODEL_VERSION,
    PREDICTED_AT,
    PREDICTION,
)
from features.contract.schema import ENTITY
from features.settings import Settings
from features.stores.offline import SnapshotMeta, list_snapshots, read_meta, scan_snapshot
from features.stores.predictions import scan_predictions


@dataclass(frozen=True)
class Current:
    """The rows judged against the reference, and where they came from."""

    kind: str  # "predictions" or "snapshot"
    source: str  # e.g. "predictions since 2026-11-17 06:00:00" or "snapshot <id>"
    rows: pl.DataFrame  # FEATURE_NAMES, plus the log's columns for predictions


def reference_rows(settings: Settings, snapshot_id: str) -> pl.DataFrame:
    """Every vehicle of the champion's training snapshot: the inputs the world looked like."""
    return scan_snapshot(settings, snapshot_id).select(ENTITY, *FEATURE_NAMES).collect()


def logged_window(settings: Settings, days: int, now: dt.datetime) -> Current:
    """The logged predictions made in the `days` before `now` (wall clock on `predicted_at`)."""
    since = now - dt.timedelta(days=days)
    rows = (
        scan_predictions(settings)
        .filter(pl.col(PREDICTED_AT).is_between(since, now, closed="left"))
        .collect()
    )
    return Current("predictions", f"predictions since {since:%Y-%m-%d %H:%M:%S} UTC", rows)


def snapshot_window(settings: Settings, snapshot_id: str | None) -> Current:
    """Every vehicle of a feature snapshot (default the latest)."""
    meta = read_meta(settings, snapshot_id)
    rows = scan_snapshot(settings, meta.snapshot_id).select(ENTITY, *FEATURE_NAMES).collect()
    return Current("snapshot", f"snapshot {meta.snapshot_id}", rows)


def data_cut(meta: SnapshotMeta) -> dt.datetime:
    """The last instant a snapshot's labels can know about: its `as_of`, or its creation time
    if earlier (a snapshot cut in the future still only saw the data present when built)."""
    return min(clock.naive_utc(meta.as_of), clock.naive_utc(meta.created_at))


def outcome_snapshot(metas: Iterable[SnapshotMeta]) -> SnapshotMeta | None:
    """The snapshot that knows most about what happened: the latest data cut (None if none).

    A snapshot rebuilt today for an old `as_of` has an old cut, so it is never chosen.
    """
    return max(metas, key=data_cut, default=None)


def join_outcomes(
    predictions: pl.DataFrame, labels: pl.DataFrame, cut: dt.datetime, model_version: str
) -> pl.DataFrame:
    """The outcome of each prediction that has one: `model_version`'s predictions for a known
    vehicle made before `cut`, paired with that vehicle's label (`TARGET`) in the snapshot of
    that cut. Vehicles without a label there (new listings, unknown ids) have no outcome yet.
    """
    known = labels.select(ENTITY, TARGET).filter(pl.col(TARGET).is_not_null())
    return (
        predictions.filter(
            pl.col(ENTITY).is_not_null()
            & (pl.col(PREDICTED_AT) < cut)
            & (pl.col(MODEL_VERSION) == model_version)
        )
        .join(known, on=ENTITY, how="inner")
        .select(ENTITY, PREDICTED_AT, *FEATURE_NAMES, PREDICTION, pl.col(TARGET).cast(pl.Float64))
    )


def outcomes(
    settings: Settings, current: Current, model_version: str
) -> tuple[str | None, pl.DataFrame]:
    """The outcome snapshot's id and the outcome pairs of the current predictions (none for a
    snapshot window: a snapshot has labels but nobody was served predictions for it)."""
    meta = outcome_snapshot(list_snapshots(settings)) if current.kind == "predictions" else None
    if meta is None:
        return None, pl.DataFrame()
    labels = scan_snapshot(settings, meta.snapshot_id).select(ENTITY, TARGET).collect()
    return meta.snapshot_id, join_outcomes(current.rows, labels, data_cut(meta), model_version)
