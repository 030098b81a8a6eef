"""The shadow's cost in results.md: fleetcast with a shadow on every worker vs without it, in
rounds of one back-to-back pair each (the order alternating), and the issue's budget for it,
judged on the rounds' median: one pair's difference is within this machine's spread."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from bench.service.cases import Measured
from bench.service.report import Extra, Goal, find, per_second, rps_ratio

P50_BUDGET_MS = 0.1  # /predict p50 may rise by at most this at c=1
THROUGHPUT_BUDGET = 0.05  # /predict req/s may fall by at most this share at c=16
ON, OFF = "shadowed", "unshadowed"
HEADER = (
    "route",
    "conc.",
    "round",
    "p50 off ms",
    "p50 on ms",
    "Δ p50 ms",
    "req/s off",
    "req/s on",
    "req/s on/off",
)


def side_name(on: bool, round_number: int) -> str:
    """The service name a round's side is measured under: "shadowed 1", "unshadowed 1"..."""
    return f"{ON if on else OFF} {round_number}"


@dataclass(frozen=True)
class Pair:
    """One round's two measurements of a route at a concurrency."""

    round_number: int
    off: Measured
    on: Measured

    @property
    def p50_rise_ms(self) -> float:
        return float(self.on.closed["p50_ms"] - self.off.closed["p50_ms"])

    @property
    def throughput(self) -> tuple[float, str]:
        """on/off requests/s, by wrk when both sides have it; and which tool it was."""
        return rps_ratio(self.on, self.off)


def pairs(measured: list[Measured]) -> list[Pair]:
    """Every round's (off, on) for every route and concurrency measured both ways."""
    found = []
    for on in (m for m in measured if m.case.service.startswith(f"{ON} ")):
        number = int(on.case.service.split()[-1])
        off = find(measured, side_name(False, number), on.case.path, on.case.concurrency)
        if off is not None:
            found.append(Pair(number, off, on))
    return sorted(found, key=lambda p: (p.on.case.concurrency, p.on.case.path, p.round_number))


def _row(pair: Pair) -> str:
    ratio, tool = pair.throughput
    off, on = pair.off, pair.on
    cells = (
        on.case.path,
        str(on.case.concurrency),
        str(pair.round_number),
        f"{off.closed['p50_ms']:.2f}",
        f"{on.closed['p50_ms']:.2f}",
        f"{pair.p50_rise_ms:+.2f}",
        f"{per_second(off, tool):,.0f}",
        f"{per_second(on, tool):,.0f}",
        f"{ratio:.3f} ({tool})",
    )
    return "| " + " | ".join(cells) + " |"


def _median_row(group: list[Pair]) -> str:
    first = group[0].on.case
    rise = statistics.median(p.p50_rise_ms for p in group)
    ratio = statistics.median(p.throughput[0] for p in group)
    cells = (first.path, str(first.concurrency), "**median**", "", "", f"{rise:+.2f}", "", "")
    return "| " + " | ".join((*cells, f"{ratio:.3f}")) + " |"


def _groups(measured: list[Measured]) -> dict[tuple[str, int], list[Pair]]:
    groups: dict[tuple[str, int], list[Pair]] = {}
    for pair in pairs(measured):
        groups.setdefault((pair.on.case.path, pair.on.case.concurrency), []).append(pair)
    return groups


def table(measured: list[Measured]) -> str:
    """Each round's row per route and concurrency, then the rounds' median: p50 each way and
    its change, throughput each way and its ratio."""
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    for group in _groups(measured).values():
        lines += [_row(pair) for pair in group] + [_median_row(group)]
    return "\n".join(lines)


def goals(measured: list[Measured]) -> list[Goal]:
    """The budget, on the rounds' medians: /predict p50 at c=1, throughput at c=16."""
    groups, out = _groups(measured), []
    if one := groups.get(("/predict", 1)):
        rise = statistics.median(p.p50_rise_ms for p in one)
        what = f"shadow on: /predict p50 rises ≤ {P50_BUDGET_MS:g} ms at c=1 (median of {len(one)})"
        out.append(Goal(what, f"{rise:+.3f} ms", rise <= P50_BUDGET_MS))
    if many := groups.get(("/predict", 16)):
        ratio = statistics.median(p.throughput[0] for p in many)
        tools = sorted({p.throughput[1] for p in many})
        what = (
            f"shadow on: /predict req/s falls ≤ {THROUGHPUT_BUDGET:.0%} at c=16 "
            f"(median of {len(many)})"
        )
        out.append(
            Goal(what, f"{ratio - 1:+.1%} ({', '.join(tools)})", ratio >= 1 - THROUGHPUT_BUDGET)
        )
    return out


def section(measured: list[Measured]) -> list[str]:
    """The markdown lines of the section (none when the shadow was not measured)."""
    if not pairs(measured):
        return []
    title = "## Shadow challenger: its cost (on vs off, back to back, order alternating by round)"
    return [title, "", table(measured), ""]


def extra(measured: list[Measured]) -> Extra:
    """The section and goals, for `report.document`."""
    return Extra(section(measured), goals(measured))
