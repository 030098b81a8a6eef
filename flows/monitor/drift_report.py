"""The Evidently 0.7 reports behind the drift flow, and the numbers read back from them.

`evidently` is imported inside functions: it takes ~15 s to import and only this step needs it.

The drift decision uses one pinned method, the normed Wasserstein distance (the distance
between the two distributions over the reference's standard deviation). Evidently's default
switches from K-S p-values to this distance when the reference passes 1,000 rows, and a K-S
test's power grows with the row count, so "drifted" would mean something else each time. A
distance is an effect size: the shift it takes to flag a feature is the same at 200 or 100,000
rows. Its threshold, 0.2, is above the noise of a small window: measured against the shipped
1,000-vehicle reference (`python -m bench.drift_noise`), same-distribution windows of 200 rows
flagged 30% of the features in none of 200 draws (a threshold of 0.1 did in 40%), while the
drift scenario's shift scores 0.81-1.96 on the four features it moves. A K-S p-value per
feature is reported beside it, for reading, not for deciding: with many rows even a harmless
shift gets a tiny p-value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from features.contract.formulas import FEATURE_NAMES, TARGET
from features.contract.prediction_log import PREDICTION

if TYPE_CHECKING:
    from evidently import Report

DRIFT_METHOD = "wasserstein"  # Evidently's name for the normed Wasserstein distance
DRIFT_THRESHOLD = 0.2  # distance at or above which a feature counts as drifted
P_VALUE_METHOD = "ks"


@dataclass(frozen=True)
class ColumnDrift:
    """One feature's drift: the deciding distance and the K-S p-value shown beside it."""

    method: str
    threshold: float
    value: float
    drifted: bool
    ks_p_value: float


@dataclass(frozen=True)
class Numbers:
    """What the reports found, read back from Evidently's results by metric type."""

    share_drifted: float
    columns: dict[str, ColumnDrift]
    mae: float | None  # on the outcome pairs; None without any
    html: str

    @property
    def drifted_features(self) -> list[str]:
        return [name for name, column in self.columns.items() if column.drifted]


def _drift_report(drift_share: float) -> Report:
    from evidently import Report
    from evidently.metrics import ValueDrift
    from evidently.presets import DataDriftPreset

    names = list(FEATURE_NAMES)
    return Report(
        [
            # fleetcast's share threshold, or the report's headline would judge by Evidently's
            # default (0.5) and contradict the flow's verdict.
            DataDriftPreset(
                columns=names,
                method=DRIFT_METHOD,
                threshold=DRIFT_THRESHOLD,
                drift_share=drift_share,
            ),
            # Informational p-values: no tests, so they never show as failures in the report.
            *[ValueDrift(column=name, method=P_VALUE_METHOD, tests=[]) for name in names],
        ],
        include_tests=True,  # the per-feature drifted flags are the drift tests' outcomes
    )


def _dataset(frame: pd.DataFrame, regression: bool = False) -> Any:
    """A Dataset with every column declared numerical: inferred, the 0/1 features would be
    categorical and get another drift method."""
    from evidently import DataDefinition, Dataset, Regression

    if regression:
        definition = DataDefinition(
            numerical_columns=[TARGET, PREDICTION],
            categorical_columns=[],
            regression=[Regression(target=TARGET, prediction=PREDICTION)],
        )
    else:
        definition = DataDefinition(numerical_columns=list(FEATURE_NAMES), categorical_columns=[])
    return Dataset.from_pandas(frame, data_definition=definition)


def _read_drift(result: dict[str, Any]) -> tuple[float, dict[str, ColumnDrift]]:
    """Share drifted and per-feature values, parsed by metric type (names embed the method)."""
    share, values, p_values = math.nan, {}, {}
    for metric in result["metrics"]:
        config = metric["config"]
        kind = config["type"].rsplit(":", 1)[-1]
        if kind == "DriftedColumnsCount":
            share = float(metric["value"]["share"])
        elif kind == "ValueDrift" and config["method"] == DRIFT_METHOD:
            values[config["column"]] = (float(config["threshold"]), float(metric["value"]))
        elif kind == "ValueDrift":
            p_values[config["column"]] = float(metric["value"])
    failed = {
        test["metric_config"]["params"]["column"]
        for test in result["tests"]
        if test["metric_config"]["params"]["type"].endswith(":ValueDrift")
        and test["metric_config"]["params"].get("method") == DRIFT_METHOD
        and test["status"] == "FAIL"
    }
    columns = {
        name: ColumnDrift(
            DRIFT_METHOD, values[name][0], values[name][1], name in failed, p_values[name]
        )
        for name in FEATURE_NAMES
    }
    return share, columns


def _read_mae(result: dict[str, Any]) -> float:
    return next(
        float(metric["value"]["mean"])
        for metric in result["metrics"]
        if metric["config"]["type"].endswith(":MAE")
    )


def run(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    outcomes: pd.DataFrame | None,
    drift_share: float,
) -> Numbers:
    """Data drift of `current` against `reference` (features), judged dataset-wide at
    `drift_share` (the flow's threshold), and, given outcome pairs (`TARGET`, `PREDICTION`),
    their regression quality, in one HTML page.

    The quality part has no reference: the reference snapshot has labels but no served
    predictions, and scoring the champion on its own training rows would flatter it. Its
    yardstick is the champion's holdout MAE, compared by the flow.
    """
    from evidently import Report
    from evidently.presets import RegressionPreset

    drift = _drift_report(drift_share).run(_dataset(current), _dataset(reference))
    share, columns = _read_drift(drift.dict())
    parts = [("Data drift: current vs the champion's training snapshot", drift)]
    mae = None
    if outcomes is not None:
        quality = Report([RegressionPreset()]).run(_dataset(outcomes, regression=True), None)
        mae = _read_mae(quality.dict())
        parts.append(("Error on outcomes: the champion's predictions vs what happened", quality))
    return Numbers(share_drifted=share, columns=columns, mae=mae, html=_page(parts))


def _page(parts: list[tuple[str, Any]]) -> str:
    """One standalone HTML page with each report as a titled section (one copy of the JS)."""
    from evidently.core.metric_types import render_widgets
    from evidently.legacy.renderers.html_widgets import group_widget

    widgets = []
    for title, snapshot in parts:
        model = snapshot.to_snapshot_model()
        widgets += [group_widget(title=title, widgets=model.widgets), *model.tests_widgets]
    return render_widgets(widgets, as_iframe=False)
