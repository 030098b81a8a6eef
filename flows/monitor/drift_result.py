"""A drift run's verdict: the rule that turns the report's numbers into a decision, and the
forms it is shown in (JSON, artifact, printed lines), the shadow's comparison beside it."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import polars as pl

from features.contract import clock
from features.contract.formulas import FEATURE_NAMES
from features.contract.input_ranges import InputRanges
from features.settings import Settings
from flows.monitor import shadow_report
from flows.monitor.drift_data import Current, live_coverage
from flows.monitor.drift_report import DRIFT_METHOD, DRIFT_THRESHOLD, ColumnDrift, Numbers
from flows.monitor.shadow import LiveComparison, metrics


@dataclass(frozen=True)
class Champion:
    """The version judged, and the lineage the drift flow needs from it."""

    version: str
    run_id: str | None  # None for a version registered without a run
    snapshot_id: str  # its training snapshot: the reference
    holdout_mae: float | None  # measured by the promote flow; the yardstick of live error
    interval_level: float | None  # what its ranges are calibrated to contain (tags at training)
    holdout_coverage: float | None  # their coverage on the promotion holdout, if judged
    input_ranges: InputRanges | None = None  # its training rows' ranges (None: not recorded)


@dataclass(frozen=True)
class DriftResult:
    """Everything one drift run found and decided; stored as JSON beside the HTML report."""

    decided: bool  # False when the current window is too small to judge
    drift_detected: bool
    error_regressed: bool
    message: str
    registered_model: str
    champion_version: str
    reference_snapshot_id: str
    reference_rows: int
    current: str  # "predictions" or "snapshot"
    current_source: str
    current_rows: int
    min_rows: int
    share_drifted: float | None
    share_threshold: float
    method: str
    column_threshold: float
    columns: dict[str, ColumnDrift]
    drifted_features: list[str]
    outcome_snapshot_id: str | None
    outcome_rows: int
    mae: float | None
    holdout_mae: float | None
    mae_ratio: float | None
    mae_ratio_threshold: float
    coverage: float | None  # share of outcomes inside the range they were served with
    coverage_rows: int  # outcomes logged with a range (older logs have none)
    interval_level: float | None
    holdout_coverage: float | None
    created_at: str
    # Share of current rows with some feature outside the champion's training ranges, and each
    # feature's share (None, {}: the champion has no recorded ranges, or no current rows).
    out_of_range_share: float | None = None
    out_of_range: dict[str, float] = field(default_factory=dict)
    report_path: str | None = None  # set once the report is saved
    numbers_path: str | None = None
    flow_run_id: str | None = None
    mlflow_run_id: str | None = None  # the drift experiment's run holding the report
    mlflow_run_url: str | None = None  # its page, when the tracking store is a server
    shadow: LiveComparison | None = None  # the `challenger` on the same requests (None: none)

    @property
    def detected(self) -> bool:
        """Drift or an error regression passed its threshold: retraining is due."""
        return self.drift_detected or self.error_regressed


def judge(
    settings: Settings,
    champion: Champion,
    reference: pl.DataFrame,
    current: Current,
    outcomes: tuple[str | None, pl.DataFrame],
    numbers: Numbers | None,
) -> DriftResult:
    """Apply the thresholds: drift if the share of drifted features reaches the setting; error
    regressed if the MAE on enough outcomes over the holdout MAE reaches its setting. The
    ranges' live coverage is reported beside the MAE, not judged."""
    outcome_id, pairs = outcomes
    coverage, coverage_rows = live_coverage(pairs)
    outside_share, outside = outside_ranges(champion.input_ranges, current.rows)
    ratio = None
    if numbers is not None and numbers.mae is not None and champion.holdout_mae:
        ratio = numbers.mae / champion.holdout_mae
    drift = numbers is not None and numbers.share_drifted >= settings.drift_share_threshold
    regressed = (
        pairs.height >= settings.drift_min_rows
        and ratio is not None
        and ratio >= settings.drift_mae_ratio_threshold
    )
    result = DriftResult(
        decided=numbers is not None,
        drift_detected=drift,
        error_regressed=regressed,
        message="",
        registered_model=settings.registered_model,
        champion_version=champion.version,
        reference_snapshot_id=champion.snapshot_id,
        reference_rows=reference.height,
        current=current.kind,
        current_source=current.source,
        current_rows=current.rows.height,
        min_rows=settings.drift_min_rows,
        share_drifted=numbers.share_drifted if numbers else None,
        share_threshold=settings.drift_share_threshold,
        method=DRIFT_METHOD,
        column_threshold=DRIFT_THRESHOLD,
        columns=numbers.columns if numbers else {},
        drifted_features=numbers.drifted_features if numbers else [],
        outcome_snapshot_id=outcome_id,
        outcome_rows=pairs.height,
        mae=numbers.mae if numbers else None,
        holdout_mae=champion.holdout_mae,
        mae_ratio=ratio,
        mae_ratio_threshold=settings.drift_mae_ratio_threshold,
        coverage=coverage,
        coverage_rows=coverage_rows,
        interval_level=champion.interval_level,
        holdout_coverage=champion.holdout_coverage,
        created_at=clock.stamp("milliseconds"),
        out_of_range_share=outside_share,
        out_of_range=outside,
    )
    return _with_message(result)


def outside_ranges(
    ranges: InputRanges | None, rows: pl.DataFrame
) -> tuple[float | None, dict[str, float]]:
    """The share of `rows` with some feature outside `ranges`, and each feature's share: the
    inputs the served answers warned of, seen over the whole window."""
    if ranges is None or rows.height == 0:
        return None, {}
    outside = ranges.mask(rows.select(FEATURE_NAMES).cast(pl.Float64).to_numpy())
    shares = dict(zip(FEATURE_NAMES, outside.mean(axis=0).tolist(), strict=True))
    return float(outside.any(axis=1).mean()), shares


def _outside_words(r: DriftResult) -> str:
    """The out-of-range share in words (call only with a share)."""
    worst = sorted(((v, k) for k, v in r.out_of_range.items() if v > 0), reverse=True)[:3]
    named = ", ".join(f"{name} {share:.1%}" for share, name in worst) or "none"
    return (
        f"inputs outside the champion's training ranges: {r.out_of_range_share:.1%} of "
        f"current rows (most: {named})"
    )


def _with_message(result: DriftResult) -> DriftResult:
    return replace(result, message=" ".join(_verdict(result)))


# What a user can judge when there is too little traffic: the features alone.
SNAPSHOT_HINT = (
    "current=snapshot (`--current snapshot` on the command line) judges the latest feature "
    "snapshot instead"
)


def _verdict(r: DriftResult) -> list[str]:
    """The decision in words, each threshold named, and what to try when none was made."""
    instead = f" {SNAPSHOT_HINT}." if r.current == "predictions" else ""
    if r.current_rows == 0 and r.current == "predictions":
        hint = "no logged predictions in that window (drain the prediction log first?)"
        return [f"no decision: {r.current_source}: {hint};{instead}"]
    if not r.decided:
        return [
            f"no decision: {r.current_rows} current rows, fewer than the "
            f"{r.min_rows} FLEETCAST_DRIFT_MIN_ROWS requires.{instead}"
        ]
    share = f"{len(r.drifted_features)} of {len(r.columns)} features drifted"
    words = [
        f"{'DRIFT' if r.drift_detected else 'no drift'}: {share} (share "
        f"{r.share_drifted:.2f}, threshold {r.share_threshold:.2f})."
    ]
    if r.mae_ratio is not None and r.outcome_rows >= r.min_rows:
        verdict = "ERROR REGRESSED" if r.error_regressed else "error ok"
        words.append(
            f"{verdict}: MAE on outcomes {r.mae:.3f} is {r.mae_ratio:.2f}x the holdout "
            f"MAE (threshold {r.mae_ratio_threshold:.2f})."
        )
    elif r.current == "snapshot":
        words.append("error not judged: a snapshot window has no served predictions.")
    else:
        words.append(
            f"error not judged: {r.outcome_rows} outcomes (needs {r.min_rows} and the "
            "champion's holdout MAE)."
        )
    return words


def drift_metrics(r: DriftResult) -> dict[str, float]:
    """The verdict's numbers as MLflow metrics of the drift run (those the run measured)."""
    numbers = {
        "share_drifted": r.share_drifted,
        "drifted_features": float(len(r.drifted_features)),
        "current_rows": float(r.current_rows),
        "outcome_rows": float(r.outcome_rows),
        "mae": r.mae,
        "mae_ratio": r.mae_ratio,
        "coverage": r.coverage,
        "coverage_rows": float(r.coverage_rows),
        "out_of_range_share": r.out_of_range_share,
    }
    known = {key: float(value) for key, value in numbers.items() if value is not None}
    return known | metrics(r.shadow)


def _coverage_words(r: DriftResult) -> str:
    """The ranges' live coverage and its yardsticks, in words (call only with a coverage)."""
    level = f"{r.interval_level:.2f}" if r.interval_level is not None else "unknown"
    holdout = f"{r.holdout_coverage:.3f}" if r.holdout_coverage is not None else "not measured"
    return (
        f"interval coverage on {r.coverage_rows} outcomes: {r.coverage:.3f} "
        f"(calibrated for {level}; holdout coverage {holdout})"
    )


def summary_lines(r: DriftResult) -> list[str]:
    """The result as the command prints it and the flow logs it."""
    lines = [
        f"{r.registered_model} v{r.champion_version}: {r.message}",
        f"reference: snapshot {r.reference_snapshot_id} ({r.reference_rows} rows); "
        f"current: {r.current_source} ({r.current_rows} rows)",
    ]
    for name, column in r.columns.items():
        flag = "DRIFTED" if column.drifted else "ok"
        lines.append(
            f"  {name:<18} {column.method} {column.value:8.4f} (drifts at {column.threshold:g})"
            f"  K-S p {column.ks_p_value:.2e}  {flag}"
        )
    if r.mae is not None:
        lines.append(
            f"MAE on {r.outcome_rows} outcomes (labels of snapshot {r.outcome_snapshot_id}): "
            f"{r.mae:.3f}; holdout MAE {r.holdout_mae}"
        )
    if r.coverage is not None:
        lines.append(_coverage_words(r))
    if r.out_of_range_share is not None:
        lines.append(_outside_words(r))
    lines += shadow_report.summary_lines(r.shadow)
    if r.report_path:
        lines.append(f"report: {r.report_path}")
    return lines


def markdown(r: DriftResult) -> str:
    """The result as the Prefect artifact: the verdict, the report's path, a table per feature."""
    title = "Drift detected" if r.detected else ("No drift" if r.decided else "No decision")
    lines = [
        f"# {title}: {r.registered_model} v{r.champion_version}",
        "",
        r.message,
        "",
        f"Reference: snapshot `{r.reference_snapshot_id}` ({r.reference_rows} rows). "
        f"Current: {r.current_source} ({r.current_rows} rows).",
    ]
    if r.report_path:
        # No file:// link: a browser refuses one from an http page.
        lines += ["", f"Report: `{r.report_path}` on the machine that ran the flow."]
    if r.mlflow_run_id:
        run = f"[{r.mlflow_run_id}]({r.mlflow_run_url})" if r.mlflow_run_url else r.mlflow_run_id
        lines += ["", f"In MLflow, with its numbers: drift run {run}."]
    if r.columns:
        lines += [
            "",
            f"| feature | {r.method} | drifted (>= {r.column_threshold:g}) | K-S p |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| {name} | {c.value:.4f} | {'**yes**' if c.drifted else 'no'} | {c.ks_p_value:.2e} |"
            for name, c in r.columns.items()
        ]
    if r.mae is not None:
        known = r.holdout_mae is not None and r.mae_ratio is not None
        yardstick = f"{r.holdout_mae:.3f}; ratio {r.mae_ratio:.2f}." if known else "unknown."
        lines += [
            "",
            f"MAE on {r.outcome_rows} outcomes: {r.mae:.3f}; champion holdout MAE {yardstick}",
        ]
    if r.coverage is not None:
        words = _coverage_words(r)
        lines += ["", f"{words[0].upper()}{words[1:]}."]
    if r.out_of_range_share is not None:
        words = _outside_words(r)
        lines += ["", f"{words[0].upper()}{words[1:]}."]
    return "\n".join(lines) + shadow_report.markdown_section(r.shadow)
