"""fleetcast's Prometheus metrics, on the service's /metrics beside BentoML's own.

BentoML gives every worker `PROMETHEUS_MULTIPROC_DIR` before it imports the service, and its
/metrics sums the workers' files, so these are defined once, at module level. Gauges state how
to merge workers: the served-version info gauge keeps one series per version any live worker
serves; the per-worker version gauge keeps one series per worker.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

from prometheus_client import Counter, Gauge, Histogram, multiprocess

from features.local.processes import alive

MODEL_INFO = Gauge(
    "fleetcast_model_info",
    "1 for each model version some live worker serves (retired versions are hidden).",
    ["registered_model", "version"],
    multiprocess_mode="livemax",
)
WORKER_MODEL_VERSION = Gauge(
    "fleetcast_worker_model_version",
    "The model version each live worker serves (one series per worker pid).",
    ["registered_model"],  # labeled, so processes that serve no model report no series
    multiprocess_mode="liveall",
)
WORKER_LOADED_AT = Gauge(
    "fleetcast_worker_loaded_timestamp_seconds",
    "When each live worker loaded the version it serves (one series per worker pid).",
    ["registered_model"],
    multiprocess_mode="liveall",
)
WORKER_LAST_RELOAD = Gauge(
    "fleetcast_worker_last_reload_timestamp_seconds",
    "When each live worker last tried a reload, by trigger and outcome: a worker's newest"
    " series is its last attempt.",
    ["trigger", "outcome"],
    multiprocess_mode="liveall",
)
# The routes that forecast, as the counter labels them (their BentoML paths).
PREDICT, PREDICT_BATCH, PREDICT_BY_ID = "/predict", "/predict_batch", "/predict_by_id"
PREDICTION_ROUTES = (PREDICT, PREDICT_BATCH, PREDICT_BY_ID)
PREDICTIONS = Counter(
    "fleetcast_predictions",
    "Predictions made, by route and model version (a batch counts each listing).",
    ["route", "model_version"],
)
OUT_OF_RANGE = Counter(
    "fleetcast_input_out_of_range",
    "Input values outside the served version's training range, by feature (each one answered"
    " with a warning, never refused).",
    ["field"],
)
WORKER_SHADOW_VERSION = Gauge(
    "fleetcast_worker_shadow_version",
    "The shadow (challenger) version each live worker scores beside the champion; 0: none.",
    ["registered_model"],
    multiprocess_mode="liveall",
)
SHADOW_LIVE_MAE = Gauge(
    "fleetcast_shadow_live_mae",
    "Live MAE on the same requests, of the shadow and of the champion (role), as the drift"
    " flow last measured it, per worker; NaN: not measured yet, or no shadow.",
    ["registered_model", "role"],
    multiprocess_mode="liveall",
)
SHADOW_PREDICTIONS = Counter(
    "fleetcast_shadow_predictions",
    "Rows the shadow scored beside the champion (logged, never answered), by its version.",
    ["model_version"],
)
SHADOW_ERRORS = Counter(
    "fleetcast_shadow_errors", "Rows the shadow failed to score (logged without its answer)."
)
SHADOW_ABS_DIFF = Counter(
    "fleetcast_shadow_abs_diff",
    "Sum of |shadow - champion| over the rows both scored: divided by the rate of"
    " fleetcast_shadow_predictions_total, their mean disagreement (known before any outcome).",
)
SHADOW_RELOADS = Counter(
    "fleetcast_shadow_reloads",
    "Shadow reload attempts by trigger and outcome (loaded, unchanged, unloaded, failed).",
    ["trigger", "outcome"],
)
RELOADS = Counter(
    "fleetcast_reloads",
    "Reload attempts by trigger (startup, event, poll, api) and outcome (loaded, unchanged,"
    " failed).",
    ["trigger", "outcome"],
)
LOOKUP_SECONDS = Histogram(
    "fleetcast_online_lookup_seconds",
    "Time to get one vehicle's online features (a hop included if the lookup is served apart).",
    buckets=(0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.5, 1.0, 5.0),
)
LOOKUP_MISSES = Counter(
    "fleetcast_online_lookup_misses", "By-id lookups of a vehicle not in the online store."
)
LOOKUP_ERRORS = Counter(
    "fleetcast_online_lookup_errors", "By-id lookups that failed (store or lookup unreachable)."
)
LOG_WRITTEN = Counter(
    "fleetcast_prediction_log_written", "Predictions appended to the Redis prediction log."
)
LOG_DROPPED = Counter(
    "fleetcast_prediction_log_dropped",
    "Predictions dropped from a worker's log buffer while Redis was unreachable.",
)
LOG_BUFFERED = Gauge(
    "fleetcast_prediction_log_buffered",
    "Predictions waiting in the workers' buffers for the next flush.",
    multiprocess_mode="livesum",
)
_RETIRED_INFO = re.compile(r"^fleetcast_model_info\{[^}]*\} 0\.0\n", re.MULTILINE)


def served(registered_model: str, old: str | None, new: str) -> None:
    """This worker swapped from `old` to `new`."""
    if old is not None and old != new:
        # Labels cannot be removed in multiprocess mode: 0 marks it retired (hidden below).
        MODEL_INFO.labels(registered_model, old).set(0)
    MODEL_INFO.labels(registered_model, new).set(1)
    # Each route's series starts at 0 before the version's first answer: a series first
    # scraped at 7 is 0 to rate() and increase(), so the first answers of every version would
    # be missing from the dashboard (seen on the stack's Prometheus).
    for route in PREDICTION_ROUTES:
        PREDICTIONS.labels(route, new)
    WORKER_MODEL_VERSION.labels(registered_model).set(float(new))
    WORKER_LOADED_AT.labels(registered_model).set(time.time())


def shadowed(registered_model: str, version: str | None) -> None:
    """This worker now scores `version` as its shadow (None: none)."""
    WORKER_SHADOW_VERSION.labels(registered_model).set(0.0 if version is None else float(version))


def attempted(trigger: str, outcome: str) -> None:
    """This worker just tried a reload (RELOADS counts them; this says when, per worker)."""
    RELOADS.labels(trigger, outcome).inc()
    WORKER_LAST_RELOAD.labels(trigger, outcome).set(time.time())


def without_retired(exposition: str) -> str:
    """/metrics text without the versions no worker serves any more."""
    return _RETIRED_INFO.sub("", exposition)


def forget_dead_workers() -> list[int]:
    """Drop live gauges of worker processes that are gone (BentoML never marks them dead, so
    a restarted worker's old version would otherwise stay reported)."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    dead: list[int] = []
    for path in Path(folder).glob("gauge_live*_*.db") if folder else ():
        pid = int(path.stem.rsplit("_", 1)[1])
        if not alive(pid):
            multiprocess.mark_process_dead(pid)
            dead.append(pid)
    return dead
