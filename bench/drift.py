"""`.venv/bin/python -m bench.drift`: wall time of the drift flow on the shipped data and on
100,000 logged predictions.

A state folder under the workdir gets a champion from `fleetcast pipeline` on the shipped data
(kept with `--reuse`), with its Redis and Prefect server started and stopped as `bench.service`
does. Then each case runs `drift_flow` in a fresh child process, as a scheduled run would:
- shipped: `current="snapshot"`, the shipped snapshot (1,000 vehicles) against itself;
- logged: `--rows` logged predictions of the last six days, written in the prediction log's
  contract as ten Parquet files (the shipped vehicles resampled, with their ids and the
  champion's predictions and ranges), so the flow also joins and scores that many outcomes.
A child reports its imports (Prefect + flows, then Evidently) apart from the flow's own time.
Prints a markdown table and writes it, with the machine's facts, to `WORKDIR/results.md`.

Children: `python -m bench.drift write HOME ROWS` and `python -m bench.drift run KIND`.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import sys
import time
from pathlib import Path
from typing import Any

from bench import machine
from bench.children import emit, peak_rss_mb, run_child
from bench.report import facts_list
from bench.service.state import prepare

DEFAULT_WORKDIR = Path(__file__).resolve().parent / "out" / "drift"
LOG_FILES = 10
SPREAD = dt.timedelta(days=6)  # inside the default 7-day window


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.drift",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR, help="all state here")
    parser.add_argument("--reuse", action="store_true", help="keep an earlier run's champion")
    parser.add_argument("--rows", type=int, default=100_000, help="logged predictions to judge")
    return parser.parse_args(argv)


def write_child(home: str, rows: int) -> None:
    """Child: `rows` logged predictions of the shipped vehicles, by the champion, as Parquet."""
    import mlflow.sklearn
    import polars as pl

    from features.contract.clock import naive_now as now_utc
    from features.contract.clock import naive_utc
    from features.contract.intervals import from_tags
    from features.contract.prediction_log import LOG_SCHEMA, STREAM_ID
    from features.contract.registry import model_uri
    from features.contract.schema import ENTITY
    from features.settings import get_settings
    from features.stores import model_registry
    from features.stores.offline import read_meta, scan_snapshot
    from flows.evaluation import feature_frame
    from flows.monitor.drift import resolve_champion

    settings = get_settings()
    champion = resolve_champion.fn(settings)
    vehicles = scan_snapshot(settings, champion.snapshot_id).collect()
    sample = vehicles.sample(rows, with_replacement=True, seed=7)
    model = mlflow.sklearn.load_model(model_uri(settings.registered_model, champion.version))
    calibration = from_tags(model_registry.champion(settings).tags, champion.version)
    # Served before the latest snapshot was built, so from older data: each prediction of a
    # known vehicle has an outcome in it.
    end = min(now_utc(), naive_utc(read_meta(settings).created_at))
    end = end if end > now_utc() - SPREAD else now_utc()
    offsets = pl.int_range(rows, eager=True) * (SPREAD / rows)
    predicted = model.predict(feature_frame(sample))
    log = _log_frame(
        sample, end - SPREAD + offsets, predicted, calibration.bounds(predicted), champion.version
    )
    settings.predictions_dir.mkdir(parents=True, exist_ok=True)
    for old in settings.predictions_dir.glob("*.parquet"):
        old.unlink()
    for part in log.select(list(LOG_SCHEMA)).iter_slices(max(1, rows // LOG_FILES)):
        part.write_parquet(settings.predictions_dir / f"{part[STREAM_ID][0]}.parquet")
    emit({"rows": log.height, "vehicles": sample[ENTITY].n_unique(), "home": home})


def _log_frame(sample: Any, times: Any, predicted: Any, bounds: Any, version: str) -> Any:
    """Rows in the prediction log's schema, stream ids increasing like the drain's."""
    import polars as pl

    from features.contract import prediction_log as log
    from features.contract.formulas import FEATURE_NAMES
    from features.contract.schema import ENTITY

    n, millis = sample.height, times.dt.epoch("ms").cast(pl.String)
    return pl.DataFrame(
        {
            log.STREAM_ID: millis + "-" + pl.int_range(n, eager=True).cast(pl.String),
            log.REQUEST_ID: pl.int_range(n, eager=True).cast(pl.String),
            log.ITEM: pl.zeros(n, pl.Int32, eager=True),
            log.PREDICTED_AT: times,
            log.ROUTE: ["predict_by_id"] * n,
            log.MODEL_VERSION: [version] * n,
            ENTITY: sample[ENTITY],
            **{name: sample[name] for name in FEATURE_NAMES},
            log.PREDICTION: predicted,
            log.LOWER: bounds[0],
            log.UPPER: bounds[1],
        }
    ).cast(log.LOG_SCHEMA)


def run_flow_child(kind: str) -> None:
    """Child: the drift flow, with its imports timed apart from the flow itself."""
    started = time.perf_counter()
    from flows.monitor.drift import drift_flow

    flows_imported = time.perf_counter()
    import evidently  # noqa: F401  (paid here so the flow's time is its own work)

    evidently_imported = time.perf_counter()
    result = drift_flow(current="snapshot") if kind == "shipped" else drift_flow()
    done = time.perf_counter()
    emit(
        {
            "import_flows_s": flows_imported - started,
            "import_evidently_s": evidently_imported - flows_imported,
            "flow_s": done - evidently_imported,
            "peak_rss_mb": peak_rss_mb(),
            "current_rows": result.current_rows,
            "outcome_rows": result.outcome_rows,
            "reference_rows": result.reference_rows,
            "share_drifted": result.share_drifted,
            "mae_ratio": result.mae_ratio,
            "message": result.message,
            "report_mb": Path(result.report_path).stat().st_size / 2**20,
        }
    )


HEADER = (
    "case",
    "current vs reference rows",
    "outcomes",
    "flow s",
    "child process s",
    "imports s (flows + evidently)",
    "peak RSS MB",
    "share drifted",
)


def _row(name: str, out: dict[str, Any]) -> str:
    cells = (
        name,
        f"{out['current_rows']:,} vs {out['reference_rows']:,}",
        f"{out['outcome_rows']:,}",
        f"{out['flow_s']:.1f}",
        f"{out['process_seconds']:.1f}",
        f"{out['import_flows_s']:.1f} + {out['import_evidently_s']:.1f}",
        f"{out['peak_rss_mb']:,.0f}",
        f"{out['share_drifted']:.2f}",
    )
    return "| " + " | ".join(cells) + " |"


def document(rows: list[str], facts: dict[str, str], notes: list[str]) -> str:
    """results.md: the table, the machine, and notes."""
    table = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER), *rows]
    parts = ["# fleetcast drift flow benchmark", "", *table, "", "## Machine", ""]
    parts += [facts_list(facts), "", "## Notes", "", *[f"- {n}" for n in notes]]
    return "\n".join(parts) + "\n"


def run(args: argparse.Namespace, stack: contextlib.ExitStack) -> tuple[list[str], list[str]]:
    """Every case in order; the table's rows and notes."""
    workdir = args.workdir.resolve()
    state = prepare(workdir, args.reuse, stack)
    notes = list(state.notes)
    rows = []
    for kind in ("shipped", "logged"):
        if kind == "logged":
            written = run_child(
                "bench.drift",
                "write",
                str(state.settings.home),
                str(args.rows),
                env=state.env,
                timeout=900,
            )
            print(f"wrote {written['rows']:,} logged predictions", flush=True)
        out = run_child("bench.drift", "run", kind, env=state.env, timeout=1800)
        print(f"{kind}: flow {out['flow_s']:.1f} s; {out['message']}", flush=True)
        name = (
            "drift flow, shipped snapshot vs itself"
            if kind == "shipped"
            else (f"drift flow, {args.rows:,} logged predictions")
        )
        rows.append(_row(name, out))
        notes.append(f"{kind}: {out['message']} Report {out['report_mb']:.1f} MB.")
    return rows, notes


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    facts = machine.facts() | {"evidently": _version("evidently"), "prefect": _version("prefect")}
    with contextlib.ExitStack() as stack:
        rows, notes = run(args, stack)
    facts["load average at end (1/5/15 min)"] = machine.load_average()
    notes.append("wall s = the flow call alone, imports done; process = the whole child")
    text = document(rows, facts, notes)
    print("\n" + text, flush=True)
    out = args.workdir.resolve() / "results.md"
    out.write_text(text)
    print(f"written to {out}", flush=True)


def _version(name: str) -> str:
    from importlib.metadata import version

    return version(name)


if __name__ == "__main__":
    if sys.argv[1:2] == ["write"]:
        write_child(sys.argv[2], int(sys.argv[3]))
    elif sys.argv[1:2] == ["run"]:
        run_flow_child(sys.argv[2])
    else:
        main()
