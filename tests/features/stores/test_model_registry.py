"""Links into the MLflow UI: only where a browser can open them."""

from __future__ import annotations

from pathlib import Path

from features.settings import Settings
from features.stores.model_registry import linked, run_url, version_url


def test_a_run_links_to_the_mlflow_ui_only_when_a_server_tracks_it(tmp_path: Path) -> None:
    served = Settings(home=tmp_path, MLFLOW_TRACKING_URI="http://mlflow:5000/")
    assert run_url(served, "3", "abc") == "http://mlflow:5000/#/experiments/3/runs/abc"
    assert run_url(Settings(home=tmp_path), "3", "abc") is None  # local SQLite: no UI to open


def test_a_version_links_to_its_page_only_when_a_server_tracks_it(tmp_path: Path) -> None:
    served = Settings(
        home=tmp_path, MLFLOW_TRACKING_URI="https://mlflow.example", registered_model="m"
    )
    assert version_url(served, "4") == "https://mlflow.example/#/models/m/versions/4"
    assert linked("v4", version_url(served, "4")) == f"[v4]({version_url(served, '4')})"
    assert version_url(served, None) is None
    assert linked("v4", version_url(Settings(home=tmp_path), "4")) == "v4"
