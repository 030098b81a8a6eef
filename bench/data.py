"""Steps 1 and 2: generate the seeded CSVs, then ingest them into a fresh raw store.

Ingest runs the plain functions behind the ingest flow's Prefect tasks (`Task.fn`), in the
same order as `flows.ingest.flow.ingest_flow`, so no Prefect server or run context is needed.
Each step runs in its own child so its peak RSS is its own.

Step 2b ingests the reservations again, as a landed file with one more row (a copy of its
first): every row is then a duplicate, so the store is unchanged while the duplicate check
runs against all the stored rows.

Run as a child: `python -m bench.data generate WORKDIR VEHICLES PER_VEHICLE`,
`python -m bench.data ingest WORKDIR` or `python -m bench.data reingest WORKDIR`.
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path
from typing import Any

from bench.children import emit, peak_rss_mb, run_child
from features.settings import Settings


def bench_settings(workdir: Path) -> Settings:
    """Settings whose every path lives under the benchmark's workdir."""
    return Settings(home=workdir / "home", data_dir=workdir / "data")


def csv_paths(settings: Settings) -> list[Path]:
    return [settings.data_dir / "vehicles.csv", settings.data_dir / "reservations.csv"]


def generate_child(workdir: Path, vehicles: int, per_vehicle: float) -> None:
    """Child entry point: write vehicles.csv and reservations.csv, timed."""
    from flows.synthetic.generator import generate

    settings = bench_settings(workdir)
    started = time.perf_counter()
    made = generate(settings.data_dir, n_vehicles=vehicles, reservations_per_vehicle=per_vehicle)
    seconds = time.perf_counter() - started
    emit(
        {
            "seconds": seconds,
            "peak_rss_mb": peak_rss_mb(),
            "vehicles": made.n_vehicles,
            "reservations": made.n_reservations,
            "no_reservations": made.n_vehicles_without_reservations,
        }
    )


def ingest(settings: Settings) -> Any:
    """`flows.ingest.flow.ingest_flow` without Prefect: the same calls, as plain functions."""
    from features.stores import raw as raw_store
    from flows.ingest.flow import commit_ingest, find_sources, stage
    from flows.ingest.staging import StagedFile

    sources = find_sources.fn(settings, None)
    with raw_store.write_lock(settings):
        manifest = raw_store.load_manifest(settings)
        raw_store.remove_orphans(settings, manifest)
        staged: list[StagedFile] = []
        for source in sources:
            staged.append(stage.fn(settings, source, manifest, list(staged)))
        return commit_ingest.fn(settings, manifest, staged)


def ingest_child(workdir: Path) -> None:
    """Child entry point: ingest the CSVs into an empty raw store, timed."""
    settings = bench_settings(workdir)
    if settings.raw_dir.exists():
        shutil.rmtree(settings.raw_dir)  # the benchmark's own store, under its workdir
    started = time.perf_counter()
    report = ingest(settings)
    seconds = time.perf_counter() - started
    if report.total("quarantined") or report.total("duplicates"):
        raise RuntimeError(f"generated data should ingest cleanly: {report.lines()}")
    emit(
        {
            "seconds": seconds,
            "peak_rss_mb": peak_rss_mb(),
            "rows": report.total("rows"),
            "accepted": report.total("accepted"),
            "files": report.lines(),
        }
    )


def reingest_child(workdir: Path) -> None:
    """Child entry point: the reservations again, one duplicated row more, timed."""
    settings = bench_settings(workdir)
    shipped = csv_paths(settings)[1]
    landed = settings.landing_dir / "reservations-again.csv"
    landed.parent.mkdir(parents=True, exist_ok=True)
    with open(shipped, "rb") as source, open(landed, "wb") as copy:
        shutil.copyfileobj(source, copy)
        source.seek(0)
        source.readline()
        copy.write(source.readline())
    try:
        started = time.perf_counter()
        report = ingest(settings)
        seconds = time.perf_counter() - started
    finally:  # ingest archives a landed file: the 500 MB copy goes, wherever it is
        landed.unlink(missing_ok=True)
        (settings.landing_dir / "processed" / landed.name).unlink(missing_ok=True)
    again = report.files[-1]
    if again.duplicates != again.rows:
        raise RuntimeError(f"every re-ingested row should be a duplicate: {report.lines()}")
    emit({"seconds": seconds, "peak_rss_mb": peak_rss_mb(), "rows": again.rows})


def store_is_complete(settings: Settings) -> bool:
    from features.stores import raw as raw_store

    parts = raw_store.load_manifest(settings).parts
    return bool(parts["vehicles"]) and bool(parts["reservations"])


def run_generate(workdir: Path, vehicles: int, per_vehicle: float) -> dict[str, Any]:
    return run_child("bench.data", "generate", str(workdir), str(vehicles), str(per_vehicle))


def run_ingest(workdir: Path, again: bool = False) -> dict[str, Any]:
    return run_child("bench.data", "reingest" if again else "ingest", str(workdir))


if __name__ == "__main__":
    if sys.argv[1] == "generate":
        generate_child(Path(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]))
    elif sys.argv[1] == "reingest":
        reingest_child(Path(sys.argv[2]))
    else:
        ingest_child(Path(sys.argv[2]))
