"""`python -m bench.pipeline`: ingest → features → train → promote at 1k, 100k and 1M listings.

Every stage is the real Prefect flow, run in its own child process (so its peak RSS is its own)
against one local Prefect server and each size's own embedded Redis and MLflow store, both
started before the stages and not timed. Prints, and writes to `WORKDIR/results.md`, a table
of wall and peak RSS per stage and size, rows/s, and the exponent of each stage's growth
between sizes (time ∝ listings^k). `--dask` runs the largest size again on a Dask
LocalCluster (2 single-threaded workers) and compares the champion decisions.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path
from typing import Any

from bench import data, machine
from bench.children import run_child
from bench.pipeline.curve import SizeRun, comparison, document
from features.local import prefect_server, redis_server
from features.settings import Settings

DEFAULT_WORKDIR = Path(__file__).resolve().parent.parent / "out" / "pipeline"
STAGE_TIMEOUT_S = 3_600


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.pipeline", description=__doc__)
    parser.add_argument(
        "--vehicles", type=int, nargs="+", default=[1_000, 100_000, 1_000_000], help="sizes"
    )
    parser.add_argument(
        "--per-vehicle", type=float, default=20.0, help="mean reservations per listing"
    )
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR, help="all state here")
    parser.add_argument("--dask", action="store_true", help="the largest size on Dask too")
    return parser.parse_args(argv)


def _csvs(workdir: Path, vehicles: int, per_vehicle: float) -> dict[str, Any]:
    """The size's CSVs, generated once per (size, rate) and reused after."""
    marker = workdir / "data" / "generated.json"
    wanted = {"vehicles": vehicles, "per_vehicle": per_vehicle}
    if marker.exists() and json.loads(marker.read_text())["asked"] == wanted:
        return json.loads(marker.read_text())["made"]
    made = data.run_generate(workdir, vehicles, per_vehicle)
    marker.write_text(json.dumps({"asked": wanted, "made": made}))
    return made


def _stage(env: dict[str, str], name: str, *args: str) -> dict[str, Any]:
    report = run_child("bench.pipeline.stages", name, *args, env=env, timeout=STAGE_TIMEOUT_S)
    print(f"  {name}: {report['seconds']:.1f} s, {report['peak_rss_mb']:,.0f} MB", flush=True)
    return report


def run_size(root: Path, vehicles: int, per_vehicle: float, env: dict[str, str]) -> SizeRun:
    """A fresh home, the size's CSVs, then the four stages in order."""
    workdir = root / f"v{vehicles}"
    made = _csvs(workdir, vehicles, per_vehicle)
    home = workdir / env.get("BENCH_HOME", "home")
    shutil.rmtree(home, ignore_errors=True)  # the benchmark's own state, under its workdir
    settings = Settings(home=home, data_dir=workdir / "data")
    env = env | {"FLEETCAST_HOME": str(home), "FLEETCAST_DATA_DIR": str(settings.data_dir)}
    url, redis = redis_server.start_embedded(settings)
    try:
        print(f"{vehicles:,} listings, {made['reservations']:,} reservations:", flush=True)
        stages = {"ingest": _stage(env, "ingest"), "features": _stage(env, "features")}
        snapshot = stages["features"]["snapshot_id"]
        stages["train"] = _stage(env, "train", snapshot)
        stages["promote"] = _stage(env, "promote", stages["train"]["version"], snapshot)
    finally:
        redis_server.stop_embedded(settings, url, redis)
    return SizeRun(vehicles, made["reservations"], stages)


def on_dask(root: Path, vehicles: int, per_vehicle: float, env: dict[str, str]) -> SizeRun:
    """The same run with every stage's fan-out on a local Dask cluster."""
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster:
        dask_env = env | {"FLEETCAST_DASK_ADDRESS": cluster.scheduler_address}
        return run_size(root, vehicles, per_vehicle, dask_env | {"BENCH_HOME": "home-dask"})


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    root = args.workdir.resolve()
    root.mkdir(parents=True, exist_ok=True)
    facts = machine.facts()
    server = Settings(home=root / "prefect-server")
    env = dict(os.environ) | {"PREFECT_API_URL": prefect_server.ensure_local(server)}
    try:
        runs = [run_size(root, n, args.per_vehicle, env) for n in sorted(args.vehicles)]
        dask_run = on_dask(root, max(args.vehicles), args.per_vehicle, env) if args.dask else None
    finally:
        prefect_server.stop_local(server)
    facts["load average at end (1/5/15 min)"] = machine.load_average()
    notes = [comparison(runs[-1], dask_run)] if dask_run else []
    text = document(runs, facts, notes, dask_run)
    print("\n" + text, flush=True)
    (root / "results.md").write_text(text)
    (root / "results.json").write_text(json.dumps([r.__dict__ for r in runs], default=str))
    print(f"written to {root / 'results.md'}", flush=True)


if __name__ == "__main__":
    main()
