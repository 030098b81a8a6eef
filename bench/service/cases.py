"""Step 3: the same load on every server. Each case: one checked request, the closed-loop client
in its own child, then wrk (when installed and the case is a throughput case).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench import machine
from bench.service import wrk
from bench.service.bodies import Bodies
from bench.service.cpu import OtherLoad
from bench.service.load import run_load
from bench.service.servers import Servers

CONCURRENCY = (1, 16)


@dataclass(frozen=True)
class Case:
    """One server, route and concurrency."""

    service: str  # "fleetcast", "baseline" or "floor"
    url: str
    path: str
    bodies_file: Path
    bodies: list[str]
    concurrency: int
    expect: str  # a field every good answer has
    use_wrk: bool = True

    @property
    def name(self) -> str:
        return f"{self.service} {self.path}"

    @property
    def slug(self) -> str:
        return f"{self.service}{self.path.replace('/', '-')}-c{self.concurrency}"


@dataclass
class Measured:
    case: Case
    closed: dict[str, Any]
    wrk: dict[str, Any] | None
    load_average: str
    other_cores: float  # CPU other processes used meanwhile, in cores (of 2)


def build_cases(servers: Servers, bodies: Bodies) -> list[Case]:
    """c=1 then c=16: fleetcast and the baseline on /predict, fleetcast's /predict_by_id; the
    floor (no-op, and the dependency hop alone) at c=1."""
    cases = []
    fleet, base = servers.fleetcast.url, servers.baseline.url
    listings = (bodies.listings_file, bodies.listings)
    ids = (bodies.ids_file, bodies.ids)
    for c in CONCURRENCY:
        cases += [
            Case("fleetcast", fleet, "/predict", *listings, c, "predicted_reservations"),
            Case("baseline", base, "/predict", *listings, c, "predicted_reservations"),
            Case("fleetcast", fleet, "/predict_by_id", *ids, c, "predicted_reservations"),
        ]
        if servers.floor is not None and c == 1:
            floor = servers.floor.url
            cases += [
                Case("floor", floor, "/noop", *ids, c, "vehicle_ids", use_wrk=False),
                Case("floor", floor, "/hop", *ids, c, "vehicle_ids", use_wrk=False),
            ]
    return cases


def fleetcast_cases(servers: Servers, bodies: Bodies, service: str) -> list[Case]:
    """fleetcast's two routes at c=1 and c=16 under another name: the shadow's on/off pair
    ("shadowed", "unshadowed"), measured back to back after the main cases."""
    fleet = servers.fleetcast.url
    routes = (
        ("/predict", bodies.listings_file, bodies.listings),
        ("/predict_by_id", bodies.ids_file, bodies.ids),
    )
    return [
        Case(service, fleet, path, file, lines, c, "predicted_reservations")
        for c in CONCURRENCY
        for path, file, lines in routes
    ]


def check(case: Case) -> str:
    """One request before measuring: it must answer 200 with the expected field."""
    reply = httpx.post(
        f"{case.url}{case.path}",
        content=case.bodies[0],
        headers={"content-type": "application/json"},
        timeout=30,
    )
    if reply.status_code != 200 or case.expect not in reply.json():
        raise RuntimeError(f"{case.name}: {reply.status_code} {reply.text[:300]}")
    return reply.text


def measure(
    case: Case,
    workdir: Path,
    seconds: float,
    warmup: float,
    wrk_seconds: float,
    use_wrk: bool,
    daemons: list[int],
) -> Measured:
    """The closed-loop client, then wrk on the same bodies."""
    check(case)
    load_average = machine.load_average()
    other, started = OtherLoad(daemons), time.perf_counter()
    out = workdir / "latencies" / f"{case.slug}.txt"
    closed = run_load(case.url, case.path, case.bodies_file, case.concurrency, seconds, warmup, out)
    result = None
    if use_wrk and case.use_wrk:
        script = wrk.write_script(case.bodies, workdir / "wrk" / f"{case.path.strip('/')}.lua")
        result = wrk.run(f"{case.url}{case.path}", script, case.concurrency, wrk_seconds)
    other_cores = other.cores(time.perf_counter() - started)
    wrk_text = f", wrk {result['rps']:.0f} req/s" if result else ""
    print(
        f"{case.name} c={case.concurrency}: p50 {closed['p50_ms']:.2f} ms, "
        f"p99 {closed['p99_ms']:.2f} ms, {closed['rps']:.0f} req/s{wrk_text}, "
        f"errors {closed['errors']}; other processes used {other_cores:.2f} cores",
        flush=True,
    )
    return Measured(case, closed, result, load_average, other_cores)


def save(measured: list[Measured], path: Path) -> None:
    """Every measurement as JSON, for later analysis."""
    rows = [
        {
            "service": m.case.service,
            "path": m.case.path,
            "concurrency": m.case.concurrency,
            "closed_loop": m.closed,
            "wrk": m.wrk,
            "load_average": m.load_average,
            "other_cores": m.other_cores,
        }
        for m in measured
    ]
    path.write_text(json.dumps(rows, indent=1))
