"""Step 4: promotion → every worker serving the new version, through the real promote path.

Each round registers the current champion's model again as a new version (with the champion's
lineage tags, as the train flow would have set them), then does what `flows.promote.flow` does on a
win: moves the `champion` alias with MlflowClient and emits `fleetcast.model.promoted` for the
registered model. The clock starts just before the alias moves. GET /model is then polled on
fresh connections (each may land on any worker) until every worker reports the new version.

Run as a child (FLEETCAST_HOME and PREFECT_API_URL in its environment):
`python -m bench.service.promote URL ROUNDS WORKERS`; prints one JSON line.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import httpx

from bench.children import emit
from bench.service.children import run_child
from features.contract.events import MODEL_PROMOTED, model_resource
from features.contract.registry import CHAMPION, Tag, training_tags
from features.stores import model_registry

POLL_SECONDS = 0.02
ROUND_TIMEOUT_S = 120.0


def wait_for_version(url: str, version: str, workers: int, started: float) -> dict[int, Any]:
    """Poll /model until `workers` pids all report `version`; per pid, when it first did."""
    latest: dict[int, dict[str, Any]] = {}
    first_new: dict[int, float] = {}
    while time.perf_counter() - started < ROUND_TIMEOUT_S:
        reply = httpx.get(f"{url}/model", timeout=5)  # a new connection each time
        if reply.status_code == 200:
            info = reply.json()
            latest[info["worker_pid"]] = info
            if info["version"] == version:
                first_new.setdefault(info["worker_pid"], time.perf_counter() - started)
        if len(latest) >= workers and all(i["version"] == version for i in latest.values()):
            return {pid: (first_new[pid], latest[pid]) for pid in latest}
        time.sleep(POLL_SECONDS)
    raise TimeoutError(f"not every worker on v{version} after {ROUND_TIMEOUT_S:.0f} s: {latest}")


def promote_copy(client: Any, name: str, round_no: int) -> tuple[str, float, float]:
    """A copy of the champion, promoted; (version, clock start, seconds to emit the event)."""
    import mlflow

    champion = client.get_model_version_by_alias(name, CHAMPION)
    tags = training_tags(champion.tags) | {
        Tag.DECISION: "promoted",
        Tag.DECISION_REASON: f"bench.service round {round_no}: copy of v{champion.version}",
    }
    version = str(mlflow.register_model(champion.source, name, tags=tags).version)
    started = time.perf_counter()
    move_champion(client, name, version, champion)
    return version, started, time.perf_counter() - started


def move_champion(client: Any, name: str, version: str, previous: Any) -> None:
    """What `flows.promote.flow` does on a win: move the alias to `version`, then announce it.

    `previous` is the model version that held the alias (its run id and snapshot go into the
    event's payload, as a copy of it shares both)."""
    from prefect.events import emit_event  # imported already by `_warm_up_events`

    client.set_registered_model_alias(name, CHAMPION, version)
    emit_event(
        event=MODEL_PROMOTED,
        resource=model_resource(name),
        payload={
            "version": version,
            "run_id": previous.run_id,
            "previous_version": previous.version,
            "snapshot_id": previous.tags.get(Tag.SNAPSHOT_ID),
            "metric": "bench",
            "holdout": None,
        },
    )


def _warm_up_events() -> None:
    """Open the events client's connection, as it is in a flow run, before any clock starts."""
    from prefect.events import emit_event

    emit_event(event="fleetcast.bench.warmup", resource={"prefect.resource.id": "fleetcast.bench"})
    time.sleep(1.0)


def child(url: str, rounds: int, workers: int) -> None:
    """Child entry point: `rounds` promotions, each timed until every worker has swapped."""
    from features.settings import get_settings

    settings = get_settings()
    client, _ = model_registry.connect(settings)
    _warm_up_events()
    results = []
    for round_no in range(1, rounds + 1):
        version, started, emit_s = promote_copy(client, settings.registered_model, round_no)
        swapped = wait_for_version(url, version, workers, started)
        per_worker = sorted(seconds for seconds, _ in swapped.values())
        triggers = sorted({info["last_reload"]["trigger"] for _, info in swapped.values()})
        results.append(
            {
                "version": version,
                "all_swapped_s": per_worker[-1],
                "first_swapped_s": per_worker[0],
                "emit_s": emit_s,
                "triggers": triggers,
            }
        )
        print(
            f"round {round_no}: v{version} on all {len(swapped)} workers after "
            f"{per_worker[-1]:.2f} s ({', '.join(triggers)})",
            file=sys.stderr,
            flush=True,
        )
    emit({"rounds": results})


def run_promotions(url: str, rounds: int, workers: int, env: dict[str, str]) -> dict[str, Any]:
    """Measure promotion delays in one child process (mlflow and prefect imported once)."""
    return run_child("bench.service.promote", url, str(rounds), str(workers), env=env)


if __name__ == "__main__":
    child(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
