"""The offline store: snapshots move forward only, whatever order they are built in."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from features.contract.formulas import FEATURE_NAMES, FIRST_SEEN, TARGET
from features.contract.schema import ENTITY
from features.settings import Settings
from features.stores.offline import (
    SnapshotNotFoundError,
    latest_meta,
    list_snapshots,
    read_meta,
    write_snapshot,
)

DAY = dt.datetime(2023, 12, 31)


def _table(label: int) -> pl.DataFrame:
    """A one-vehicle snapshot table; `label` makes its content (and so its id) differ."""
    return pl.DataFrame(
        {
            ENTITY: [1],
            **{name: [1.0] for name in FEATURE_NAMES},
            FIRST_SEEN: [dt.datetime(2023, 1, 1)],
            TARGET: [label],
        }
    )


@pytest.fixture
def store(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path)


def test_no_snapshot_is_refused_clearly(store: Settings) -> None:
    with pytest.raises(SnapshotNotFoundError, match="no feature snapshot yet"):
        latest_meta(store)


def test_latest_is_the_greatest_as_of_not_the_last_build(store: Settings) -> None:
    current = write_snapshot(store, _table(1), DAY, 1)
    write_snapshot(store, _table(2), DAY - dt.timedelta(days=180), 1)  # a backfill, built later
    assert latest_meta(store).snapshot_id == read_meta(store).snapshot_id == current.snapshot_id
    later = write_snapshot(store, _table(3), DAY + dt.timedelta(seconds=1), 1)
    assert read_meta(store).snapshot_id == later.snapshot_id
    assert len(list_snapshots(store)) == 3  # the back-dated one is kept for backtests


def test_a_tie_on_as_of_goes_to_the_newest_build(store: Settings) -> None:
    write_snapshot(store, _table(1), DAY, 1)
    newer = write_snapshot(store, _table(2), DAY, 2)  # late data for the same clock
    assert read_meta(store).snapshot_id == newer.snapshot_id


def test_an_identical_rebuild_reuses_the_snapshot(store: Settings) -> None:
    first = write_snapshot(store, _table(1), DAY, 1)
    again = write_snapshot(store, _table(1), DAY, 1)
    assert again == first and len(list_snapshots(store)) == 1
