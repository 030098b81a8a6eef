"""Where the time of one request goes: each piece of the request paths timed alone, in-process.

The pieces of fleetcast's /predict (validating the body, building the record, the features
through the shared Polars formulas, the ONNX call on the champion as the service loads it), of
/predict_by_id (the Redis read that the lookup service does, here without the hop to it), and
of the baseline's handler (pandas features, the RandomForest with n_jobs=-1 and with 1). Also
a numpy restatement of the features, the cheaper path proposed for the service, checked equal.

Run as a child (FLEETCAST_HOME and REDIS_URL in its environment):
`python -m bench.service.parts LISTING_JSON VEHICLE_ID BASELINE_MODEL`; prints one JSON line.
"""

from __future__ import annotations

import asyncio
import json
import pickle
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
import pandas as pd

from bench.children import emit
from bench.service.baseline import COLUMNS, add_features

Stats = dict[str, float]


def _stats(nanos: list[int]) -> Stats:
    ordered = sorted(nanos)
    return {
        "median_us": ordered[len(ordered) // 2] / 1e3,
        "p99_us": ordered[int(len(ordered) * 0.99)] / 1e3,
        "calls": len(ordered),
    }


def timed(call: Callable[[], Any], calls: int, warm: int = 20) -> Stats:
    """Per-call wall time of `call`, after `warm` untimed calls."""
    for _ in range(warm):
        call()
    nanos = []
    for _ in range(calls):
        started = time.perf_counter_ns()
        call()
        nanos.append(time.perf_counter_ns() - started)
    return _stats(nanos)


async def timed_async(call: Callable[[], Awaitable[Any]], calls: int, warm: int = 20) -> Stats:
    for _ in range(warm):
        await call()
    nanos = []
    for _ in range(calls):
        started = time.perf_counter_ns()
        await call()
        nanos.append(time.perf_counter_ns() - started)
    return _stats(nanos)


def fleetcast_parts(body: str) -> dict[str, Stats]:
    """The /predict path, piece by piece, with the champion the service would load."""
    from features.contract.formulas import FEATURE_NAMES, feature_matrix, features_of
    from features.contract.schema import VehicleRecord
    from features.settings import get_settings
    from service.champion import champion_version, load
    from service.forecasts import forecast, prediction
    from service.schemas import Listing

    served = load(get_settings(), champion_version(get_settings()))
    listing = Listing.model_validate_json(body)
    record = VehicleRecord(vehicle_id=1, **listing.model_dump())
    matrix = feature_matrix([listing])

    def polars_row() -> np.ndarray:  # what the service did before: a DataFrame per request
        return features_of([record]).select(FEATURE_NAMES).to_numpy().astype(np.float64)

    if not np.array_equal(matrix, polars_row()):
        raise AssertionError(f"the two paths differ: {matrix} vs {polars_row()}")
    values, answer = served.predict(matrix), forecast(served, matrix)
    return {
        "validate body (pydantic Listing)": timed(lambda: Listing.model_validate_json(body), 5000),
        "features: feature_matrix (NumPy formulas, served)": timed(
            lambda: feature_matrix([listing]), 5000
        ),
        "features: one-row DataFrame (Polars formulas, before)": timed(polars_row, 2000),
        f"model: served.predict one row ({served.backend})": timed(
            lambda: served.predict(matrix), 5000
        ),
        "interval: served.calibration.bounds one row": timed(
            lambda: served.calibration.bounds(values), 5000
        ),
        "response: prediction(...).model_dump_json()": timed(
            lambda: prediction(answer).model_dump_json(), 5000
        ),
    }


def redis_parts(vehicle_id: int) -> dict[str, Stats]:
    """The lookup's Redis read (one script call, one round trip) without the hop to it."""
    import redis.asyncio

    from features.settings import get_settings
    from features.stores.online import AsyncOnlineStore, OnlineKeys

    settings = get_settings()

    async def measure() -> Stats:
        client = redis.asyncio.Redis.from_url(settings.redis_url or "")
        store = AsyncOnlineStore(client, OnlineKeys(settings.redis_key_prefix))
        snapshot, values = await store.read([vehicle_id])
        if snapshot is None or values[0] is None:
            raise AssertionError(f"vehicle {vehicle_id} is not in the online store")
        stats = await timed_async(lambda: store.read([vehicle_id]), 3000)
        await client.aclose()
        return stats

    return {"Redis read in-process (redis.asyncio, the lookup's script)": asyncio.run(measure())}


def baseline_parts(body: str, model_path: str) -> dict[str, Stats]:
    """The baseline handler's pieces: pandas features, the forest with n_jobs=-1 and 1."""
    with open(model_path, "rb") as handle:
        forest = pickle.load(handle)  # written by bench.service.baseline
    row = json.loads(body)
    frame = add_features(pd.DataFrame([row]))[COLUMNS]
    parts = {
        "baseline: pandas DataFrame + features": timed(
            lambda: add_features(pd.DataFrame([row])), 2000
        )
    }
    parts["baseline: RandomForest.predict one row, n_jobs=-1"] = timed(
        lambda: forest.predict(frame), 100, warm=5
    )
    forest.n_jobs = 1
    parts["baseline: RandomForest.predict one row, n_jobs=1"] = timed(
        lambda: forest.predict(frame), 100, warm=5
    )
    return parts


def child(body: str, vehicle_id: int, model_path: str) -> None:
    parts = fleetcast_parts(body) | redis_parts(vehicle_id) | baseline_parts(body, model_path)
    emit({"parts": parts})


if __name__ == "__main__":
    child(sys.argv[1], int(sys.argv[2]), sys.argv[3])
