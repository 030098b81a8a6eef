"""The seed-style baseline: FastAPI + one uvicorn worker + a pickled scikit-learn RandomForest.

This is how the project fleetcast replaces serves its model: a synchronous handler that builds a
one-row pandas DataFrame from the request, computes the two derived features with pandas, and
calls `RandomForestRegressor(n_estimators=200, max_depth=10, n_jobs=-1).predict` on it. The
derived features are restated here (the baseline's own code, like `bench/pandas_baseline.py`);
training checks they equal the offline snapshot's, value for value, on every row.

Train (a child): `python -m bench.service.baseline FLEETCAST_HOME OUT_DIR`.
Serve: `uvicorn bench.service.baseline:app --workers 1` with BENCH_BASELINE_MODEL=OUT_DIR/model.pkl.
"""

from __future__ import annotations

import os
import pickle
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from fastapi import FastAPI
from pydantic import BaseModel

COLUMNS = [
    "technology",
    "actual_price",
    "recommended_price",
    "num_images",
    "street_parked",
    "description",
    "price_diff",
    "price_ratio",
]
MODEL_ENV = "BENCH_BASELINE_MODEL"
_model: dict[str, Any] = {}


class Vehicle(BaseModel):
    """The request body: a listing's raw attributes (the same JSON as fleetcast's /predict)."""

    technology: int
    actual_price: float
    recommended_price: float
    num_images: int
    street_parked: int
    description: int


def add_features(frame: pd.DataFrame) -> pd.DataFrame:
    """The derived features, the pandas way."""
    frame["price_diff"] = frame["actual_price"] - frame["recommended_price"]
    frame["price_ratio"] = frame["actual_price"] / frame["recommended_price"]
    return frame


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    with open(os.environ[MODEL_ENV], "rb") as handle:
        _model["rf"] = pickle.load(handle)  # our own file, written by train()
    yield


app = FastAPI(title="seed-style baseline", lifespan=lifespan)


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/predict")
def predict(vehicle: Vehicle) -> dict[str, float]:
    frame = add_features(pd.DataFrame([vehicle.model_dump()]))
    return {"predicted_reservations": float(_model["rf"].predict(frame[COLUMNS])[0])}


def _training_rows(home: Path) -> tuple[pd.DataFrame, pd.Series, str]:
    """The latest snapshot's labeled rows: features by `add_features`, checked, and the target."""
    from features.contract.formulas import FEATURE_NAMES, TARGET
    from features.settings import Settings
    from features.stores.offline import read_meta, scan_snapshot

    settings = Settings(home=home)
    meta = read_meta(settings)
    snapshot = scan_snapshot(settings, meta.snapshot_id).collect().to_pandas()
    labeled = snapshot[snapshot[TARGET].notna()]
    raw = labeled[COLUMNS[:6]].copy()
    frame = add_features(raw)[COLUMNS]
    if list(FEATURE_NAMES) != COLUMNS:
        raise AssertionError(f"baseline columns {COLUMNS} != contract {FEATURE_NAMES}")
    same = np.array_equal(frame.to_numpy(np.float64), labeled[COLUMNS].to_numpy(np.float64))
    if not same:
        raise AssertionError("baseline features differ from the snapshot's")
    return frame, labeled[TARGET].astype(np.float64), meta.snapshot_id


def train(home: Path, out_dir: Path) -> None:
    """Child entry point: fit the seed's RandomForest on the snapshot and pickle it."""
    from sklearn.ensemble import RandomForestRegressor

    from bench.children import emit

    frame, target, snapshot_id = _training_rows(home)
    started = time.perf_counter()
    model = RandomForestRegressor(n_estimators=200, max_depth=10, n_jobs=-1, random_state=42)
    model.fit(frame, target)
    seconds = time.perf_counter() - started
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / "model.pkl", "wb") as handle:
        pickle.dump(model, handle)
    emit(
        {
            "seconds": seconds,
            "rows": len(frame),
            "snapshot_id": snapshot_id,
            "model": str(out_dir / "model.pkl"),
        }
    )


if __name__ == "__main__":
    train(Path(sys.argv[1]), Path(sys.argv[2]))
