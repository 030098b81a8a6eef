"""The worker command in its own process, as `fleetcast deploy` runs it, and its log."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import psutil

# What `fleetcast deploy` does after connecting to Prefect, minus the CLI wiring.
WORKER_SCRIPT = """
from features.local.prefect_server import use_prefect_server
from features.settings import get_settings
use_prefect_server(get_settings())
from flows.cli.deploy import run_worker
raise SystemExit(run_worker(get_settings()))
"""


def _alive(process: psutil.Process) -> bool:
    with contextlib.suppress(psutil.NoSuchProcess):
        return process.status() != psutil.STATUS_ZOMBIE
    return False


def _describe(process: psutil.Process) -> str:
    with contextlib.suppress(psutil.Error):
        return " ".join(process.cmdline())
    return str(process.pid)


@dataclass
class Worker:
    """The worker command in its own process, as `fleetcast deploy` runs it, and its log."""

    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text()[-3000:]

    def stop_like_ctrl_c(self, sig: int = signal.SIGINT) -> tuple[int | None, list[str]]:
        """Signal the command alone; its exit code and the processes it left (then killed)."""
        family = psutil.Process(self.process.pid).children(recursive=True)
        self.process.send_signal(sig)
        code = None
        with contextlib.suppress(subprocess.TimeoutExpired):
            code = self.process.wait(timeout=30)
        leaked = [p for p in family if _alive(p)]
        described = [_describe(p) for p in leaked]
        for leftover in leaked:
            with contextlib.suppress(psutil.NoSuchProcess):
                leftover.kill()
        if code is None:
            self.process.kill()
            self.process.wait()
        return code, described


def start_worker(env: dict[str, str], log_path: Path) -> Worker:
    """The worker of the fleetcast pool for the Prefect server and stores `env` names."""
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-c", WORKER_SCRIPT],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Worker(process, log_path)
