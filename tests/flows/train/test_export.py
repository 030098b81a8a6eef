"""The ONNX export matches scikit-learn for every family that can be registered."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.contract.formulas import FEATURE_NAMES
from flows.train import families
from flows.train.export import ExportError, convert, export_checked, predict, session


def _data(rows: int = 400) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(0)
    features = pd.DataFrame(rng.uniform(0, 3, (rows, len(FEATURE_NAMES))), columns=FEATURE_NAMES)
    labels = rng.poisson(np.exp(features.iloc[:, 0] - features.iloc[:, 1] / 2)).astype(float)
    return features, labels


CONFIGS = [
    (name, config)
    for name, family in families.FAMILIES.items()
    if name != families.BASELINE
    for config in family.grid
]


@pytest.mark.parametrize(("family", "config"), CONFIGS, ids=[f"{n}-{c}" for n, c in CONFIGS])
def test_every_family_exports_within_tolerance(family: str, config: dict[str, object]) -> None:
    features, labels = _data()
    model = families.build(family, seed=1, config=config).fit(features, labels)
    export = export_checked(model, features)
    assert export.max_abs_diff <= 1e-4
    onnx_predictions = predict(session(export.model), features.to_numpy()[:3])
    np.testing.assert_allclose(onnx_predictions, model.predict(features[:3]), atol=1e-4)


def test_poisson_boosting_is_exported_on_the_count_scale_not_the_log_scale() -> None:
    features, labels = _data()
    model = families.build("hist_gradient_boosting", seed=1).fit(features, labels)
    predicted = predict(session(convert(model, len(FEATURE_NAMES))), features.to_numpy())
    assert predicted.min() > 0
    np.testing.assert_allclose(predicted, model.predict(features), atol=1e-4)


def test_a_model_without_a_converter_is_an_export_error() -> None:
    features, labels = _data()
    with pytest.raises(ExportError, match="cannot convert DummyRegressor"):
        export_checked(families.build(families.BASELINE, seed=1).fit(features, labels), features)
