"""The outcome join on hand-made rows: which snapshot's labels count, and which predictions."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from support.drift import log_rows

from features.contract.formulas import FEATURE_NAMES, TARGET
from features.contract.prediction_log import PREDICTION
from features.contract.schema import ENTITY
from features.stores.offline import SnapshotMeta
from flows.monitor.drift_data import data_cut, join_outcomes, outcome_snapshot

T = dt.datetime(2026, 11, 20, 12, 0)


def _meta(snapshot_id: str, as_of: dt.datetime, created_at: dt.datetime) -> SnapshotMeta:
    return SnapshotMeta(
        snapshot_id=snapshot_id,
        as_of=as_of.isoformat(),
        content_sha256="",
        vehicles=0,
        labeled=0,
        feature_names=list(FEATURE_NAMES),
        schema_version=1,
        raw_store_version=1,
        created_at=created_at.replace(tzinfo=dt.UTC).isoformat(timespec="seconds"),
    )


def test_the_outcome_snapshot_is_the_one_with_the_latest_data_cut() -> None:
    older = _meta("older", T, T)
    newer = _meta("newer", T + dt.timedelta(days=2), T + dt.timedelta(days=2))
    # Built last, but for an old as_of: it only knows data from before the prediction.
    rebuilt = _meta("rebuilt", T - dt.timedelta(days=30), T + dt.timedelta(days=3))
    # Cut in the future, built on day 1: it saw only what existed on day 1.
    future = _meta("future", T + dt.timedelta(days=9), T + dt.timedelta(days=1))
    assert data_cut(rebuilt) == T - dt.timedelta(days=30)
    assert data_cut(future) == T + dt.timedelta(days=1)
    assert outcome_snapshot([older, rebuilt, newer, future]).snapshot_id == "newer"
    assert outcome_snapshot([]) is None


def test_each_prediction_of_the_champion_meets_its_vehicles_label_in_that_snapshot() -> None:
    cut = T + dt.timedelta(days=2)
    before, after = T, cut + dt.timedelta(minutes=1)
    features = pl.DataFrame({name: [1.0] * 7 for name in FEATURE_NAMES})
    predictions = log_rows(
        features,
        predicted_at=[before, before, before, after, before, before, before],
        predictions=[5.0, 7.0, 1.0, 4.0, 3.0, 2.0, 6.0],
        model_version="3",
        vehicle_ids=[1, 1, 2, 1, None, 4, 5],
    ).with_columns(  # the last one was served by another version
        pl.Series("model_version", ["3"] * 6 + ["2"])
    )
    labels = pl.DataFrame(
        {ENTITY: [1, 2, 3, 4, 5], TARGET: [6, 0, 9, None, 2]},
        schema={ENTITY: pl.Int64, TARGET: pl.Int64},
    )
    pairs = join_outcomes(predictions, labels, cut, model_version="3")
    # Kept: vehicle 1 twice (each prediction counts) and vehicle 2 (label 0 is an outcome).
    # Dropped: made after the cut; no vehicle id; vehicle 4 has no label yet (a new listing);
    # vehicle 5 was predicted by another version; vehicle 3 was never predicted.
    got = pairs.select(ENTITY, PREDICTION, TARGET).sort(ENTITY, PREDICTION).rows()
    assert got == [(1, 5.0, 6.0), (1, 7.0, 6.0), (2, 1.0, 0.0)]
    mae = (pairs[PREDICTION] - pairs[TARGET]).abs().mean()
    assert mae == pytest.approx((1 + 1 + 1) / 3)


def test_a_prediction_made_exactly_at_the_cut_has_no_outcome_yet() -> None:
    features = pl.DataFrame({name: [1.0] for name in FEATURE_NAMES})
    predictions = log_rows(features, T, [5.0], "1", vehicle_ids=[1])
    labels = pl.DataFrame({ENTITY: [1], TARGET: [6]})
    assert join_outcomes(predictions, labels, T, "1").is_empty()
    assert join_outcomes(predictions, labels, T + dt.timedelta(seconds=1), "1").height == 1
