"""The results table: one row per measured step, rendered as markdown."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    """One line of the results table (text cells are already formatted)."""

    step: str
    seconds: float | None
    peak_rss_mb: float | None
    throughput: str
    ratio: str = "—"
    goal: str = "—"
    met: str = "—"


HEADER = ("step", "wall s", "peak RSS MB", "throughput", "ratio vs baseline", "goal", "met?")


def rate(count: int, seconds: float | None, unit: str) -> str:
    """`count` per second, human-sized: '1.23M rows/s'."""
    if not seconds:
        return "—"
    per_s = count / seconds
    if per_s >= 1e6:
        return f"{per_s / 1e6:.2f}M {unit}/s"
    return f"{per_s / 1e3:.0f}k {unit}/s"


def verdict(ok: bool) -> str:
    return "yes" if ok else "**NO**"


def _cell(value: float | None, digits: int) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def table(rows: list[Row]) -> str:
    """The markdown table."""
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    for r in rows:
        cells = (
            r.step,
            _cell(r.seconds, 2),
            _cell(r.peak_rss_mb, 0),
            r.throughput,
            r.ratio,
            r.goal,
            r.met,
        )
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def facts_list(facts: dict[str, str]) -> str:
    return "\n".join(f"- {name}: {value}" for name, value in facts.items())


def document(title: str, rows: list[Row], facts: dict[str, str], notes: list[str]) -> str:
    """results.md: the table, the machine, and notes."""
    parts = [f"# {title}", "", table(rows), "", "## Machine", "", facts_list(facts)]
    if notes:
        parts += ["", "## Notes", "", *[f"- {n}" for n in notes]]
    return "\n".join(parts) + "\n"
