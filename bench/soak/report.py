"""results.md of the soak: the per-minute table, totals, memory per process, promotions and the
prediction-log check."""

from __future__ import annotations

from typing import Any

from bench.report import facts_list, verdict
from bench.soak.stats import ROUTES

LABEL = {"predict": "/predict", "by_id": "/predict_by_id", "batch": "/predict_batch"}


def _ms(route: dict[str, float] | None) -> str:
    return "—" if route is None else f"{route['p50_ms']:.1f} / {route['p99_ms']:.1f}"


def _n(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def _promotion(p: dict[str, Any] | None) -> tuple[str, str]:
    if p is None:
        return "—", "—"
    swap = f"{p['all_swapped_s']:.2f}" if "all_swapped_s" in p else "**timeout**"
    return f"v{p['from']} → v{p['to']}", f"{swap} ({verdict(p['confirmed'])})"


HEAD = (
    "minute",
    "sent",
    "errors",
    "expected 404",
    *(f"{LABEL[r]} p50 / p99 ms" for r in ROUTES),
    "promotion",
    "all workers swapped, s (confirmed?)",
    "client late p99 ms",
    "load avg 1 min",
)


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def minute_table(result: dict[str, Any]) -> str:
    """One row a minute, then the whole run."""
    lines = [_row(list(HEAD)), "|" + "---|" * len(HEAD)]
    by_minute = {p["minute"]: p for p in result["promotions"]["rounds"]}
    for m in result["minutes"]:
        promo, swap = _promotion(by_minute.get(m["minute"]))
        lines.append(
            _row(
                [
                    str(m["minute"]),
                    f"{m['sent']:,}",
                    f"{m['errors']:,}",
                    f"{m['expected_404']:,}",
                    *(_ms(m["routes"][r]) for r in ROUTES),
                    promo,
                    swap,
                    _n(m["client_lag_p99_ms"], 1),
                    _n(m.get("load1")),
                ]
            )
        )
    t, s = result["total"], result["promotions"]["summary"]
    lines.append(
        _row(
            [
                "**all**",
                f"{t['sent']:,}",
                f"**{t['errors']:,}**",
                f"{t['expected_404']:,}",
                *(_ms(t["routes"][r]) for r in ROUTES),
                f"{s['done']} done",
                f"{s['confirmed']} of {s['done']} confirmed",
                _n(t["client_lag_p99_ms"], 1),
                _n(result.get("load1_mean")),
            ]
        )
    )
    return "\n".join(lines)


def memory_table(memory: dict[str, dict[str, float | None]]) -> str:
    lines = [
        "| process | start MB | max MB | end MB | slope after 1 min, MB/min | samples |",
        "|---|---|---|---|---|---|",
    ]
    for name, m in sorted(memory.items()):
        lines.append(
            f"| {name} | {_n(m['start_mb'], 1)} | {_n(m['max_mb'], 1)} | "
            f"{_n(m['end_mb'], 1)} | {_n(m['slope_mb_per_min'], 2)} | {m['samples']} |"
        )
    return "\n".join(lines)


def summary(result: dict[str, Any]) -> list[str]:
    t, log, s = result["total"], result["log"], result["promotions"]["summary"]
    drift = ", ".join(f"{LABEL[r]} {_n(v)}" for r, v in result["p99_drift"].items())
    kinds = ", ".join(f"{k}: {v}" for k, v in t["error_kinds"].items()) or "none"
    return [
        f"errors (goal 0): **{t['errors']}** of {t['sent']:,} requests ({kinds}); "
        f"{verdict(t['errors'] == 0)}",
        f"p99 drift, last minute / first minute: {drift}",
        f"promotions: {s['done']} done, {s['confirmed']} confirmed on every worker by GET /model "
        f"and the `fleetcast_worker_model_version` gauge; all workers swapped after median "
        f"{_n(s['median_all_swapped_s'])} s, max {_n(s['max_all_swapped_s'])} s; reload "
        f"triggers seen: {', '.join(s['triggers']) or '—'}; versions alternated: "
        f"{' and '.join('v' + v for v in s['versions'])}",
        f"prediction log kept up: {verdict(log['kept_up'])}: the clients got "
        f"{log['answered_by_client']:,} predictions, the server counted {log['made_by_server']:,}, "
        f"the stream grew by {log['stream_grew']:,} ({log['written']:,} written, "
        f"{log['dropped']:,} dropped); largest gap (made minus in the stream) at a 10-s sample: "
        f"{log['max_lag_in_samples']:,}",
        f"responses by model version: {result['total']['versions']}",
    ]


def document(result: dict[str, Any], facts: dict[str, str], notes: list[str]) -> str:
    title = (
        f"fleetcast soak: {result['minutes_run']} min at {result['rate']:g} req/s "
        "(open loop), a promotion every minute"
    )
    parts = [
        f"# {title}",
        "",
        minute_table(result),
        "",
        *[f"- {x}" for x in summary(result)],
        "",
        "## Memory (RSS, sampled every 10 s)",
        "",
        memory_table(result["memory"]),
        "",
        "## Machine",
        "",
        facts_list(facts),
    ]
    if notes:
        parts += ["", "## Notes", "", *[f"- {n}" for n in notes]]
    return "\n".join(parts) + "\n"
