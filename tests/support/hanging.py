"""A port that accepts connections and never answers: a hung dependency (not a dead one,
which refuses at once)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator


@contextlib.contextmanager
def hanging_port(port: int) -> Iterator[list[socket.socket]]:
    """Listen on 127.0.0.1:`port`, accept every connection, read nothing, answer nothing;
    the accepted connections (to count them) while the block runs, all closed after."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    _bind(listener, port)
    listener.listen(64)
    listener.settimeout(0.2)
    accepted: list[socket.socket] = []
    stopping = threading.Event()

    def accept_forever() -> None:
        while not stopping.is_set():
            with contextlib.suppress(TimeoutError, OSError):
                accepted.append(listener.accept()[0])

    thread = threading.Thread(target=accept_forever, daemon=True)
    thread.start()
    try:
        yield accepted
    finally:
        stopping.set()
        thread.join(timeout=5)
        for connection in [*accepted, listener]:
            connection.close()


def _bind(listener: socket.socket, port: int, timeout: float = 30.0) -> None:
    """Bind once the port is free: a killed server's children can hold it a moment longer."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            listener.bind(("127.0.0.1", port))
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
