"""The cost curve: per stage and size, wall, peak RSS, rows/s and the growth exponent."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from bench.report import facts_list, verdict

STAGES = ("ingest", "features", "train", "promote")
GOAL_VEHICLES = 1_000_000  # issue 17: 1M listings ingest → promote in ≤ 10 min, ≤ 4 GB
GOAL_SECONDS = 600.0
GOAL_PEAK_MB = 4_096.0


@dataclass(frozen=True)
class SizeRun:
    """One pipeline run at one size: each stage's child report."""

    vehicles: int
    reservations: int
    stages: dict[str, dict[str, Any]]

    def rows(self, stage: str) -> int:
        """The rows the stage worked through: CSV rows in, raw rows built from, training
        rows fitted on, holdout rows judged on."""
        report = self.stages[stage]
        if stage in ("ingest", "features"):
            return self.vehicles + self.reservations
        return int(report["rows"] if stage == "train" else report["holdout_rows"])

    @property
    def seconds(self) -> float:
        return sum(self.stages[s]["seconds"] for s in STAGES)

    @property
    def peak_mb(self) -> float:
        return max(self.stages[s]["peak_rss_mb"] for s in STAGES)


def growth(small: SizeRun, large: SizeRun, stage: str | None) -> str:
    """k in time ∝ listings^k between two sizes (1 is linear)."""
    before = small.seconds if stage is None else small.stages[stage]["seconds"]
    after = large.seconds if stage is None else large.stages[stage]["seconds"]
    return f"{math.log(after / before) / math.log(large.vehicles / small.vehicles):.2f}"


def _rate(rows: int, seconds: float) -> str:
    per_s = rows / seconds
    if per_s >= 1e6:
        return f"{per_s / 1e6:.2f}M"
    return f"{per_s / 1e3:.1f}k" if per_s >= 1e3 else f"{per_s:.0f}"


def _stage_line(run: SizeRun, stage: str, previous: SizeRun | None) -> str:
    report = run.stages[stage]
    k = growth(previous, run, stage) if previous else "—"
    rows = f"{run.rows(stage):,}"
    if stage == "train" and report["rows"] < report["rows_available"]:
        rows += f" (sample of {report['rows_available']:,})"
    seconds, peak = report["seconds"], report["peak_rss_mb"]
    return (
        f"| {run.vehicles:,} | {stage} | {seconds:,.1f} | {peak:,.0f} | {rows} "
        f"| {_rate(run.rows(stage), seconds)} | {k} |"
    )


def _total_line(run: SizeRun, previous: SizeRun | None) -> str:
    k = growth(previous, run, None) if previous else "—"
    met = ""
    if run.vehicles == GOAL_VEHICLES:
        ok = run.seconds <= GOAL_SECONDS and run.peak_mb <= GOAL_PEAK_MB
        met = f" (goal ≤ {GOAL_SECONDS:.0f} s, ≤ {GOAL_PEAK_MB:,.0f} MB: {verdict(ok)})"
    return (
        f"| {run.vehicles:,} | **total**{met} | **{run.seconds:,.1f}** | **{run.peak_mb:,.0f}** "
        f"| {run.reservations:,} reservations | — | {k} |"
    )


def table(runs: list[SizeRun]) -> str:
    lines = [
        "| listings | stage | wall s | peak RSS MB | rows | rows/s | growth k |",
        "|---|---|---|---|---|---|---|",
    ]
    for index, run in enumerate(runs):
        previous = runs[index - 1] if index else None
        lines += [_stage_line(run, stage, previous) for stage in STAGES]
        lines.append(_total_line(run, previous))
    return "\n".join(lines)


def decision(run: SizeRun) -> dict[str, Any]:
    """What decides the champion: the family chosen, its CV score and the promotion verdict."""
    train = run.stages["train"]
    # Rounded: boosting's OpenMP sums may differ in the last bits with the thread count.
    return {"family": train["family"], "cv_mae": round(train["cv_mae"], 6), **_verdict(run)}


def _verdict(run: SizeRun) -> dict[str, Any]:
    return {"outcome": run.stages["promote"]["outcome"]}


def comparison(local: SizeRun, dask: SizeRun) -> str:
    """Whether the Dask run reached the same champion decision as the local one."""
    a, b = decision(local), decision(dask)
    same = "the same decision" if a == b else "**a different decision**"
    return f"Dask LocalCluster at {dask.vehicles:,} listings: {b}; local threads: {a}: {same}."


def document(
    runs: list[SizeRun], facts: dict[str, str], notes: list[str], dask: SizeRun | None
) -> str:
    parts = ["# fleetcast pipeline cost curve", "", table(runs)]
    if dask:
        parts += ["", "## The largest size on a Dask LocalCluster", "", table([dask])]
    parts += ["", "## Machine", "", facts_list(facts)]
    if notes:
        parts += ["", "## Notes", "", *[f"- {n}" for n in notes]]
    return "\n".join(parts) + "\n"
