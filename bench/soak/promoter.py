"""The soak's promotions: once a minute, the champion alias moves between two versions.

At start it registers a copy of the champion (same model, the champion's lineage tags) as the
second version. Then at `start + 30 s + 60 s * k` it does what `flows.promote.flow` does on a win
(`bench.service.promote.move_champion`: alias moved with MlflowClient, `fleetcast.model.promoted`
emitted) towards the version not serving, and confirms the swap two ways: GET /model on fresh
connections until every worker reports the new version, then the /metrics gauge
`fleetcast_worker_model_version` of every live worker.

Run as a child (FLEETCAST_HOME and PREFECT_API_URL in its environment):
`python -m bench.soak.promoter URL WORKERS MINUTES`, then the start epoch on stdin once it
has printed `ready`; its last stdout line is its JSON report.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import httpx

from bench.children import emit
from bench.service.promote import move_champion, wait_for_version
from features.contract.registry import CHAMPION, Tag, training_tags
from features.stores import model_registry

FIRST_AT_S = 30.0  # mid-minute, so each minute of the report holds one promotion
EVERY_S = 60.0
GAUGE = "fleetcast_worker_model_version{"
GAUGE_TIMEOUT_S = 10.0
READY = "ready"  # the promoter's first stdout line, once set up


def worker_gauges(url: str) -> dict[str, float]:
    """`fleetcast_worker_model_version` per worker pid, from /metrics."""
    page = httpx.get(f"{url}/metrics", timeout=10).text
    found = {}
    for line in page.splitlines():
        if line.startswith(GAUGE):
            labels, value = line.rsplit(" ", 1)
            pid = labels.split('pid="', 1)[1].split('"', 1)[0] if 'pid="' in labels else "?"
            found[pid] = float(value)
    return found


def gauge_confirms(url: str, version: str, pids: set[int]) -> dict[str, float]:
    """Poll /metrics until every worker's gauge reads `version`; the last gauges read."""
    deadline, gauges = time.monotonic() + GAUGE_TIMEOUT_S, {}
    while time.monotonic() < deadline:
        gauges = worker_gauges(url)
        if {str(p) for p in pids} <= set(gauges) and all(
            gauges[str(p)] == float(version) for p in pids
        ):
            break
        time.sleep(0.2)
    return gauges


def second_version(client: Any, name: str) -> tuple[Any, Any]:
    """(champion, a copy of it registered now): the two versions the soak alternates."""
    import mlflow

    champion = client.get_model_version_by_alias(name, CHAMPION)
    tags = training_tags(champion.tags) | {
        Tag.DECISION: "promoted",
        Tag.DECISION_REASON: f"bench.soak: copy of v{champion.version}",
    }
    copy = mlflow.register_model(champion.source, name, tags=tags)
    return champion, client.get_model_version(name, str(copy.version))


def promote_once(client: Any, name: str, url: str, workers: int, pair: tuple[Any, Any]) -> dict:
    """Move the alias from pair[0] to pair[1]; when each worker swapped, and whether /metrics
    agrees."""
    previous, target = pair
    started = time.perf_counter()
    move_champion(client, name, str(target.version), previous)
    result: dict[str, Any] = {
        "from": str(previous.version),
        "to": str(target.version),
        "at_epoch": time.time(),
    }
    try:
        swapped = wait_for_version(url, str(target.version), workers, started)
    except TimeoutError as failure:
        return result | {"confirmed": False, "error": str(failure)}
    per_worker = sorted(seconds for seconds, _ in swapped.values())
    gauges = gauge_confirms(url, str(target.version), set(swapped))
    gauge_ok = all(gauges.get(str(pid)) == float(target.version) for pid in swapped)
    return result | {
        "confirmed": gauge_ok,
        "all_swapped_s": per_worker[-1],
        "first_swapped_s": per_worker[0],
        "workers": sorted(swapped),
        "gauges": gauges,
        "triggers": sorted({info["last_reload"]["trigger"] for _, info in swapped.values()}),
    }


def child(url: str, workers: int, minutes: int) -> None:
    """Child entry point: one promotion a minute, alternating, each confirmed on every worker.

    The imports and the registration cost seconds of CPU: they happen first, then the child
    says `ready` and waits for the load's start (an epoch, on stdin), so they never overlap it."""
    from prefect.events import emit_event

    from features.settings import get_settings

    settings = get_settings()
    client, _ = model_registry.connect(settings)
    name = settings.registered_model
    versions = second_version(client, name)
    # Open the events client's connection before the first clock starts, as in a flow run.
    emit_event(event="fleetcast.bench.warmup", resource={"prefect.resource.id": "fleetcast.bench"})
    print(READY, flush=True)
    start_epoch = float(sys.stdin.readline())
    rounds = []
    for k in range(minutes):
        time.sleep(max(0.0, start_epoch + FIRST_AT_S + EVERY_S * k - time.time()))
        pair = versions if k % 2 == 0 else versions[::-1]
        rounds.append(promote_once(client, name, url, workers, pair) | {"minute": k + 1})
        r = rounds[-1]
        print(
            f"minute {k + 1}: v{r['from']} -> v{r['to']}, all swapped after "
            f"{r.get('all_swapped_s', float('nan')):.2f} s, confirmed: {r['confirmed']}",
            file=sys.stderr,
            flush=True,
        )
    emit({"versions": [str(v.version) for v in versions], "rounds": rounds})


if __name__ == "__main__":
    child(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
