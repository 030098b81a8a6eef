"""`fleetcast shadow`: which version the service scores beside the champion (`challenger`)."""

from __future__ import annotations

from typing import Annotated

import typer

from features.local.prefect_server import use_prefect_server
from features.settings import get_settings
from flows.cli.errors import run_flow

shadow_app = typer.Typer(
    help="The shadow: a version every service worker scores beside the champion on the same "
    "requests (answers logged, never returned), judged live by the drift flow.",
    no_args_is_help=True,
)


def _moved(before: str | None, now: str | None) -> str:
    return f"challenger: {f'v{before}' if before else 'none'} -> {f'v{now}' if now else 'none'}"


@shadow_app.command("set")
def set_shadow(
    version: Annotated[str, typer.Argument(help="A registered version (not the champion)")],
    reason: Annotated[str, typer.Option(help="Why (in the event and the log)")] = "set by hand",
) -> None:
    """Make VERSION the challenger; every worker loads it as its shadow now."""
    use_prefect_server(get_settings())
    from flows.promote.challenger import challenger_flow

    before = run_flow(lambda: challenger_flow(version=version, reason=reason))
    typer.echo(_moved(before, version))


@shadow_app.command("clear")
def clear_shadow(
    reason: Annotated[str, typer.Option(help="Why (in the event and the log)")] = "cleared by hand",
) -> None:
    """Clear the challenger; every worker unloads its shadow now."""
    use_prefect_server(get_settings())
    from flows.promote.challenger import challenger_flow

    before = run_flow(lambda: challenger_flow(version=None, reason=reason))
    typer.echo(_moved(before, None))
