"""Each worker's side of the prediction log: predictions wait in memory and go to the Redis
stream in one call per flush (`APPEND_SCRIPT`: entries of up to `ENTRY_ROWS` rows, the stream
capped in rows), so a request never waits for a write.

Bounds (stated in docs/monitoring.md): a clean stop flushes everything; a crashed worker loses
at most the last `FLEETCAST_PREDICTION_LOG_FLUSH_SECONDS` of its predictions; while Redis is
unreachable a worker keeps up to `FLEETCAST_PREDICTION_LOG_BUFFER` predictions, dropping (and
counting) the oldest beyond that.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import redis.asyncio
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from features.contract.prediction_log import LoggedPrediction
from features.local.redis_server import current_url
from features.settings import Settings
from features.stores.online import OnlineKeys
from features.stores.prediction_stream import APPEND_SCRIPT, append_args
from service import metrics
from service.champion import Served
from service.shadow import ShadowAnswers, score

logger = logging.getLogger("fleetcast.service")


@dataclass(frozen=True, slots=True)
class RequestPredictions:
    """One request's predictions, kept as the arrays the model saw until the flush."""

    request_id: str
    at: float
    route: str
    model_version: str
    vehicle_ids: Sequence[int | None]
    features: np.ndarray  # rows x FEATURE_NAMES
    predictions: np.ndarray
    lower: np.ndarray  # each prediction's interval (int64, as answered)
    upper: np.ndarray

    def entries(
        self, shadow: ShadowAnswers | None = None, offset: int = 0
    ) -> list[LoggedPrediction]:
        """The log's rows; with the shadow's answers to them from row `offset` of `shadow`."""
        rows = zip(
            self.vehicle_ids,
            self.features.tolist(),
            self.predictions.tolist(),
            self.lower.tolist(),
            self.upper.tolist(),
            strict=True,
        )
        request, stamped, route, version = self.request_id, self.at, self.route, self.model_version
        if shadow is None:
            return [
                LoggedPrediction(request, i, stamped, route, version, *row)
                for i, row in enumerate(rows)
            ]
        end = offset + len(self.predictions)
        answers = zip(
            shadow.predictions[offset:end].tolist(),
            shadow.lower[offset:end].tolist(),
            shadow.upper[offset:end].tolist(),
            strict=True,
        )
        return [
            LoggedPrediction(request, i, stamped, route, version, *row, shadow.version, *answer)
            for i, (row, answer) in enumerate(zip(rows, answers, strict=True))
        ]


def entries_of(
    batch: Sequence[RequestPredictions], shadow: ShadowAnswers | None
) -> list[LoggedPrediction]:
    """Every row of `batch`, each with the shadow's answer when there is one."""
    found: list[LoggedPrediction] = []
    for request in batch:
        found.extend(request.entries(shadow, len(found)))
    return found


class PredictionLog:
    """A worker's buffer of served predictions and the task that flushes it to Redis."""

    def __init__(
        self, settings: Settings, shadow: Callable[[], Served | None] = lambda: None
    ) -> None:
        self._settings = settings
        self._shadow = shadow  # the worker's shadow now: scored at each flush
        self._key = OnlineKeys(settings.redis_key_prefix).prediction_log
        self._pending: deque[RequestPredictions] = deque()
        self._rows = 0
        self._append_script: AsyncScript | None = None
        self._failing = False
        self._flusher: asyncio.Task[None] | None = None
        self._closing = False
        self._wake = asyncio.Event()  # set by close(): the flusher stops between two flushes

    def start(self) -> None:
        """Flush every `prediction_log_flush_seconds` from now on (in the running event loop)."""
        self._flusher = asyncio.create_task(self.flush_forever())

    def record(self, request: RequestPredictions) -> None:
        """Keep one request's predictions for the next flush: no I/O, O(1). (The buffered
        gauge is set by each flush attempt, every flush interval, not per request.)"""
        self._pending.append(request)
        self._rows += len(request.predictions)
        while self._rows > self._settings.prediction_log_buffer and len(self._pending) > 1:
            dropped = self._pending.popleft()
            self._rows -= len(dropped.predictions)
            metrics.LOG_DROPPED.inc(len(dropped.predictions))

    async def flush(self) -> int:
        """Append everything pending to the stream in one round trip; the count written.
        On failure the entries go back to the front of the buffer and the error is raised."""
        if not self._pending:
            return 0
        batch, self._pending, rows = self._pending, deque(), self._rows
        self._rows = 0
        try:
            await self._append(await self._entries(batch))
        except BaseException:
            self._pending.extendleft(reversed(batch))
            self._rows += rows
            raise
        finally:
            metrics.LOG_BUFFERED.set(self._rows)
        metrics.LOG_WRITTEN.inc(rows)
        return rows

    async def _entries(self, batch: Sequence[RequestPredictions]) -> list[LoggedPrediction]:
        """The batch's log rows, scored by the shadow first when the worker has one: in a
        thread, so requests keep being answered while it predicts."""
        shadow = self._shadow()
        if shadow is None:
            return entries_of(batch, None)
        features = [request.features for request in batch]
        champion = [request.predictions for request in batch]
        answers = await asyncio.to_thread(score, shadow, features, champion)
        return entries_of(batch, answers)

    async def flush_forever(self) -> None:
        """Flush every `prediction_log_flush_seconds`; an unreachable Redis is retried, and
        logged once per outage."""
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._wake.wait(), self._settings.prediction_log_flush_seconds
                )
            if self._closing:
                return  # close() makes the last flush
            try:
                await self.flush()
            except (RedisError, OSError, ConnectionError) as error:
                if not self._failing:
                    logger.warning("prediction log: Redis unreachable (%s); buffering", error)
                self._failing = True
                self._append_script = None
                continue
            if self._failing:
                logger.info("prediction log: Redis back; buffered predictions written")
            self._failing = False

    async def close(self, timeout: float = 5.0) -> None:
        """Stop the periodic flush, then flush once more: nothing pending is lost if Redis
        answers."""
        self._closing = True
        self._wake.set()
        if self._flusher is not None:
            # Let a flush in flight finish rather than cancel it: cancelled after its XADDs went
            # out, it would be written twice; and it puts its batch back only once redis-py has
            # torn its pipeline down, after the last flush had found nothing (a lost batch).
            done, _ = await asyncio.wait({self._flusher}, timeout=timeout)
            if not done:  # a write that hangs: give up on it, its batch goes back to the buffer
                self._flusher.cancel()
                await asyncio.wait({self._flusher}, timeout=timeout)
        try:
            await asyncio.wait_for(self.flush(), timeout)
        except (RedisError, OSError, ConnectionError, TimeoutError) as error:
            logger.error("prediction log: %d predictions lost at stop: %s", self._rows, error)

    async def _append(self, entries: list[LoggedPrediction]) -> None:
        args = append_args(self._settings.prediction_log_max_stream, entries)
        await self._connect()(keys=[self._key], args=args)

    def _connect(self) -> AsyncScript:
        """The append script, on a client made on first use (and after a failure)."""
        if self._append_script is None:
            url = current_url(self._settings)
            if url is None:
                raise ConnectionError("no Redis configured or running")
            client = redis.asyncio.Redis.from_url(
                url, socket_connect_timeout=0.5, socket_timeout=2.0
            )
            self._append_script = client.register_script(APPEND_SCRIPT)
        return self._append_script
