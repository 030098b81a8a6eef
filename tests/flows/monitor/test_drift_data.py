"""The outcome join on hand-made rows: which data each prediction was served from, and which
predictions meet a label."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from support.drift import log_rows

from features.contract.formulas import FEATURE_NAMES, TARGET
from features.contract.prediction_log import PREDICTION
from features.contract.schema import ENTITY
from features.stores.offline import SnapshotMeta
from flows.monitor.drift_data import (
    SERVED_AS_OF,
    join_outcomes,
    live_coverage,
    with_served_as_of,
)

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


def test_a_prediction_is_dated_by_the_latest_snapshot_when_it_was_served() -> None:
    """A replay: snapshots of 2023 data built in 2026. Each prediction's data time is the as_of
    of the latest snapshot built before it; a back-dated rebuild does not move it back."""
    data = dt.datetime(2023, 12, 31)
    first = _meta("first", data, T)
    second = _meta("second", data + dt.timedelta(days=1), T + dt.timedelta(days=1))
    rebuilt = _meta("rebuilt", data - dt.timedelta(days=90), T + dt.timedelta(days=2))
    features = pl.DataFrame({name: [1.0] * 3 for name in FEATURE_NAMES})
    served_at = [T - dt.timedelta(hours=1), T + dt.timedelta(hours=1), T + dt.timedelta(days=3)]
    predictions = log_rows(features, served_at, [1.0] * 3, "1", vehicle_ids=[1, 2, 3])
    dated = with_served_as_of(predictions, [rebuilt, second, first])
    assert dated[SERVED_AS_OF].to_list() == [None, data, data + dt.timedelta(days=1)]


def test_each_prediction_of_the_champion_meets_its_vehicles_label_in_that_snapshot() -> None:
    label_as_of = dt.datetime(2024, 1, 2)
    older, same = dt.datetime(2024, 1, 1), label_as_of
    features = pl.DataFrame({name: [1.0] * 7 for name in FEATURE_NAMES})
    predictions = log_rows(
        features,
        predicted_at=[T] * 7,
        predictions=[5.0, 7.0, 1.0, 4.0, 3.0, 2.0, 6.0],
        model_version="3",
        vehicle_ids=[1, 1, 2, 1, None, 4, 5],
    ).with_columns(  # the 4th was served from the labels' own data, the last by another version
        pl.Series(SERVED_AS_OF, [older, None, older, same, older, older, older]),
        pl.Series("model_version", ["3"] * 6 + ["2"]),
    )
    labels = pl.DataFrame(
        {ENTITY: [1, 2, 3, 4, 5], TARGET: [6, 0, 9, None, 2]},
        schema={ENTITY: pl.Int64, TARGET: pl.Int64},
    )
    pairs = join_outcomes(predictions, labels, label_as_of, model_version="3")
    # Kept: vehicle 1 twice (each prediction counts; one was served before any snapshot) and
    # vehicle 2 (label 0 is an outcome). Dropped: served from the labels' own data; no vehicle
    # id; vehicle 4 has no label yet (a new listing); vehicle 5 was predicted by another
    # version; vehicle 3 was never predicted.
    got = pairs.select(ENTITY, PREDICTION, TARGET).sort(ENTITY, PREDICTION).rows()
    assert got == [(1, 5.0, 6.0), (1, 7.0, 6.0), (2, 1.0, 0.0)]
    mae = (pairs[PREDICTION] - pairs[TARGET]).abs().mean()
    assert mae == pytest.approx((1 + 1 + 1) / 3)


def test_only_predictions_served_from_older_data_have_an_outcome() -> None:
    features = pl.DataFrame({name: [1.0] for name in FEATURE_NAMES})
    served = dt.datetime(2024, 1, 1)
    predictions = log_rows(features, T, [5.0], "1", vehicle_ids=[1]).with_columns(
        pl.lit(served).alias(SERVED_AS_OF)
    )
    labels = pl.DataFrame({ENTITY: [1], TARGET: [6]})
    assert join_outcomes(predictions, labels, served, "1").is_empty()
    assert join_outcomes(predictions, labels, served + dt.timedelta(seconds=1), "1").height == 1


def test_live_coverage_is_the_share_of_outcomes_inside_their_served_range() -> None:
    """Through the join: ranges travel with their predictions; a logged range is inclusive at
    both ends, and predictions logged before ranges existed are left out of the count."""
    features = pl.DataFrame({name: [1.0] * 6 for name in FEATURE_NAMES})
    predictions = log_rows(
        features,
        T,
        [5.0] * 6,
        "1",
        vehicle_ids=[1, 2, 3, 4, 5, 6],
        bounds=([3, 3, 3, 3, None, 0], [7, 7, 7, 7, None, 1]),
    ).with_columns(pl.lit(dt.datetime(2024, 1, 1)).alias(SERVED_AS_OF))
    labels = pl.DataFrame({ENTITY: [1, 2, 3, 4, 5, 6], TARGET: [3, 7, 8, 2, 5, 0]})
    pairs = join_outcomes(predictions, labels, T, "1")
    # In: 3 (the lower end), 7 (the upper end), 0 in [0, 1]; out: 8 and 2; unranged: vehicle 5.
    assert live_coverage(pairs) == (pytest.approx(3 / 5), 5)


def test_live_coverage_without_ranged_outcomes_is_unknown() -> None:
    features = pl.DataFrame({name: [1.0] for name in FEATURE_NAMES})
    unranged = log_rows(features, T, [5.0], "1", vehicle_ids=[1]).with_columns(  # an older log
        pl.lit(dt.datetime(2024, 1, 1)).alias(SERVED_AS_OF)
    )
    pairs = join_outcomes(unranged, pl.DataFrame({ENTITY: [1], TARGET: [5]}), T, "1")
    assert pairs.height == 1
    assert live_coverage(pairs) == (None, 0)
    assert live_coverage(pl.DataFrame()) == (None, 0)  # a snapshot window: no outcome pairs
