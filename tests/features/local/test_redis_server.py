"""The embedded Redis: a real server process, reused while up, data kept across restarts."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from features.local.redis_server import redis_client, redis_url, running_embedded_url
from features.settings import Settings


@pytest.fixture
def embedded(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home", redis_url=None)


def test_starts_a_server_and_stops_it_with_the_data_saved(embedded: Settings) -> None:
    with redis_client(embedded) as client:
        client.set("kept", "yes")
        assert running_embedded_url(embedded) is not None
    assert running_embedded_url(embedded) is None
    assert (embedded.redis_dir / "dump.rdb").exists()
    with redis_client(embedded) as client:
        assert client.get("kept") == b"yes"


def test_a_running_server_is_reused_and_not_stopped_by_a_guest(embedded: Settings) -> None:
    with redis_url(embedded) as owner_url:
        with redis_url(embedded) as guest_url:
            assert guest_url == owner_url
        assert redis.Redis.from_url(owner_url).ping()  # the guest's exit left it running


def test_a_configured_url_is_used_as_is(embedded: Settings, redis_url: str) -> None:
    configured = Settings(home=embedded.home, redis_url=redis_url)
    with redis_client(configured) as client:
        assert client.ping()
    assert not embedded.redis_dir.exists()  # no embedded server was started
