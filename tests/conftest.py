"""Real parts for the tests: one Prefect server and one Redis server for the session.

Prefect reads PREFECT_API_URL when first imported, which happens when this file loads its
plugin (`service_fixtures`), so the URL (on a free port) is fixed in this module's body, before
that import, and the server itself is started by the first test that needs it. Each test gets
its own state folder and Redis key prefix, so tests cannot see each other's data.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from features.local.prefect_server import start_local, stop_local
from features.local.processes import free_port
from features.local.redis_server import start_embedded, stop_embedded
from features.settings import PROJECT_ROOT, Settings

# The real BentoML service fixtures, shared by tests/service/ and tests/reliability/.
pytest_plugins = ["support.service_fixtures"]
# PATH for commands under test: system directories only, as on a fresh machine. A command that
# needs a tool the project does not install (a global `uv`, say) fails with it.
SYSTEM_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"


def _session_home_and_port() -> tuple[Path, int]:
    """The session's state folder and Prefect port, chosen once per test process: this module
    runs twice (pytest loads it, and tests import `TrainedStore` from it), and a second choice
    would point Prefect at a port no server listens on."""
    if "_FLEETCAST_TESTS_HOME" not in os.environ:
        home, port = tempfile.mkdtemp(prefix="fleetcast-tests-"), free_port()
        os.environ["_FLEETCAST_TESTS_HOME"] = home
        os.environ["PREFECT_HOME"] = str(Path(home) / "prefect")
        os.environ["PREFECT_API_URL"] = f"http://127.0.0.1:{port}/api"
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
        # The server writes events in batches every 5 s by default; tests read them sooner.
        os.environ.setdefault("PREFECT_SERVER_SERVICES_EVENT_PERSISTER_FLUSH_INTERVAL", "0.5")
    port = int(os.environ["PREFECT_API_URL"].rsplit(":", 1)[1].split("/")[0])
    return Path(os.environ["_FLEETCAST_TESTS_HOME"]), port


_SESSION_HOME, _PREFECT_PORT = _session_home_and_port()


@pytest.fixture(scope="session")
def session_settings() -> Settings:
    return Settings(home=_SESSION_HOME)


@pytest.fixture(scope="session")
def prefect_server(session_settings: Settings) -> Iterator[str]:
    """A real local Prefect server for the whole session."""
    from prefect.settings import get_current_settings

    # Were Prefect imported before the URL was set, flows would quietly use an ephemeral
    # server (no events across processes) instead of this one.
    assert get_current_settings().api.url == os.environ["PREFECT_API_URL"]
    api_url = start_local(session_settings, port=_PREFECT_PORT)
    yield api_url
    # Deliver pending logs and events while the server is still up; otherwise Prefect's
    # workers retry against a dead server when the interpreter exits.
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=10)
    EventsWorker.drain_all(timeout=10)
    stop_local(session_settings)


@pytest.fixture(scope="session")
def redis_url(session_settings: Settings) -> Iterator[str]:
    """A real redis-server process for the whole session."""
    url, process = start_embedded(session_settings)
    yield url
    stop_embedded(session_settings, url, process)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh FLEETCAST_HOME (and data folder) for this test, seen by every get_settings()."""
    monkeypatch.setenv("FLEETCAST_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("FLEETCAST_DATA_DIR", str(tmp_path / "data"))
    (tmp_path / "data").mkdir()
    return tmp_path / "home"


@pytest.fixture
def settings(home: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings of a test that uses the session's Redis under its own key prefix."""
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("FLEETCAST_REDIS_KEY_PREFIX", f"test-{uuid.uuid4().hex[:8]}")
    return Settings()


@pytest.fixture
def flow_settings(settings: Settings, prefect_server: str) -> Settings:
    """Settings of a test that runs real Prefect flows."""
    return settings


@dataclass(frozen=True)
class TrainedStore:
    """A state folder where the whole pipeline ran once on the shipped data."""

    env: dict[str, str]
    result: Any  # flows.pipeline.PipelineResult

    @property
    def settings(self) -> Settings:
        return Settings(
            home=Path(self.env["FLEETCAST_HOME"]),
            registered_model=self.env["FLEETCAST_REGISTERED_MODEL"],
        )


@pytest.fixture(scope="session")
def trained_store(
    tmp_path_factory: pytest.TempPathFactory, redis_url: str, prefect_server: str
) -> TrainedStore:
    """Ingest → features → train → promote on the shipped data, once per session (~30 s)."""
    from flows.pipeline import pipeline_flow

    env = {
        "FLEETCAST_HOME": str(tmp_path_factory.mktemp("trained") / "home"),
        "FLEETCAST_DATA_DIR": str(PROJECT_ROOT / "data"),
        "REDIS_URL": redis_url,
        "FLEETCAST_REDIS_KEY_PREFIX": "trained",
        "FLEETCAST_REGISTERED_MODEL": "fleetcast-reservations",
    }
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        result = pipeline_flow()
    return TrainedStore(env=env, result=result)


@pytest.fixture
def model_settings(trained_store: TrainedStore, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The trained store's settings under a registered-model name of this test's own."""
    for key, value in trained_store.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("FLEETCAST_REGISTERED_MODEL", f"test-{uuid.uuid4().hex[:8]}")
    return Settings()
