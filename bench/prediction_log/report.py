"""results.md of the prediction-log benchmark: medians with on/off ratios, every run, the check
that the log logged."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from bench.report import facts_list, verdict
from bench.service.cases import Measured


@dataclass(frozen=True)
class Counts:
    """Read before and after a run: the log stream's length and the server's counters."""

    stream: int  # rows logged through the stream's newest entry (`logged_through`)
    predictions: int  # fleetcast_predictions_total{route="/predict"}
    written: int  # fleetcast_prediction_log_written_total


@dataclass(frozen=True)
class Run:
    log: str  # "on" or "off"
    round: int
    measured: Measured
    before: Counts
    after: Counts

    @property
    def concurrency(self) -> int:
        return self.measured.case.concurrency

    def grew(self, field: str) -> int:
        return getattr(self.after, field) - getattr(self.before, field)

    @property
    def answered(self) -> int:
        """200s the clients saw: the checked request, the closed loop's recorded window (its
        warm-up is not counted) and wrk's successes."""
        w = self.measured.wrk
        by_wrk = w["requests"] - w["errors"] if w else 0
        return 1 + self.measured.closed["statuses"].get("200", 0) + by_wrk

    @property
    def failed(self) -> tuple[int, int]:
        """(failed, sent) over both tools."""
        w, c = self.measured.wrk or {}, self.measured.closed
        return c["errors"] + w.get("errors", 0), c["requests"] + w.get("requests", 0)


def _wrk_rps(run: Run) -> float | None:
    return run.measured.wrk["rps"] if run.measured.wrk else None


def _median(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


def _num(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def _ratio(on: float | None, off: float | None) -> str:
    return "—" if on is None or not off else f"{on / off:.3f}"


def medians_table(runs: list[Run]) -> str:
    head = (
        "conc.",
        "log",
        "runs",
        "p50 ms",
        "p99 ms",
        "req/s",
        "wrk req/s",
        "errors",
        "p50 on/off",
        "req/s on/off",
        "wrk req/s on/off",
    )
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for c in sorted({r.concurrency for r in runs}):
        stats = {}
        for log in ("on", "off"):
            mine = [r for r in runs if (r.concurrency, r.log) == (c, log)]
            stats[log] = (
                len(mine),
                _median([r.measured.closed["p50_ms"] for r in mine]),
                _median([r.measured.closed["p99_ms"] for r in mine]),
                _median([r.measured.closed["rps"] for r in mine]),
                _median([_wrk_rps(r) for r in mine]),
                tuple(map(sum, zip(*(r.failed for r in mine), strict=True))),
            )
        on, off = stats["on"], stats["off"]
        ratios = (_ratio(on[1], off[1]), _ratio(on[3], off[3]), _ratio(on[4], off[4]))
        for log, (n, p50, p99, rps, wrk_rps, (bad, sent)) in stats.items():
            cells = (
                str(c),
                log,
                str(n),
                _num(p50),
                _num(p99),
                _num(rps, 0),
                _num(wrk_rps, 0),
                f"{bad} / {sent:,}",
                *(ratios if log == "on" else ("", "", "")),
            )
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def runs_table(runs: list[Run]) -> str:
    head = (
        "run",
        "conc.",
        "log",
        "p50 ms",
        "p99 ms",
        "max ms",
        "req/s",
        "wrk req/s",
        "errors",
        "other CPU, cores",
        "stream grew",
        "server predictions",
        "200s seen",
    )
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for i, r in enumerate(runs, start=1):
        c, (bad, sent) = r.measured.closed, r.failed
        cells = (
            str(i),
            str(r.concurrency),
            f"{r.log} (round {r.round})",
            _num(c["p50_ms"]),
            _num(c["p99_ms"]),
            _num(c["max_ms"]),
            _num(c["rps"], 0),
            _num(_wrk_rps(r), 0),
            f"{bad} / {sent:,}",
            f"{r.measured.other_cores:.2f}",
            f"{r.grew('stream'):,}",
            f"{r.grew('predictions'):,}",
            f"{r.answered:,}",
        )
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def log_checks(runs: list[Run]) -> list[tuple[str, bool]]:
    """Every /predict answer of the "on" server is in the stream; none of the "off" server's."""
    out = []
    for log in ("on", "off"):
        mine = [r for r in runs if r.log == log]
        grew, made, wrote = (
            sum(r.grew(f) for r in mine) for f in ("stream", "predictions", "written")
        )
        answered = sum(r.answered for r in mine)
        ok = (grew >= answered and grew == made == wrote) if log == "on" else grew == wrote == 0
        out.append(
            (
                f'"{log}" server, {len(mine)} runs: the stream grew by {grew:,}; the server '
                f"made {made:,} /predict predictions and wrote {wrote:,} to the log; the "
                f"clients saw {answered:,} 200s (warm-up not counted)",
                ok,
            )
        )
    return out


def document(runs: list[Run], facts: dict[str, str], notes: list[str]) -> str:
    """results.md: medians and ratios, every run, the log check, machine, notes."""
    checks = [f"- {text}: {verdict(ok)}" for text, ok in log_checks(runs)]
    return (
        "\n".join(
            [
                "# Prediction log overhead: fleetcast /predict with the log on and off, loopback",
                "",
                "## Medians over the runs (ratios: on / off)",
                "",
                medians_table(runs),
                "",
                "## Every run, in order",
                "",
                runs_table(runs),
                "",
                "## The log logged",
                "",
                *checks,
                "",
                "## Machine",
                "",
                facts_list(facts),
                "",
                "## Notes",
                "",
                *[f"- {n}" for n in notes],
            ]
        )
        + "\n"
    )
