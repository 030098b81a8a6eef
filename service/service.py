"""The fleetcast BentoML service: the champion behind /predict, /predict_by_id, /predict_batch.

Each worker process loads the champion at startup (before accepting requests) and keeps it
current through a Reloader. Request handlers read the served version once, so a response's
values and ranges are always computed and labeled by the same version, whatever a concurrent
reload does.
"""

import asyncio
import time
import uuid
from collections.abc import Sequence
from typing import Any, TypeAlias, TypeVar, Union, cast

import bentoml
import numpy as np
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from starlette.responses import FileResponse, JSONResponse

from features.contract.formulas import FEATURE_NAMES, feature_matrix, features_of
from features.contract.schema import ENTITY
from features.settings import get_settings
from features.stores.model_registry import RegistryUnreachable
from features.stores.online import encode_rows
from features.stores.reports import latest_drift_report
from service import metrics, model_card, page
from service.champion import Served, worker_pid
from service.forecasts import (
    Forecasts,
    batch_prediction,
    forecast,
    prediction,
    registered,
)
from service.http import (
    REQUEST_ID_HEADER,
    VERSION_HEADER,
    AdminGate,
    BodySizeLimit,
    JsonOnly,
    PublishedSpec,
    cors,
    error,
    invalid_request,
    quiet_client_errors,
)
from service.landing import land
from service.lookup import LookupHandle
from service.lookup_client import CoalescingLookup, retried_once
from service.model_schemas import DriftReportInfo, ModelHistory, ModelInfo, ReloadAttempt, Workers
from service.prediction_buffer import PredictionLog
from service.reloader import Reloader, Slot
from service.replies import (
    LOOKUP_DOWN,
    NO_DRIFT_REPORT,
    NOT_READY,
    REPORT_HEADERS,
    not_finite,
    not_online,
)
from service.schemas import (
    Batch,
    BatchPrediction,
    Listing,
    OnlineVehicle,
    Prediction,
    Registered,
    Vehicle,
    VehicleId,
    VehicleRef,
)
from service.workers import live_workers

# A route answers its schema's body, or an error reply (ErrorBody) with its status. BentoML
# takes the schema from `output_spec`, so the annotation can say both.
T = TypeVar("T", bound=BaseModel)
Reply: TypeAlias = Union[T, JSONResponse]  # noqa: UP007 (a generic alias needs Union)
_CONFIG = get_settings()  # BentoML takes its worker count, limits and CORS at class definition
STARTUP_ATTEMPTS = 3
# BentoML's Swagger UI at `/` documents every route and works offline; FastAPI's own /docs
# and /redoc would load Swagger from a CDN (blank offline) and show only this app's routes.
info_app = FastAPI(title="fleetcast model info", docs_url=None, redoc_url=None, openapi_url=None)
info_app.include_router(page.router)
info_app.add_exception_handler(RequestValidationError, invalid_request)


@bentoml.asgi_app(info_app, path="/")
@bentoml.service(
    workers=_CONFIG.service_workers,
    # A short timeout: BentoML keeps each request's timer alive this long (GC pressure).
    traffic={"timeout": 10},
    logging={"access": {"enabled": False}},
    http={"cors": cors(_CONFIG.cors_origins)},
)
class Fleetcast:
    """Forecast reservations for a listing with the current champion model."""

    def __init__(self) -> None:
        self.settings = get_settings()
        self.slot = Slot()
        self.reloader = Reloader(self.settings, self.slot)
        self.lookup = LookupHandle(self.settings)
        self.online = CoalescingLookup(lambda ids: self.lookup.features(vehicle_ids=ids))
        self.log = PredictionLog(self.settings, lambda: self.slot.shadow)
        self._tasks: list[Any] = []

    @bentoml.on_startup
    async def load_then_follow(self) -> None:
        """Load before accepting requests, then follow promotions for the worker's lifetime."""
        quiet_client_errors()
        metrics.forget_dead_workers()
        for attempt in range(STARTUP_ATTEMPTS):
            # Workers start together; a fresh SQLite MLflow store can fail one of them while
            # another migrates it, so a failed first load is retried before leaving it to the poll.
            if (await self.reloader.reload("startup")).outcome != "failed":
                break
            await asyncio.sleep(1 + attempt)
        self._tasks = [
            asyncio.create_task(self.reloader.listen_forever()),
            asyncio.create_task(self.reloader.poll_forever()),
        ]
        self.log.start()

    @bentoml.on_shutdown
    async def stop_following(self) -> None:
        for task in self._tasks:
            task.cancel()
        await self.log.close()  # a clean stop loses no logged prediction
        await self.lookup.close()

    async def __metrics__(self, content: str) -> str:
        return metrics.without_retired(content)

    async def __is_ready__(self) -> bool:
        return self.slot.served is not None

    def _serve(self, ctx: bentoml.Context) -> Served | JSONResponse:
        served = self.slot.served
        if served is None:
            return error(ctx, 503, NOT_READY)
        ctx.response.headers[VERSION_HEADER] = served.version
        return served

    def _logged(
        self,
        ctx: bentoml.Context,
        route: str,
        served: Served,
        features: np.ndarray,
        vehicle_ids: Sequence[int | None] | None = None,
    ) -> Forecasts:
        """Forecast `features` with `served`; count and log the answers under a request id."""
        answer = forecast(served, features)
        request_id = uuid.uuid4().hex
        ctx.response.headers[REQUEST_ID_HEADER] = request_id
        ids = vehicle_ids if vehicle_ids is not None else [None] * len(answer.values)
        if self.settings.prediction_log:
            self.log.record(answer.logged(request_id, route, ids, features))
        metrics.PREDICTIONS.labels(route, served.version).inc(len(answer.values))
        for found in answer.outside:
            metrics.OUT_OF_RANGE.labels(found.feature).inc()
        return answer

    @bentoml.api(output_spec=Prediction)
    async def predict(self, listing: Listing, /, ctx: bentoml.Context) -> Reply[Prediction]:  # type: ignore[valid-type]
        """Forecast reservations for a listing's raw attributes."""
        served = self._serve(ctx)
        if isinstance(served, JSONResponse):
            return served
        features = feature_matrix([listing])
        if (refused := not_finite(ctx, features)) is not None:
            return refused
        return prediction(self._logged(ctx, metrics.PREDICT, served, features))

    @bentoml.api(output_spec=BatchPrediction)
    async def predict_batch(self, batch: Batch, /, ctx: bentoml.Context) -> Reply[BatchPrediction]:
        """Forecast reservations for up to FLEETCAST_MAX_BATCH listings at once."""
        if len(batch.listings) > self.settings.max_batch:
            return error(
                ctx,
                413,
                f"listings: {len(batch.listings)} items, the maximum is "
                f"{self.settings.max_batch} (FLEETCAST_MAX_BATCH)",
            )
        served = self._serve(ctx)
        if isinstance(served, JSONResponse):
            return served
        features = feature_matrix(batch.listings)
        if (refused := not_finite(ctx, features, "listings")) is not None:
            return refused
        return batch_prediction(self._logged(ctx, metrics.PREDICT_BATCH, served, features))

    @bentoml.api(output_spec=Prediction)
    async def predict_by_id(self, ref: VehicleRef, /, ctx: bentoml.Context) -> Reply[Prediction]:
        """Forecast reservations for a known vehicle from its online features."""
        served = self._serve(ctx)
        if isinstance(served, JSONResponse):
            return served
        started = time.perf_counter()
        try:
            values = await self.online.features(ref.vehicle_id)
        except Exception:  # store down, or a lookup served apart overloaded or restarting
            metrics.LOOKUP_ERRORS.inc()
            return error(ctx, 503, f"{LOOKUP_DOWN}; POST /predict with the attributes still works")
        metrics.LOOKUP_SECONDS.observe(time.perf_counter() - started)
        if values is None:
            metrics.LOOKUP_MISSES.inc()
            return error(ctx, 404, not_online(ref.vehicle_id))
        row = np.asarray([values], dtype=np.float64)
        return prediction(self._logged(ctx, metrics.PREDICT_BY_ID, served, row, [ref.vehicle_id]))

    @bentoml.api(output_spec=Registered)
    async def vehicles(self, vehicle: Vehicle, /, ctx: bentoml.Context) -> Reply[Registered]:  # type: ignore[valid-type]
        """Register a listing (admin): online at once, in the raw store after the next ingest."""
        served = self._serve(ctx)
        if isinstance(served, JSONResponse):
            return served
        row = feature_matrix([vehicle])
        if (refused := not_finite(ctx, row)) is not None:
            return refused  # before anything is stored
        features = features_of([vehicle])
        vehicle_id = int(getattr(vehicle, ENTITY))  # Vehicle is built from the contract's model
        try:
            encoded = encode_rows(features)[vehicle_id]
            stored = await retried_once(
                lambda: self.lookup.store(vehicle_id=vehicle_id, value=encoded)
            )
        except Exception:  # as above: never a 500 for a dependency's failure
            return error(ctx, 503, f"{LOOKUP_DOWN}: the listing was not registered")
        if stored.snapshot_id is None:
            return error(ctx, 409, "no online snapshot yet: run the pipeline first")
        land(self.settings, vehicle)
        return registered(self._logged(ctx, "/vehicles", served, row, [vehicle_id]), vehicle_id)

    @bentoml.api
    async def reload(self, ctx: bentoml.Context) -> ReloadAttempt:
        """Reload the champion in the worker that answers (admin). The other workers follow at
        their next alias poll (FLEETCAST_RELOAD_POLL_SECONDS) or promotion event."""
        return await self.reloader.reload("api")

    @info_app.get("/model", response_model=ModelInfo)
    async def model(self) -> Any:
        """What this worker serves: version, lineage, scores against the yardsticks, interval
        calibration, backend, last reload."""
        served = self.slot.served
        if served is None:
            return JSONResponse({"error": NOT_READY, "last_reload": _dump(self.slot.last)}, 503)
        return model_card.model_info(self.settings, self.slot, served)

    @info_app.get("/model/history", response_model=ModelHistory)
    async def model_history(self) -> Any:
        """Every promotion, rejection and rollback of the registered model, newest first."""
        try:
            return await model_card.history(self.settings)
        except (RegistryUnreachable, TimeoutError) as failure:
            reason = str(failure) or "the MLflow tracking store did not answer in time"
            return JSONResponse({"error": f"history unavailable: {reason}"}, 503)

    @info_app.get("/workers", response_model=Workers)
    async def workers(self) -> Workers:
        """Every live worker's served version and last reload attempt."""
        found = live_workers(self.settings.registered_model)
        return Workers(answered_by=worker_pid(), workers=found)

    @info_app.get("/vehicles/{vehicle_id}", response_model=OnlineVehicle)
    async def online_vehicle(self, vehicle_id: VehicleId) -> Any:
        """A vehicle's features in the online store: what POST /predict_by_id scores."""
        try:
            found = await retried_once(lambda: self.lookup.features(vehicle_ids=[vehicle_id]))
        except Exception:  # as for /predict_by_id: never a 500 for a dependency's failure
            return JSONResponse({"error": LOOKUP_DOWN}, 503)
        values = found.features[0]
        if values is None:
            return JSONResponse({"error": not_online(vehicle_id)}, 404)
        features = dict(zip(FEATURE_NAMES, values, strict=True))
        return OnlineVehicle(
            vehicle_id=vehicle_id, snapshot_id=found.snapshot_id, features=features
        )

    @info_app.get("/drift/latest", response_model=DriftReportInfo)
    async def drift_latest(self) -> Any:
        """The latest drift report in the service's reports folder, and where to open it."""
        report = await asyncio.to_thread(model_card.drift_report, self.settings)
        if report is None:
            return JSONResponse({"error": NO_DRIFT_REPORT}, 404)
        return report

    @info_app.get(model_card.DRIFT_REPORT_URL, include_in_schema=False)
    async def drift_latest_html(self) -> Any:
        """The latest drift report itself (Evidently's HTML)."""
        report = await asyncio.to_thread(latest_drift_report, self.settings)
        if report is None:
            return JSONResponse({"error": NO_DRIFT_REPORT}, 404)
        return FileResponse(report.html, media_type="text/html", headers=REPORT_HEADERS)


def _dump(attempt: ReloadAttempt | None) -> dict[str, str] | None:
    return attempt.model_dump() if attempt else None


# mypy keeps a decorated class's own type; at run time the name is the bentoml.Service.
SERVICE = cast("bentoml.Service[Fleetcast]", Fleetcast)
# The first added is the outermost: size, then token, then media type, each before any parsing.
SERVICE.add_asgi_middleware(PublishedSpec)
SERVICE.add_asgi_middleware(BodySizeLimit, max_bytes=_CONFIG.max_request_bytes)
SERVICE.add_asgi_middleware(AdminGate, settings=_CONFIG)
SERVICE.add_asgi_middleware(JsonOnly)
