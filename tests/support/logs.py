"""Reading the running service's prediction log the way production does: the drain flow."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl
import pytest

from features.contract.formulas import FEATURE_NAMES
from features.contract.prediction_log import REQUEST_ID, LoggedPrediction
from features.settings import Settings
from features.stores.predictions import scan_predictions
from flows.monitor.drain import drain_predictions_flow

if TYPE_CHECKING:
    from support.service_fixtures import RunningService

FLUSH_DEADLINE_S = 30.0  # the workers flush every 0.5 s; this only bounds a broken flush


def drained(
    service: RunningService, home: Path, monkeypatch: pytest.MonkeyPatch, request_ids: set[str]
) -> pl.DataFrame:
    """Drain the service's log into `home` (its own, so other tests' drains do not mix in)
    until every one of `request_ids` is stored; everything stored there."""
    for key in ("REDIS_URL", "FLEETCAST_REDIS_KEY_PREFIX", "PREFECT_API_URL"):
        monkeypatch.setenv(key, service.env[key])
    monkeypatch.setenv("FLEETCAST_HOME", str(home))
    deadline = time.monotonic() + FLUSH_DEADLINE_S
    while True:
        drain_predictions_flow()
        stored = scan_predictions(Settings()).collect()
        if request_ids <= set(stored[REQUEST_ID]) or time.monotonic() > deadline:
            return stored
        time.sleep(0.2)


def logged(first: int, count: int) -> list[LoggedPrediction]:
    """`count` predictions as a worker logs them: request ids r<first>..., vehicle i, feature
    values i, prediction i/10, range 0..i, one second apart."""
    return [
        LoggedPrediction(
            f"r{i}",
            0,
            1_764_000_000.0 + i,
            "/predict",
            "3",
            i,
            [float(i)] * len(FEATURE_NAMES),
            i / 10,
            lower=0,
            upper=i,
        )
        for i in range(first, first + count)
    ]
