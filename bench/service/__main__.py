"""`.venv/bin/python -m bench.service`: the fleetcast service against a seed-style baseline.

In one run on loopback: a state folder with a trained champion (`fleetcast pipeline`), its
Redis and Prefect server; the fleetcast BentoML service, a FastAPI + uvicorn baseline serving a
RandomForest, and a no-op BentoML service (the framework's floor); the same load on each
(closed-loop client, and wrk when installed) at concurrency 1 and 16; promotion → every worker
swapped, through the real alias move and event; `/predict_by_id` again with the lookup served
apart (its own BentoML server, the layout for scaling it alone); fleetcast again with a shadow
challenger on every worker, then without (its cost, measured back to back); the pieces of a
request timed alone. Prints a markdown table and writes it with the machine's facts to
`WORKDIR/results.md`. Every process it started is stopped at the end, also on error or Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import time
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from types import FrameType
from typing import Any

from bench import machine
from bench.service import cases, report, shadow_report, wrk
from bench.service.apart import measure_apart
from bench.service.bodies import Bodies, write_bodies
from bench.service.children import run_child
from bench.service.cpu import OtherLoad, wait_quiet
from bench.service.promote import run_promotions
from bench.service.servers import Servers, start_all
from bench.service.shadow import set_shadow
from bench.service.state import State, daemon_pids, prepare

DEFAULT_WORKDIR = Path(__file__).resolve().parent.parent / "out" / "service"
VERSIONS = (
    "bentoml",
    "fastapi",
    "uvicorn",
    "pydantic",
    "onnxruntime",
    "scikit-learn",
    "mlflow",
    "prefect",
)


@dataclass
class Results:
    measured: list[cases.Measured] = field(default_factory=list)
    shadowed: list[cases.Measured] = field(default_factory=list)  # the on/off pairs
    rounds: list[dict[str, Any]] = field(default_factory=list)
    parts: dict[str, dict[str, float]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    facts: dict[str, str] = field(default_factory=dict)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.service",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR, help="all state here")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="keep the champion of an earlier run (skip `fleetcast pipeline`)",
    )
    parser.add_argument(
        "--seconds",
        type=float,
        default=10.0,
        help="closed-loop measurement per case, after the warm-up",
    )
    parser.add_argument("--warmup", type=float, default=1.0, help="unrecorded seconds per case")
    parser.add_argument("--wrk-seconds", type=float, default=5.0, help="wrk run per case")
    parser.add_argument("--rounds", type=int, default=5, help="promotions to time")
    parser.add_argument(
        "--shadow-rounds", type=int, default=3, help="shadow on/off pairs to measure (0: none)"
    )
    parser.add_argument("--no-floor", action="store_true", help="skip the no-op BentoML service")
    parser.add_argument(
        "--no-apart", action="store_true", help="skip by-id with the lookup served apart"
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=0.0,
        help="before each case, wait up to this many seconds for other processes to use < 0.3 "
        "cores (for shared machines; default: do not wait)",
    )
    parser.add_argument("--no-wrk", action="store_true", help="do not use wrk even if installed")
    return parser.parse_args(argv)


def train_baseline(state: State, workdir: Path) -> Path:
    out = run_child(
        "bench.service.baseline", str(state.settings.home), str(workdir / "baseline"), env=state.env
    )
    print(
        f"baseline forest: {out['rows']} rows of {out['snapshot_id']} in {out['seconds']:.1f} s",
        flush=True,
    )
    return Path(out["model"])


def _load_cases(
    args: argparse.Namespace,
    servers: Servers,
    bodies: Bodies,
    workdir: Path,
    use_wrk: bool,
    daemons: list[int],
) -> list[cases.Measured]:
    measured = []
    for case in cases.build_cases(servers, bodies):
        # The floor is a reference, not a comparison: half the time is enough.
        seconds = args.seconds / 2 if case.service == "floor" else args.seconds
        if args.quiet_wait and (waited := wait_quiet(daemons, args.quiet_wait)) > 2.5:
            print(f"waited {waited:.0f} s for other processes to quieten", flush=True)
        measured.append(
            cases.measure(case, workdir, seconds, args.warmup, args.wrk_seconds, use_wrk, daemons)
        )
    return measured


def _measure_all(
    args: argparse.Namespace,
    todo: list[cases.Case],
    workdir: Path,
    use_wrk: bool,
    daemons: list[int],
) -> list[cases.Measured]:
    return [
        cases.measure(case, workdir, args.seconds, args.warmup, args.wrk_seconds, use_wrk, daemons)
        for case in todo
    ]


def _shadow_cases(
    args: argparse.Namespace,
    servers: Servers,
    bodies: Bodies,
    workdir: Path,
    use_wrk: bool,
    state: State,
) -> list[cases.Measured]:
    """fleetcast's routes with a shadow on every worker and without it, in rounds of one pair
    whose order alternates (on, off; off, on; ...): one pair's difference is within this
    machine's run-to-run spread, and a drift over the minutes cancels out of the rounds'
    median (see bench/service/shadow.py and shadow_report.py)."""
    url, workers, daemons = servers.fleetcast.url, servers.workers, daemon_pids(state)
    measured, shadowed = [], False
    for number in range(1, args.shadow_rounds + 1):
        order = (True, False) if number % 2 else (False, True)
        for on in order:
            if on != shadowed:
                set_shadow(url, workers, state.env, "set" if on else "clear")
                shadowed = on
            side = shadow_report.side_name(on, number)
            todo = cases.fleetcast_cases(servers, bodies, side)
            measured += _measure_all(args, todo, workdir, use_wrk, daemons)
    if shadowed:
        set_shadow(url, workers, state.env, "clear")
    return measured


def _parts(state: State, bodies: Bodies, model: Path, results: Results) -> None:
    vehicle_id = json.loads(bodies.ids[0])["vehicle_id"]
    other, started = OtherLoad(daemon_pids(state)), time.perf_counter()
    out = run_child(
        "bench.service.parts", bodies.listings[0], str(vehicle_id), str(model), env=state.env
    )
    cores = other.cores(time.perf_counter() - started)
    results.parts = out["parts"]
    results.notes.append(f"in-process timings: other processes used {cores:.2f} cores meanwhile")


def run(args: argparse.Namespace, stack: contextlib.ExitStack, results: Results) -> None:
    """Every step in order; stops registered on `stack` as things start."""
    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    wrk_version = None if args.no_wrk else wrk.available()
    results.facts["wrk"] = wrk_version or "not used (not on PATH, or --no-wrk)"
    state = prepare(workdir, args.reuse, stack)
    results.notes += state.notes
    bodies = write_bodies(state.settings, workdir / "bodies")
    model = train_baseline(state, workdir)
    servers = start_all(state, model, workdir, not args.no_floor, stack)
    results.facts |= _service_facts(state, servers)
    daemons = daemon_pids(state)
    use_wrk = wrk_version is not None
    results.measured = _load_cases(args, servers, bodies, workdir, use_wrk, daemons)
    if not args.no_apart:
        timing = (args.seconds, args.warmup, args.wrk_seconds)
        apart = measure_apart(state, bodies, workdir, timing, use_wrk, args.quiet_wait)
        results.measured += apart
    results.shadowed = _shadow_cases(args, servers, bodies, workdir, use_wrk, state)
    cases.save(results.measured + results.shadowed, workdir / "measurements.json")
    promoted = run_promotions(servers.fleetcast.url, args.rounds, servers.workers, state.env)
    results.rounds = promoted["rounds"]
    servers.stop()  # the in-process timings need no servers: free their CPU first
    _parts(state, bodies, model, results)


def _service_facts(state: State, servers: Servers) -> dict[str, str]:
    info = servers.model
    ready = ", ".join(f"{k} {v:.0f} s" for k, v in servers.ready_seconds.items())
    pipeline = f"{state.pipeline_seconds:.0f} s" if state.pipeline_seconds else "reused"
    return {
        "fleetcast workers": str(servers.workers),
        "champion served": f"v{info.get('version')} {info.get('family')} "
        f"({info.get('backend')}: {info.get('backend_note')})",
        "`fleetcast pipeline`": pipeline,
        "servers ready after (from start)": ready,
    }


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds the ExitStack: every started process is stopped


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _on_sigterm)
    started = time.perf_counter()
    results = Results(facts=machine.facts() | {n: version(n) for n in VERSIONS})
    with contextlib.ExitStack() as stack:
        run(args, stack, results)
    raw = {"promotions": results.rounds, "parts": results.parts}
    (args.workdir.resolve() / "promotions-and-parts.json").write_text(json.dumps(raw, indent=1))
    results.facts["load average at end (1/5/15 min)"] = machine.load_average()
    results.notes += _notes(args, results, time.perf_counter() - started)
    title = "fleetcast serving benchmark: fleetcast vs a seed-style FastAPI baseline, loopback"
    text = report.document(
        title,
        results.measured,
        results.rounds,
        results.parts,
        results.facts,
        results.notes,
        shadow_report.extra(results.shadowed),
    )
    print("\n" + text, flush=True)
    out = args.workdir.resolve() / "results.md"
    out.write_text(text)
    print(f"written to {out}", flush=True)
    os.sync()


def _notes(args: argparse.Namespace, results: Results, seconds: float) -> list[str]:
    everything = results.measured + results.shadowed
    worst = max((m.closed["client_cpu_share"] for m in everything), default=0.0)
    wait = ""
    if args.quiet_wait:
        wait = f"; before each case, waited up to {args.quiet_wait:g} s for a quiet machine"
    return [
        f"each case: {args.warmup:g} s warm-up, then {args.seconds:g} s of the closed-loop "
        f"client ({args.seconds / 2:g} s for the floor; every latency in `latencies/*.txt`), then "
        f"{args.wrk_seconds:g} s of wrk (1 thread at c=1, 2 at c=16){wait}",
        f"the client, wrk and the servers share the 2 CPUs; the client used up to {worst:.0%} "
        "of one core. 'other CPU' = busy CPU of the machine (/proc/stat) minus this run's own "
        "processes (servers, client, wrk, Redis, Prefect) during the case: load from elsewhere",
        "baseline: uvicorn defaults (one worker, access log on), a sync handler (thread pool)",
        "promotion clock: from just before the alias moves to the first poll of GET /model "
        "(fresh connection every 20 ms) at which every worker reports the new version",
        f"whole run: {seconds:.0f} s",
    ]


if __name__ == "__main__":
    main()
