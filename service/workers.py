"""Every live worker's served version and last reload, read from the workers' own gauges.

A request reaches one worker, and workers share nothing but BentoML's Prometheus folder: each
writes its per-worker gauges there (`metrics.WORKER_*`), so any worker can read them all.
"""

from __future__ import annotations

import datetime as dt
import os
from collections import defaultdict
from typing import Any

from prometheus_client import CollectorRegistry, multiprocess

from features.local.processes import alive
from service import metrics
from service.model_schemas import ReloadSeen, WorkerStatus


def _name(gauge: Any) -> str:
    return str(gauge.describe()[0].name)


def _stamp(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).isoformat(timespec="milliseconds")


def _per_worker(registered_model: str, folder: str) -> dict[int, dict[str, Any]]:
    """{pid: {gauge name: value, or for the reload gauge {(trigger, outcome): when}}}."""
    found: dict[int, dict[str, Any]] = defaultdict(dict)
    reloads = _name(metrics.WORKER_LAST_RELOAD)
    for family in multiprocess.MultiProcessCollector(CollectorRegistry(), path=folder).collect():
        for sample in family.samples:
            pid = sample.labels.get("pid")
            if pid is None or not pid.isdigit():
                continue
            if sample.name == reloads:
                key = (sample.labels["trigger"], sample.labels["outcome"])
                found[int(pid)].setdefault(reloads, {})[key] = sample.value
            elif sample.labels.get("registered_model") == registered_model:
                found[int(pid)][sample.name] = sample.value
    return found


def _status(pid: int, gauges: dict[str, Any]) -> WorkerStatus:
    version = gauges.get(_name(metrics.WORKER_MODEL_VERSION))
    shadow = gauges.get(_name(metrics.WORKER_SHADOW_VERSION))
    loaded = gauges.get(_name(metrics.WORKER_LOADED_AT))
    reloads: dict[tuple[str, str], float] = gauges.get(_name(metrics.WORKER_LAST_RELOAD), {})
    last = max(reloads.items(), key=lambda item: item[1], default=None)
    return WorkerStatus(
        pid=pid,
        version=None if version is None else str(int(version)),
        loaded_at=None if loaded is None else _stamp(loaded),
        last_reload=None
        if last is None
        else ReloadSeen(at=_stamp(last[1]), trigger=last[0][0], outcome=last[0][1]),
        shadow_version=str(int(shadow)) if shadow else None,  # 0 (or never set): none
    )


def live_workers(registered_model: str) -> list[WorkerStatus]:
    """Each live worker of this service, by pid; empty outside a BentoML server."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not folder:
        return []
    found = _per_worker(registered_model, folder)
    return [_status(pid, found[pid]) for pid in sorted(found) if alive(pid)]
