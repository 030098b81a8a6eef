"""results.md of the serving benchmark: the load table, promotion delays, where the time goes."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

from bench.report import facts_list, verdict
from bench.service.cases import Measured

P50_GOAL_MS, P99_GOAL_MS, SPEEDUP_GOAL, SWAP_GOAL_S = 1.5, 10.0, 20.0, 2.0
BY_ID_P50_GOAL_MS, BY_ID_RPS_GOAL = 1.5, 1500.0  # by id as fast as a plain forecast (issue 17)
HEADER = (
    "case",
    "conc.",
    "p50 ms",
    "p99 ms",
    "max ms",
    "req/s",
    "wrk req/s",
    "wrk p50 ms",
    "errors",
    "other CPU, cores",
    "vs baseline /predict, same conc.",
    "goal",
    "met?",
)


@dataclass(frozen=True)
class Goal:
    what: str
    measured: str
    met: bool


def find(measured: list[Measured], service: str, path: str, c: int) -> Measured | None:
    hits = [
        m
        for m in measured
        if (m.case.service, m.case.path, m.case.concurrency) == (service, path, c)
    ]
    return hits[0] if hits else None


def per_second(m: Measured, tool: str) -> float:
    return (m.wrk or {}).get("rps", 0.0) if tool == "wrk" else m.closed["rps"]


def rps_ratio(m: Measured, base: Measured) -> tuple[float, str]:
    """fleetcast/baseline requests/s: by wrk when both have it (the throughput tool, and the
    baseline finished requests under it), else by the closed-loop client; and which it was."""
    tool = "wrk" if per_second(m, "wrk") and per_second(base, "wrk") else "closed loop"
    return per_second(m, tool) / per_second(base, tool), tool


def _vs(m: Measured, base: Measured | None) -> str:
    if m.case.service == "baseline":
        return "1.0 (baseline)"
    if base is None or m.case.service != "fleetcast":
        return "—"
    text = (
        f"p50 {base.closed['p50_ms'] / m.closed['p50_ms']:.0f}x lower; "
        f"{m.closed['rps'] / base.closed['rps']:.0f}x req/s"
    )
    if per_second(m, "wrk") and per_second(base, "wrk"):
        text += f" (wrk {per_second(m, 'wrk') / per_second(base, 'wrk'):.0f}x)"
    return text


def _row_goal(m: Measured, base: Measured | None) -> tuple[str, str]:
    key = (m.case.service, m.case.path, m.case.concurrency)
    p50, p99 = m.closed["p50_ms"], m.closed["p99_ms"]
    if key == ("fleetcast", "/predict", 1):
        return (
            f"p50 ≤ {P50_GOAL_MS} ms, p99 ≤ {P99_GOAL_MS:g} ms",
            f"p50: {verdict(p50 <= P50_GOAL_MS)}; p99: {verdict(p99 <= P99_GOAL_MS)}",
        )
    if key == ("fleetcast", "/predict", 16) and base is not None:
        ratio, how = rps_ratio(m, base)
        return f"≥ {SPEEDUP_GOAL:g}x baseline req/s ({how})", verdict(ratio >= SPEEDUP_GOAL)
    if key == ("fleetcast", "/predict_by_id", 1):
        return f"p50 ≤ {BY_ID_P50_GOAL_MS:g} ms", verdict(p50 <= BY_ID_P50_GOAL_MS)
    if key == ("fleetcast", "/predict_by_id", 16):
        rps = per_second(m, "wrk") or per_second(m, "closed loop")
        return f"≥ {BY_ID_RPS_GOAL:,.0f} req/s", verdict(rps >= BY_ID_RPS_GOAL)
    return "—", "—"


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:,.2f}"


def _errors(closed: dict[str, Any], wrk: dict[str, Any]) -> str:
    """Failed / sent, over both tools; the closed loop's failing statuses (0: connection lost)."""
    failed = closed["errors"] + wrk.get("errors", 0)
    text = f"{failed} / {closed['requests'] + wrk.get('requests', 0):,}"
    bad = {k: v for k, v in closed.get("statuses", {}).items() if k != "200"}
    return text + "".join(f", {v} were {k}" for k, v in bad.items())


def load_table(measured: list[Measured]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    for m in measured:
        base = find(measured, "baseline", "/predict", m.case.concurrency)
        w, c = m.wrk or {}, m.closed
        errors = _errors(c, w)
        cells = (
            m.case.name,
            str(m.case.concurrency),
            _ms(c["p50_ms"]),
            _ms(c["p99_ms"]),
            _ms(c["max_ms"]),
            f"{c['rps']:,.0f}",
            f"{w['rps']:,.0f}" if w else "—",
            _ms(w.get("p50_ms")),
            errors,
            f"{m.other_cores:.2f}",
            _vs(m, base),
            *_row_goal(m, base),
        )
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def promotion_table(rounds: list[dict[str, Any]]) -> str:
    head = "| round | new version | first worker swapped s | all workers swapped s | reloaded by |"
    lines = [head, "|---|---|---|---|---|"]
    for i, r in enumerate(rounds, start=1):
        lines.append(
            f"| {i} | v{r['version']} | {r['first_swapped_s']:.2f} | "
            f"{r['all_swapped_s']:.2f} | {', '.join(r['triggers'])} |"
        )
    return "\n".join(lines)


def parts_table(parts: dict[str, dict[str, float]]) -> str:
    lines = ["| piece (in-process, one call) | median µs | p99 µs | calls |", "|---|---|---|---|"]
    for name, s in parts.items():
        lines.append(f"| {name} | {s['median_us']:,.1f} | {s['p99_us']:,.1f} | {s['calls']:,} |")
    return "\n".join(lines)


def _by_id_goals(measured: list[Measured]) -> list[Goal]:
    out = []
    if (one := find(measured, "fleetcast", "/predict_by_id", 1)) is not None:
        p50 = one.closed["p50_ms"]
        goal = f"/predict_by_id p50 ≤ {BY_ID_P50_GOAL_MS:g} ms at c=1"
        out.append(Goal(goal, f"{p50:.2f} ms", p50 <= BY_ID_P50_GOAL_MS))
    if (many := find(measured, "fleetcast", "/predict_by_id", 16)) is not None:
        tool = "wrk" if per_second(many, "wrk") else "closed loop"
        rps = per_second(many, tool)
        goal = f"/predict_by_id ≥ {BY_ID_RPS_GOAL:,.0f} req/s at c=16"
        out.append(Goal(goal, f"{rps:,.0f} req/s ({tool})", rps >= BY_ID_RPS_GOAL))
    return out


def goals(measured: list[Measured], rounds: list[dict[str, Any]]) -> list[Goal]:
    """Every goal of the brief, met or not."""
    out = []
    one = find(measured, "fleetcast", "/predict", 1)
    if one is not None:
        p50, p99 = one.closed["p50_ms"], one.closed["p99_ms"]
        out.append(
            Goal(f"/predict p50 ≤ {P50_GOAL_MS} ms at c=1", f"{p50:.2f} ms", p50 <= P50_GOAL_MS)
        )
        out.append(
            Goal(f"/predict p99 ≤ {P99_GOAL_MS:g} ms at c=1", f"{p99:.2f} ms", p99 <= P99_GOAL_MS)
        )
    fast = find(measured, "fleetcast", "/predict", 16)
    base = find(measured, "baseline", "/predict", 16)
    if fast is not None and base is not None:
        ratio, how = rps_ratio(fast, base)
        out.append(
            Goal(
                f"/predict ≥ {SPEEDUP_GOAL:g}x the baseline's req/s at c=16",
                f"{ratio:.1f}x ({how})",
                ratio >= SPEEDUP_GOAL,
            )
        )
    out += _by_id_goals(measured)
    if rounds:
        median = statistics.median(r["all_swapped_s"] for r in rounds)
        out.append(
            Goal(
                f"promotion → all workers swapped ≤ {SWAP_GOAL_S:g} s (median)",
                f"{median:.2f} s (max {max(r['all_swapped_s'] for r in rounds):.2f} s)",
                median <= SWAP_GOAL_S,
            )
        )
    return out


@dataclass(frozen=True)
class Extra:
    """Sections and goals another step adds (the shadow's cost: bench.service.shadow_report)."""

    sections: list[str] = field(default_factory=list)
    goals: list[Goal] = field(default_factory=list)


def goal_lines(found: list[Goal]) -> list[str]:
    return [f"{g.what}: {g.measured}: {'met' if g.met else '**NOT MET**'}" for g in found]


def document(
    title: str,
    measured: list[Measured],
    rounds: list[dict[str, Any]],
    parts: dict[str, dict[str, float]],
    facts: dict[str, str],
    notes: list[str],
    extra: Extra | None = None,
) -> str:
    """results.md: tables, `extra`'s sections, goals, machine, notes."""
    extra = extra or Extra()
    sections = [f"# {title}", "", load_table(measured), ""]
    if rounds:
        sections += [
            "## Promotion → every worker serving the new version",
            "",
            promotion_table(rounds),
            "",
        ]
    if parts:
        sections += ["## Where the time goes", "", parts_table(parts), ""]
    sections += extra.sections
    found = goals(measured, rounds) + extra.goals
    sections += [
        "## Goals",
        "",
        *[f"- {line}" for line in goal_lines(found)],
        "",
        "## Machine",
        "",
        facts_list(facts),
    ]
    if notes:
        sections += ["", "## Notes", "", *[f"- {n}" for n in notes]]
    return "\n".join(sections) + "\n"
