"""A real Prefect server for every process: `PREFECT_API_URL` if set, else a local one.

The local server (SQLite under `Settings.prefect_home`, loopback only) is started on first use
and left running, so flow runs, artifacts and events stay visible in its UI and later commands
connect at once instead of paying the ~20 s a cold server needs. `fleetcast server stop` ends it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from features.local.processes import alive, free_port
from features.settings import Settings
from features.stores.atomic import exclusive_lock, write_text_atomic

START_TIMEOUT_S = 180.0  # a cold start on a busy 2-core machine


def _state_file(settings: Settings) -> Path:
    return settings.prefect_home / "server.json"


def _healthy(api_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def running_local_url(settings: Settings) -> str | None:
    """API URL of the local server if it is up, else None."""
    path = _state_file(settings)
    if not path.exists():
        return None
    state = json.loads(path.read_text())
    # The recorded process must still be ours: its port may since belong to another server.
    return state["api_url"] if alive(state["pid"]) and _healthy(state["api_url"]) else None


def _server_env(settings: Settings, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    return env | {
        "PREFECT_HOME": str(settings.prefect_home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_API_HOST": "127.0.0.1",
        "PREFECT_SERVER_API_PORT": str(port),
        # Without this the UI calls the default port (4200) whatever port the server is on.
        "PREFECT_UI_API_URL": f"http://127.0.0.1:{port}/api",
    }


def _port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def start_local(settings: Settings, port: int | None = None) -> str:
    """Start `prefect server start` on loopback; wait until healthy.

    The port is `port`, else `Settings.prefect_port` if free (a stable UI address), else any.
    """
    settings.prefect_home.mkdir(parents=True, exist_ok=True)
    if port is None:
        wanted = settings.prefect_port
        port = wanted if wanted and _port_is_free(wanted) else free_port()
    prefect = Path(sys.executable).parent / "prefect"
    log = open(settings.prefect_home / "server.log", "ab")  # noqa: SIM115 - the server owns it
    process = subprocess.Popen(
        [str(prefect), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=_server_env(settings, port),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    api_url = f"http://127.0.0.1:{port}/api"
    deadline = time.monotonic() + START_TIMEOUT_S
    while not _healthy(api_url):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"local Prefect server did not start; see {log.name}")
        time.sleep(0.5)
    state = {"api_url": api_url, "pid": process.pid, "ui_url": f"http://127.0.0.1:{port}"}
    write_text_atomic(_state_file(settings), json.dumps(state))
    return api_url


def ensure_local(settings: Settings) -> str:
    """The local server's API URL, starting it if it is not running (one starter at a time)."""
    with exclusive_lock(settings.prefect_home / "start.lock"):
        return running_local_url(settings) or start_local(settings)


def stop_local(settings: Settings) -> bool:
    """Stop the local server if this state folder has one; True if one was stopped."""
    path = _state_file(settings)
    if not path.exists():
        return False
    pid = json.loads(path.read_text())["pid"]
    stopped = False
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
        stopped = True
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)  # reap it if this process started it
            os.killpg(pid, 0)  # raises ProcessLookupError once the group is gone
            time.sleep(0.2)
        os.killpg(pid, signal.SIGKILL)
    path.unlink(missing_ok=True)
    return stopped


def use_prefect_server(settings: Settings) -> str:
    """Point this process's Prefect client at a real server; call before importing prefect."""
    os.environ.setdefault("PREFECT_HOME", str(settings.prefect_home))
    api_url = os.environ.get("PREFECT_API_URL") or ensure_local(settings)
    os.environ["PREFECT_API_URL"] = api_url
    return api_url
