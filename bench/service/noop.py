"""The framework's floor: BentoML services that do nothing, configured like fleetcast's.

`Noop` has fleetcast's worker count, traffic timeout and access-log setting. `/noop` answers at
once; `/hop` makes one call to `Echo`, a `bentoml.depends` service in its own worker process
(as fleetcast's `/predict_by_id` calls `OnlineLookup`), and answers with what came back. Both
take `{"vehicle_id": N}`, the body of `/predict_by_id`.

Serve: `bentoml serve bench.service.noop:Noop`.
"""

from __future__ import annotations

import bentoml
from pydantic import BaseModel

from features.settings import get_settings

_CONFIG = get_settings()


class Echoed(BaseModel):
    """What the dependency returns: the ids it was given."""

    vehicle_ids: list[int]


@bentoml.service(workers=1, traffic={"timeout": 5}, logging={"access": {"enabled": False}})
class Echo:
    """A dependency that returns its input (the shape of fleetcast's lookup, without Redis)."""

    @bentoml.api
    async def features(self, vehicle_ids: list[int]) -> Echoed:
        return Echoed(vehicle_ids=vehicle_ids)


@bentoml.service(
    workers=_CONFIG.service_workers,
    traffic={"timeout": 10},
    logging={"access": {"enabled": False}},
)
class Noop:
    """No model, no features: the HTTP + BentoML cost of a request."""

    echo = bentoml.depends(Echo)

    @bentoml.api
    async def noop(self, vehicle_id: int) -> Echoed:
        return Echoed(vehicle_ids=[vehicle_id])

    @bentoml.api
    async def hop(self, vehicle_id: int) -> Echoed:
        return await self.echo.to_async.features(vehicle_ids=[vehicle_id])
