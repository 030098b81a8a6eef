"""What the soak samples every 10 s while the load runs: memory of each service process, the
prediction log's progress and the machine's load.

Processes are found under the `bentoml serve` leader and named by their command line
(`--service-name Fleetcast --worker-id N` → `worker N`, `--service-name OnlineLookup` →
`lookup`); the key includes the pid, so a restarted worker shows as a new series.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import httpx
import psutil
import redis

from features.stores.prediction_stream import logged_through

COUNTERS = {  # /metrics series summed over labels → name in a sample
    "fleetcast_predictions_total": "predictions",
    "fleetcast_prediction_log_written_total": "log_written",
    "fleetcast_prediction_log_dropped_total": "log_dropped",
    "fleetcast_prediction_log_buffered": "log_buffered",
}


@dataclass
class Sample:
    at_s: float  # since the load's start
    rss_mb: dict[str, float]  # "role (pid)" → resident memory
    counters: dict[str, float]
    stream: int  # rows logged through the prediction log's newest entry
    load1: float
    cpu_percent: float  # whole machine, since the previous sample


@dataclass
class Watch:
    leader: int  # pid of `bentoml serve`
    url: str
    redis_url: str
    stream: str
    samples: list[Sample] = field(default_factory=list)

    def sample(self, start: float) -> Sample:
        """Read everything now (`at_s` from `start`, an epoch); the caller decides to keep it."""
        return Sample(
            time.time() - start,
            rss_by_role(self.leader),
            counters(self.url),
            stream_length(self.redis_url, self.stream),
            os.getloadavg()[0],
            psutil.cpu_percent(),
        )


def role(process: psutil.Process) -> str:
    """A readable name for a process of the service's tree."""
    args = process.cmdline()
    if "--service-name" not in args:
        return "bentoml serve (leader)" if "serve" in args else process.name()
    service = args[args.index("--service-name") + 1]
    if service == "OnlineLookup":
        return "lookup"
    worker = args[args.index("--worker-id") + 1] if "--worker-id" in args else "?"
    return f"worker {worker}"


def rss_by_role(leader: int) -> dict[str, float]:
    """Resident memory (MB) of the leader and every descendant, keyed 'role (pid)'."""
    found = {}
    try:
        root = psutil.Process(leader)
        for process in [root, *root.children(recursive=True)]:
            try:
                found[f"{role(process)} ({process.pid})"] = process.memory_info().rss / 2**20
            except psutil.Error:
                continue  # exited between listing and reading
    except psutil.Error:
        pass  # the service is gone: an empty sample says so
    return found


def counters(url: str) -> dict[str, float]:
    """fleetcast's log-related counters from /metrics (empty if it does not answer)."""
    try:
        page = httpx.get(f"{url}/metrics", timeout=10).text
    except httpx.HTTPError:
        return {}
    totals = dict.fromkeys(COUNTERS.values(), 0.0)
    for line in page.splitlines():
        name = line.split("{", 1)[0].split(" ", 1)[0]
        if name in COUNTERS:
            totals[COUNTERS[name]] += float(line.rsplit(" ", 1)[1])
    return totals


def stream_length(redis_url: str, stream: str) -> int:
    client = redis.Redis.from_url(redis_url)
    try:
        return logged_through(client, stream)
    finally:
        client.close()
