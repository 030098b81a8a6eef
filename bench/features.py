"""Feature-build benchmark: the flow's Polars code vs the pandas baseline, each in a child.

Both children read the same committed raw-store Parquet parts. The Polars child runs exactly
what `flows.snapshot.flow.build_table` runs; the pandas child runs `bench.pandas_baseline`.
Their outputs are saved and compared value for value; any difference fails the benchmark.

Run as a child: `python -m bench.features HOME AS_OF OUT.parquet REPEAT`.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.children import emit, measure, run_child


@dataclass(frozen=True)
class BuildResult:
    """One implementation's measurement."""

    name: str
    seconds: float
    cpu_seconds: float
    walls: list[float]
    peak_rss_mb: float
    import_rss_mb: float
    rows: int
    labeled: int
    output: Path


class FeatureMismatchError(AssertionError):
    """The pandas baseline and the Polars flow disagree: the benchmark is invalid."""


def polars_child(home: str, as_of: str, out_path: str, repeat: int) -> None:
    """Child entry point: the flow's feature build, timed, with this process's peak RSS."""
    from features.contract.point_in_time import feature_table
    from features.settings import Settings
    from features.stores import raw as raw_store

    settings = Settings(home=Path(home))
    cut = dt.datetime.fromisoformat(as_of)

    def build() -> Any:  # what flows.snapshot.flow.build_partition runs for one partition
        return feature_table(
            raw_store.scan(settings, "vehicles"),
            raw_store.scan(settings, "reservations"),
            cut,
            settings.new_listing_days,
        ).collect()

    table, report = measure(build, repeat)
    report |= {"rows": table.height, "labeled": table["num_reservations"].count()}
    table.write_parquet(out_path)
    emit(report)


def write_pandas_spec(home: Path, as_of: dt.datetime, path: Path) -> Path:
    """The pandas child's inputs, taken from the contract and the committed manifest."""
    from features.contract.formulas import FIRST_SEEN, RAW_FEATURES, TARGET
    from features.contract.point_in_time import SNAPSHOT_COLUMNS
    from features.contract.schema import ENTITY, INGEST_SEQ, VALID_FROM
    from features.settings import Settings
    from features.stores import raw as raw_store

    settings = Settings(home=home)
    parts = raw_store.load_manifest(settings).parts
    spec = {
        "vehicle_parts": [str(settings.raw_dir / p) for p in parts["vehicles"]],
        "reservation_parts": [str(settings.raw_dir / p) for p in parts["reservations"]],
        "as_of": as_of.isoformat(),
        "new_listing_days": settings.new_listing_days,
        "entity": ENTITY,
        "valid_from": VALID_FROM,
        "ingest_seq": INGEST_SEQ,
        "raw_features": list(RAW_FEATURES),
        "snapshot_columns": list(SNAPSHOT_COLUMNS),
        "first_seen": FIRST_SEEN,
        "target": TARGET,
    }
    path.write_text(json.dumps(spec, indent=1))
    return path


def _result(name: str, report: dict[str, Any], output: Path) -> BuildResult:
    keys = ("seconds", "cpu_seconds", "walls", "peak_rss_mb", "import_rss_mb", "rows", "labeled")
    return BuildResult(name, **{k: report[k] for k in keys}, output=output)


def run_polars(home: Path, as_of: dt.datetime, workdir: Path, repeat: int) -> BuildResult:
    out = workdir / "features-polars.parquet"
    report = run_child("bench.features", str(home), as_of.isoformat(), str(out), str(repeat))
    return _result("polars", report, out)


def run_pandas(home: Path, as_of: dt.datetime, workdir: Path, repeat: int) -> BuildResult:
    spec = write_pandas_spec(home, as_of, workdir / "pandas-spec.json")
    out = workdir / "features-pandas.parquet"
    report = run_child("bench.pandas_baseline", str(spec), str(out), str(repeat))
    return _result("pandas", report, out)


def check_equal(polars_out: Path, pandas_out: Path) -> list[str]:
    """Raise FeatureMismatchError unless the tables match exactly; return dtype notes."""
    import polars as pl
    from polars.testing import assert_frame_equal

    expected, actual = pl.read_parquet(polars_out), pl.read_parquet(pandas_out)
    notes = [
        f"{name}: pandas {actual.schema.get(name)} vs polars {dtype}"
        for name, dtype in expected.schema.items()
        if actual.schema.get(name) != dtype
    ]
    try:
        if actual.columns != expected.columns:
            raise AssertionError(f"columns {actual.columns} != {expected.columns}")
        assert_frame_equal(actual.cast(dict(expected.schema)), expected, check_exact=True)
    except (AssertionError, pl.exceptions.PolarsError) as error:
        raise FeatureMismatchError(f"pandas and polars feature tables differ: {error}") from error
    return notes


def summary(result: BuildResult) -> dict[str, Any]:
    return {k: v for k, v in asdict(result).items() if k != "output"}


if __name__ == "__main__":
    polars_child(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))
