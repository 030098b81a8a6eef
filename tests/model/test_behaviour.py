"""Behaviour of the champion trained on the shipped data (Made-With-ML style): directional and
invariance checks on inputs built with the contract's own formulas."""

from __future__ import annotations

import itertools
from typing import Any

import mlflow
import numpy as np
import polars as pl
import pytest
from conftest import TrainedStore

from features.contract.formulas import RAW_FEATURES, with_features
from features.contract.registry import CHAMPION
from features.contract.schema import ENTITY
from features.stores import model_registry
from features.stores.offline import scan_snapshot
from flows.evaluation import feature_frame

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def champion(trained_store: TrainedStore) -> Any:
    settings = trained_store.settings
    model_registry.connect(settings)
    return mlflow.sklearn.load_model(f"models:/{settings.registered_model}@{CHAMPION}")


@pytest.fixture(scope="module")
def listings(trained_store: TrainedStore) -> pl.DataFrame:
    """Raw attributes of 200 shipped vehicles (the features are recomputed per scenario)."""
    snapshot = scan_snapshot(trained_store.settings).collect()
    return snapshot.select(ENTITY, *RAW_FEATURES).sample(200, seed=1)


def _predict(model: Any, raw: pl.DataFrame) -> np.ndarray:
    return np.asarray(model.predict(feature_frame(with_features(raw.lazy()).collect())))


def _priced(raw: pl.DataFrame, ratio: float) -> pl.DataFrame:
    return raw.with_columns(actual_price=pl.col("recommended_price") * ratio)


def test_overpricing_lowers_the_forecast(champion: Any, listings: pl.DataFrame) -> None:
    fair = _predict(champion, _priced(listings, 1.0))
    over = _predict(champion, _priced(listings, 1.4))
    assert over.mean() < 0.85 * fair.mean()
    assert (over <= fair + 0.25).mean() >= 0.9  # nearly every listing, all else equal


def test_the_forecast_falls_as_the_price_climbs_above_the_recommendation(
    champion: Any, listings: pl.DataFrame
) -> None:
    means = [_predict(champion, _priced(listings, r)).mean() for r in (1.0, 1.15, 1.3, 1.5)]
    assert all(higher > lower for higher, lower in itertools.pairwise(means))


def test_more_photos_never_lowers_the_forecast_much(champion: Any, listings: pl.DataFrame) -> None:
    # The marketplace's range: every listing has a photo, none more than five.
    few = _predict(champion, listings.with_columns(num_images=pl.lit(1)))
    many = _predict(champion, listings.with_columns(num_images=pl.lit(5)))
    assert many.mean() >= few.mean()
    assert (many - few).min() >= -0.5


def test_predictions_are_finite_and_never_negative_even_for_extreme_listings(
    champion: Any, listings: pl.DataFrame
) -> None:
    rng = np.random.default_rng(3)
    n = listings.height
    extreme = listings.with_columns(
        actual_price=pl.Series(rng.uniform(0.01, 10_000, n)),
        recommended_price=pl.Series(rng.uniform(0.01, 10_000, n)),
        num_images=pl.Series(rng.integers(0, 500, n)),
        description=pl.Series(rng.integers(0, 100_000, n)),
    )
    for frame in (listings, extreme):
        predicted = _predict(champion, frame)
        assert np.isfinite(predicted).all() and (predicted >= 0).all()
