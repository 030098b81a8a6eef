"""The MLflow store follows the settings of each run, never a previous run's."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from features.settings import Settings
from features.stores import model_registry


def test_each_home_gets_its_own_store_and_the_environment_is_untouched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    first, second = Settings(home=tmp_path / "a"), Settings(home=tmp_path / "b")
    client_a, _ = model_registry.connect(first)
    # MLflow exports the URI to os.environ; Settings read after it must not inherit it.
    assert "MLFLOW_TRACKING_URI" not in os.environ
    assert Settings(home=tmp_path / "b").tracking_uri == second.tracking_uri
    client_a.create_registered_model("only-in-a")
    client_b, _ = model_registry.connect(second)
    assert [m.name for m in client_b.search_registered_models()] == []
    assert (tmp_path / "a" / "mlflow" / "mlflow.db").exists()
    assert (tmp_path / "b" / "mlflow" / "mlflow.db").exists()


def test_a_configured_store_is_kept_in_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uri = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    settings = Settings(home=tmp_path / "home")
    assert settings.tracking_uri == uri
    model_registry.connect(settings)
    assert os.environ["MLFLOW_TRACKING_URI"] == uri
    assert not (tmp_path / "home" / "mlflow").exists()
