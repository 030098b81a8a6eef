"""What the command line says when a command fails for a reason the user can fix: one line
naming the file, field, rule or server, and exit code 1. Anything else is a bug and keeps its
traceback."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TypeVar

import typer
from pydantic import ValidationError

from features.contract.errors import FleetcastError

T = TypeVar("T")


# Errors a user can fix: every FleetcastError (a bad file, no snapshot, no champion...) and a
# flow parameter pydantic refused (it names the field and the rule).
USER_ERRORS = (FleetcastError, ValidationError)


def prefect_unreachable(error: BaseException) -> str | None:
    """One line naming the Prefect server, if `error` comes down to not reaching it (Prefect
    raises it wrapped in several layers, after a ~440-line traceback of retries)."""
    import httpx

    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, httpx.TransportError):
            url = os.environ.get("PREFECT_API_URL", "?")
            return (
                f"the Prefect server at {url} is unreachable ({type(seen).__name__}): "
                "start it, or point PREFECT_API_URL at a running one"
            )
        seen = seen.__cause__ or seen.__context__
    return None


def run_flow(flow_call: Callable[[], T]) -> T:
    """Run a flow; a user error becomes one line on stderr and exit code 1."""
    try:
        return flow_call()
    except Exception as error:
        message = prefect_unreachable(error)
        if message is None and not isinstance(error, USER_ERRORS):
            raise
        typer.secho(f"error: {message or error}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None
