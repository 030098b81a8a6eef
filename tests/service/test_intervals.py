"""Every forecast's calibrated range, against the real service: each predicting route answers
one, made by the calibration of the version that made the value; GET /model shows it; and a
version without a calibration is never served."""

from __future__ import annotations

import math
import random
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from support.factories import vehicle
from support.registry import register_copy

from features.contract import intervals
from features.contract.registry import CHAMPION, Tag
from features.settings import Settings
from features.stores import model_registry
from service.champion import ChampionError, load
from service.http import VERSION_HEADER

if TYPE_CHECKING:
    from support.service_fixtures import RunningService

pytestmark = pytest.mark.integration


def _tags(settings: Settings, version: str) -> dict[str, str]:
    client, _ = model_registry.connect(settings)
    return dict(client.get_model_version(settings.registered_model, version).tags)


def _ranged(service: RunningService, reply: httpx.Response) -> list[tuple[float, dict[str, Any]]]:
    """Each (value, interval) of a 200 reply, checked: the interval is the answering version's
    calibration applied to the value, in whole non-negative reservations around it."""
    assert reply.status_code == 200, reply.text
    body = reply.json()
    version = body["model_version"]
    assert reply.headers[VERSION_HEADER] == version
    values = body["predicted_reservations"]
    ranges = body["intervals"] if isinstance(values, list) else [body["interval"]]
    values = values if isinstance(values, list) else [values]
    calibration = intervals.from_tags(_tags(service.settings, version), version)
    low, high = calibration.bounds(values)
    assert [(r["lower"], r["upper"]) for r in ranges] == list(zip(low, high, strict=True))
    for value, interval in zip(values, ranges, strict=True):
        assert interval["level"] == calibration.level
        assert all(isinstance(interval[k], int) and interval[k] >= 0 for k in ("lower", "upper"))
        assert interval["lower"] <= math.ceil(value) and math.floor(value) <= interval["upper"]
    return list(zip(values, ranges, strict=True))


def test_predict_answers_a_range_around_its_forecast(
    service: RunningService, listing: dict[str, Any]
) -> None:
    ((_, interval),) = _ranged(service, service.post("/predict", listing))
    assert set(interval) == {"lower", "upper", "level"}


def test_predict_batch_answers_a_range_per_listing_in_order(
    service: RunningService, listing: dict[str, Any]
) -> None:
    listings = [listing | {"num_images": n} for n in (0, 5, 20)]
    batch = _ranged(service, service.post("/predict_batch", {"listings": listings}))
    assert len(batch) == 3
    assert _ranged(service, service.post("/predict", listings[2])) == [batch[2]]


def test_predict_by_id_answers_a_range(service: RunningService, known_vehicle: int) -> None:
    ((_, interval),) = _ranged(
        service, service.post("/predict_by_id", {"vehicle_id": known_vehicle})
    )
    assert interval["upper"] >= interval["lower"]


def test_a_registered_vehicle_is_answered_with_its_range(service: RunningService) -> None:
    vehicle_id = random.randint(20_000_001, 30_000_000)
    record = vehicle(vehicle_id, num_images=3)
    try:
        reply = service.post("/vehicles", record, headers=service.admin)
        ((value, interval),) = _ranged(service, reply)
        by_id = _ranged(service, service.post("/predict_by_id", {"vehicle_id": vehicle_id}))
        assert by_id == [(pytest.approx(value), interval)]
    finally:  # the trained store is shared: leave nothing for a later ingest
        for path in service.settings.landing_dir.glob(f"api-vehicle-{vehicle_id}-*.csv"):
            path.unlink()


def test_model_shows_the_interval_of_the_version_it_serves(service: RunningService) -> None:
    info = httpx.get(f"{service.url}/model", timeout=5).json()
    tags = _tags(service.settings, info["version"])
    calibration = intervals.from_tags(tags, info["version"])

    def judged(key: str) -> float | None:
        return float(tags[key]) if tags.get(key) else None

    assert info["interval"] == {
        "level": calibration.level,
        "method": intervals.METHOD,
        "holdout_coverage": judged(Tag.HOLDOUT_COVERAGE),
        "holdout_width": judged(Tag.HOLDOUT_WIDTH),
    }


def test_a_version_without_a_calibration_is_not_loaded(
    model_settings: Settings, trained_model: Any
) -> None:
    uncalibrated = register_copy(model_settings, trained_model, **{Tag.INTERVAL_LOWER: None})
    client, _ = model_registry.connect(model_settings)
    version = client.get_model_version(model_settings.registered_model, uncalibrated)
    with pytest.raises(ChampionError, match=r"no interval calibration: missing \[.*interval_lower"):
        load(model_settings, version)


def test_the_service_keeps_its_champion_when_the_next_has_no_calibration(
    service: RunningService, trained_model: Any, listing: dict[str, Any]
) -> None:
    serving = service.post("/predict", listing).headers[VERSION_HEADER]
    uncalibrated = register_copy(  # under an alias of its own: the candidate is other tests'
        service.settings, trained_model, alias="uncalibrated", **{Tag.INTERVAL_UPPER: None}
    )
    client, _ = model_registry.connect(service.settings)
    name = service.settings.registered_model
    client.set_registered_model_alias(name, CHAMPION, uncalibrated)
    try:
        reply = service.post("/reload", {}, headers=service.admin)
        assert reply.status_code == 200 and reply.json()["outcome"] == "failed", reply.text
        assert f"v{uncalibrated} has no interval calibration" in reply.json()["message"]
        still = service.post("/predict", listing)
        assert still.headers[VERSION_HEADER] == serving and len(_ranged(service, still)) == 1
    finally:
        client.set_registered_model_alias(name, CHAMPION, serving)
