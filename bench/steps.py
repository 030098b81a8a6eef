"""The benchmark's steps, each turning child measurements into rows of the results table."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from bench import data, features, online
from bench.report import Row, rate, verdict

AS_OF = dt.datetime(2024, 1, 1)
SPEEDUP_GOAL = 10.0
MEMORY_GOAL = 1 / 3
ONLINE_GOAL = 200_000
INGEST_MEMORY_GOAL_MB = 1_000  # issue 17: 21M rows in at most 1 GB


def generate_rows(workdir: Path, vehicles: int, per_vehicle: float, reuse: bool) -> list[Row]:
    settings = data.bench_settings(workdir)
    if reuse and all(p.exists() for p in data.csv_paths(settings)):
        return [Row("1. generate CSVs", None, None, "reused (--reuse)")]
    report = data.run_generate(workdir, vehicles, per_vehicle)
    rows = report["vehicles"] + report["reservations"]
    print(
        f"generated {report['vehicles']:,} vehicles, {report['reservations']:,} reservations "
        f"in {report['seconds']:.1f}s",
        flush=True,
    )
    return [
        Row(
            "1. generate CSVs",
            report["seconds"],
            report["peak_rss_mb"],
            rate(rows, report["seconds"], "rows"),
        )
    ]


def _ingest_row(step: str, report: dict) -> Row:
    peak = report["peak_rss_mb"]
    return Row(
        step,
        report["seconds"],
        peak,
        rate(report["rows"], report["seconds"], "rows"),
        goal=f"≤ {INGEST_MEMORY_GOAL_MB:,} MB peak",
        met=verdict(peak <= INGEST_MEMORY_GOAL_MB),
    )


def ingest_rows(workdir: Path, reuse: bool) -> list[Row]:
    """A fresh ingest of both files (unless reused), then the reservations again: the
    duplicate check against a full store."""
    rows = [Row("2a. ingest → raw store (plain task fns)", None, None, "reused (--reuse)")]
    if not (reuse and data.store_is_complete(data.bench_settings(workdir))):
        report = data.run_ingest(workdir)
        for line in report["files"]:
            print(f"ingest: {line}", flush=True)
        print(f"ingested {report['rows']:,} rows in {report['seconds']:.1f}s", flush=True)
        rows = [_ingest_row("2a. ingest → raw store (plain task fns)", report)]
    again = data.run_ingest(workdir, again=True)
    print(f"re-ingested {again['rows']:,} rows (all duplicates) in {again['seconds']:.1f}s")
    return [*rows, _ingest_row("2b. ingest the reservations again (all duplicates)", again)]


def _build_rows(fast: features.BuildResult, slow: features.BuildResult) -> list[Row]:
    speedup = slow.seconds / fast.seconds
    memory = fast.peak_rss_mb / slow.peak_rss_mb
    return [
        Row(
            "3a. feature build, Polars (flow code)",
            fast.seconds,
            fast.peak_rss_mb,
            rate(fast.rows, fast.seconds, "vehicles"),
            f"{speedup:.1f}x faster; {memory:.2f}x the memory",
            "≥ 10x faster; ≤ 1/3 memory",
            f"time: {verdict(speedup >= SPEEDUP_GOAL)}; memory: {verdict(memory <= MEMORY_GOAL)}",
        ),
        Row(
            "3b. feature build, pandas baseline",
            slow.seconds,
            slow.peak_rss_mb,
            rate(slow.rows, slow.seconds, "vehicles"),
            "1.0 (baseline)",
        ),
    ]


def _walls(result: features.BuildResult) -> str:
    runs = ", ".join(f"{w:.2f}" for w in result.walls)
    return f"{result.name} runs [{runs}] s, CPU {result.cpu_seconds:.2f} s in the best run"


def feature_rows(workdir: Path, repeat: int) -> tuple[list[Row], Path, list[str]]:
    """Both builds in their own children, checked equal; rows, the table's path, notes."""
    home = data.bench_settings(workdir).home
    fast = features.run_polars(home, AS_OF, workdir, repeat)
    print(f"polars: {features.summary(fast)}", flush=True)
    slow = features.run_pandas(home, AS_OF, workdir, repeat)
    print(f"pandas: {features.summary(slow)}", flush=True)
    dtype_notes = features.check_equal(fast.output, slow.output)
    cpu_ratio = slow.cpu_seconds / fast.cpu_seconds
    notes = [
        f"as_of {AS_OF}: {fast.rows:,} vehicles, {fast.labeled:,} labeled; pandas and Polars "
        "tables equal value for value (polars.testing.assert_frame_equal, check_exact)",
        f"feature build wall s = best of {repeat} runs in one child; {_walls(fast)}; "
        f"{_walls(slow)}; pandas/Polars CPU-time ratio {cpu_ratio:.1f}x",
        "peak RSS = each child's own high-water RSS (VmHWM) after its first run, imports "
        f"included: Polars child "
        f"{fast.import_rss_mb:.0f} MB, pandas child {slow.import_rss_mb:.0f} MB after imports",
        *[f"dtype cast before comparing: {n}" for n in dtype_notes],
    ]
    print("feature tables match", flush=True)
    return _build_rows(fast, slow), fast.output, notes


def online_rows(workdir: Path, table_path: Path) -> tuple[list[Row], list[str]]:
    home = data.bench_settings(workdir).home
    fast = online.run_writer("materialize", home, table_path, AS_OF.isoformat())
    print(f"materialize: {fast}", flush=True)
    slow = online.run_writer("pipeline", home, table_path, AS_OF.isoformat())
    print(f"redis-py pipeline: {slow}", flush=True)
    n, per_s = fast["vehicles"], fast["vehicles"] / fast["seconds"]
    speedup = slow["seconds"] / fast["seconds"]
    rows = [
        Row(
            "4a. online materialize (RESP writer)",
            fast["seconds"],
            fast["peak_rss_mb"],
            rate(n, fast["seconds"], "vehicles"),
            f"{speedup:.1f}x faster",
            "≥ 200k vehicles/s",
            verdict(per_s >= ONLINE_GOAL),
        ),
        Row(
            "4b. redis-py pipeline HSET baseline",
            slow["seconds"],
            slow["peak_rss_mb"],
            rate(n, slow["seconds"], "vehicles"),
            "1.0 (baseline)",
        ),
    ]
    notes = [
        f"Redis used_memory after writing {n:,} vehicles: {fast['redis_used_mb']:.0f} MB "
        "(materialize), every stored vehicle counted and 2,000 values checked"
    ]
    return rows, notes
