"""The shadow's live comparison as the drift run shows it: the printed lines, a section of the
Prefect artifact and one of the saved HTML report (the numbers: `flows.monitor.shadow`)."""

from __future__ import annotations

import html

from flows.monitor.shadow import LiveComparison

TITLE = "Shadow vs champion, on the same requests"


def _number(value: float | None, spec: str = ".3f") -> str:
    return "unknown" if value is None else format(value, spec)


def _difference(c: LiveComparison) -> str:
    """The paired difference with its interval and counts, in words (no markup)."""
    return (
        f"Shadow minus champion MAE: {_number(c.diff, '+.3f')}, paired bootstrap "
        f"{c.interval_words()}; {c.pairs} paired requests with an outcome, {c.shadow_rows} logged "
        "predictions answered by the shadow."
    )


def summary_lines(c: LiveComparison | None) -> list[str]:
    """The comparison as the drift command prints it and the flow logs it (none: no shadow)."""
    if c is None:
        return []
    coverage = f"shadow {_number(c.shadow_coverage)}, champion {_number(c.champion_coverage)}"
    return [c.words(), f"  interval coverage on the pairs: {coverage}"]


def _rows(c: LiveComparison) -> list[tuple[str, ...]]:
    """The table: a header, then role, version, live MAE and coverage of each."""
    sides = [
        ("champion", c.champion_version, c.champion_mae, c.champion_coverage),
        ("shadow", c.shadow_version, c.shadow_mae, c.shadow_coverage),
    ]
    rows = [(role, f"v{v}", _number(mae), _number(cov)) for role, v, mae, cov in sides]
    return [("role", "version", "live MAE", "coverage"), *rows]


def markdown_section(c: LiveComparison | None) -> str:
    """The comparison as a section of the Prefect artifact ("" without a shadow)."""
    if c is None:
        return ""
    head, *rows = (f"| {' | '.join(row)} |" for row in _rows(c))
    table = "\n".join([head, "|---|---|---|---|", *rows])
    return f"\n\n## {TITLE}\n\n{c.words()}\n\n{table}\n\n{_difference(c)}"


def html_section(c: LiveComparison) -> str:
    """The comparison as an HTML section of the saved report, every text escaped."""
    head, *rows = _rows(c)
    cells = [f"<tr>{''.join(f'<th>{html.escape(x)}</th>' for x in head)}</tr>"]
    cells += [f"<tr>{''.join(f'<td>{html.escape(x)}</td>' for x in row)}</tr>" for row in rows]
    return (
        '<section id="fleetcast-shadow" style="font-family:sans-serif;margin:2em">'
        f"<h2>{html.escape(TITLE)}</h2><p>{html.escape(c.words())}</p>"
        f'<table border="1" cellpadding="4">{"".join(cells)}</table>'
        f"<p>{html.escape(_difference(c))}</p></section>"
    )


def with_html_section(page: str, c: LiveComparison | None) -> str:
    """`page` (Evidently's report) with the comparison inserted before its last `</body>`, or
    appended when it has none; unchanged without a shadow."""
    if c is None:
        return page
    at = page.lower().rfind("</body>")
    at = len(page) if at < 0 else at
    return page[:at] + html_section(c) + page[at:]
