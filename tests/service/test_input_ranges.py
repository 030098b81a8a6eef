"""Inputs checked against what the served version was trained on, against the real service:
an answer whose inputs leave the version's training ranges carries a warning naming the field,
the value and the range, on every predicting route; it is still answered; /metrics counts the
warnings by field and GET /model shows the ranges."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from support.factories import vehicle
from support.metrics import scrape, value
from support.registry import register_copy

from features.contract import input_ranges
from features.contract.input_ranges import InputRanges
from features.contract.registry import Tag
from features.settings import Settings
from features.stores import model_registry
from service.champion import ChampionError, load

if TYPE_CHECKING:
    from support.service_fixtures import RunningService

pytestmark = pytest.mark.integration

HUGE = 100_000_000  # characters of description: nothing like it was ever trained on


def _served_ranges(service: RunningService, version: str) -> InputRanges:
    client, _ = model_registry.connect(service.settings)
    tags = dict(client.get_model_version(service.settings.registered_model, version).tags)
    found = input_ranges.from_tags(tags, version)
    assert found is not None, "the session's trained version records its input ranges"
    return found


def _answer(reply: httpx.Response) -> dict[str, Any]:
    assert reply.status_code == 200, reply.text  # a warning never fails a request
    return reply.json()


def _description_warning(service: RunningService, body: dict[str, Any]) -> dict[str, Any]:
    seen = {r.feature: r for r in _served_ranges(service, body["model_version"]).ranges}
    limits = seen["description"]
    return {
        "field": "description",
        "value": float(HUGE),
        "low": limits.low,
        "high": limits.high,
        "message": f"description: {HUGE:g} is outside the training range "
        f"[{limits.low:g}, {limits.high:g}]; the forecast is an extrapolation",
    }


def test_a_listing_like_the_training_data_has_no_warnings(
    service: RunningService, listing: dict[str, Any]
) -> None:
    assert _answer(service.post("/predict", listing))["warnings"] == []


def test_predict_warns_of_each_field_outside_the_training_range(
    service: RunningService, listing: dict[str, Any]
) -> None:
    body = _answer(service.post("/predict", listing | {"description": HUGE}))
    assert body["predicted_reservations"] >= 0 and body["interval"]["upper"] >= 0
    assert body["warnings"] == [_description_warning(service, body)]
    # A price no listing ever had: the price and both features derived from it are named.
    tiny = _answer(service.post("/predict", listing | {"actual_price": 1e-300}))
    assert {w["field"] for w in tiny["warnings"]} == {"actual_price", "price_diff", "price_ratio"}
    assert all(w["value"] < w["low"] for w in tiny["warnings"])


def test_predict_batch_names_the_listing_of_each_warning(
    service: RunningService, listing: dict[str, Any]
) -> None:
    listings = [listing, listing | {"description": HUGE}, listing]
    body = _answer(service.post("/predict_batch", {"listings": listings}))
    assert len(body["predicted_reservations"]) == 3
    assert body["warnings"] == [{"listing": 1, **_description_warning(service, body)}]


def test_a_registered_vehicle_and_its_lookup_both_warn(service: RunningService) -> None:
    vehicle_id = random.randint(30_000_001, 40_000_000)
    try:
        registered = service.post(
            "/vehicles", vehicle(vehicle_id, description=HUGE), headers=service.admin
        )
        body = _answer(registered)
        assert body["warnings"] == [_description_warning(service, body)]
        by_id = _answer(service.post("/predict_by_id", {"vehicle_id": vehicle_id}))
        assert by_id["warnings"] == body["warnings"]
    finally:  # the trained store is shared: leave nothing for a later ingest
        for path in service.settings.landing_dir.glob(f"api-vehicle-{vehicle_id}-*.csv"):
            path.unlink()


def test_metrics_count_the_warnings_by_field(
    service: RunningService, listing: dict[str, Any]
) -> None:
    before = scrape(service)
    service.post("/predict_batch", {"listings": [listing | {"description": HUGE}] * 3})
    service.post("/predict", listing)
    after = scrape(service)
    name = "fleetcast_input_out_of_range_total"
    assert value(after, name, field="description") - value(before, name, field="description") == 3
    assert value(after, name, field="num_images") == value(before, name, field="num_images")


def test_model_shows_the_ranges_of_the_version_it_serves(service: RunningService) -> None:
    info = httpx.get(f"{service.url}/model", timeout=5).json()
    seen = _served_ranges(service, info["version"])
    assert info["input_ranges"]["rows"] == seen.rows
    assert info["input_ranges"]["ranges"] == [
        {"field": r.feature, "low": r.low, "high": r.high, "quantiles": r.quantiles}
        for r in seen.ranges
    ]


def test_a_version_with_broken_ranges_is_not_loaded_and_one_without_is(
    model_settings: Settings, trained_model: Any
) -> None:
    client, _ = model_registry.connect(model_settings)
    broken = register_copy(model_settings, trained_model, **{Tag.INPUT_RANGES: "{"})
    with pytest.raises(ChampionError, match=f"v{broken}: tag {Tag.INPUT_RANGES}"):
        load(model_settings, client.get_model_version(model_settings.registered_model, broken))
    older = register_copy(model_settings, trained_model, **{Tag.INPUT_RANGES: None})
    served = load(model_settings, client.get_model_version(model_settings.registered_model, older))
    assert served.ranges is None  # trained before ranges: served, nothing checked
