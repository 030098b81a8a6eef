"""What the CLI prints about models: short, plain lines a person reads after a run."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from features.contract.registry import CHAMPION, METRICS
from features.settings import Settings
from flows.promote.decision import interval_text, outcome
from flows.promote.evidence import level_text

if TYPE_CHECKING:
    from flows.promote.decision import Promotion
    from flows.train.record import TrainResult


def trained(result: TrainResult) -> str:
    """One line per training run: what won, by how much over the yardsticks, what was
    registered with which range."""
    mae, reference = result.cv["mae"], result.reference_cv["mae"]
    rows = f"{result.train_rows:,} rows"
    if result.train_rows < result.train_rows_available:
        rows = f"a sample of {result.train_rows:,} of {result.train_rows_available:,} rows"
    return (
        f"trained on {rows}: {result.family} won (nested CV mae {mae:.3f} vs the seed's "
        f"reference model {reference:.3f}, {(reference - mae) / reference:.1%} better, and "
        f"median baseline {result.baseline_cv['mae']:.3f}); registered v{result.version} as "
        f"candidate with a {result.calibration.level:.0%} range; ONNX {result.onnx}"
    )


def decision(promotion: Promotion) -> str:
    """The promotion verdict, with the holdout scores, the improvement's interval and the
    interval coverage it was based on."""
    verb = outcome(promotion).upper()
    lines = [f"{verb} v{promotion.candidate_version or '-'}: {promotion.reason}"]
    if promotion.candidate_scores:
        scores = ", ".join(f"{m} {promotion.candidate_scores[m]:.3f}" for m in METRICS)
        lines.append(f"  holdout ({promotion.holdout_rows} vehicles): {scores}")
    if (gain := promotion.improvement) is not None:
        lines.append(
            f"  improvement over champion v{promotion.champion_version}: {gain.point:.1%}, "
            f"interval [{gain.low:.1%}, {gain.high:.1%}] (each bound at "
            f"{level_text(gain.confidence)}; must clear {promotion.rule.min_effect:.1%})"
        )
    for role, version, interval in (
        ("candidate", promotion.candidate_version, promotion.candidate_interval),
        ("champion", promotion.champion_version, promotion.champion_interval),
    ):
        if interval is not None:
            lines.append(f"  {role} v{version}: {interval_text(interval)}")
    return "\n".join(lines)


def history(registered_model: str, champions: list[dict[str, Any]]) -> str:
    """Every champion, oldest first; the last is the current one."""
    if not champions:
        return f"{registered_model}: no champion yet (run `fleetcast pipeline`)"
    rows = [f"{registered_model}: champions, oldest first (alias {CHAMPION!r} = the last)"]
    for entry in champions:
        rows.append(
            f"  v{entry['version']}  {entry['promoted_at']}  holdout mae {entry['mae']}  "
            f"({_replaced(entry['replaced'])}): {entry['reason']}"
        )
    return "\n".join(rows)


def _replaced(version: str | None) -> str:
    return f"replaced v{version}" if version else "the first champion"


def where_to_look(settings: Settings, prefect_api_url: str) -> str:
    """The state folder, the Prefect UI and the command that opens the MLflow UI."""
    mlflow = shlex.quote(str(Path(sys.executable).parent / "mlflow"))  # this venv's, not PATH's
    mlflow_ui = f"{mlflow} ui --backend-store-uri {shlex.quote(settings.tracking_uri)}"
    return (
        f"state folder: {settings.home}\n"
        f"Prefect UI (runs, artifacts, events): {prefect_api_url.removesuffix('/api')}\n"
        f"MLflow UI (runs, registry): {mlflow_ui}  # then open http://127.0.0.1:5000"
    )
