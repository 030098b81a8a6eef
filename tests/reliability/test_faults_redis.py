"""Redis stopped and restarted under a steady mixed load: /predict never fails, by-id lookups
are 503 only while it is down, no logged prediction is lost, and promotions still arrive.

tests/service/test_redis_outage.py checks the same outage one request at a time; this one
keeps a load loop running through it and counts every answer."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import TrainedStore
from support.faults import (
    LoadLoop,
    answered_ids,
    figures,
    known_vehicles,
    logged_ids,
    own_service,
)
from support.metrics import scrape, value
from support.registry import register_copy
from support.service_fixtures import RedisServer, RunningService, serves_and_heard, stop

from flows.promote.flow import promote_flow

# A real server (re)start can take minutes on a busy 2-core machine: above the default 300 s.
pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(900)]
DOWN_S = 8.0  # how long Redis stays down
SETTLE_S = 1.0  # answers this close to the stop may carry features read just before it
HEAL_S = 30.0  # by-id must be 200 again this soon after Redis is back (no restart)
LOG_CATCH_UP_S = 30.0  # every buffered prediction is in the stream this soon after
SWAP_S = 60.0  # every worker serves a promoted version this soon (a liveness bound)


@pytest.fixture
def redis_service(
    trained_store: TrainedStore,
    trained_model: Any,
    fresh_redis: RedisServer,
    prefect_server: str,
    tmp_path: Path,
) -> Iterator[RunningService]:
    running = own_service(trained_store, trained_model, fresh_redis, prefect_server, tmp_path)
    yield running
    stop(running.process)


def _outage_under_load(service: RunningService, listing: dict[str, Any]) -> dict[str, Any]:
    """Run the load loop through a Redis stop and start; the timeline and the calls."""
    with LoadLoop(service.url, listing, known_vehicles(service)) as load:
        time.sleep(3)  # a baseline with everything up
        stopped = time.monotonic()
        service.redis.stop()
        down = time.monotonic()
        time.sleep(DOWN_S)
        up = time.monotonic()  # start() returns once Redis answers: lookups may heal before
        service.redis.start()
        healed = load.wait_for(up, "/predict_by_id", 200, HEAL_S)
        time.sleep(3)  # and it stays healed
        end = time.monotonic()
    return {
        "load": load,
        "stopped": stopped,
        "down": down,
        "up": up,
        "healed": healed.at,
        "end": end,
    }


def _wait_logged(service: RunningService, wanted: set[str]) -> tuple[set[str], float]:
    """The answered ids missing from the stream once it stops catching up, and the wait."""
    started = time.monotonic()
    missing = wanted
    while missing and time.monotonic() - started < LOG_CATCH_UP_S:
        missing = wanted - logged_ids(service.redis, service)
        time.sleep(0.5)
    return missing, time.monotonic() - started


def test_a_redis_outage_under_load_costs_only_lookups_while_it_lasts(
    redis_service: RunningService,
    listing: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    trained_model: Any,
) -> None:
    service = redis_service
    workers = set(service.each_worker(lambda info: True, timeout=10))
    t = _outage_under_load(service, listing)
    load: LoadLoop = t["load"]
    fault = load.between(t["stopped"], t["up"])
    missing, caught_up = _wait_logged(service, answered_ids(load.calls))
    by_id_down = load.statuses(t["down"] + SETTLE_S, t["up"], "/predict_by_id")
    figures(
        "redis-down",
        sent_during_fault=len(fault),
        predict=dict(load.statuses(t["stopped"], t["up"], "/predict")),
        by_id=dict(load.statuses(t["stopped"], t["up"], "/predict_by_id")),
        answered=len(answered_ids(load.calls)),
        rows_lost=len(missing),
        by_id_recovered_s=round(t["healed"] - t["up"], 2),
        log_caught_up_s=round(caught_up, 2),
    )

    assert set(load.statuses(0, t["end"], "/predict")) == {200}, "a /predict failed"
    assert load.statuses(0, t["stopped"], "/predict_by_id").keys() == {200}
    assert set(by_id_down) == {503} and by_id_down[503] > 10, by_id_down
    refused = load.first(t["down"], "/predict_by_id", lambda call: call.status == 503)
    assert refused is not None and "online feature store (Redis) is unreachable" in refused.text
    after = load.statuses(t["healed"] + SETTLE_S, t["end"], "/predict_by_id")
    assert set(after) == {200}, after
    assert missing == set(), f"{len(missing)} answered predictions never reached the log"
    assert value(scrape(service), "fleetcast_prediction_log_dropped_total") == 0
    assert set(service.each_worker(lambda info: True, timeout=10)) == workers  # no restart
    _assert_promotions_still_arrive(service, trained_model, monkeypatch)


def _assert_promotions_still_arrive(
    service: RunningService, trained_model: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reload listener follows Prefect, not Redis: after the blip a promotion (the real
    flow) reaches every worker through its event."""
    for key, setting in service.env.items():
        if key.startswith("FLEETCAST_") or key == "REDIS_URL":
            monkeypatch.setenv(key, setting)
    candidate = register_copy(service.settings, trained_model)
    promotion = promote_flow()
    assert promotion.promoted and promotion.candidate_version == candidate, promotion.reason
    service.each_worker(serves_and_heard(candidate), SWAP_S)
