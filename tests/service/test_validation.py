"""Bad requests are 4xx naming the field, never 5xx: the contract's rules at the HTTP edge."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from support.factories import vehicle

if TYPE_CHECKING:
    from support.service_fixtures import RunningService

pytestmark = pytest.mark.integration

MISSING = object()  # a field left out of the body
BAD_LISTINGS = {  # case -> (change to a valid listing, the field the error must name)
    "missing": ({"technology": MISSING}, "technology"),
    "above its maximum": ({"technology": 2}, "technology"),
    "not positive": ({"actual_price": 0}, "actual_price"),
    "negative": ({"num_images": -1}, "num_images"),
    "an extra field": ({"colour": "red"}, "colour"),
    "text for an integer": ({"num_images": "many"}, "num_images"),
    "a list for a number": ({"recommended_price": [50.0]}, "recommended_price"),
    "null": ({"description": None}, "description"),
    "a fractional integer": ({"street_parked": 0.5}, "street_parked"),
}
NON_FINITE = ["NaN", "Infinity", "-Infinity"]


def _body(listing: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    """`listing` with `change` applied (MISSING leaves the field out)."""
    return {k: v for k, v in (listing | change).items() if v is not MISSING}


def _names(reply: httpx.Response, *loc: Any) -> None:
    """A 400 whose first pydantic error is located at `loc`."""
    assert reply.status_code == 400, reply.text
    assert [error["loc"] for error in reply.json()["detail"]] == [list(loc)]


@pytest.mark.parametrize("case", list(BAD_LISTINGS))
def test_a_bad_listing_is_400_naming_the_field(
    service: RunningService, listing: dict[str, Any], case: str
) -> None:
    change, field = BAD_LISTINGS[case]
    _names(service.post("/predict", _body(listing, change)), field)


@pytest.mark.parametrize("literal", NON_FINITE)
def test_non_finite_literals_are_400_naming_the_field(
    service: RunningService, listing: dict[str, Any], literal: str
) -> None:
    text = json.dumps(listing | {"actual_price": "PLACEHOLDER"})
    text = text.replace('"PLACEHOLDER"', literal)
    reply = httpx.post(
        f"{service.url}/predict", content=text, headers={"content-type": "application/json"}
    )
    _names(reply, "actual_price")


def test_a_bad_listing_inside_a_batch_is_named_by_its_position(
    service: RunningService, listing: dict[str, Any]
) -> None:
    listings = [listing, listing | {"technology": 5}]
    _names(service.post("/predict_batch", {"listings": listings}), "listings", 1, "technology")


def test_an_empty_batch_is_400(service: RunningService) -> None:
    _names(service.post("/predict_batch", {"listings": []}), "listings")


@pytest.mark.parametrize("ref", [{}, {"vehicle_id": 0}, {"vehicle_id": "seven"}])
def test_a_bad_vehicle_ref_is_400_naming_vehicle_id(
    service: RunningService, ref: dict[str, Any]
) -> None:
    _names(service.post("/predict_by_id", ref), "vehicle_id")


def test_a_bad_vehicle_record_is_400_even_for_the_admin(service: RunningService) -> None:
    record = vehicle(5) | {"recommended_price": -3.0}
    _names(service.post("/vehicles", record, headers=service.admin), "recommended_price")


def test_invalid_json_is_400(service: RunningService) -> None:
    reply = httpx.post(
        f"{service.url}/predict", content=b"{", headers={"content-type": "application/json"}
    )
    assert reply.status_code == 400


def test_a_batch_over_the_maximum_is_413_naming_listings(
    service: RunningService, listing: dict[str, Any]
) -> None:
    limit = service.settings.max_batch
    reply = service.post("/predict_batch", {"listings": [listing] * (limit + 1)})
    assert reply.status_code == 413
    assert reply.json()["error"].startswith(f"listings: {limit + 1} items, the maximum is {limit}")
    assert service.post("/predict_batch", {"listings": [listing] * limit}).status_code == 200


def test_a_body_over_the_limit_is_413(service: RunningService, listing: dict[str, Any]) -> None:
    padding = "x" * service.settings.max_request_bytes
    reply = service.post("/predict", listing | {"padding": padding})
    assert reply.status_code == 413
    assert "request body over" in reply.json()["error"]


def test_a_chunked_body_over_the_limit_is_413(service: RunningService) -> None:
    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit must count what streams in
        yield b'{"listings": ['
        for _ in range(service.settings.max_request_bytes // 1024 + 1):
            yield b" " * 1024
        yield b"]}"

    reply = httpx.post(f"{service.url}/predict_batch", content=chunks(), timeout=15)
    assert "content-length" not in reply.request.headers
    assert reply.status_code == 413
