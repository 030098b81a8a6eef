"""The prediction log, end to end: the running service logs every answer, the drain flow stores
them, and each stored row is the answer the client got, its range included."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import polars as pl
import pytest
from support.logs import drained

from features.contract.formulas import FEATURE_NAMES, RAW_FEATURES
from features.contract.prediction_log import (
    ITEM,
    LOWER,
    MODEL_VERSION,
    PREDICTION,
    REQUEST_ID,
    ROUTE,
    UPPER,
)
from features.contract.schema import ENTITY
from service.http import REQUEST_ID_HEADER, VERSION_HEADER

if TYPE_CHECKING:
    from support.service_fixtures import RunningService

pytestmark = pytest.mark.integration
Answer = tuple[str, str, list[float], list[tuple[int, int]]]  # route, version, values, ranges


def _answer(route: str, reply: httpx.Response) -> Answer:
    body = reply.json()
    values = body["predicted_reservations"]
    ranges = body["intervals"] if isinstance(values, list) else [body["interval"]]
    bounds = [(r["lower"], r["upper"]) for r in ranges]
    return (
        route,
        reply.headers[VERSION_HEADER],
        values if isinstance(values, list) else [values],
        bounds,
    )


def test_every_answer_is_logged_once_with_its_version_route_and_inputs(
    service: RunningService,
    listing: dict[str, Any],
    known_vehicle: int,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    answers: dict[str, Answer] = {}  # by request id
    for n in range(20):
        reply = service.post("/predict", listing | {"num_images": n})
        answers[reply.headers[REQUEST_ID_HEADER]] = _answer("/predict", reply)
    batch = service.post("/predict_batch", {"listings": [listing, listing | {"technology": 0}]})
    answers[batch.headers[REQUEST_ID_HEADER]] = _answer("/predict_batch", batch)
    by_id = service.post("/predict_by_id", {"vehicle_id": known_vehicle})
    answers[by_id.headers[REQUEST_ID_HEADER]] = _answer("/predict_by_id", by_id)
    logged = drained(service, tmp_path / "home", monkeypatch, set(answers))
    ours = logged.filter(pl.col(REQUEST_ID).is_in(list(answers))).sort(REQUEST_ID, ITEM)
    assert ours.height == 20 + 2 + 1  # each answer once: nothing lost, nothing twice
    for (request_id,), rows in ours.group_by(REQUEST_ID):
        route, version, values, bounds = answers[str(request_id)]
        assert rows[ROUTE].unique().to_list() == [route]
        assert rows[MODEL_VERSION].unique().to_list() == [version]
        assert rows[PREDICTION].to_list() == values
        assert rows.select(LOWER, UPPER).rows() == bounds  # the range the client got
    first = ours.filter(pl.col(ROUTE) == "/predict_batch").row(0, named=True)
    assert [first[name] for name in RAW_FEATURES] == [float(listing[n]) for n in RAW_FEATURES]
    assert first["price_ratio"] == listing["actual_price"] / listing["recommended_price"]
    assert ours.filter(pl.col(ROUTE) == "/predict_by_id")[ENTITY].to_list() == [known_vehicle]
    assert ours.filter(pl.col(ROUTE) == "/predict")[ENTITY].null_count() == 20
    assert set(FEATURE_NAMES) <= set(ours.columns)


def test_a_second_drain_stores_only_what_is_new(
    service: RunningService,
    listing: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    home = tmp_path / "home"
    first = service.post("/predict", listing).headers[REQUEST_ID_HEADER]
    before = drained(service, home, monkeypatch, {first}).height
    ids = {service.post("/predict", listing).headers[REQUEST_ID_HEADER] for _ in range(5)}
    after = drained(service, home, monkeypatch, ids)
    assert after.height == before + 5
    assert not after.select(REQUEST_ID, ITEM).is_duplicated().any()
    assert ids <= set(after[REQUEST_ID])
