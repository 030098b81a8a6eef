"""One promotion decision and how it is recorded: tags on the version (MLflow) and a
markdown table (the Prefect UI). Pure: the promote flow writes them."""

from __future__ import annotations

from dataclasses import dataclass

from features.contract.registry import METRICS, Tag


@dataclass(frozen=True)
class Promotion:
    """One promotion decision, as recorded in MLflow, the Prefect UI and the event."""

    promoted: bool
    reason: str
    registered_model: str
    candidate_version: str | None
    champion_version: str | None
    candidate_run_id: str | None
    snapshot_id: str
    metric: str
    margin: float
    holdout_rows: int
    candidate_scores: dict[str, float] | None
    champion_scores: dict[str, float] | None
    baseline_scores: dict[str, float]
    decided_at: str
    flow_run_id: str | None


# The two outcomes, in one vocabulary for the tags, the Prefect artifact, the log and the CLI.
PROMOTED, REJECTED = "promoted", "rejected"


def outcome(promotion: Promotion) -> str:
    """`promoted` or `rejected` (the champion, if any, stays)."""
    return PROMOTED if promotion.promoted else REJECTED


def decision_tags(promotion: Promotion) -> dict[str, str]:
    """Tags the decision leaves on the candidate version (the MLflow side of the audit)."""
    tags = {
        Tag.DECISION: outcome(promotion),
        Tag.DECISION_REASON: promotion.reason[:5000],
        Tag.DECIDED_AT: promotion.decided_at,
        Tag.DECISION_SNAPSHOT_ID: promotion.snapshot_id,
        Tag.DECISION_FLOW_RUN_ID: str(promotion.flow_run_id),
        Tag.COMPARED_TO_CHAMPION: str(promotion.champion_version),
        Tag.PROMOTION_MIN_EFFECT: str(promotion.margin),
    }
    for metric in METRICS:
        if promotion.candidate_scores:
            tags[Tag.holdout(metric)] = str(promotion.candidate_scores[metric])
        if promotion.champion_scores:
            tags[Tag.champion_holdout(metric)] = str(promotion.champion_scores[metric])
        tags[Tag.baseline_holdout(metric)] = str(promotion.baseline_scores[metric])
    if promotion.promoted:
        tags[Tag.PROMOTED_AT] = promotion.decided_at
        tags[Tag.REPLACED_VERSION] = str(promotion.champion_version)
    return tags


def decision_note(description: str, promotion: Promotion) -> str:
    """The version's description with this decision added (the tags' facts, in words)."""
    scores = promotion.candidate_scores or {}
    holdout = f" Holdout {promotion.metric} {scores[promotion.metric]:.3f}." if scores else ""
    reason = promotion.reason.rstrip(".")
    said = f"**{outcome(promotion)}** {promotion.decided_at}: {reason}.{holdout}"
    return f"{description}\n\n{said}".strip()


def decision_markdown(promotion: Promotion, pages: dict[str, str | None] | None = None) -> str:
    """The decision as a markdown table: one row per contender, then the verdict; versions in
    `pages` (`v<N>` -> URL) are linked."""

    def row(name: str, scores: dict[str, float] | None) -> str:
        cells = [f"{scores[m]:.4f}" if scores else "-" for m in METRICS]
        return f"| {name} | " + " | ".join(cells) + " |"

    lines = [
        f"# {outcome(promotion).capitalize()}: "
        f"{promotion.registered_model} v{promotion.candidate_version or '-'}",
        "",
        f"Holdout of snapshot `{promotion.snapshot_id}` ({promotion.holdout_rows} vehicles); "
        f"gate metric `{promotion.metric}`, margin {promotion.margin:.2%}.",
        "",
        "| model | " + " | ".join(METRICS) + " |",
        "|---|" + "---|" * len(METRICS),
        row(f"candidate v{promotion.candidate_version or '-'}", promotion.candidate_scores),
        row(f"champion v{promotion.champion_version or '-'}", promotion.champion_scores),
        row("median baseline", promotion.baseline_scores),
        "",
        f"**Reason:** {promotion.reason}",
    ]
    links = [f"[{label}]({url})" for label, url in (pages or {}).items() if url]
    if links:
        lines += ["", f"In MLflow: {', '.join(links)}."]
    return "\n".join(lines)
