"""Raw HTTP for the reliability tests: requests an HTTP client will not send as written
(a Content-Length that lies, a body that never ends), and the checks every error reply passes."""

from __future__ import annotations

import contextlib
import json
import socket
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx

if TYPE_CHECKING:
    from support.service_fixtures import RunningService

JSON = {"content-type": "application/json"}


def raw_exchange(url: str, head: str, body: bytes, timeout: float = 15.0) -> bytes:
    """Send `head` (request line and headers, CRLF-separated, without the blank line) and `body`
    as given to the service at `url`; everything it answers until it closes or goes quiet."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as conn:
        conn.sendall(head.encode("latin-1") + b"\r\n\r\n")
        # The service may answer and close before it has taken the whole body.
        with contextlib.suppress(OSError):
            conn.sendall(body)
        received = b""
        try:
            while chunk := conn.recv(65536):
                received += chunk
        except (TimeoutError, ConnectionResetError):
            pass
    return received


def first_status(reply: bytes) -> int:
    """The status code of the first response in `reply` (0 if there is none)."""
    line = reply.split(b"\r\n", 1)[0].split()
    return int(line[1]) if len(line) > 1 and line[1].isdigit() else 0


def first_json(reply: bytes) -> Any:
    """The JSON body of the first response in `reply`, read by its Content-Length."""
    head, _, rest = reply.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    return json.loads(rest[:length])


def error_message(status: int, content_type: str, body: bytes) -> str:
    """The `error` of an error reply; fails unless it is a JSON object with a non-empty message
    (and, for a 400 that lists field errors, each one with its location and rule)."""
    assert content_type.split(";")[0].strip() == "application/json", (status, content_type, body)
    document = json.loads(body)
    assert isinstance(document, dict), (status, document)
    message = document.get("error")
    assert isinstance(message, str) and message.strip(), (status, document)
    for item in document.get("detail") or []:
        assert isinstance(item, dict) and item.get("msg") and "loc" in item, (status, document)
    return message


def post(
    service: RunningService, path: str, body: bytes, content_type: str | None = "application/json"
) -> httpx.Response:
    """POST `body` as is (to /vehicles with the admin token); None sends no Content-Type."""
    headers = service.admin if path == "/vehicles" else {}
    if content_type is not None:
        headers = headers | {"content-type": content_type}
    return httpx.post(f"{service.url}{path}", content=body, headers=headers, timeout=30)


def names(reply: httpx.Response, *fields: str) -> None:
    """A 400 whose detail locates an error at each of `fields` (a path in the body)."""
    assert reply.status_code == 400, reply.text
    error_message(400, reply.headers["content-type"], reply.content)
    located = [".".join(map(str, item["loc"])) for item in reply.json()["detail"]]
    assert all(field in located for field in fields), located


def raw_head(service: RunningService, path: str, *headers: str) -> str:
    host = service.url.removeprefix("http://")
    return "\r\n".join([f"POST {path} HTTP/1.1", f"Host: {host}", "Connection: close", *headers])


def nested_objects(node: Any) -> Any:
    """Every JSON object nested in `node`."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from nested_objects(value)
    elif isinstance(node, list):
        for value in node:
            yield from nested_objects(value)
