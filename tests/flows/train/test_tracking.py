"""The MLflow store follows the settings of each run, never a previous run's; the commit
recorded on each model is the code's."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from features.settings import Settings
from features.stores import model_registry
from flows.train.tracking import git_commit


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


def test_the_commit_an_image_was_built_from_wins_over_git(tmp_path: Path) -> None:
    """An image holds no .git: its build argument is the only place the commit is known."""
    built_from = "0123456789abcdef0123456789abcdef01234567"
    assert git_commit(Settings(home=tmp_path, git_commit=built_from)) == built_from
    from_git = git_commit(Settings(home=tmp_path))
    assert from_git != built_from and len(from_git.split("-")[0]) in (40, len("unknown"))


def test_a_commit_that_is_not_one_is_refused_naming_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="git_commit"):
        Settings(home=tmp_path, git_commit="main; rm -rf /")
