"""Seed-style pandas baseline of the point-in-time feature table, for benchmarking only.

This module deliberately RESTATES the semantics of
`features.contract.point_in_time.feature_table` and the derived features of
`features.contract.formulas` (price_diff, price_ratio, first-seen, the label) in idiomatic
pandas. It is the only place in the project allowed to do so, and only as a baseline to compare
the Polars implementation against: production code must use `features.contract.point_in_time`.

It imports neither Polars nor any fleetcast module (only the stdlib-only `bench.children`), so
the peak RSS of the child process that runs it is pandas' own. Column names and part files
arrive in a JSON spec (see `BuildSpec`).

Run as a child: `python -m bench.pandas_baseline SPEC.json OUT.parquet REPEAT`; it prints one
JSON line with its wall and CPU times and peak RSS (see `bench.children.measure`).
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from bench.children import emit, measure


@dataclass(frozen=True)
class BuildSpec:
    """Everything a child needs: inputs, the cut-off and the contract's column names."""

    vehicle_parts: list[str]
    reservation_parts: list[str]
    as_of: str
    new_listing_days: int
    entity: str
    valid_from: str
    ingest_seq: str
    raw_features: list[str]
    snapshot_columns: list[str]
    first_seen: str
    target: str

    @classmethod
    def load(cls, path: Path) -> BuildSpec:
        return cls(**json.loads(path.read_text()))


def _read(parts: list[str]) -> pd.DataFrame:
    return pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)


def _latest(known: pd.DataFrame, spec: BuildSpec) -> pd.DataFrame:
    """The most recently ingested version of each vehicle, with the derived features."""
    latest = known.sort_values(spec.ingest_seq, kind="stable").drop_duplicates(
        spec.entity, keep="last"
    )
    out = latest[[spec.entity, *spec.raw_features]].copy()
    out["price_diff"] = latest["actual_price"] - latest["recommended_price"]
    out["price_ratio"] = latest["actual_price"] / latest["recommended_price"]
    return out


def _bookings(reservations: pd.DataFrame, as_of: pd.Timestamp, spec: BuildSpec) -> pd.DataFrame:
    """Reservations before `as_of` per vehicle: how many, and the first one."""
    before = reservations[reservations["created_at"] < as_of]
    grouped = before.groupby(spec.entity)["created_at"]
    return pd.DataFrame({spec.target: grouped.size(), "_first_booking": grouped.min()})


def feature_table(
    vehicles: pd.DataFrame, reservations: pd.DataFrame, as_of: dt.datetime, spec: BuildSpec
) -> pd.DataFrame:
    """Features, first-seen time and label of every vehicle known at `as_of` (pandas)."""
    stamp = pd.Timestamp(as_of)
    start = reservations.loc[reservations["created_at"] < stamp, "created_at"].min()
    vf = vehicles[spec.valid_from]
    known = vehicles[vf.isna() | (vf <= stamp)]
    listed = known[spec.valid_from].fillna(start).groupby(known[spec.entity]).min()
    table = _latest(known, spec).join(listed.rename("_listed"), on=spec.entity)
    table = table.join(_bookings(reservations, stamp, spec), on=spec.entity)
    table[spec.first_seen] = table[["_listed", "_first_booking"]].min(axis=1)
    cutoff = stamp - pd.Timedelta(days=spec.new_listing_days)
    counts = table[spec.target].fillna(0).astype("Int64")
    table[spec.target] = counts.where(table[spec.first_seen] <= cutoff, pd.NA)
    return table[spec.snapshot_columns].sort_values(spec.entity).reset_index(drop=True)


def build(spec: BuildSpec) -> pd.DataFrame:
    """Read the raw store's parts and compute the table, as the benchmark times it."""
    vehicles = _read(spec.vehicle_parts)
    reservations = _read(spec.reservation_parts)
    return feature_table(vehicles, reservations, dt.datetime.fromisoformat(spec.as_of), spec)


def main(spec_path: str, out_path: str, repeat: int) -> None:
    """Child entry point: build, report time and peak RSS as JSON, then save the result."""
    spec = BuildSpec.load(Path(spec_path))
    table, report = measure(lambda: build(spec), repeat)
    report |= {"rows": len(table), "labeled": int(table[spec.target].notna().sum())}
    table.to_parquet(out_path, index=False)
    emit(report)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
