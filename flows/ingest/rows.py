"""Row classification for ingest: which rows are accepted, updated, duplicate or quarantined.

Pure Polars transforms over lazy frames of raw CSV text; the rules come from
`features.contract.schema`.
"""

from __future__ import annotations

import polars as pl
import polars.selectors as cs

from features.contract.schema import (
    ENTITY,
    TIMESTAMP_FORMAT,
    UNIQUE_VEHICLE_RULE,
    UNKNOWN_VEHICLE_RULE,
    RawRecord,
    ReservationRecord,
    RowRule,
    VehicleRecord,
    columns,
    parse_exprs,
    parse_rules,
    value_rules,
)

ROW = "row"
RULE = "rule"
STATUS = "status"
ACCEPTED, UPDATED, DUPLICATE, QUARANTINED = "accepted", "updated", "duplicate", "quarantined"
STORED = ACCEPTED, UPDATED
RAW_PREFIX = "raw_"
_VEHICLE_ATTRS = [c for c in columns(VehicleRecord) if c != ENTITY]
_RESERVATION_KEY = columns(ReservationRecord)


def _joined(messages: list[pl.Expr]) -> pl.Expr:
    """Non-null messages joined with "; ", or null if there are none."""
    joined = pl.concat_str(messages, separator="; ", ignore_nulls=True)
    return pl.when(joined != "").then(joined)


def _broken(rules: list[RowRule]) -> pl.Expr:
    return _joined([pl.when(r.broken).then(pl.lit(r.message)) for r in rules])


def check_rows(raw: pl.LazyFrame, model: type[RawRecord]) -> pl.LazyFrame:
    """Typed columns, `rule` (every rule a row breaks, or null) and, for rows that break one,
    their raw text (`raw_*`): valid rows are rebuilt from their values (see `as_text`), and on
    20M rows a text copy of every row would double what ingest writes and reads back."""
    names = columns(model)
    broken = pl.col(RULE).is_not_null()
    return (
        raw.with_columns(
            _broken(parse_rules(model)).alias("_parse_rule"),
            *[pl.col(c).alias(RAW_PREFIX + c) for c in names],
        )
        .with_columns(parse_exprs(model))
        .with_columns(_broken(value_rules(model)).alias("_value_rule"))
        .with_columns(_joined([pl.col("_parse_rule"), pl.col("_value_rule")]).alias(RULE))
        .with_columns(
            pl.when(broken).then(pl.col(RAW_PREFIX + c)).alias(RAW_PREFIX + c) for c in names
        )
        .drop("_parse_rule", "_value_rule")
    )


def _status(lf: pl.LazyFrame, status: str | pl.Expr, rule: str | None = None) -> pl.LazyFrame:
    status_expr = pl.lit(status) if isinstance(status, str) else status
    rule_expr = pl.col(RULE) if rule is None else pl.lit(rule)
    return lf.with_columns(status_expr.alias(STATUS), rule_expr.alias(RULE))


def _valid(checked: pl.LazyFrame) -> pl.LazyFrame:
    """Rows that pass every row rule (their `raw_*` columns are null: see `check_rows`)."""
    return checked.filter(pl.col(RULE).is_null()).drop(cs.starts_with(RAW_PREFIX))


def as_text(name: str) -> pl.Expr:
    """A column's original text, rebuilt from the parsed value where the row kept none."""
    value = pl.col(name)
    rebuilt = value.dt.strftime(TIMESTAMP_FORMAT) if name == "created_at" else value.cast(pl.String)
    return pl.coalesce(pl.col(RAW_PREFIX + name), rebuilt).alias(name)


def classify_vehicles(checked: pl.LazyFrame, stored_latest: pl.LazyFrame) -> pl.LazyFrame:
    """Status of each vehicle row against the file itself and the latest stored versions."""
    valid = _valid(checked)
    conflicting = (
        valid.group_by(ENTITY)
        .agg(pl.struct(_VEHICLE_ATTRS).n_unique().alias("_variants"))
        .filter(pl.col("_variants") > 1)
        .select(ENTITY)
    )
    unambiguous = valid.join(conflicting, on=ENTITY, how="anti").sort(ROW)
    first = pl.col(ENTITY).is_first_distinct()
    stored = stored_latest.select(
        ENTITY, *[pl.col(c).alias(f"_stored_{c}") for c in _VEHICLE_ATTRS]
    )
    same = pl.all_horizontal([pl.col(c) == pl.col(f"_stored_{c}") for c in _VEHICLE_ATTRS])
    kept = unambiguous.filter(first).join(stored, on=ENTITY, how="left")
    known = pl.col(f"_stored_{_VEHICLE_ATTRS[0]}").is_not_null()
    kept_status = pl.when(~known).then(pl.lit(ACCEPTED)).when(same).then(pl.lit(DUPLICATE))
    return pl.concat(
        [
            _status(checked.filter(pl.col(RULE).is_not_null()), QUARANTINED),
            _status(
                valid.join(conflicting, on=ENTITY, how="semi"), QUARANTINED, UNIQUE_VEHICLE_RULE
            ),
            _status(unambiguous.filter(~first), DUPLICATE),
            _status(kept, kept_status.otherwise(pl.lit(UPDATED))).drop(cs.starts_with("_stored_")),
        ],
        how="diagonal",
    )


def classify_reservations(
    checked: pl.LazyFrame, known_vehicles: pl.LazyFrame, stored: pl.LazyFrame
) -> pl.LazyFrame:
    """Status of each reservation row: unknown vehicle, duplicate (in file or store), accepted."""
    valid = _valid(checked)
    known = known_vehicles.select(ENTITY).unique().with_columns(pl.lit(True).alias("_known"))
    seen = stored.select(_RESERVATION_KEY).unique().with_columns(pl.lit(True).alias("_stored"))
    # First occurrence in file order, decided on the scan's own order: no sort of every row.
    first = pl.struct(_RESERVATION_KEY).is_first_distinct().alias("_first")
    marked = (
        valid.with_columns(first)
        .join(known, on=ENTITY, how="left")
        .join(seen, on=_RESERVATION_KEY, how="left")
    )
    status = (
        pl.when(pl.col("_known").is_null())
        .then(pl.lit(QUARANTINED))
        .when(pl.col("_stored").is_not_null() | ~pl.col("_first"))
        .then(pl.lit(DUPLICATE))
        .otherwise(pl.lit(ACCEPTED))
    )
    unknown_rule = pl.when(pl.col("_known").is_null()).then(pl.lit(UNKNOWN_VEHICLE_RULE))
    return pl.concat(
        [
            _status(checked.filter(pl.col(RULE).is_not_null()), QUARANTINED),
            marked.with_columns(status.alias(STATUS), unknown_rule.alias(RULE)).drop(
                "_known", "_stored", "_first"
            ),
        ],
        how="diagonal",
    )
