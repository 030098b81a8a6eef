"""The closed-loop load client: N connections, each sending its next request when the last one
answered, every latency recorded (no coordinated-omission correction, no sampling).

Raw HTTP/1.1 keep-alive over asyncio streams: requests are pre-encoded bytes and responses are
parsed only as far as status and length, so the client spends little of the machine's two
cores. Bodies are sent round-robin from a JSON-lines file, each connection starting at its own
offset. The first `warmup` seconds are sent but not recorded. The garbage collector is off for
the run so that the client's own pauses never show up as server latency.

Run as a child: `python -m bench.service.load URL PATH BODIES CONCURRENCY SECONDS WARMUP OUT`;
it prints one JSON line and writes every recorded latency (µs, one per line) to OUT.
"""

from __future__ import annotations

import asyncio
import gc
import math
import resource
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.children import emit, run_child

MAX_CONNECT_ERRORS = 50


@dataclass
class Record:
    """Latencies (s) of the requests that started inside the measured window."""

    measure_from: float
    stop: float
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)  # 0: connection lost
    reconnects: int = 0
    last_end: float = 0.0
    sample: str = ""


def encode_requests(host: str, port: int, path: str, bodies: list[bytes]) -> list[bytes]:
    head = f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
    return [f"{head}Content-Length: {len(b)}\r\n\r\n".encode() + b for b in bodies]


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts = []
    while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
        parts.append(await reader.readexactly(size + 2))
    await reader.readuntil(b"\r\n")
    return b"".join(p[:-2] for p in parts)


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """(status, body, server closes the connection)."""
    lines = (await reader.readuntil(b"\r\n\r\n")).split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length, chunked, close = 0, False, False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name, value = name.strip().lower(), value.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value
        elif name == b"connection":
            close = value == b"close"
    body = await _read_chunked(reader) if chunked else await reader.readexactly(length)
    return status, body, close


async def _connection(
    host: str, port: int, requests: list[bytes], offset: int, record: Record
) -> None:
    """One closed loop: send, wait for the answer, record, repeat until the window ends."""
    i, reader, writer = offset, None, None
    while time.perf_counter() < record.stop:
        if writer is None:
            reader, writer = await asyncio.open_connection(host, port)
        started = time.perf_counter()
        writer.write(requests[i % len(requests)])
        i += 1
        try:
            status, body, close = await read_response(reader)  # type: ignore[arg-type]
        except (asyncio.IncompleteReadError, ConnectionError):
            status, body, close = 0, b"", True
            record.reconnects += 1
            if record.reconnects > MAX_CONNECT_ERRORS:
                raise
        ended = time.perf_counter()
        if started >= record.measure_from:
            record.latencies.append(ended - started)
            record.errors += status != 200
            record.statuses[status] = record.statuses.get(status, 0) + 1
            record.last_end = max(record.last_end, ended)
        record.sample = record.sample or body.decode(errors="replace")[:200]
        if close:
            writer.close()
            reader, writer = None, None
    if writer is not None:
        writer.close()


def percentile(ordered: list[float], p: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def summarize(record: Record, cpu_seconds: float) -> dict[str, Any]:
    ordered = sorted(record.latencies)
    if not ordered:
        raise RuntimeError("no request completed inside the measured window: lengthen it")
    window = max(record.last_end, record.stop) - record.measure_from
    ms = {f"p{p:g}_ms": percentile(ordered, p) * 1e3 for p in (50, 90, 99, 99.9)}
    statuses = {str(k): v for k, v in sorted(record.statuses.items())}
    return {
        "requests": len(ordered),
        "errors": record.errors,
        "statuses": statuses,
        "reconnects": record.reconnects,
        "seconds": window,
        "rps": len(ordered) / window,
        **ms,
        "max_ms": ordered[-1] * 1e3,
        "mean_ms": sum(ordered) / len(ordered) * 1e3,
        "client_cpu_share": cpu_seconds / window,
        "sample": record.sample,
    }


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def drive(
    url: str, path: str, bodies: list[bytes], concurrency: int, seconds: float, warmup: float
) -> dict[str, Any]:
    """Run `concurrency` closed loops for `warmup + seconds`; the recorded window's summary."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    requests = encode_requests(host, port, path, bodies)
    start = time.perf_counter()
    record = Record(measure_from=start + warmup, stop=start + warmup + seconds)
    step = max(1, len(requests) // concurrency)
    loops = [_connection(host, port, requests, k * step, record) for k in range(concurrency)]
    cpu = _cpu()
    await asyncio.wait_for(asyncio.gather(*loops), timeout=warmup + seconds + 60)
    return summarize(record, _cpu() - cpu) | {"latencies": record.latencies}


def child(
    url: str, path: str, bodies_file: str, concurrency: str, seconds: str, warmup: str, out: str
) -> None:
    """Child entry point: drive the load, write the latencies, print the summary."""
    bodies = [line.encode() for line in Path(bodies_file).read_text().splitlines() if line]
    gc.disable()
    report = asyncio.run(drive(url, path, bodies, int(concurrency), float(seconds), float(warmup)))
    gc.enable()
    latencies = report.pop("latencies")
    Path(out).write_text("".join(f"{round(x * 1e6)}\n" for x in latencies))
    emit(report)


def run_load(
    url: str, path: str, bodies: Path, concurrency: int, seconds: float, warmup: float, out: Path
) -> dict[str, Any]:
    """Measure one case in its own child process."""
    out.parent.mkdir(parents=True, exist_ok=True)
    return run_child(
        "bench.service.load",
        url,
        path,
        str(bodies),
        str(concurrency),
        str(seconds),
        str(warmup),
        str(out),
    )


if __name__ == "__main__":
    child(*sys.argv[1:8])
