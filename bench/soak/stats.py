"""The soak's numbers, from the client's request file and the 10-s samples: per minute and in
total, errors, latency per route, p99 drift, memory growth, promotions and the log check."""

from __future__ import annotations

import csv
import statistics
from collections import Counter
from pathlib import Path
from typing import Any

from bench.service.load import percentile
from bench.soak.watch import Sample

ROUTES = ("predict", "by_id", "batch")  # latency columns; "unknown" ids are counted apart
EXPECTED = {"predict": 200, "by_id": 200, "batch": 200, "unknown": 404}
PREDICTIONS_PER = {"predict": 1, "by_id": 1, "batch": 10, "unknown": 0}
WARMUP_S = 60.0  # memory slopes leave out the first minute (imports, caches, first swap)


def read_requests(path: Path) -> list[dict[str, Any]]:
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        row["offset_s"], row["status"] = float(row["offset_s"]), int(row["status"])
        row["latency_ms"] = float(row["latency_ms"])
        row["lag_ms"] = float(row["lag_ms"])
        # A 200 must say which model answered; anything else than expected is an error.
        row["ok"] = row["status"] == EXPECTED[row["route"]] and (
            row["status"] != 200 or bool(row["version"])
        )
    return rows


def latency(rows: list[dict[str, Any]], route: str) -> dict[str, float] | None:
    ordered = sorted(r["latency_ms"] for r in rows if r["route"] == route and r["ok"])
    if not ordered:
        return None
    return {
        "p50_ms": percentile(ordered, 50),
        "p99_ms": percentile(ordered, 99),
        "max_ms": ordered[-1],
        "count": len(ordered),
    }


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Counts and latencies of one window of requests."""
    statuses = Counter(f"{r['route']} {r['status']} {r['failure']}" for r in rows if not r["ok"])
    return {
        "sent": len(rows),
        "errors": sum(not r["ok"] for r in rows),
        "error_kinds": dict(statuses),
        "expected_404": sum(r["ok"] for r in rows if r["route"] == "unknown"),
        "routes": {route: latency(rows, route) for route in ROUTES},
        "versions": dict(Counter(r["version"] for r in rows if r["version"])),
        "client_lag_p99_ms": percentile(sorted(r["lag_ms"] for r in rows), 99) if rows else 0.0,
    }


def per_minute(rows: list[dict[str, Any]], minutes: int) -> list[dict[str, Any]]:
    buckets: list[list[dict[str, Any]]] = [[] for _ in range(minutes)]
    for row in rows:
        buckets[min(int(row["offset_s"] // 60), minutes - 1)].append(row)
    return [summarize(bucket) | {"minute": i + 1} for i, bucket in enumerate(buckets)]


def p99_drift(minutes: list[dict[str, Any]]) -> dict[str, float | None]:
    """Last minute's p99 over the first minute's, per route."""
    drift: dict[str, float | None] = {}
    for route in ROUTES:
        first, last = minutes[0]["routes"][route], minutes[-1]["routes"][route]
        drift[route] = last["p99_ms"] / first["p99_ms"] if first and last else None
    return drift


def memory(samples: list[Sample]) -> dict[str, dict[str, float | None]]:
    """Per process: start, max, end (MB), and the slope (MB/min) after the warm-up."""
    series: dict[str, list[tuple[float, float]]] = {}
    for sample in samples:
        for name, mb in sample.rss_mb.items():
            series.setdefault(name, []).append((sample.at_s, mb))
    out = {}
    for name, points in series.items():
        late = [(t / 60, mb) for t, mb in points if t >= WARMUP_S]
        slope = None
        if len(late) >= 3 and len({t for t, _ in late}) > 1:
            slope = statistics.linear_regression(*zip(*late, strict=True)).slope
        mbs = [mb for _, mb in points]
        out[name] = {
            "start_mb": mbs[0],
            "max_mb": max(mbs),
            "end_mb": mbs[-1],
            "slope_mb_per_min": slope,
            "samples": len(points),
        }
    return out


def prediction_log(
    rows: list[dict[str, Any]], samples: list[Sample], before: Sample, after: Sample
) -> dict[str, Any]:
    """Did every answered prediction reach the Redis stream, during and after the run?"""
    answered = sum(PREDICTIONS_PER[r["route"]] for r in rows if r["ok"] and r["status"] == 200)
    made = after.counters.get("predictions", 0) - before.counters.get("predictions", 0)
    lags = [
        (s.counters.get("predictions", 0) - before.counters.get("predictions", 0))
        - (s.stream - before.stream)
        for s in samples
        if s.counters
    ]
    grew = after.stream - before.stream
    dropped = after.counters.get("log_dropped", 0) - before.counters.get("log_dropped", 0)
    return {
        "answered_by_client": answered,
        "made_by_server": round(made),
        "stream_grew": grew,
        "written": round(
            after.counters.get("log_written", 0) - before.counters.get("log_written", 0)
        ),
        "dropped": round(dropped),
        "max_lag_in_samples": round(max(lags, default=0)),
        "kept_up": grew == round(made) and grew >= answered and dropped == 0,
    }


def promotions(promoted: dict[str, Any]) -> dict[str, Any]:
    rounds = promoted.get("rounds", [])
    delays = [r["all_swapped_s"] for r in rounds if "all_swapped_s" in r]
    return {
        "done": len(rounds),
        "confirmed": sum(r["confirmed"] for r in rounds),
        "median_all_swapped_s": statistics.median(delays) if delays else None,
        "max_all_swapped_s": max(delays, default=None),
        "triggers": sorted({t for r in rounds for t in r.get("triggers", [])}),
        "versions": promoted.get("versions", []),
    }
