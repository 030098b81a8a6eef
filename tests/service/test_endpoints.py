"""Each route's happy path against the real service; every answer names the version that made it."""

from __future__ import annotations

import asyncio
import random
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from support.factories import vehicle

from features.contract.formulas import FEATURE_NAMES, RAW_FEATURES
from features.contract.registry import CHAMPION
from features.contract.schema import ENTITY
from features.stores import model_registry
from features.stores.offline import scan_snapshot
from service.http import VERSION_HEADER

if TYPE_CHECKING:
    from support.service_fixtures import RunningService

pytestmark = pytest.mark.integration


def _labeled(reply: httpx.Response) -> dict[str, Any]:
    """The body of a 200 reply whose X-Model-Version header equals its model_version."""
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert reply.headers[VERSION_HEADER] == body["model_version"]
    return body


def test_predict_forecasts_a_listing(service: RunningService, listing: dict[str, Any]) -> None:
    body = _labeled(service.post("/predict", listing))
    assert body["predicted_reservations"] >= 0


def test_predict_batch_forecasts_each_listing_in_order(
    service: RunningService, listing: dict[str, Any]
) -> None:
    listings = [listing | {"num_images": n} for n in (0, 5, 20)]
    body = _labeled(service.post("/predict_batch", {"listings": listings}))
    assert len(body["predicted_reservations"]) == 3
    single = _labeled(service.post("/predict", listings[1]))
    assert body["predicted_reservations"][1] == pytest.approx(single["predicted_reservations"])


def test_predict_by_id_forecasts_a_known_vehicle(
    service: RunningService, known_vehicle: int
) -> None:
    body = _labeled(service.post("/predict_by_id", {"vehicle_id": known_vehicle}))
    assert body["predicted_reservations"] >= 0


async def _by_id_concurrently(url: str, ids: list[int]) -> list[httpx.Response]:
    async with httpx.AsyncClient(base_url=url, timeout=15) as client:
        return await asyncio.gather(
            *(client.post("/predict_by_id", json={"vehicle_id": i}) for i in ids)
        )


def test_concurrent_lookups_each_get_their_own_vehicles_forecast(service: RunningService) -> None:
    """Concurrent by-id requests share lookup calls; each must still get its vehicle's answer."""
    snapshot = scan_snapshot(service.settings).head(40).collect()  # within the max batch
    ids = snapshot[ENTITY].to_list()
    asked = ids + ids[:10] + [987_654_321]  # repeats and an unknown id in the same burst
    replies = asyncio.run(_by_id_concurrently(service.url, asked))
    listings = snapshot.select(RAW_FEATURES).to_dicts()
    expected = _labeled(service.post("/predict_batch", {"listings": listings}))
    by_id = dict(zip(ids, expected["predicted_reservations"], strict=True))
    for vehicle_id, reply in zip(asked[:-1], replies[:-1], strict=True):
        assert _labeled(reply)["predicted_reservations"] == by_id[vehicle_id], vehicle_id
    assert replies[-1].status_code == 404, replies[-1].text


def test_an_unknown_vehicle_is_404(service: RunningService) -> None:
    reply = service.post("/predict_by_id", {"vehicle_id": 987_654_321})
    assert reply.status_code == 404
    assert "vehicle_id: 987654321 is not in the online store" in reply.json()["error"]


def test_model_describes_the_champion_this_worker_serves(service: RunningService) -> None:
    client, _ = model_registry.connect(service.settings)
    name = service.settings.registered_model
    champion = client.get_model_version_by_alias(name, CHAMPION)
    info = httpx.get(f"{service.url}/model", timeout=5).json()
    assert info["registered_model"] == name
    assert (info["version"], info["run_id"]) == (str(champion.version), champion.run_id)
    assert info["features"] == list(FEATURE_NAMES)
    assert info["backend"] in ("onnx", "sklearn") and info["backend_note"]
    assert isinstance(info["holdout"], dict) and isinstance(info["worker_pid"], int)
    assert info["last_reload"]["outcome"] in ("loaded", "unchanged")


def test_a_registered_vehicle_is_online_at_once_and_landed_for_ingest(
    service: RunningService,
) -> None:
    vehicle_id = random.randint(10_000_000, 20_000_000)
    assert service.post("/predict_by_id", {"vehicle_id": vehicle_id}).status_code == 404
    record = vehicle(vehicle_id, num_images=7, actual_price=80.0)
    registered = _labeled(service.post("/vehicles", record, headers=service.admin))
    landed = list(service.settings.landing_dir.glob(f"api-vehicle-{vehicle_id}-*.csv"))
    try:
        assert registered["vehicle_id"] == vehicle_id
        by_id = _labeled(service.post("/predict_by_id", {"vehicle_id": vehicle_id}))
        assert by_id["predicted_reservations"] == pytest.approx(
            registered["predicted_reservations"]
        )
        assert len(landed) == 1
        header, row = landed[0].read_text().splitlines()
        assert header.split(",") == list(record) and row.split(",")[0] == str(vehicle_id)
    finally:
        for path in landed:  # the trained store is shared: leave nothing for a later ingest
            path.unlink()


def test_reload_with_the_token_reports_an_unchanged_champion(service: RunningService) -> None:
    reply = service.post("/reload", {}, headers=service.admin)
    assert reply.status_code == 200, reply.text
    assert reply.json()["trigger"] == "api"
    assert reply.json()["outcome"] == "unchanged"


def test_health_and_metrics_routes_answer(service: RunningService) -> None:
    for route in ("/readyz", "/livez"):
        assert httpx.get(f"{service.url}{route}", timeout=5).status_code == 200
    metrics = httpx.get(f"{service.url}/metrics", timeout=5)
    assert metrics.status_code == 200
    assert 'endpoint="/predict"' in metrics.text
