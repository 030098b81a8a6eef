"""Train flow on the shipped data: every family logged, lineage on the version, ONNX parity."""

from __future__ import annotations

import time
from pathlib import Path

import mlflow
import numpy as np
import pytest
from conftest import TrainedStore
from support.hanging import hanging_port

from features.contract import input_ranges, intervals
from features.contract.formulas import FEATURE_NAMES, FEATURE_SETS
from features.contract.intervals import CALIBRATION_ARTIFACT
from features.contract.registry import (
    BASELINE,
    CANDIDATE,
    ONNX_ARTIFACT,
    REFERENCE,
    TAG_PRECISION,
    Tag,
)
from features.local.processes import free_port
from features.settings import Settings
from features.stores import model_registry
from features.stores.model_registry import RegistryNotAnswering
from features.stores.offline import scan_snapshot
from flows.cli import lines
from flows.evaluation import feature_frame, is_holdout, split_labeled
from flows.train import families
from flows.train.export import predict, session
from flows.train.families import UnknownFamilyError
from flows.train.flow import train_flow

pytestmark = pytest.mark.integration


def _version(store: TrainedStore):
    client, _ = model_registry.connect(store.settings)
    return client, client.get_model_version(
        store.settings.registered_model, store.result.trained.version
    )


def test_every_family_is_a_nested_run_with_per_fold_and_mean_metrics(
    trained_store: TrainedStore,
) -> None:
    client, _ = _version(trained_store)
    parent = trained_store.result.trained.run_id
    children = client.search_runs(
        [client.get_run(parent).info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{parent}'",
    )
    assert {run.info.run_name for run in children} == set(families.FAMILIES)
    settings = trained_store.settings
    for run in children:
        for metric in ("mae", "rmse", "poisson_deviance"):
            assert np.isfinite(run.data.metrics[f"cv_{metric}"])
            history = client.get_metric_history(run.info.run_id, f"fold_{metric}")
            assert sorted(m.step for m in history) == list(
                range(settings.cv_folds * settings.cv_repeats)
            )


def test_the_registered_version_carries_its_lineage(trained_store: TrainedStore) -> None:
    client, version = _version(trained_store)
    snapshot = trained_store.result.snapshot
    assert version.tags[Tag.SNAPSHOT_ID] == snapshot.snapshot_id
    assert version.tags[Tag.SNAPSHOT_SHA256] == snapshot.content_sha256
    assert version.tags[Tag.FEATURES] == ",".join(FEATURE_NAMES)
    assert len(version.tags[Tag.GIT_COMMIT].split("-")[0]) in (40, len("unknown"))
    assert version.tags[Tag.ONNX] == "ok"
    assert version.tags[Tag.FEATURE_SET] in FEATURE_SETS
    calibration = intervals.from_tags(version.tags, version.version)
    assert calibration == trained_store.result.trained.calibration
    assert calibration.level == trained_store.settings.interval_level
    assert calibration.lower < 0 < calibration.upper
    assert float(version.tags[Tag.cv("mae")]) == pytest.approx(
        trained_store.result.trained.cv["mae"], rel=TAG_PRECISION
    )
    # The yardsticks' scores on the same folds travel with the version (GET /model shows them).
    trained = trained_store.result.trained
    for name, cv in ((REFERENCE, trained.reference_cv), (BASELINE, trained.baseline_cv)):
        assert float(version.tags[Tag.cv("mae", of=name)]) == pytest.approx(
            cv["mae"], rel=TAG_PRECISION
        )
    run = client.get_run(version.run_id)
    assert run.data.params["family"] == version.tags[Tag.FAMILY]
    assert run.data.tags["mlflow.source.git.commit"] == version.tags[Tag.GIT_COMMIT]
    aliases = client.get_registered_model(trained_store.settings.registered_model).aliases
    assert str(aliases[CANDIDATE]) == str(version.version)


def test_the_version_carries_the_range_of_every_feature_it_was_fit_on(
    trained_store: TrainedStore,
) -> None:
    _, version = _version(trained_store)
    settings = trained_store.settings
    ranges = input_ranges.from_tags(version.tags, version.version)
    assert ranges is not None
    snapshot = scan_snapshot(settings, version.tags[Tag.SNAPSHOT_ID]).collect()
    fit_on = feature_frame(split_labeled(snapshot, settings.holdout_percent).train).to_numpy()
    assert ranges.rows == len(fit_on)
    assert [r.feature for r in ranges.ranges] == list(FEATURE_NAMES)
    for column, found in zip(fit_on.T, ranges.ranges, strict=True):
        assert (found.low, found.high) == (column.min(), column.max())
        assert found.quantiles["q50"] == pytest.approx(np.median(column))
    # Exactly the training rows' extremes: each is inside, a step beyond either is outside.
    assert ranges.outside(fit_on) == []
    beyond = fit_on[:1].copy()
    beyond[0, 0] = ranges.ranges[0].high + 1
    assert [w.feature for w in ranges.outside(beyond)] == [FEATURE_NAMES[0]]


def test_mlflow_tells_the_story_the_tags_hold(trained_store: TrainedStore) -> None:
    """Descriptions a reader sees without opening the tags, and a run as long as the training."""
    client, version = _version(trained_store)
    trained = trained_store.result.trained
    about = f"**{trained.family}**, trained on snapshot `{trained.snapshot_id}`"
    assert version.description.startswith(about)
    run = client.get_run(version.run_id)
    # The version adds its promotion decision to what the run says.
    assert version.description.startswith(run.data.tags["mlflow.note.content"])
    assert run.data.tags["mlflow.source.name"] == "flows/train/flow.py:train_flow"
    assert client.get_registered_model(trained_store.settings.registered_model).description
    (training,) = run.inputs.dataset_inputs  # MLflow's own Dataset column: the snapshot
    assert training.dataset.name == trained.snapshot_id
    assert training.dataset.digest == trained_store.result.snapshot.content_sha256[:10]
    # The run spans the fits (seconds of CV), not just the logging at the end.
    children = client.search_runs(
        [run.info.experiment_id], f"tags.mlflow.parentRunId = '{run.info.run_id}'"
    )
    longest_fit = max(float(c.data.metrics["fit_seconds"]) for c in children)
    assert (run.info.end_time - run.info.start_time) / 1000 >= longest_fit


def test_the_run_logs_plots_comparison_signature_and_example(trained_store: TrainedStore) -> None:
    client, version = _version(trained_store)
    run_id = version.run_id
    logged = {a.path for a in client.list_artifacts(run_id)}
    logged |= {
        a.path for folder in ("plots", "onnx") for a in client.list_artifacts(run_id, folder)
    }
    assert {
        "plots/feature_importance.png",
        "plots/residuals.png",
        ONNX_ARTIFACT,
        "comparison.csv",
        "comparison.md",
        "features.json",
        CALIBRATION_ARTIFACT,
        input_ranges.INPUT_RANGES_ARTIFACT,
    } <= logged
    png = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="plots/residuals.png")
    assert Path(png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    features = mlflow.artifacts.load_dict(f"runs:/{run_id}/features.json")
    assert features["features"] == list(FEATURE_NAMES)
    info = mlflow.models.get_model_info(version.source)
    assert [c.name for c in info.signature.inputs.inputs] == list(FEATURE_NAMES)
    assert info.saved_input_example_info is not None
    calibration = mlflow.artifacts.load_dict(f"runs:/{run_id}/{CALIBRATION_ARTIFACT}")
    assert calibration["lower"] == float(version.tags[Tag.INTERVAL_LOWER])
    table = mlflow.artifacts.load_text(f"runs:/{run_id}/comparison.csv")
    # The seed's reference model and the median, scored on the same folds, never registered.
    assert "\nreference," in table and "\nmedian," in table


def test_the_champion_beats_the_seeds_reference_and_the_median_by_the_goals(
    trained_store: TrainedStore,
) -> None:
    trained = trained_store.result.trained
    assert trained.family not in families.YARDSTICKS
    assert trained.cv["mae"] <= 0.97 * trained.reference_cv["mae"]
    assert trained.cv["mae"] <= 0.90 * trained.baseline_cv["mae"]


def test_onnx_export_matches_sklearn_on_the_whole_snapshot(trained_store: TrainedStore) -> None:
    _, version = _version(trained_store)
    settings = trained_store.settings
    model = mlflow.sklearn.load_model(version.source)
    path = mlflow.artifacts.download_artifacts(run_id=version.run_id, artifact_path=ONNX_ARTIFACT)
    rows = feature_frame(scan_snapshot(settings).collect())
    onnx = predict(session(Path(path).read_bytes()), rows.to_numpy())
    assert np.max(np.abs(onnx - model.predict(rows))) <= 1e-4


def test_no_holdout_vehicle_was_used_for_training(trained_store: TrainedStore) -> None:
    client, version = _version(trained_store)
    settings = trained_store.settings
    split = split_labeled(scan_snapshot(settings).collect(), settings.holdout_percent)
    params = client.get_run(version.run_id).data.params
    assert int(params["train_rows"]) == split.train.height
    assert int(params["holdout_rows"]) == split.holdout.height > 0
    assert not split.train.filter(is_holdout(settings.holdout_percent)).height


def test_above_the_row_cap_a_run_trains_on_a_seeded_sample_and_says_so(
    model_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLEETCAST_TRAIN_MAX_ROWS", "300")
    result = train_flow(families=["random_forest"])
    settings = Settings()
    available = split_labeled(scan_snapshot(settings).collect(), settings.holdout_percent)
    assert (result.train_rows, result.train_rows_available) == (300, available.train.height)
    assert "on a sample of 300 of" in lines.trained(result)
    client, _ = model_registry.connect(settings)
    version = client.get_model_version(settings.registered_model, result.version)
    params = client.get_run(version.run_id).data.params
    assert (params["train_rows"], params["train_rows_available"]) == (
        "300",
        str(available.train.height),
    )
    ranges = input_ranges.from_tags(version.tags, version.version)
    assert ranges is not None and ranges.rows == 300
    model = mlflow.sklearn.load_model(version.source)
    forest = model[-1] if hasattr(model, "steps") else model
    # The winner's refit saw the sample too: each tree's bootstrap weighs 300 rows.
    assert forest.estimators_[0].tree_.weighted_n_node_samples[0] == 300


def test_unknown_family_is_refused_by_name(model_settings: Settings) -> None:
    with pytest.raises(UnknownFamilyError, match="families: unknown \\['xgboost'\\]"):
        train_flow(families=["xgboost"])
    with pytest.raises(UnknownFamilyError, match="besides the yardsticks"):
        train_flow(families=["median", "reference"])


def test_against_a_hung_mlflow_a_run_fails_in_seconds_before_fitting(
    model_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{port}")
    with hanging_port(port) as accepted:
        started = time.monotonic()
        with pytest.raises(RegistryNotAnswering, match="did not answer within"):
            train_flow(families=["extra_trees"])
        waited = time.monotonic() - started
        assert accepted
    # The probe's 10 s and the flow's start-up, not a family's nested CV and MLflow's retries.
    assert waited < model_registry.PROBE_TIMEOUT_S + 20, waited
