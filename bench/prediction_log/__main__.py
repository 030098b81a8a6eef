"""`.venv/bin/python -m bench.prediction_log`: what the prediction log costs `/predict`.

Two fleetcast services from one state folder, each `bentoml serve service.service:Fleetcast`
with its own `BENTOML_HOME` (BentoML wipes the Prometheus directory under it at start): one as
shipped (log on), one with `FLEETCAST_PREDICTION_LOG=false`. The same `/predict` load (closed-loop
client, then wrk when installed) at c=1 and c=16, alternating on, off, off, on... (ABBA) so drift in
the machine's load hits both. Around each run: the length of the Redis log stream and the
server's counters, to prove the "on" server logged every prediction and the "off" server none.
Prints the tables and writes them to `WORKDIR/results.md`; every process it started is stopped
at the end, also on error, Ctrl-C or SIGTERM. Exits 1 if the log check fails.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import subprocess
import time
from importlib.metadata import version
from pathlib import Path
from types import FrameType

import httpx
import redis

from bench import machine
from bench.children import PROJECT_ROOT
from bench.prediction_log.report import Counts, Run, document, log_checks
from bench.service import cases, procs, wrk
from bench.service.bodies import Bodies, write_bodies
from bench.service.cpu import wait_quiet
from bench.service.procs import VENV_BIN, Server
from bench.service.servers import FLEETCAST, READY_TIMEOUT_S
from bench.service.state import State, daemon_pids, prepare
from features.local.processes import free_port
from features.stores.online import OnlineKeys
from features.stores.prediction_stream import logged_through

OUT = PROJECT_ROOT / "bench" / "out"
CONCURRENCY = (1, 16)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.prediction_log",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=OUT / "prediction_log",
        help="results, logs, latencies and the servers' BENTOML_HOMEs",
    )
    parser.add_argument(
        "--state",
        type=Path,
        default=OUT / "service",
        help="state folder (bench.service's by default): its champion is reused "
        "if it has one, else `fleetcast pipeline` trains one there",
    )
    parser.add_argument("--rounds", type=int, default=3, help="on/off pairs per concurrency")
    parser.add_argument("--seconds", type=float, default=10.0, help="closed loop, per run")
    parser.add_argument("--warmup", type=float, default=1.0, help="unrecorded seconds per run")
    parser.add_argument("--wrk-seconds", type=float, default=5.0, help="wrk, per run")
    parser.add_argument("--no-wrk", action="store_true", help="do not use wrk even if installed")
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=0.0,
        help="before each run, wait up to this many seconds for other processes "
        "to use < 0.3 cores (default: do not wait)",
    )
    return parser.parse_args(argv)


def _start(label: str, state: State, workdir: Path) -> Server:
    """One fleetcast service with its own BENTOML_HOME, the log on or off."""
    env = state.env | {
        "BENTOML_HOME": str(workdir / f"bentoml-{label}"),
        "FLEETCAST_PREDICTION_LOG": "true" if label == "on" else "false",
    }
    port = free_port()
    command = [
        str(VENV_BIN / "bentoml"),
        "serve",
        FLEETCAST,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    return procs.start(
        f"fleetcast-log-{label}", command, env, f"http://127.0.0.1:{port}", workdir / "logs"
    )


def start_servers(state: State, workdir: Path, stack: contextlib.ExitStack) -> dict[str, Server]:
    """Both services (stops registered at once), then every worker of each answering."""
    servers = {}
    for label in ("on", "off"):
        servers[label] = _start(label, state, workdir)
        stack.callback(procs.stop, servers[label])
    started = time.monotonic()
    for server in servers.values():
        procs.wait_ready(server, "/readyz", READY_TIMEOUT_S)
        procs.worker_infos(server.url, state.settings.service_workers, READY_TIMEOUT_S)
    print(f"both servers ready after {time.monotonic() - started:.0f} s", flush=True)
    return servers


def _counter(metrics: str, name: str, must_contain: str = "") -> int:
    """A counter of a /metrics page, summed over its series (0 if absent)."""
    values = [
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith((f"{name} ", f"{name}{{")) and must_contain in line
    ]
    return round(sum(values))


def counts(server: Server, client: redis.Redis, stream: str) -> Counts:
    """Rows logged to the stream so far, and the server's /predict predictions and log writes."""
    page = httpx.get(f"{server.url}/metrics", timeout=10).text
    return Counts(
        logged_through(client, stream),
        _counter(page, "fleetcast_predictions_total", 'route="/predict"'),
        _counter(page, "fleetcast_prediction_log_written_total"),
    )


def measure_all(
    args: argparse.Namespace,
    state: State,
    servers: dict[str, Server],
    bodies: Bodies,
    workdir: Path,
) -> list[Run]:
    """For each concurrency, `rounds` pairs in ABBA order (on, off, then off, on, ...), so
    neither side always runs first after a change of concurrency."""
    client = redis.Redis.from_url(state.env["REDIS_URL"])
    stream = OnlineKeys(state.settings.redis_key_prefix).prediction_log
    settle = 2 * state.settings.prediction_log_flush_seconds + 0.5  # the last flush lands
    daemons, use_wrk = daemon_pids(state), not args.no_wrk and wrk.available() is not None
    runs = []
    for c in CONCURRENCY:
        for r in range(1, args.rounds + 1):
            order = list(servers.items())
            for label, server in order if r % 2 else order[::-1]:
                if args.quiet_wait and (waited := wait_quiet(daemons, args.quiet_wait)) > 2.5:
                    print(f"waited {waited:.0f} s for other processes to quieten", flush=True)
                before = counts(server, client, stream)
                case = cases.Case(
                    f"log-{label}-r{r}",
                    server.url,
                    "/predict",
                    bodies.listings_file,
                    bodies.listings,
                    c,
                    "predicted_reservations",
                )
                measured = cases.measure(
                    case, workdir, args.seconds, args.warmup, args.wrk_seconds, use_wrk, daemons
                )
                time.sleep(settle)
                runs.append(Run(label, r, measured, before, counts(server, client, stream)))
    cases.save([run.measured for run in runs], workdir / "measurements.json")
    return runs


def run(args: argparse.Namespace, stack: contextlib.ExitStack) -> tuple[list[Run], list[str]]:
    """State, bodies, both servers, the alternating runs; stops registered on `stack`."""
    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    state = prepare(args.state.resolve(), True, stack)
    bodies = write_bodies(state.settings, workdir / "bodies")
    servers = start_servers(state, workdir, stack)
    return measure_all(args, state, servers, bodies, workdir), state.notes


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds the ExitStack: every started process is stopped


def _facts(use_wrk: bool) -> dict[str, str]:
    commit = subprocess.run(
        ["git", "log", "--oneline", "-1"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return machine.facts() | {
        "commit": commit or "unknown",
        "bentoml": version("bentoml"),
        "wrk": (wrk.available() if use_wrk else None) or "not used",
    }


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _on_sigterm)
    started = time.perf_counter()
    facts = _facts(not args.no_wrk)
    with contextlib.ExitStack() as stack:
        runs, notes = run(args, stack)
    facts["load average at end (1/5/15 min)"] = machine.load_average()
    wait = ""
    if args.quiet_wait:
        wait = f", after waiting up to {args.quiet_wait:g} s for a quiet machine"
    notes += [
        f"each run: {args.warmup:g} s warm-up, {args.seconds:g} s closed loop (every latency in "
        f"`latencies/`), then {args.wrk_seconds:g} s of wrk{wait}; order per concurrency: "
        "on, off, off, on, ... (ABBA); both servers stay up throughout, the idle one included",
        f"whole run: {time.perf_counter() - started:.0f} s",
    ]
    text = document(runs, facts, notes)
    print("\n" + text, flush=True)
    out = args.workdir.resolve() / "results.md"
    out.write_text(text)
    print(f"written to {out}", flush=True)
    if not all(ok for _, ok in log_checks(runs)):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
