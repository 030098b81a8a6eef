"""The Grafana dashboard's queries, sent to a real Prometheus scraping the stack's service.

Runs after test_chain.py on the same stack: the service then has a champion, has swapped
several times and has a shadow to score. Grafana itself is not packaged here; its panels are
nothing but these queries, so each must return data from what the service exposes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from stack.conftest import Stack
from support.factories import vehicle
from support.prometheus import PrometheusServer, dashboard_queries
from support.prometheus import binary as prometheus_binary
from support.service_fixtures import WORKERS

from features.contract.registry import CHAMPION
from features.contract.schema import ENTITY
from features.stores import model_registry
from features.stores.offline import scan_snapshot
from flows.promote.challenger import challenger_flow
from service.metrics import PREDICTION_ROUTES

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.stack]

SCRAPED_S = 60
RATE_BY_ROUTE = "sum by (route) (rate(fleetcast_predictions_total[5m]))"


@pytest.fixture(scope="module")
def prometheus(
    stack: Stack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PrometheusServer]:
    if prometheus_binary() is None:
        pytest.skip("Prometheus is not installed (apt-get install prometheus)")
    address = stack.service.url.removeprefix("http://")
    server = PrometheusServer(tmp_path_factory.mktemp("prometheus"), [address])
    server.start()
    yield server
    server.stop()


def _traffic(stack: Stack) -> None:
    """Answers of every kind the panels count: by attributes, by id (known and unknown), bad
    input, and enough rows for a prediction-log flush with the shadow beside the champion."""
    body = vehicle(1)
    del body[ENTITY]
    known = int(scan_snapshot(stack.settings).select(ENTITY).head(1).collect().item())
    with httpx.Client(base_url=stack.service.url, timeout=15) as client:
        for _ in range(40):
            assert client.post("/predict", json=body).status_code == 200
            assert client.post("/predict_by_id", json={"vehicle_id": known}).status_code == 200
        assert client.post("/predict_batch", json={"listings": [body] * 3}).status_code == 200
        assert client.post("/predict_by_id", json={"vehicle_id": 987_654_321}).status_code == 404
        assert client.post("/predict", json={"technology": "yes"}).status_code in (400, 422)


def _shadow_everywhere(stack: Stack) -> str:
    """A challenger (the first champion) set through its flow, loaded by every worker."""
    settings = stack.settings
    client, _ = model_registry.connect(settings)
    champion = client.get_model_version_by_alias(settings.registered_model, CHAMPION).version
    challenger = "1" if str(champion) != "1" else "2"
    challenger_flow(challenger, reason="the dashboard's shadow panels")
    stack.service.each_worker(lambda info: info["shadow"]["version"] == challenger, timeout=60)
    return challenger


def _answered(
    prometheus: PrometheusServer,
    promql: str,
    enough: Callable[[list[dict[str, Any]]], bool] = bool,
) -> list[dict[str, Any]]:
    """The query's result once `enough` (by default: not empty), or at SCRAPED_S."""
    deadline = time.monotonic() + SCRAPED_S
    while not enough(result := prometheus.query(promql)) and time.monotonic() < deadline:
        time.sleep(1)
    return result


def test_every_dashboard_query_returns_data_from_the_scraped_service(
    stack: Stack, prometheus: PrometheusServer
) -> None:
    _shadow_everywhere(stack)
    # Scraped before the traffic: Prometheus applies static targets ~5 s after its start, and
    # a counter whose first sample already holds the traffic is 0 to rate().
    assert prometheus.scrape_health() == {f"{stack.service.url}/metrics": "up"}
    _traffic(stack)
    empty = [
        (title, promql)
        for title, promql in dashboard_queries()
        if not _answered(prometheus, promql)
    ]
    assert not empty, f"panels without data: {empty}"
    served = prometheus.query("fleetcast_worker_model_version")
    assert len(served) == WORKERS
    # Every route counted, at a rate above zero once a scrape follows the traffic.
    rate = _answered(prometheus, RATE_BY_ROUTE, _every_route_rising)
    assert _every_route_rising(rate), rate


def _every_route_rising(result: list[dict[str, Any]]) -> bool:
    rates = {r["metric"]["route"]: float(r["value"][1]) for r in result}
    return all(rates.get(route, 0.0) > 0 for route in PREDICTION_ROUTES)
