"""`fleetcast server` and `fleetcast redis`: the local Prefect server and the embedded Redis."""

from __future__ import annotations

import typer

from features.local.prefect_server import stop_local, use_prefect_server
from features.settings import get_settings

redis_app = typer.Typer(
    help="The embedded Redis (used when REDIS_URL is unset).", no_args_is_help=True
)
server_app = typer.Typer(
    help="The local Prefect server (used when PREFECT_API_URL is unset).", no_args_is_help=True
)


@server_app.command("start")
def server_start() -> None:
    """Start the local Prefect server (with its UI) and leave it running."""
    typer.echo(f"Prefect API: {use_prefect_server(get_settings())}")


@server_app.command("stop")
def server_stop() -> None:
    """Stop the local Prefect server."""
    stopped = stop_local(get_settings())
    typer.echo("stopped the local Prefect server" if stopped else "no local Prefect server running")


@redis_app.command("start")
def redis_start() -> None:
    """Start the embedded Redis and leave it running (flows then reuse it)."""
    from features.local.redis_server import running_embedded_url, start_embedded

    settings = get_settings()
    typer.echo(running_embedded_url(settings) or start_embedded(settings)[0])


@redis_app.command("stop")
def redis_stop() -> None:
    """Save and stop the embedded Redis."""
    from features.local.redis_server import running_embedded_url, stop_embedded

    settings = get_settings()
    url = running_embedded_url(settings)
    if url is None:
        typer.echo("embedded redis is not running")
        return
    stop_embedded(settings, url, None)
    typer.echo(f"stopped {url}")
