"""`.venv/bin/python -m bench.soak`: a bounded soak of the real service under steady mixed traffic.

A state folder with a champion (`fleetcast pipeline`, reused on later runs), its Redis and
Prefect server; `bentoml serve service.service:Fleetcast` as shipped. Then, for `--minutes`: an
open-loop client at `--rate` requests/s (70% /predict, 19% /predict_by_id with known ids, 1%
with unknown ids that must answer 404, 10% /predict_batch of 10 listings); a promotion every
minute, alternating the champion alias between two versions through the real alias move and
event, each swap confirmed on every worker; every 10 s the RSS of each service process, the
prediction log's stream length and counters, and the load average. Prints a markdown table and
writes it to `WORKDIR/results.md` (raw data in `result.json`, `requests.csv`). Every process it
started is stopped at the end, also on error, Ctrl-C or SIGTERM. Exits 1 on any error, an
unconfirmed swap, or a prediction the log lost.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import subprocess
import time
from pathlib import Path
from types import FrameType
from typing import Any

import psutil

from bench import machine
from bench.children import PROJECT_ROOT
from bench.service.cpu import OtherLoad
from bench.service.procs import Server
from bench.service.state import State, daemon_pids, prepare
from bench.soak import report, setup, stats
from bench.soak.promoter import READY
from bench.soak.watch import Sample, Watch
from features.stores.online import OnlineKeys

OUT = PROJECT_ROOT / "bench" / "out" / "soak"
SAMPLE_EVERY_S = 10.0
LEAD_S = 3.0  # the client starts and connects before the first request is due


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.soak",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--minutes", type=int, default=10, help="length of the soak")
    parser.add_argument("--rate", type=float, default=100.0, help="requests per second, all routes")
    parser.add_argument("--workdir", type=Path, default=OUT, help="state, logs and results here")
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="run `fleetcast pipeline` even if the state has a champion",
    )
    parser.add_argument("--seed", type=int, default=7, help="seed of the route mix and batches")
    return parser.parse_args(argv)


Child = tuple[subprocess.Popen[bytes], Path]  # a background child and its stdout file


def start_load(
    args: argparse.Namespace,
    state: State,
    server: Server,
    bodies: Path,
    stack: contextlib.ExitStack,
) -> tuple[float, Child, Child]:
    """The promoter (set up first: its imports cost seconds of CPU), then the client; both
    timed from the returned start (an epoch)."""
    logs = args.workdir.resolve() / "logs"
    promoter_args = [server.url, str(state.settings.service_workers), str(args.minutes)]
    promoter = setup.start_child("bench.soak.promoter", promoter_args, state.env, logs, stack)
    setup.wait_for_line(*promoter, READY, 600)
    start = time.time() + LEAD_S
    client_args = [
        server.url,
        str(bodies),
        str(args.rate),
        str(args.minutes * 60.0),
        str(start),
        str(logs.parent / "requests.csv"),
        str(args.seed),
    ]
    traffic = setup.start_child("bench.soak.traffic", client_args, state.env, logs, stack)
    promoter[0].stdin.write(f"{start}\n".encode())  # type: ignore[union-attr]
    promoter[0].stdin.flush()  # type: ignore[union-attr]
    return start, traffic, promoter


def soak(
    args: argparse.Namespace,
    state: State,
    server: Server,
    workdir: Path,
    stack: contextlib.ExitStack,
) -> dict[str, Any]:
    """Load, promotions and sampling for `--minutes`; every number of the run."""
    bodies = setup.write_soak_bodies(state, workdir)
    setup.check_routes(server.url, bodies)
    settle = 2 * state.settings.prediction_log_flush_seconds + 0.5  # the last flush lands
    time.sleep(settle)  # so the checks' predictions are in the stream before it is counted
    watch = Watch(
        server.process.pid,
        server.url,
        state.env["REDIS_URL"],
        OnlineKeys(state.settings.redis_key_prefix).prediction_log,
    )
    before = watch.sample(time.time())
    start, traffic, promoter = start_load(args, state, server, bodies, stack)
    other, other_from = OtherLoad(daemon_pids(state)), time.time()
    psutil.cpu_percent()  # starts the clock of the samples' machine-wide CPU share
    samples = sample_until_done(watch, start, traffic[0], promoter[0])
    client = setup.report_of(*traffic, 120)
    promoted = setup.report_of(*promoter, 300)
    time.sleep(settle)
    after = watch.sample(start)
    samples.append(after)
    return {
        "client": client,
        "promoted": promoted,
        "before": before,
        "after": after,
        "samples": samples,
        "other_cores": other.cores(time.time() - other_from),
    }


def sample_until_done(
    watch: Watch, start: float, traffic: subprocess.Popen[bytes], promoter: subprocess.Popen[bytes]
) -> list[Sample]:
    """One sample at the start and every SAMPLE_EVERY_S until the client has finished."""
    samples, k = [], 0
    while traffic.poll() is None:
        time.sleep(max(0.0, start + k * SAMPLE_EVERY_S - time.time()))
        if traffic.poll() is not None:
            break
        samples.append(watch.sample(start))
        k += 1
        if promoter.poll() not in (None, 0):
            raise RuntimeError("the promoter failed: see logs/promoter.log")
    return samples


def analyse(args: argparse.Namespace, raw: dict[str, Any], workdir: Path) -> dict[str, Any]:
    rows = stats.read_requests(workdir / "requests.csv")
    minutes = stats.per_minute(rows, args.minutes)
    for m in minutes:
        loads = [
            s.load1 for s in raw["samples"] if (m["minute"] - 1) * 60 <= s.at_s < m["minute"] * 60
        ]
        m["load1"] = sum(loads) / len(loads) if loads else None
    loads = [s.load1 for s in raw["samples"]]
    return {
        "minutes_run": args.minutes,
        "rate": args.rate,
        "minutes": minutes,
        "total": stats.summarize(rows),
        "p99_drift": stats.p99_drift(minutes),
        "memory": stats.memory(raw["samples"]),
        "log": stats.prediction_log(rows, raw["samples"], raw["before"], raw["after"]),
        "promotions": {
            "rounds": raw["promoted"]["rounds"],
            "summary": stats.promotions(raw["promoted"]),
        },
        "load1_mean": sum(loads) / len(loads),
        "load1_max": max(loads),
        "other_cores": raw["other_cores"],
        "client": raw["client"],
    }


def failures(result: dict[str, Any], minutes: int) -> list[str]:
    found = []
    if result["total"]["errors"]:
        found.append(f"{result['total']['errors']} errors")
    s = result["promotions"]["summary"]
    if s["confirmed"] < minutes:
        found.append(f"only {s['confirmed']} of {minutes} promotions confirmed on every worker")
    if not result["log"]["kept_up"]:
        found.append("the prediction log did not keep up")
    return found


def _facts() -> dict[str, str]:
    def git(*a: str) -> subprocess.CompletedProcess[str]:  # read-only commands
        return subprocess.run(
            ["git", *a], cwd=PROJECT_ROOT, capture_output=True, text=True, check=False
        )

    dirty = git("diff", "--quiet", "HEAD").returncode != 0
    commit = git("log", "--format=%h %cs", "-1").stdout.strip() or "unknown"
    return machine.facts() | {"commit": commit + (" + uncommitted changes" if dirty else "")}


def _notes(args: argparse.Namespace, result: dict[str, Any], seconds: float) -> list[str]:
    c = result["client"]
    return [
        f"open loop: request i due at start + i/{args.rate:g} s; latency counted from the due "
        f"time; the client's own lateness p99 {result['total']['client_lag_p99_ms']:.1f} ms, "
        f"{c['peak_connections']} connections at most ({c['expired_connections']} dropped when "
        f"idle 4 s, before uvicorn's 5-s keep-alive closes them), "
        f"{c['client_cpu_share']:.0%} of one core",
        f"promotion at 30 s into each minute; load average (1 min) mean "
        f"{result['load1_mean']:.2f}, max {result['load1_max']:.2f} on 2 CPUs; other processes "
        f"(not started by this run) used {result['other_cores']:.2f} cores on average",
        "memory slope: least squares over the 10-s samples from minute 1 on",
        f"whole command: {seconds:.0f} s",
    ]


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds the ExitStack: every started process is stopped


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _on_sigterm)
    started, workdir = time.perf_counter(), args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    facts = _facts()
    with contextlib.ExitStack() as stack:
        state = prepare(workdir, not args.fresh, stack)
        server = setup.start_service(state, workdir, stack)
        print(
            f"service ready at {server.url}; soaking {args.minutes} min at {args.rate:g} req/s",
            flush=True,
        )
        raw = soak(args, state, server, workdir, stack)
    result = analyse(args, raw, workdir)
    facts["load average at end (1/5/15 min)"] = machine.load_average()
    text = report.document(result, facts, _notes(args, result, time.perf_counter() - started))
    (workdir / "result.json").write_text(
        json.dumps(
            result | {"samples": [s.__dict__ for s in raw["samples"]], "facts": facts},
            indent=1,
            default=str,
        )
    )
    (workdir / "results.md").write_text(text)
    print("\n" + text + f"\nwritten to {workdir / 'results.md'}", flush=True)
    if found := failures(result, args.minutes):
        print("FAILED: " + "; ".join(found), flush=True)
        raise SystemExit(1)


if __name__ == "__main__":
    main()
