"""The predictor's side of the lookup hop: concurrent by-id reads coalesced into one call.

A hop to the lookup process costs milliseconds of framework time on both sides, far more than
the Redis read behind it. So while one call is in flight, the ids that arrive wait and then go
together in the next call: one hop and one Redis round trip for all of them. A lone request
goes at once, so coalescing adds no wait at low load.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import TypeVar

import aiohttp

from service.schemas import VehicleFeatures

T = TypeVar("T")
MAX_IDS_PER_CALL = 256  # bounds one Redis script call and one payload
Fetch = Callable[[list[int]], Awaitable[VehicleFeatures]]


async def retried_once(call: Callable[[], Awaitable[T]]) -> T:
    """`call()`, again once if the connection to the lookup process dropped (a restart, or a
    kept-alive connection it closed). Both lookup routes are idempotent, so a repeat is safe."""
    try:
        return await call()
    except aiohttp.ClientConnectionError:
        return await call()


class CoalescingLookup:
    """Feature vectors by vehicle id, many concurrent callers sharing each call to `fetch`."""

    def __init__(self, fetch: Fetch, max_ids: int = MAX_IDS_PER_CALL) -> None:
        if max_ids < 1:
            raise ValueError(f"max_ids: {max_ids}, a call needs room for at least one id")
        self._fetch = fetch
        self._max_ids = max_ids
        self._waiting: dict[int, list[asyncio.Future[list[float] | None]]] = {}
        self._draining: asyncio.Task[None] | None = None

    async def features(self, vehicle_id: int) -> list[float] | None:
        """The id's features in contract order, None if unknown; raises what the call raised."""
        answer: asyncio.Future[list[float] | None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(vehicle_id, []).append(answer)
        if self._draining is None or self._draining.done():
            self._draining = asyncio.create_task(self._drain())
        return await answer

    async def _drain(self) -> None:
        while self._waiting:
            ids = list(self._waiting)[: self._max_ids]
            batch = {vehicle_id: self._waiting.pop(vehicle_id) for vehicle_id in ids}
            try:
                found = await retried_once(functools.partial(self._fetch, ids))
            except Exception as error:  # every caller of this call gets the failure
                _settle(batch, error=error)
            else:
                _settle(batch, values=dict(zip(ids, found.features, strict=True)))


def _settle(
    batch: dict[int, list[asyncio.Future[list[float] | None]]],
    values: dict[int, list[float] | None] | None = None,
    error: Exception | None = None,
) -> None:
    for vehicle_id, answers in batch.items():
        for answer in answers:
            if answer.done():  # its request was cancelled (client gone, timeout)
                continue
            if error is not None:
                answer.set_exception(error)
            else:
                answer.set_result((values or {})[vehicle_id])
