"""The `fleetcast` command line.

Flow modules are imported inside commands, after `use_prefect_server` has pointed Prefect at a
real server: Prefect reads its settings when it is first imported.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Annotated, Literal

import typer

from features.local.prefect_server import use_prefect_server
from features.settings import get_settings
from flows.cli import lines as model_lines
from flows.cli.errors import run_flow
from flows.cli.servers import redis_app, server_app
from flows.cli.shadow import shadow_app

app = typer.Typer(
    help="fleetcast: forecast reservations per car-sharing listing.", no_args_is_help=True
)
app.add_typer(redis_app, name="redis")
app.add_typer(server_app, name="server")
app.add_typer(shadow_app, name="shadow")

AsOf = Annotated[
    dt.datetime | None,
    typer.Option(
        help="Only data before this instant counts (UTC) "
        "[default: just after the latest stored reservation]"
    ),
]


def _prefect() -> str:
    """Connect this process to a real Prefect server (starting the local one if needed)."""
    return use_prefect_server(get_settings())


@app.command()
def generate(
    out: Annotated[
        Path | None, typer.Option(help="Folder for the CSVs [default: data dir]")
    ] = None,
    vehicles: Annotated[int, typer.Option(min=1, help="Number of vehicles")] = 1000,
    seed: Annotated[int, typer.Option(help="Random seed")] = 42,
    year: Annotated[int, typer.Option(min=1970, max=2100, help="Year of the reservations")] = 2023,
    per_vehicle: Annotated[
        float | None,
        typer.Option(
            min=0.1, help="Mean reservations per vehicle [default: calibrated to the shipped data]"
        ),
    ] = None,
    first_id: Annotated[int, typer.Option(min=1, help="Id of the first vehicle")] = 1,
    shifted_month: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=12,
            help="Write the drift scenario instead: new listings priced 20% higher, "
            "2 fewer photos, booked only in this month of --year",
        ),
    ] = None,
) -> None:
    """Write seeded synthetic vehicles.csv and reservations.csv in the raw schema."""
    from flows.synthetic.generator import ShiftedMonth
    from flows.synthetic.generator import generate as run_generate

    out_dir = out or get_settings().data_dir
    summary = run_generate(
        out_dir,
        n_vehicles=vehicles,
        seed=seed,
        year=year,
        reservations_per_vehicle=per_vehicle,
        first_id=first_id,
        shifted=ShiftedMonth(shifted_month) if shifted_month else None,
    )
    typer.echo(summary)


@app.command()
def ingest(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="CSV files [default: shipped + landing folder]")
    ] = None,
) -> None:
    """Validate CSVs into the raw store, quarantining bad rows."""
    _prefect()
    from flows.ingest.flow import ingest_flow

    report = run_flow(lambda: ingest_flow(paths=[str(p) for p in paths] if paths else None))
    typer.echo("\n".join(report.lines()))


@app.command()
def features(
    as_of: AsOf = None,
    replace_online: Annotated[
        bool, typer.Option(help="Serve this build online even if it is back-dated")
    ] = False,
) -> None:
    """Build the feature snapshot offline (Parquet) and, if it is the latest, online (Redis)."""
    _prefect()
    from flows.snapshot.flow import feature_build_flow

    built = run_flow(lambda: feature_build_flow(as_of=as_of, replace_online=replace_online))
    meta = built.snapshot
    typer.echo(f"snapshot {meta.snapshot_id}: {meta.vehicles} vehicles, {meta.labeled} labeled")
    typer.echo(built.message)


Snapshot = Annotated[
    str | None,
    typer.Option("--snapshot", help="Feature snapshot id [default: the latest, by as_of]"),
]


@app.command()
def train(
    snapshot: Snapshot = None,
    family: Annotated[
        list[str] | None, typer.Option(help="A model family to compare (repeat) [default: all]")
    ] = None,
) -> None:
    """Compare model families by repeated K-fold CV; register the best as `candidate`."""
    _prefect()
    from flows.train.flow import train_flow

    result = run_flow(lambda: train_flow(snapshot_id=snapshot, families=family))
    typer.echo(model_lines.trained(result))


@app.command()
def promote(
    version: Annotated[
        str | None, typer.Option(help="Expected candidate version [default: the alias]")
    ] = None,
    snapshot: Snapshot = None,
) -> None:
    """Judge the candidate against the champion on the frozen holdout; promote it if it wins."""
    _prefect()
    from flows.promote.flow import promote_flow

    result = run_flow(lambda: promote_flow(candidate_version=version, snapshot_id=snapshot))
    typer.echo(model_lines.decision(result))


@app.command()
def rollback(
    version: Annotated[str, typer.Argument(help="A former champion's version to put back")],
    reason: Annotated[str, typer.Option(help="Why (tagged on both versions)")],
) -> None:
    """Make a former champion the champion again; the service swaps to it at once."""
    _prefect()
    from flows.promote.rollback import rollback_flow

    done = run_flow(lambda: rollback_flow(version=version, reason=reason))
    typer.echo(f"champion of {done.registered_model}: v{done.replaced_version} -> v{done.version}")


Current = Annotated[
    Literal["predictions", "snapshot"],
    typer.Option(help="Logged predictions of the window, or a feature snapshot"),
]
WindowDays = Annotated[
    int | None,
    typer.Option(min=1, help="Days of logged predictions [default: FLEETCAST_DRIFT_WINDOW_DAYS]"),
]


@app.command()
def drain() -> None:
    """Store the predictions the service logged in Redis as Parquet under FLEETCAST_HOME."""
    _prefect()
    from flows.monitor.drain import drain_predictions_flow

    result = run_flow(drain_predictions_flow)
    typer.echo(f"stored {result.entries} logged predictions in {len(result.files)} files")


@app.command()
def drift(
    current: Current = "predictions", snapshot: Snapshot = None, window_days: WindowDays = None
) -> None:
    """Compare the champion's training data with recent inputs and outcomes; announce drift."""
    _prefect()
    from flows.monitor.drift import drift_flow, summary_lines

    result = run_flow(
        lambda: drift_flow(current=current, snapshot_id=snapshot, window_days=window_days)
    )
    typer.echo("\n".join(summary_lines(result)))


@app.command()
def report(
    current: Current = "predictions", snapshot: Snapshot = None, window_days: WindowDays = None
) -> None:
    """Write the drift report's HTML now (no Prefect run, no event); print the verdict and path."""
    from flows.monitor.drift import make_report, summary_lines  # needs no Prefect server

    result = run_flow(lambda: make_report(get_settings(), current, snapshot, window_days))
    typer.echo("\n".join(summary_lines(result)))


@app.command()
def models() -> None:
    """The registered model's aliases and the history of champions."""
    from flows.promote.contenders import champion_history

    settings = get_settings()
    typer.echo(model_lines.history(settings.registered_model, champion_history(settings)))


@app.command()
def pipeline(as_of: AsOf = None) -> None:
    """The main job: ingest, features, train, promote."""
    api_url = _prefect()
    from flows.pipeline import pipeline_flow

    result = run_flow(lambda: pipeline_flow(as_of=as_of))
    meta = result.snapshot
    typer.echo(f"\nsnapshot {meta.snapshot_id}: {meta.vehicles} vehicles, {meta.labeled} labeled")
    typer.echo(model_lines.trained(result.trained))
    typer.echo(model_lines.decision(result.promotion))
    typer.echo(model_lines.where_to_look(get_settings(), api_url))


@app.command()
def deploy(
    worker: Annotated[
        bool, typer.Option(help="Then run a worker for the deployments (Ctrl-C stops it)")
    ] = True,
) -> None:
    """Deploy every flow of prefect.yaml to the Prefect server, then serve them with a worker."""
    api_url = _prefect()
    from flows.cli.deploy import deploy_all, run_worker

    settings = get_settings()
    names = run_flow(lambda: deploy_all(settings))  # a DeployError is one line, exit 1
    typer.echo(f"deployed {', '.join(names)}; see {api_url.removesuffix('/api')}/deployments")
    if worker:
        typer.echo("worker for pool 'fleetcast' running; Ctrl-C stops it")
        raise typer.Exit(run_worker(settings))


@app.command()
def serve(
    port: Annotated[int | None, typer.Option(help="Port [default: FLEETCAST_SERVICE_PORT]")] = None,
    deployments: Annotated[
        bool,
        typer.Option(
            help="Also deploy prefect.yaml and run a worker beside the service (`make run`); "
            "a clean stop pauses the schedules"
        ),
    ] = False,
) -> None:
    """Serve the champion with BentoML in the foreground (Ctrl-C stops it)."""
    from flows.cli.serving import serve_champion

    raise typer.Exit(serve_champion(get_settings(), port, deployments, _prefect()))


if __name__ == "__main__":
    sys.exit(app())
