"""Classifying one input file, a bucket of listings at a time, into staging Parquet files.

The duplicate and conflict checks must see every row of a key at once, which on 20M rows
held every key in memory (1.65 GB). Both checks only ever compare rows of the same listing,
so rows are split by a hash of `vehicle_id` and each bucket is classified on its own: peak
memory follows the bucket, not the file. First, the CSV is parsed and checked in one
streaming pass into a typed Parquet file (raw text kept only for rows that break a rule);
then each bucket is read back from it with the store filtered to the same listings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import polars as pl

from features.contract.schema import ENTITY, INGEST_SEQ, RECORDS, VEHICLES, RecordKind
from features.settings import Settings
from features.stores import raw as raw_store
from flows.ingest.rows import ROW, RULE, check_rows, classify_reservations, classify_vehicles
from flows.ingest.sources import Source, SourceError

EXTRA_FIELDS = "_extra_fields"
EXTRA_FIELDS_RULE = "row has more fields than the header"
# Rows classified at once. On 20M reservations, 2M a bucket peaked at ~600 MB, one bucket
# at 1.9 GB, at about the same speed (docs/benchmarks.md, "Ingest memory").
BUCKET_ROWS = 2_000_000


def _read_raw(source: Source) -> pl.LazyFrame:
    """All fields as text, numbered rows; a sentinel column catches rows with extra fields."""
    schema = {name: pl.String for name in (*source.header, EXTRA_FIELDS)}
    raw = pl.scan_csv(
        source.path,
        has_header=False,
        skip_rows=1,
        schema=schema,
        truncate_ragged_lines=True,
        missing_columns="insert",
        # Without it a first row with two or more extra fields fails the whole scan; the
        # sentinel column still flags the row.
        extra_columns="ignore",
    )
    return raw.with_row_index(ROW, offset=1).with_columns(pl.col(ROW).cast(pl.Int64))


def _checked(source: Source) -> pl.LazyFrame:
    checked = check_rows(_read_raw(source), RECORDS[source.kind])
    extra = pl.when(pl.col(EXTRA_FIELDS).is_not_null()).then(pl.lit(EXTRA_FIELDS_RULE))
    return checked.with_columns(pl.coalesce(extra, RULE).alias(RULE)).drop(EXTRA_FIELDS)


def _sink_checked(source: Source, target: Path) -> int:
    """Parse and check every row into `target` in one streaming pass; the number of rows.
    A file the CSV reader cannot split into rows (a stray or unbalanced quote) is refused
    by name instead of failing with a traceback."""
    try:
        _checked(source).sink_parquet(target)
    except (pl.exceptions.ComputeError, pl.exceptions.SchemaError) as error:
        # Polars' first sentence names the field; its advice (schema inference) does not apply.
        detail = " ".join(str(error).split())[:160]
        raise SourceError(f"{source.path}: could not be read as CSV: {detail}") from None
    return int(pl.scan_parquet(target).select(pl.len()).collect().item())


def bucket_count(rows: int) -> int:
    """How many buckets a file of `rows` rows is classified in (one for files that fit)."""
    return max(1, -(-rows // BUCKET_ROWS))


def _in_bucket(count: int, index: int) -> pl.Expr:
    # A null id (a row that failed to parse) hashes to a value too: every row is in one bucket.
    return pl.col(ENTITY).hash() % count == index


def _classified_bucket(
    source: Source,
    checked: pl.LazyFrame,
    store: Mapping[RecordKind, pl.LazyFrame],
    bucket: pl.Expr,
) -> pl.LazyFrame:
    vehicles = store[VEHICLES].filter(bucket)
    rows = checked.filter(bucket)
    if source.kind == VEHICLES:
        latest = vehicles.sort(INGEST_SEQ).unique(ENTITY, keep="last")
        return classify_vehicles(rows, latest)
    return classify_reservations(rows, vehicles, store[source.kind].filter(bucket))


def classify_file(
    settings: Settings, source: Source, parts: Mapping[RecordKind, Sequence[str]], prefix: Path
) -> list[Path]:
    """Every row of `source` with its status, against the store made of `parts`, written to
    Parquet files named after `prefix` (one per bucket); the files, in bucket order."""
    checked_path = prefix.with_name(f"{prefix.name}-checked.parquet")
    count = bucket_count(_sink_checked(source, checked_path))
    store = {kind: raw_store.scan(settings, kind, parts[kind]) for kind in parts}
    paths = [prefix.with_name(f"{prefix.name}-{index}.parquet") for index in range(count)]
    for index, path in enumerate(paths):
        checked = pl.scan_parquet(checked_path)
        bucket = _in_bucket(count, index)
        _classified_bucket(source, checked, store, bucket).sink_parquet(path)
    checked_path.unlink()
    return paths
