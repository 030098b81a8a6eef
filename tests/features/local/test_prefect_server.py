"""The local Prefect server the tests (and `make run`) use."""

from __future__ import annotations

import httpx


def test_the_ui_talks_to_this_server_not_the_default_port(prefect_server: str) -> None:
    ui_settings = httpx.get(prefect_server.removesuffix("/api") + "/ui-settings").json()
    assert ui_settings["api_url"] == prefect_server
