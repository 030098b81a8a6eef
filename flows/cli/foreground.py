"""Long-running children of the CLI (`bentoml serve`, a Prefect worker) that stop with it.

A child runs in a session of its own, so a terminal's Ctrl-C reaches only the CLI, which then
stops the child exactly once, the way the child expects. SIGTERM to the CLI (a supervisor,
`timeout`, a container runtime, `make` forwarding its own) does the same, so stopping the
command never leaves the child's process tree serving on its port.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from features.local.processes import alive, descendants

STOP_TIMEOUT_S = 60.0


def start(command: Sequence[str], cwd: Path, env: Mapping[str, str]) -> subprocess.Popen[bytes]:
    """Start `command` as the leader of a new session (and so of a process group of its own)."""
    return subprocess.Popen(list(command), cwd=cwd, env=dict(env), start_new_session=True)


def stop(child: subprocess.Popen[bytes], stop_signal: int, timeout: float = STOP_TIMEOUT_S) -> int:
    """Send `stop_signal` once and wait for the child's whole tree; past `timeout` (or at
    another Ctrl-C) kill what is left of it."""
    tree = descendants(child.pid)  # workers may sit in sessions of their own (circus does that)
    deadline = time.monotonic() + timeout
    try:
        if child.poll() is None:
            child.send_signal(stop_signal)
            child.wait(timeout)
        while tree and time.monotonic() < deadline:  # let them finish their own clean stop
            tree = [pid for pid in tree if alive(pid)]
            time.sleep(0.05)
    except (subprocess.TimeoutExpired, KeyboardInterrupt):
        pass
    if child.poll() is None:
        _kill(child.pid)
    for pid in tree:
        if alive(pid):  # checked just before: its pid may be someone else's by now
            _kill(pid)
    child.wait()
    return child.returncode


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGKILL)


@dataclass(frozen=True)
class Child:
    """A long-running command, and the signal that stops it the way it expects."""

    command: Sequence[str]
    cwd: Path
    env: Mapping[str, str]
    stop_signal: int


def run(
    command: Sequence[str],
    cwd: Path,
    env: Mapping[str, str],
    stop_signal: int,
    timeout: float = STOP_TIMEOUT_S,
) -> int:
    """Run `command` until it exits, or until SIGINT/SIGTERM stops it; its exit code."""
    return run_together([Child(command, cwd, env, stop_signal)], timeout)[0]


def run_together(children: Sequence[Child], timeout: float = STOP_TIMEOUT_S) -> list[int]:
    """Run `children` side by side until one exits or SIGINT/SIGTERM arrives, then stop them
    all (each the way it expects), in order; their exit codes."""
    with interrupt_on_signals():  # also while stopping: a SIGTERM then must not orphan one
        started: list[subprocess.Popen[bytes]] = []
        try:
            started = [start(c.command, c.cwd, c.env) for c in children]
            while all(process.poll() is None for process in started):
                time.sleep(0.2)
        except KeyboardInterrupt:
            pass
        finally:
            codes = [
                stop(p, c.stop_signal, timeout) for p, c in zip(started, children, strict=False)
            ]  # fewer if a start failed
    return codes


@contextlib.contextmanager
def interrupt_on_signals() -> Iterator[None]:
    """Raise KeyboardInterrupt on SIGINT and SIGTERM while inside.

    Besides making `kill` stop a child like Ctrl-C, this un-ignores SIGINT for children: a
    process started in the background inherits SIGINT ignored, and a Prefect worker started so
    shrugs off the SIGINT its own shutdown relies on (seen as "a worker ignored a SIGTERM").
    A handled signal is reset to the default in a child, an ignored one stays ignored.
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)
