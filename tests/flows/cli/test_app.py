"""The fleetcast command line: user errors are one clear line and exit code 1."""

from __future__ import annotations

import pytest
from support.factories import reservation, vehicle, write_reservations, write_vehicles
from typer.testing import CliRunner

from features.settings import Settings
from flows.cli.app import app
from flows.synthetic.generator import generate

pytestmark = pytest.mark.integration
runner = CliRunner()


def test_pipeline_ends_with_a_champion_and_says_where_to_look(flow_settings: Settings) -> None:
    # Enough listings for a model to beat the median on its holdout: with the marketplace's
    # noise, 150 (a 30-row holdout) made that a coin flip.
    generate(flow_settings.data_dir, n_vehicles=500, seed=5)
    result = runner.invoke(app, ["pipeline", "--as-of", "2024-01-01 00:00:00"])
    assert result.exit_code == 0, result.output
    assert "500 vehicles, 500 labeled" in result.output
    assert "PROMOTED v1: no champion yet" in result.output
    assert (
        "Prefect UI" in result.output
        and "mlflow ui --backend-store-uri sqlite:///" in result.output
    )
    history = runner.invoke(app, ["models"])
    assert history.exit_code == 0 and "\n  v1  " in history.output


def test_too_little_data_to_train_is_one_line(flow_settings: Settings) -> None:
    write_vehicles(flow_settings.data_dir / "vehicles.csv", [vehicle(1), vehicle(2)])
    write_reservations(
        flow_settings.data_dir / "reservations.csv", [reservation(1, "2023-01-01 00:00:00")]
    )
    result = runner.invoke(app, ["pipeline", "--as-of", "2024-01-01 00:00:00"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1].endswith("need at least 10 for 5-fold CV")


def test_unknown_family_is_one_line(flow_settings: Settings) -> None:
    result = runner.invoke(app, ["train", "--family", "xgboost"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1].startswith("error: families: unknown ['xgboost']")


def test_bad_header_is_one_line_naming_the_columns(flow_settings: Settings) -> None:
    bad = flow_settings.home / "bad.csv"
    bad.parent.mkdir(parents=True, exist_ok=True)
    bad.write_text("vehicle_id,when\n1,2023-01-01 00:00:00\n")
    result = runner.invoke(app, ["ingest", str(bad)])
    assert result.exit_code == 1
    last_line = result.output.strip().splitlines()[-1]
    assert last_line.startswith("error: ")
    assert "missing columns ['created_at'], unexpected columns ['when']" in last_line


def test_features_before_any_ingest_says_what_to_do(flow_settings: Settings) -> None:
    result = runner.invoke(app, ["features"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1].endswith("has no vehicles: run ingest")


def test_malformed_as_of_is_refused_by_name() -> None:
    result = runner.invoke(app, ["features", "--as-of", "2023-13-01"])
    assert result.exit_code == 2
    assert "--as-of" in result.output


def test_generate_writes_contract_csvs(home, tmp_path) -> None:
    out = tmp_path / "gen"
    result = runner.invoke(app, ["generate", "--vehicles", "50", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / "vehicles.csv").read_text().splitlines()[0].startswith("vehicle_id,technology")
