"""What the drift flow compares: the reference and current rows, and predictions' outcomes.

Plain functions on Polars frames, no Prefect and no Evidently, so the CLI can import the errors
and the tests can check the outcome join on hand-made rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

import polars as pl

from features.contract import clock, intervals
from features.contract.formulas import FEATURE_NAMES, TARGET
from features.contract.prediction_log import (
    LOWER,
    MODEL_VERSION,
    PREDICTED_AT,
    PREDICTION,
    UPPER,
)
from features.contract.schema import ENTITY
from features.settings import Settings
from features.stores.offline import (
    SnapshotMeta,
    list_snapshots,
    read_meta,
    recency,
    scan_snapshot,
)
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


SERVED_AS_OF = "served_as_of"  # a prediction's data time (see `with_served_as_of`)
_BUILT = "_built"


def snapshot_history(metas: Iterable[SnapshotMeta]) -> pl.DataFrame:
    """When each snapshot was built (wall clock), and the latest `as_of` from then on: what the
    service was serving from (snapshots move forward only, so a back-dated build changes
    nothing)."""
    rows = [(clock.naive_utc(m.created_at), clock.naive_utc(m.as_of)) for m in metas]
    schema = {_BUILT: pl.Datetime("us"), SERVED_AS_OF: pl.Datetime("us")}
    frame = pl.DataFrame(rows, schema=schema, orient="row").sort(_BUILT)
    return frame.with_columns(pl.col(SERVED_AS_OF).cum_max())


def with_served_as_of(predictions: pl.DataFrame, metas: Iterable[SnapshotMeta]) -> pl.DataFrame:
    """Each prediction with its data time: the `as_of` of the latest snapshot when it was
    served (null if made before any). The bridge from the wall clock that stamps predictions
    to the data clock that labels them, so a replay of old data judges like the live run."""
    return predictions.sort(PREDICTED_AT).join_asof(
        snapshot_history(metas), left_on=PREDICTED_AT, right_on=_BUILT, strategy="backward"
    )


def with_labels(
    predictions: pl.DataFrame, labels: pl.DataFrame, label_as_of: dt.datetime
) -> pl.DataFrame:
    """The predictions (any version, every column kept) that have an outcome, each with its
    vehicle's label (`TARGET`, as a float): a known vehicle, served from data older than the
    labels' (`SERVED_AS_OF` before `label_as_of`). One rule for the champion's outcomes and
    for the shadow's (`flows.monitor.shadow`), so both are judged on the same requests."""
    known = labels.select(ENTITY, TARGET).filter(pl.col(TARGET).is_not_null())
    served = pl.col(SERVED_AS_OF)
    return (
        predictions.filter(
            pl.col(ENTITY).is_not_null() & (served.is_null() | (served < label_as_of))
        )
        .join(known, on=ENTITY, how="inner")
        .with_columns(pl.col(TARGET).cast(pl.Float64))
    )


def join_outcomes(
    predictions: pl.DataFrame, labels: pl.DataFrame, label_as_of: dt.datetime, model_version: str
) -> pl.DataFrame:
    """The outcome of each prediction that has one: `model_version`'s predictions for a known
    vehicle, served from data older than the labels' (`SERVED_AS_OF` before `label_as_of`),
    paired with that vehicle's label (`TARGET`); each keeps the range it was served with.
    Vehicles without a label there (new listings, unknown ids) have no outcome yet; a
    prediction served from the labels' own snapshot has none either (what it predicted has not
    happened in that data).
    """
    mine = predictions.filter(pl.col(MODEL_VERSION) == model_version)
    return with_labels(mine, labels, label_as_of).select(
        ENTITY, PREDICTED_AT, *FEATURE_NAMES, PREDICTION, LOWER, UPPER, TARGET
    )


def live_coverage(pairs: pl.DataFrame) -> tuple[float | None, int]:
    """Share of the outcome pairs inside the range they were served with, and how many pairs
    it was measured on: those logged with a range (older logs have none; None without any)."""
    if pairs.is_empty():
        return None, 0
    ranged = pairs.filter(pl.col(LOWER).is_not_null() & pl.col(UPPER).is_not_null())
    if ranged.is_empty():
        return None, 0
    covered = intervals.coverage(
        ranged[TARGET].to_numpy(), ranged[LOWER].to_numpy(), ranged[UPPER].to_numpy()
    )
    return covered, ranged.height


@dataclass(frozen=True)
class OutcomeInputs:
    """What outcome pairs are made of: the current predictions dated by the data they were
    served from (`SERVED_AS_OF`), and the labels of the outcome snapshot."""

    snapshot_id: str
    served: pl.DataFrame
    labels: pl.DataFrame  # ENTITY, TARGET
    label_as_of: dt.datetime


def outcome_inputs(settings: Settings, current: Current) -> OutcomeInputs | None:
    """The labels of the latest snapshot (it knows most about what happened) and the current
    predictions to pair with them; None for a snapshot window (a snapshot has labels but
    nobody was served predictions for it) or before any snapshot."""
    metas = list_snapshots(settings)
    if current.kind != "predictions" or not metas:
        return None
    latest = max(metas, key=recency)
    labels = scan_snapshot(settings, latest.snapshot_id).select(ENTITY, TARGET).collect()
    served = with_served_as_of(current.rows, metas)
    return OutcomeInputs(latest.snapshot_id, served, labels, clock.naive_utc(latest.as_of))


def outcomes(
    settings: Settings, current: Current, model_version: str
) -> tuple[str | None, pl.DataFrame]:
    """The outcome snapshot and the outcome pairs of `model_version`'s current predictions
    (none for a snapshot window; see `outcome_inputs`)."""
    inputs = outcome_inputs(settings, current)
    if inputs is None:
        return None, pl.DataFrame()
    pairs = join_outcomes(inputs.served, inputs.labels, inputs.label_as_of, model_version)
    return inputs.snapshot_id, pairs
