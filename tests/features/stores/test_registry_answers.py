"""The registry probe flows run first: a down or hung tracking server fails in seconds, by
name, before any work; one that answers anything passes."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator

import pytest
from support.hanging import hanging_port

from features.local.processes import free_port
from features.settings import Settings
from features.stores import model_registry
from features.stores.model_registry import PROBE_TIMEOUT_S, RegistryNotAnswering


def _remote(port: int) -> Settings:
    return Settings(mlflow_tracking_uri=f"http://user:secret@127.0.0.1:{port}")


class _Refusing(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(401)  # an auth proxy in front of MLflow: it answered
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def answering_port() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Refusing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_a_hung_server_fails_within_the_probe_timeout_naming_it_without_credentials() -> None:
    port = free_port()
    with hanging_port(port) as accepted:
        started = time.monotonic()
        with pytest.raises(RegistryNotAnswering) as raised:
            model_registry.check_answers(_remote(port))
        waited = time.monotonic() - started
        assert accepted, "the probe never reached the hung port: the test proves nothing"
    message = str(raised.value)
    assert "did not answer within 10 s" in message and "nothing was written" in message
    assert f"http://127.0.0.1:{port}" in message and "secret" not in message
    assert PROBE_TIMEOUT_S - 1 <= waited <= PROBE_TIMEOUT_S + 5


def test_a_down_server_fails_once_the_probe_has_waited_for_a_restart() -> None:
    started = time.monotonic()
    with pytest.raises(RegistryNotAnswering, match=r"is unreachable: .*refused"):
        model_registry.check_answers(_remote(free_port()))
    assert PROBE_TIMEOUT_S - 1 <= time.monotonic() - started <= PROBE_TIMEOUT_S + 3


def test_a_server_that_comes_up_while_the_probe_waits_passes() -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Refusing)
    port = server.server_address[1]
    server.server_close()  # the port is free: refused, for now
    started: list[http.server.ThreadingHTTPServer] = []
    late = threading.Timer(3.0, lambda: started.append(_serve_on(port)))
    late.start()
    try:
        model_registry.check_answers(_remote(port))
    finally:
        late.join()
        for running in started:
            running.shutdown()
            running.server_close()
    assert started, "the probe passed before anything listened: the test proves nothing"


def _serve_on(port: int) -> http.server.ThreadingHTTPServer:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), _Refusing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_any_answer_passes_and_a_local_store_is_not_probed(answering_port: int) -> None:
    model_registry.check_answers(_remote(answering_port))
    model_registry.check_answers(Settings(mlflow_tracking_uri=None))
