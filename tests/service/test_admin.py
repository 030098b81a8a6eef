"""Admin routes (/vehicles, /reload) need the bearer token; with none configured, they are off."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest
from support.factories import vehicle

from features.settings import Settings
from service.http import admin_refusal

if TYPE_CHECKING:
    from support.service_fixtures import RunningService

WRONG_AUTH: dict[str, Callable[[str], str | None]] = {  # case -> header, given the real token
    "no header": lambda _: None,
    "a wrong token": lambda _: "Bearer not-the-token",
    "the token with a suffix": lambda token: f"Bearer {token}x",
    "the token without a scheme": lambda token: token,
    "another scheme": lambda token: f"Basic {token}",
}


def _headers(case: str, service: RunningService) -> dict[str, str]:
    header = WRONG_AUTH[case](service.settings.admin_token.get_secret_value())
    return {} if header is None else {"Authorization": header}


@pytest.mark.integration
@pytest.mark.parametrize("case", list(WRONG_AUTH))
def test_registering_a_vehicle_without_the_token_is_401_and_writes_nothing(
    service: RunningService, case: str
) -> None:
    vehicle_id = random.randint(20_000_001, 30_000_000)
    headers = _headers(case, service)
    reply = service.post("/vehicles", vehicle(vehicle_id), headers=headers)
    assert reply.status_code == 401
    assert "Authorization: Bearer" in reply.json()["error"]
    assert service.post("/predict_by_id", {"vehicle_id": vehicle_id}).status_code == 404
    assert not list(service.settings.landing_dir.glob(f"api-vehicle-{vehicle_id}-*.csv"))


@pytest.mark.integration
@pytest.mark.parametrize("case", list(WRONG_AUTH))
def test_reloading_without_the_token_is_401(service: RunningService, case: str) -> None:
    headers = _headers(case, service)
    reply = service.post("/reload", {}, headers=headers)
    assert reply.status_code == 401


@pytest.mark.integration
def test_an_invalid_body_without_the_token_is_refused_before_it_is_read(
    service: RunningService,
) -> None:
    reply = service.post("/vehicles", {"vehicle_id": "not even a number"})
    assert reply.status_code == 401  # not a 400 listing the contract's fields


def test_with_no_token_configured_admin_routes_are_403_even_with_a_header() -> None:
    refusal = admin_refusal(Settings(admin_token=None), "Bearer anything")
    assert refusal is not None and refusal[0] == 403
    assert "FLEETCAST_ADMIN_TOKEN" in refusal[1]


def test_the_configured_token_is_let_through() -> None:
    assert (
        admin_refusal(Settings(admin_token="s3cret-0123456789"), "Bearer s3cret-0123456789") is None
    )
    assert (
        admin_refusal(Settings(admin_token="s3cret-0123456789"), "bearer s3cret-0123456789") is None
    )
    assert (
        admin_refusal(Settings(admin_token="s3cret-0123456789"), "Bearer s3cret-012345678")[0]
        == 401
    )
