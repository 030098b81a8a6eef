"""A clean stop of the service (SIGTERM, as `fleetcast serve` and containers send) writes every
prediction still waiting in the workers' buffers: nothing logged is lost."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest
import redis

from features.contract.prediction_log import decode
from features.stores.online import OnlineKeys
from service.http import REQUEST_ID_HEADER

if TYPE_CHECKING:
    from support.service_fixtures import RunningService

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_sigterm_flushes_the_predictions_no_periodic_flush_has_written(
    another_service: Callable[[dict[str, str]], RunningService], listing: dict[str, Any]
) -> None:
    # A flush interval far longer than the test: only the stop can write these.
    running = another_service(
        {"FLEETCAST_PREDICTION_LOG_FLUSH_SECONDS": "60", "FLEETCAST_REDIS_KEY_PREFIX": "clean-stop"}
    )
    ids = {running.post("/predict", listing).headers[REQUEST_ID_HEADER] for _ in range(30)}
    os.killpg(running.process.pid, signal.SIGTERM)
    assert running.process.wait(timeout=60) is not None
    client = redis.Redis.from_url(running.env["REDIS_URL"])
    stored = decode(client.xrange(OnlineKeys("clean-stop").prediction_log))
    assert set(stored["request_id"]) == ids, running.tail()
