"""Settings read from the environment the way compose's env files and operators set them."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from features.settings import Settings
from service.http import admin_refusal


def test_an_empty_variable_means_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    # `.env.example` ships `FLEETCAST_ADMIN_TOKEN=`: that must keep the admin routes disabled,
    # not accept `Authorization: Bearer ` (an empty token compares equal to an empty guess).
    monkeypatch.setenv("FLEETCAST_ADMIN_TOKEN", "")
    monkeypatch.setenv("FLEETCAST_DASK_ADDRESS", "")
    settings = Settings()
    assert settings.admin_token is None and settings.dask_address is None
    refusal = admin_refusal(settings, "Bearer ")
    assert refusal is not None and refusal[0] == 403


def test_a_short_admin_token_is_refused_naming_the_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLEETCAST_ADMIN_TOKEN", "hunter2")
    with pytest.raises(ValidationError, match="admin_token"):
        Settings()


def test_a_lookup_url_must_be_an_http_address(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLEETCAST_LOOKUP_URL", "")  # compose passes it empty: the default
    assert Settings().lookup_url is None
    monkeypatch.setenv("FLEETCAST_LOOKUP_URL", "http://lookup:3001")
    assert Settings().lookup_url == "http://lookup:3001"
    monkeypatch.setenv("FLEETCAST_LOOKUP_URL", "lookup:3001")
    with pytest.raises(ValidationError, match="lookup_url"):
        Settings()


def test_cors_origins_are_a_json_list(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().cors_origins == []
    monkeypatch.setenv("FLEETCAST_CORS_ORIGINS", '["https://ops.example", "http://127.0.0.1:8080"]')
    assert Settings().cors_origins == ["https://ops.example", "http://127.0.0.1:8080"]
