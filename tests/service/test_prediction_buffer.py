"""A worker's prediction-log buffer against a real Redis: one write per flush, nothing lost
while Redis is down (up to the buffer bound), everything written at a clean stop."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import numpy as np
import polars as pl
import pytest
import redis

from features.contract.formulas import FEATURE_NAMES
from features.contract.prediction_log import LOWER, PREDICTION, UPPER, decode
from features.settings import Settings
from features.stores.online import OnlineKeys
from service.prediction_buffer import PredictionLog, RequestPredictions

if TYPE_CHECKING:
    from support.service_fixtures import RedisServer

pytestmark = pytest.mark.integration


def _settings(server: RedisServer, buffer: int = 1000) -> Settings:
    return Settings(
        redis_url=server.url, redis_key_prefix="buffer-test", prediction_log_buffer=buffer
    )


def _request(request_id: str, rows: int = 1) -> RequestPredictions:
    features = np.arange(rows * len(FEATURE_NAMES), dtype=np.float64).reshape(rows, -1)
    return RequestPredictions(
        request_id,
        1_764_000_000.5,
        "/predict",
        "7",
        [None] * rows,
        features,
        np.full(rows, 2.5),
        np.full(rows, 1),
        np.full(rows, 5),
    )


def _entries(server: RedisServer, settings: Settings) -> pl.DataFrame:
    client = redis.Redis.from_url(server.url)
    return decode(client.xrange(OnlineKeys(settings.redis_key_prefix).prediction_log))


def _stored(server: RedisServer, settings: Settings) -> list[str]:
    return _entries(server, settings)["request_id"].to_list()


def test_a_flush_writes_every_row_of_every_request_in_order(fresh_redis: RedisServer) -> None:
    settings = _settings(fresh_redis)
    log = PredictionLog(settings)
    log.record(_request("a"))
    log.record(_request("b", rows=3))
    assert asyncio.run(log.flush()) == 4
    stored = _entries(fresh_redis, settings)
    assert stored["request_id"].to_list() == ["a", "b", "b", "b"]
    assert stored.select(PREDICTION, LOWER, UPPER).unique().rows() == [(2.5, 1, 5)]
    assert stored["stream_id"].n_unique() == 1  # the whole flush is one stream entry
    assert asyncio.run(log.flush()) == 0  # nothing pending: no write


def test_while_redis_is_down_predictions_wait_and_are_written_when_it_is_back(
    fresh_redis: RedisServer,
) -> None:
    settings = _settings(fresh_redis)
    log = PredictionLog(settings)
    fresh_redis.stop()

    async def while_down() -> None:
        log.record(_request("before"))
        with pytest.raises((redis.RedisError, OSError)):
            await log.flush()
        log.record(_request("during"))

    asyncio.run(while_down())
    fresh_redis.start()
    assert asyncio.run(log.flush()) == 2
    assert _stored(fresh_redis, settings) == ["before", "during"]


def test_past_the_buffer_bound_the_oldest_are_dropped(fresh_redis: RedisServer) -> None:
    settings = _settings(fresh_redis, buffer=5)
    log = PredictionLog(settings)
    for i in range(8):
        log.record(_request(f"r{i}"))
    assert asyncio.run(log.flush()) == 5
    assert _stored(fresh_redis, settings) == ["r3", "r4", "r5", "r6", "r7"]


def test_a_clean_stop_writes_what_is_pending(fresh_redis: RedisServer) -> None:
    settings = _settings(fresh_redis)

    async def serve_then_stop() -> None:
        log = PredictionLog(settings)
        log.start()
        log.record(_request("last"))
        await log.close()  # the worker stops before the next periodic flush

    asyncio.run(serve_then_stop())
    assert _stored(fresh_redis, settings) == ["last"]


def test_a_stop_during_a_flush_still_writes_that_flush(fresh_redis: RedisServer) -> None:
    """The periodic flush has taken the batch and is mid-write when the worker stops."""
    settings = _settings(fresh_redis)

    async def stop_mid_flush() -> None:
        log = PredictionLog(settings)
        write, writing = log._append, asyncio.Event()

        async def unanswered(entries: object) -> None:
            writing.set()
            try:
                await asyncio.sleep(3600)  # the write has not returned when the stop comes
            finally:
                for _ in range(5):  # cancelled, redis-py tears its pipeline down over a few turns
                    await asyncio.sleep(0)

        log._append = unanswered  # type: ignore[method-assign]
        log.start()
        log.record(_request("in flight"))
        await asyncio.wait_for(writing.wait(), 10)
        log._append = write  # type: ignore[method-assign]
        await log.close(timeout=0.5)

    asyncio.run(stop_mid_flush())
    assert _stored(fresh_redis, settings) == ["in flight"]
