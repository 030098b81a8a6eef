"""A Redis outage costs only the lookups, and they come back by themselves with Redis."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from support.factories import vehicle

if TYPE_CHECKING:
    from support.service_fixtures import RunningService

pytestmark = [pytest.mark.integration, pytest.mark.slow]
HEAL_TIMEOUT_S = 20.0


def _by_id_after_restart(service: RunningService, vehicle_id: int) -> httpx.Response:
    """POST /predict_by_id until it is 200 again (the lookup's client reconnects on its own)."""
    deadline = time.monotonic() + HEAL_TIMEOUT_S
    while True:
        reply = service.post("/predict_by_id", {"vehicle_id": vehicle_id})
        if reply.status_code == 200 or time.monotonic() > deadline:
            return reply
        assert reply.status_code == 503, reply.text
        time.sleep(0.2)


def test_with_redis_down_predict_works_and_lookups_are_503_until_it_is_back(
    service: RunningService, listing: dict[str, Any], known_vehicle: int
) -> None:
    workers = set(service.each_worker(lambda info: True, timeout=10))
    service.redis.stop()
    try:
        assert service.post("/predict", listing).status_code == 200
        started = time.monotonic()
        reply = service.post("/predict_by_id", {"vehicle_id": known_vehicle})
        assert reply.status_code == 503
        assert time.monotonic() - started < 3.0  # a down store is reported, not waited on
        assert "online feature store (Redis) is unreachable" in reply.json()["error"]
        assert "POST /predict with the attributes still works" in reply.json()["error"]
        refused = service.post("/vehicles", vehicle(31_000_001), headers=service.admin)
        assert refused.status_code == 503
        assert "not registered" in refused.json()["error"]
        assert not list(service.settings.landing_dir.glob("api-vehicle-31000001-*.csv"))
    finally:
        service.redis.start()  # same port and data folder: it loads what it saved at shutdown
    reply = _by_id_after_restart(service, known_vehicle)
    assert reply.status_code == 200, reply.text
    assert service.post("/predict", listing).status_code == 200
    assert set(service.each_worker(lambda info: True, timeout=10)) == workers  # no restart
