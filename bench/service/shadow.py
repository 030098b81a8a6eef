"""Step 3b: the same fleetcast load with a shadow challenger, for its cost (shadow on vs off).

A copy of the champion's model is registered as a new version and made the `challenger` by the
real path (`flows.promote.challenger.challenger_flow`: the alias, then its event); the step
waits until every worker reports it as its shadow, so every row logged meanwhile is scored
twice. A copy answers like the champion, so the cost measured is the shadow's work alone (one
more batched prediction per flush, in a thread), not a different model's speed.

Run as a child (FLEETCAST_HOME and PREFECT_API_URL in its environment):
`python -m bench.service.shadow URL WORKERS set|clear`; prints one JSON line.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import httpx

from bench.children import emit
from bench.service.children import run_child
from features.contract.registry import CHAMPION, Tag, training_tags
from features.stores import model_registry

POLL_SECONDS = 0.05
TIMEOUT_S = 120.0


def wait_for_shadow(url: str, version: str | None, workers: int) -> float:
    """Poll /model on fresh connections until `workers` pids all shadow `version` (None: no
    shadow); the seconds it took."""
    started, latest = time.perf_counter(), {}
    while time.perf_counter() - started < TIMEOUT_S:
        reply = httpx.get(f"{url}/model", timeout=5)
        if reply.status_code == 200:
            info = reply.json()
            shadow = info.get("shadow") or {}
            latest[info["worker_pid"]] = shadow.get("version")
        if len(latest) >= workers and all(v == version for v in latest.values()):
            return time.perf_counter() - started
        time.sleep(POLL_SECONDS)
    raise TimeoutError(f"workers' shadows after {TIMEOUT_S:.0f} s: {latest}, wanted {version}")


def register_shadow() -> str:
    """A copy of the champion's model as a new (unpromoted) version: the shadow to serve."""
    import mlflow

    from features.settings import get_settings

    settings = get_settings()
    client, _ = model_registry.connect(settings)
    champion = client.get_model_version_by_alias(settings.registered_model, CHAMPION)
    tags = training_tags(champion.tags) | {
        Tag.DECISION_REASON: f"bench.service shadow: copy of v{champion.version}",
    }
    model = mlflow.register_model(champion.source, settings.registered_model, tags=tags)
    return str(model.version)


def child(url: str, workers: int, action: str) -> None:
    """Child entry point: set a fresh shadow (`set`) or clear it (`clear`), then wait for
    every worker to follow."""
    from flows.promote.challenger import challenger_flow

    version = register_shadow() if action == "set" else None
    challenger_flow(version=version, reason=f"bench.service shadow {action}")
    seconds = wait_for_shadow(url, version, workers)
    print(f"shadow {action}: every worker on {version} after {seconds:.2f} s", file=sys.stderr)
    emit({"version": version, "followed_s": seconds})


def set_shadow(url: str, workers: int, env: dict[str, str], action: str) -> dict[str, Any]:
    """Set (or clear) the shadow in one child process; its version and how long workers took."""
    return run_child("bench.service.shadow", url, str(workers), action, env=env)


if __name__ == "__main__":
    child(sys.argv[1], int(sys.argv[2]), sys.argv[3])
