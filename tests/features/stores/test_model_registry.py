"""Links into the MLflow UI: only where a browser can open them."""

from __future__ import annotations

from pathlib import Path

from features.settings import Settings
from features.stores.model_registry import run_url


def test_a_run_links_to_the_mlflow_ui_only_when_a_server_tracks_it(tmp_path: Path) -> None:
    served = Settings(home=tmp_path, MLFLOW_TRACKING_URI="http://mlflow:5000/")
    assert run_url(served, "3", "abc") == "http://mlflow:5000/#/experiments/3/runs/abc"
    assert run_url(Settings(home=tmp_path), "3", "abc") is None  # local SQLite: no UI to open
