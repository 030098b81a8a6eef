"""fleetcast's Prometheus metrics on the service's /metrics, summed over workers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from support.metrics import scrape, value

from service import metrics
from service.http import VERSION_HEADER

if TYPE_CHECKING:
    from support.service_fixtures import RunningService

pytestmark = pytest.mark.integration


def test_predictions_are_counted_by_route_and_version(
    service: RunningService, listing: dict[str, Any], known_vehicle: int
) -> None:
    version = service.post("/predict", listing).headers[VERSION_HEADER]
    before = scrape(service)
    for _ in range(7):
        service.post("/predict", listing)
    service.post("/predict_batch", {"listings": [listing] * 3})
    service.post("/predict_by_id", {"vehicle_id": known_vehicle})
    service.post("/predict_by_id", {"vehicle_id": 987_654_321})
    after = scrape(service)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    counted = "fleetcast_predictions_total"
    assert grew(counted, route="/predict", model_version=version) == 7
    assert grew(counted, route="/predict_batch", model_version=version) == 3
    assert grew(counted, route="/predict_by_id", model_version=version) == 1
    assert grew("fleetcast_online_lookup_misses_total") == 1
    assert grew("fleetcast_online_lookup_seconds_count") == 2  # every answered lookup
    assert grew("fleetcast_prediction_log_written_total") >= 0


def test_the_served_version_is_an_info_gauge_and_each_worker_reports_its_own(
    service: RunningService, listing: dict[str, Any]
) -> None:
    version = service.post("/predict", listing).headers[VERSION_HEADER]
    samples = scrape(service)
    served = {
        dict(labels)["version"]
        for (name, labels), v in samples.items()
        if name == "fleetcast_model_info" and v == 1
    }
    assert served == {version}
    per_worker = [v for (name, _), v in samples.items() if name == "fleetcast_worker_model_version"]
    assert per_worker and all(v == float(version) for v in per_worker)
    assert any(name.startswith("bentoml_service_") for name, _ in samples)  # BentoML's stay


def test_each_route_counts_from_zero_as_soon_as_a_version_is_served() -> None:
    """Before its first answer: a series that first appears at 7 is 0 to rate()."""
    from prometheus_client import REGISTRY, generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    metrics.served("fleetcast-test", None, "9137")
    exposed = text_string_to_metric_families(generate_latest(REGISTRY).decode())
    counted = {
        sample.labels["route"]: sample.value
        for family in exposed
        for sample in family.samples
        if sample.name == "fleetcast_predictions_total" and sample.labels["model_version"] == "9137"
    }
    assert counted == dict.fromkeys(metrics.PREDICTION_ROUTES, 0.0)
