"""Step 3c: `/predict_by_id` with the lookup served apart (`bentoml serve
service.lookup:OnlineLookup`, FLEETCAST_LOOKUP_URL), the layout for users who scale the lookup on
its own, measured in the same run as the default (the lookup inside each worker): what the
process hop costs. Both servers start after the main cases and stop before the next step.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from bench.service import cases, procs
from bench.service.bodies import Bodies
from bench.service.cpu import wait_quiet
from bench.service.servers import FLEETCAST, READY_TIMEOUT_S, bentoml_server
from bench.service.state import State, daemon_pids

APART = "lookup-apart"  # the predictor's name in the table
LOOKUP = "service.lookup:OnlineLookup"


def measure_apart(
    state: State,
    bodies: Bodies,
    workdir: Path,
    timing: tuple[float, float, float],
    use_wrk: bool,
    quiet_wait: float,
) -> list[cases.Measured]:
    """By-id at c=1 and c=16 against a predictor whose lookup is its own server.
    `timing`: closed-loop seconds, warm-up seconds, wrk seconds."""
    logs, workers = workdir / "logs", state.settings.service_workers
    with contextlib.ExitStack() as running:
        lookup = bentoml_server("lookup", LOOKUP, state.env, logs)
        running.callback(procs.stop, lookup)
        procs.wait_ready(lookup, "/readyz", READY_TIMEOUT_S)
        env = state.env | {"FLEETCAST_LOOKUP_URL": lookup.url}
        predictor = bentoml_server(APART, FLEETCAST, env, logs)
        running.callback(procs.stop, predictor)
        procs.wait_ready(predictor, "/readyz", READY_TIMEOUT_S)
        procs.worker_infos(predictor.url, workers, READY_TIMEOUT_S)
        measured, daemons = [], daemon_pids(state)
        for c in cases.CONCURRENCY:
            ids = (bodies.ids_file, bodies.ids)
            case = cases.Case(
                APART, predictor.url, "/predict_by_id", *ids, c, "predicted_reservations"
            )
            if quiet_wait:
                wait_quiet(daemons, quiet_wait)
            measured.append(cases.measure(case, workdir, *timing, use_wrk, daemons))
        return measured
