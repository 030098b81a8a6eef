"""The in-worker lookup against a real Redis behind a proxy that can hold replies back: one
late reply is retried on a fresh connection, a store that never answers in time is a 503 in
about 4 s (two tries of two 1 s reads: the connection's handshake, then the read)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import bentoml
import pytest

from features.settings import Settings
from service.lookup import LookupHandle

LATE_S = 1.5  # beyond the lookup's 1 s socket timeout


class HoldingProxy:
    """Forwards TCP to Redis; the first `late` connections get their replies `LATE_S` late."""

    def __init__(self, target_port: int, late: int) -> None:
        self.target_port, self.late, self.connections = target_port, late, 0

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float
    ) -> None:
        try:
            while data := await reader.read(65536):
                await asyncio.sleep(delay)
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        self.connections += 1
        delay = LATE_S if self.connections <= self.late else 0.0
        redis_r, redis_w = await asyncio.open_connection("127.0.0.1", self.target_port)
        await asyncio.gather(
            self._pipe(client_r, redis_w, 0.0), self._pipe(redis_r, client_w, delay)
        )


async def _lookup_through(
    redis_url: str, late: int, monkeypatch: pytest.MonkeyPatch
) -> tuple[float, object, int]:
    proxy = HoldingProxy(int(redis_url.rsplit(":", 1)[1].split("/")[0]), late)
    server = await asyncio.start_server(proxy.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{port}")
    handle = LookupHandle(Settings())
    started = time.monotonic()
    try:
        answer: object = await handle.features([1])
    except bentoml.exceptions.ServiceUnavailable as error:
        answer = error
    waited = time.monotonic() - started
    await handle.close()
    server.close()
    return waited, answer, proxy.connections


@pytest.fixture
def lookup_env(redis_url: str, home: object) -> Iterator[str]:
    yield redis_url


def test_one_late_reply_is_retried_on_a_fresh_connection(
    lookup_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    waited, answer, connections = asyncio.run(_lookup_through(lookup_env, 1, monkeypatch))
    assert not isinstance(answer, Exception), answer
    assert connections == 2 and waited < LATE_S + 1


def test_a_store_that_never_answers_in_time_is_a_503_within_seconds(
    lookup_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    waited, answer, _ = asyncio.run(_lookup_through(lookup_env, 10, monkeypatch))
    assert isinstance(answer, bentoml.exceptions.ServiceUnavailable)
    assert "unreachable" in str(answer) and waited < 5
