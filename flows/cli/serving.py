"""`fleetcast serve`: the BentoML service in the foreground, optionally with a Prefect worker.

`api_url` is the Prefect server the service follows promotions on (started by the caller).
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import typer

from features.contract.routes import PAGE_PATH
from features.contract.schema import ENTITY, EXAMPLE_VEHICLE
from features.settings import PROJECT_ROOT, Settings
from flows.cli import foreground
from flows.cli.errors import run_flow

SERVICE = "service.service:Fleetcast"  # started by name: flows never import the service


def curl_example(port: int) -> str:
    """The requests `fleetcast serve` suggests, on the contract's example listing."""
    listing = json.dumps(EXAMPLE_VEHICLE.model_dump(exclude={ENTITY}))
    return f"""curl -s -X POST http://127.0.0.1:{port}/predict \\
  -H 'content-type: application/json' \\
  -d '{listing}'
curl -s -X POST http://127.0.0.1:{port}/predict_by_id \\
  -H 'content-type: application/json' -d '{{"vehicle_id": 1}}'
curl -s http://127.0.0.1:{port}/model"""


def serve_champion(settings: Settings, port: int | None, deployments: bool, api_url: str) -> int:
    """Serve the champion until Ctrl-C or SIGTERM (with a worker if `deployments`); exit code."""
    from features.local.redis_server import current_url, start_embedded

    # The embedded Redis stays up after the service stops, like `fleetcast redis start`.
    redis = current_url(settings) or start_embedded(settings)[0]
    port = port or settings.service_port
    url = f"http://127.0.0.1:{port}"
    typer.echo(f"starting the service on {url} (ready in ~20 s)")
    typer.echo(f"web page (price a listing, look up a vehicle, the model): {url}{PAGE_PATH}")
    typer.echo("or try:")
    typer.echo(curl_example(port))
    if settings.admin_token is None:
        typer.echo("admin routes (/reload, /vehicles) are off: set FLEETCAST_ADMIN_TOKEN")
    bentoml = str(Path(sys.executable).parent / "bentoml")
    command = [bentoml, "serve", SERVICE, "--host", "127.0.0.1", "--port", str(port)]
    # A BENTOML_HOME per server unless one is set: /metrics stays this server's own.
    home = os.environ.get("BENTOML_HOME") or str(settings.bentoml_home(port))
    env = os.environ | {"REDIS_URL": redis, "BENTOML_HOME": home}
    # SIGTERM to `bentoml serve` stops its workers gracefully: each flushes its prediction log.
    service = foreground.Child(command, PROJECT_ROOT, env, signal.SIGTERM)
    if deployments:
        code = _serve_with_worker(settings, service, api_url)
    else:
        code = foreground.run_together([service])[0]
    return 0 if code in (0, -signal.SIGTERM) else code


def _serve_with_worker(settings: Settings, service: foreground.Child, api_url: str) -> int:
    """The deployments applied, then the service and a worker side by side; the service's code."""
    from flows.cli.deploy import deploy_all, run_beside

    names = run_flow(lambda: deploy_all(settings))
    ui = api_url.removesuffix("/api")
    typer.echo(f"deployed {', '.join(names)}, with a worker beside the service: {ui}/deployments")
    return run_beside(settings, [service])[1]
