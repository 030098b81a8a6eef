"""The online-feature lookup: a BentoML service that runs inside each predictor worker by
default, or on its own (`bentoml serve service.lookup:OnlineLookup`, FLEETCAST_LOOKUP_URL) for
users who scale it apart. A 0.1 ms Redis read is not worth a process hop of ~1.5 ms of
framework time on both sides (docs/benchmarks.md), so the default pays none."""

from __future__ import annotations

from typing import Any

import bentoml
import redis.asyncio
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from features.local.redis_server import current_url
from features.settings import Settings, get_settings
from features.stores.online import AsyncOnlineStore, OnlineKeys
from service.http import quiet_client_errors
from service.schemas import StoredVehicle, VehicleFeatures

STORE_DOWN = "the online feature store (Redis) is unreachable"


@bentoml.service(
    workers=1,
    traffic={"timeout": 5},
    logging={"access": {"enabled": False}},
    # Callers' clients otherwise replace their connection pool every 100 calls, closing
    # connections that still carry requests (BentoML issue #5544): under load, failed lookups.
    runner_connection={"max_requests": 2**31 - 1, "max_age": 86400.0},
)
class OnlineLookup:
    """Reads and writes vehicles' features in Redis, with the contract's keys and scripts."""

    def __init__(self) -> None:
        self._settings = get_settings()
        self._store: AsyncOnlineStore | None = None
        self._client: redis.asyncio.Redis | None = None
        quiet_client_errors()  # a down store is reported to the caller, not as a traceback

    def _connect(self) -> AsyncOnlineStore:
        if self._store is None:
            url = current_url(self._settings)
            if url is None:
                raise bentoml.exceptions.ServiceUnavailable(f"{STORE_DOWN}: none configured")
            # Short timeouts: a down store must answer 503 quickly, not hold requests. One
            # retry, on a fresh connection: a worker's event loop held over 1 s (seen twice in
            # CI while it loaded a shadow) made a late but healthy reply look like a dead store.
            self._client = redis.asyncio.Redis.from_url(
                url,
                socket_connect_timeout=0.5,
                socket_timeout=1.0,
                health_check_interval=5,
                retry=Retry(NoBackoff(), retries=1),
            )
            keys = OnlineKeys(self._settings.redis_key_prefix)
            self._store = AsyncOnlineStore(self._client, keys)
        return self._store

    async def close(self) -> None:
        """Release the Redis connections (a worker's shutdown, when the lookup runs inside it)."""
        if self._client is not None:
            await self._client.aclose()

    @bentoml.api
    async def features(self, vehicle_ids: list[int]) -> VehicleFeatures:
        """Feature vectors (contract order) of the ids, null for unknown ones."""
        try:
            snapshot, values = await self._connect().read(vehicle_ids)
        except (RedisError, OSError) as error:
            raise bentoml.exceptions.ServiceUnavailable(STORE_DOWN) from error
        return VehicleFeatures(
            snapshot_id=snapshot,
            features=[list(v.values()) if v is not None else None for v in values],
        )

    @bentoml.api
    async def store(self, vehicle_id: int, value: str) -> StoredVehicle:
        """Put one vehicle's encoded features into the current snapshot."""
        try:
            snapshot = await self._connect().put(vehicle_id, value)
        except (RedisError, OSError) as error:
            raise bentoml.exceptions.ServiceUnavailable(STORE_DOWN) from error
        return StoredVehicle(snapshot_id=snapshot)


class LookupHandle:
    """The lookup's two calls wherever it runs: an `OnlineLookup` inside this worker, or a
    client of the one at FLEETCAST_LOOKUP_URL (made at first use, inside the worker's loop)."""

    def __init__(self, settings: Settings) -> None:
        self._url = settings.lookup_url
        self._local = OnlineLookup() if self._url is None else None
        self._remote: Any = None

    async def _call(self, api: str, **arguments: Any) -> Any:
        if self._local is not None:
            local = self._local.to_async  # type: ignore[attr-defined]  # set by BentoML
            return await getattr(local, api)(**arguments)
        if self._remote is None:
            self._remote = bentoml.depends(on=OnlineLookup, url=self._url).get()
        # `call` by name: the client's per-API methods exist only once it has fetched the schema.
        return await self._remote.to_async.call(api, **arguments)

    async def features(self, vehicle_ids: list[int]) -> VehicleFeatures:
        # A remote answer comes back as JSON: validated into the same type as a local one.
        found = await self._call("features", vehicle_ids=vehicle_ids)
        return VehicleFeatures.model_validate(found)

    async def store(self, vehicle_id: int, value: str) -> StoredVehicle:
        stored = await self._call("store", vehicle_id=vehicle_id, value=value)
        return StoredVehicle.model_validate(stored)

    async def close(self) -> None:
        """Release the connections (the worker's shutdown)."""
        if self._local is not None:
            await self._local.close()
        elif self._remote is not None:
            await self._remote.close()
