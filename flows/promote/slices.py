"""Where on the holdout each model errs: MAE and interval coverage by slice of vehicles, the
champion beside the candidate, each slice with its row count. Pure Polars; the promote flow
shows the table in its artifact and logs it on the candidate's training run."""

from __future__ import annotations

from dataclasses import astuple, dataclass, fields

import numpy as np
import polars as pl

from flows.promote.gate import Contender

# Slices by a 0/1 listing attribute (VehicleRecord) and by price against the recommendation.
BINARY_SLICES = ("technology", "street_parked")
PRICE_RATIO = "price_ratio"  # actual / recommended price (features.contract.formulas)
# Price bands: below CHEAP, from CHEAP up to (not including) DEAR, DEAR and above.
CHEAP, DEAR = 0.9, 1.1
PRICE_BAND = "price_band"
PRICE_BANDS = (f"<{CHEAP}", f"{CHEAP}-{DEAR}", f">={DEAR}")


@dataclass(frozen=True)
class Slice:
    """One slice of the holdout: its rows, and each model's MAE and interval coverage there
    (None where a model has no predictions or no calibration)."""

    feature: str
    value: str
    rows: int
    candidate_mae: float | None
    champion_mae: float | None
    candidate_coverage: float | None
    champion_coverage: float | None


def price_band() -> pl.Expr:
    """The vehicle's price band, one of PRICE_BANDS."""
    ratio = pl.col(PRICE_RATIO)
    cheap, fair, dear = PRICE_BANDS
    return (
        pl.when(ratio < CHEAP)
        .then(pl.lit(cheap))
        .when(ratio < DEAR)
        .then(pl.lit(fair))
        .otherwise(pl.lit(dear))
        .alias(PRICE_BAND)
    )


def _model_columns(role: str, labels: np.ndarray, model: Contender | None) -> list[pl.Series]:
    """Per-row absolute error and inside-the-interval (1.0/0.0) of one model, or nulls."""
    rows = len(labels)
    error, inside = pl.Series([None] * rows, dtype=pl.Float64), None
    if model is not None and model.predicted is not None:
        error = pl.Series(np.abs(labels - model.predicted))
        if model.calibration is not None:
            low, high = model.calibration.bounds(model.predicted)
            inside = pl.Series(((low <= labels) & (labels <= high)).astype(np.float64))
    if inside is None:
        inside = pl.Series([None] * rows, dtype=pl.Float64)
    return [error.alias(f"{role}_mae"), inside.alias(f"{role}_coverage")]


# Every value a slice can take, in display order: an empty slice is shown with 0 rows.
_VALUES = (*((name, ("0", "1")) for name in BINARY_SLICES), (PRICE_BAND, PRICE_BANDS))


def _one_slice(
    per_row: pl.DataFrame, feature: str, values: tuple[str, ...], measures: list[str]
) -> pl.DataFrame:
    measured = per_row.group_by(pl.col(feature).cast(pl.String).alias("value")).agg(
        pl.len().alias("rows"), *[pl.col(m).mean() for m in measures]
    )
    every = pl.DataFrame({"value": values}, schema={"value": pl.String})
    return (
        every.join(measured, on="value", how="left", maintain_order="left")
        .with_columns(pl.lit(feature).alias("feature"), pl.col("rows").fill_null(0))
        .select("feature", "value", "rows", *measures)
    )


def slice_table(
    holdout: pl.DataFrame, labels: np.ndarray, candidate: Contender, champion: Contender | None
) -> tuple[Slice, ...]:
    """MAE and coverage of both models by every slice; empty when the candidate has no
    holdout predictions."""
    if candidate.predicted is None:
        return ()
    per_row = holdout.select(*BINARY_SLICES, price_band()).with_columns(
        *_model_columns("candidate", labels, candidate),
        *_model_columns("champion", labels, champion),
    )
    measures = [f.name for f in fields(Slice)][3:]  # after feature, value, rows
    tables = [_one_slice(per_row, feature, values, measures) for feature, values in _VALUES]
    return tuple(Slice(**row) for row in pl.concat(tables).iter_rows(named=True))


def _frame(slices: tuple[Slice, ...]) -> pl.DataFrame:
    names = [f.name for f in fields(Slice)]
    return pl.DataFrame([astuple(s) for s in slices], schema=names, orient="row")


def to_csv(slices: tuple[Slice, ...]) -> str:
    """The table as CSV (the MLflow artifact)."""
    return _frame(slices).write_csv()


def to_markdown(slices: tuple[Slice, ...]) -> list[str]:
    """The table as markdown lines (the Prefect artifact); no lines when there are no slices."""
    if not slices:
        return []

    def cell(value: float | None, percent: bool = False) -> str:
        if value is None:
            return "-"
        return f"{value:.1%}" if percent else f"{value:.3f}"

    lines = [
        "| slice | rows | candidate MAE | champion MAE | candidate coverage | champion coverage |",
        "|---|---|---|---|---|---|",
    ]
    for s in slices:
        mae = f"{cell(s.candidate_mae)} | {cell(s.champion_mae)}"
        cover = f"{cell(s.candidate_coverage, True)} | {cell(s.champion_coverage, True)}"
        lines.append(f"| {s.feature} = {s.value} | {s.rows} | {mae} | {cover} |")
    return lines


def artifact_path(registered_model: str, version: str) -> str:
    """Where, in the candidate's training run, the slice table of its decision is logged (by
    registered model too: one run's model may be registered under several names)."""
    return f"promotion/{registered_model}/v{version}/slices.csv"
