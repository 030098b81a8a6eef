"""The soak's open-loop client: requests leave at a fixed rate whatever the server does.

Request i is due at `start + i / rate`; it goes out on an idle keep-alive connection, or on a
new one when every connection is busy, so a slow answer never delays the next request (no
coordinated omission). Latency is measured from the due time, so time the client itself was
late is charged to the request, not hidden. The route of each request is drawn from a seeded
generator: /predict, /predict_by_id (known ids, and a few unknown ids that must answer 404) and
/predict_batch (BATCH listings).

Run as a child: `python -m bench.soak.traffic URL BODIES RATE SECONDS START_EPOCH OUT SEED`;
writes one CSV line per request to OUT and prints one JSON line (the client's own health).
"""

from __future__ import annotations

import asyncio
import gc
import json
import random
import resource
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.children import emit
from bench.service.load import encode_requests, read_response

# (route label, path, share of all requests); "unknown" ids must answer 404.
MIX = (
    ("predict", "/predict", 0.70),
    ("by_id", "/predict_by_id", 0.19),
    ("unknown", "/predict_by_id", 0.01),
    ("batch", "/predict_batch", 0.10),
)
BATCH = 10
TIMEOUT_S = 30.0  # an answer later than this counts as an error (status 0)
MAX_CONNECTIONS = 512  # past this many requests in flight the client gives up on one
VERSION_KEY = b'"model_version":"'
KEEP_ALIVE_S = 4.0  # under uvicorn's 5 s keep-alive timeout, which BentoML keeps
Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter, float]  # float: idle since


@dataclass
class Client:
    host: str
    port: int
    requests: dict[str, list[bytes]]
    idle: deque[Connection] = field(default_factory=deque)
    open: int = 0
    peak_open: int = 0
    expired: int = 0  # idle connections dropped before reuse (closed or about to be)
    rows: list[str] = field(default_factory=list)


def bodies_by_route(bodies: dict[str, list[str]], seed: int) -> dict[str, list[str]]:
    """JSON bodies per route label: the listings, known ids, unknown ids, and batches."""
    rng = random.Random(seed)
    listings = [json.loads(x) for x in bodies["listings"]]
    batches = [json.dumps({"listings": rng.sample(listings, BATCH)}) for _ in range(64)]
    return {
        "predict": bodies["listings"],
        "by_id": bodies["ids"],
        "unknown": bodies["unknown_ids"],
        "batch": batches,
    }


def _version(status: int, body: bytes) -> str:
    at = body.find(VERSION_KEY) if status == 200 else -1
    return "" if at < 0 else body[at + len(VERSION_KEY) :].split(b'"', 1)[0].decode()


def _idle_connection(client: Client) -> Connection | None:
    """The most recently used idle connection the server has not closed, if any."""
    while client.idle:
        reader, writer, since = client.idle.pop()
        # uvicorn closes a connection idle for 5 s; reusing one it closed would fail a request
        # that never reached it, as no real client (they reconnect) would.
        if not reader.at_eof() and time.perf_counter() - since < KEEP_ALIVE_S:
            return reader, writer, since
        writer.close()
        client.open -= 1
        client.expired += 1
    return None


async def _exchange(client: Client, request: bytes) -> tuple[int, bytes]:
    """Send on an idle connection (or a new one); (status, body), status 0 if it failed."""
    connection = _idle_connection(client)
    if connection is None:
        if client.open >= MAX_CONNECTIONS:
            return 0, b"TooManyInFlight"
        reader, writer = await asyncio.open_connection(client.host, client.port)
        client.open += 1
        client.peak_open = max(client.peak_open, client.open)
    else:
        reader, writer, _ = connection
    try:
        writer.write(request)
        status, body, close = await asyncio.wait_for(read_response(reader), TIMEOUT_S)
    except (
        TimeoutError,
        asyncio.IncompleteReadError,
        asyncio.LimitOverrunError,
        ValueError,
        ConnectionError,
    ) as failure:
        status, body, close = 0, type(failure).__name__.encode(), True
    if close:
        writer.close()
        client.open -= 1
    else:
        client.idle.append((reader, writer, time.perf_counter()))
    return status, body


async def _one(client: Client, route: str, request: bytes, due: float, start: float) -> None:
    lag = time.perf_counter() - due
    try:
        status, body = await _exchange(client, request)
    except OSError as failure:  # could not even connect
        status, body = 0, type(failure).__name__.encode()
    latency = time.perf_counter() - due
    failure = (
        body.decode(errors="replace")[:60].replace("\n", " ").replace(",", ";").replace('"', "'")
    )
    client.rows.append(
        f"{due - start:.4f},{route},{status},{latency * 1e3:.3f},"
        f"{lag * 1e3:.3f},{_version(status, body)},{failure if status != 200 else ''}"
    )


def _schedule(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    labels, shares = [m[0] for m in MIX], [m[2] for m in MIX]
    return rng.choices(labels, weights=shares, k=count)


async def drive(
    url: str,
    bodies: dict[str, list[str]],
    rate: float,
    seconds: float,
    start_epoch: float,
    seed: int,
) -> Client:
    """Send `rate * seconds` requests on schedule from `start_epoch`; wait for the last."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    paths = {label: path for label, path, _ in MIX}
    by_route = bodies_by_route(bodies, seed)
    requests = {
        r: encode_requests(host, port, paths[r], [b.encode() for b in by_route[r]])
        for r in by_route
    }
    client = Client(host, port, requests)
    routes = _schedule(round(rate * seconds), seed)
    await asyncio.sleep(max(0.0, start_epoch - time.time()))
    start, tasks = time.perf_counter(), []
    for i, route in enumerate(routes):
        due = start + i / rate
        if (wait := due - time.perf_counter()) > 0:
            await asyncio.sleep(wait)
        pool = requests[route]
        tasks.append(asyncio.create_task(_one(client, route, pool[i % len(pool)], due, start)))
    await asyncio.gather(*tasks)
    return client


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def child(
    url: str, bodies_file: str, rate: str, seconds: str, start_epoch: str, out: str, seed: str
) -> None:
    """Child entry point: drive the load, write every request, print the client's health."""
    bodies = json.loads(Path(bodies_file).read_text())
    gc.disable()  # the client's own pauses must not show up as server latency
    cpu, wall = _cpu(), time.perf_counter()
    client = asyncio.run(
        drive(url, bodies, float(rate), float(seconds), float(start_epoch), int(seed))
    )
    cpu_share = (_cpu() - cpu) / (time.perf_counter() - wall)
    report: dict[str, Any] = {
        "requests": len(client.rows),
        "peak_connections": client.peak_open,
        "client_cpu_share": cpu_share,
        "expired_connections": client.expired,
    }
    Path(out).write_text(
        "offset_s,route,status,latency_ms,lag_ms,version,failure\n" + "\n".join(client.rows) + "\n"
    )
    emit(report)


if __name__ == "__main__":
    child(*sys.argv[1:8])
