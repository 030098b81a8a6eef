"""The online-feature lookup, a separate BentoML service the predictor depends on."""

from __future__ import annotations

import bentoml
import redis.asyncio
from redis.exceptions import RedisError

from features.local.redis_server import current_url
from features.settings import get_settings
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
        quiet_client_errors()  # a down store is reported to the caller, not as a traceback

    def _connect(self) -> AsyncOnlineStore:
        if self._store is None:
            url = current_url(self._settings)
            if url is None:
                raise bentoml.exceptions.ServiceUnavailable(f"{STORE_DOWN}: none configured")
            # Short timeouts: a down store must answer 503 quickly, not hold requests.
            client = redis.asyncio.Redis.from_url(
                url, socket_connect_timeout=0.5, socket_timeout=1.0, health_check_interval=5
            )
            self._store = AsyncOnlineStore(client, OnlineKeys(self._settings.redis_key_prefix))
        return self._store

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
