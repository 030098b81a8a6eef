"""One promotion decision and how it is recorded: tags on the version (MLflow) and a
markdown table (the Prefect UI). Pure: the promote flow writes them."""

from __future__ import annotations

from dataclasses import dataclass

from features.contract.registry import METRICS, PROMOTED, REJECTED, Tag, TagValue, as_tags
from flows.promote import slices
from flows.promote.evidence import HoldoutInterval, Improvement, level_text
from flows.promote.gate import Rule
from flows.promote.live import LiveEvidence


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
    rule: Rule  # the metric, confidence, minimum effect and tolerance it was decided by
    holdout_rows: int
    candidate_scores: dict[str, float] | None
    champion_scores: dict[str, float] | None
    baseline_scores: dict[str, float]
    improvement: Improvement | None  # over the champion, when the two were compared
    candidate_interval: HoldoutInterval | None
    champion_interval: HoldoutInterval | None
    slices: tuple[slices.Slice, ...]
    decided_at: str
    flow_run_id: str | None
    live: LiveEvidence | None = None  # the shadow's live record, when one was looked at

    @property
    def metric(self) -> str:
        """The metric that gated it."""
        return self.rule.metric


def outcome(promotion: Promotion) -> str:
    """`promoted` or `rejected` (the champion, if any, stays): one vocabulary for the tags, the
    Prefect artifact, the log and the CLI."""
    return PROMOTED if promotion.promoted else REJECTED


def decision_tags(promotion: Promotion) -> dict[str, str]:
    """Tags the decision leaves on the candidate version (the MLflow side of the audit)."""
    tags: dict[str, TagValue] = {
        Tag.DECISION: outcome(promotion),
        Tag.DECISION_REASON: promotion.reason[:5000],
        Tag.DECIDED_AT: promotion.decided_at,
        Tag.DECISION_SNAPSHOT_ID: promotion.snapshot_id,
        Tag.DECISION_FLOW_RUN_ID: promotion.flow_run_id,
        Tag.COMPARED_TO_CHAMPION: promotion.champion_version,
        Tag.PROMOTION_MIN_EFFECT: promotion.rule.min_effect,
        Tag.PROMOTION_CONFIDENCE: promotion.rule.confidence,
        Tag.DECISION_EVIDENCE: evidence_words(promotion),
    }
    if promotion.improvement is not None:
        tags[Tag.IMPROVEMENT] = promotion.improvement.point
        tags[Tag.IMPROVEMENT_LOW] = promotion.improvement.low
        tags[Tag.IMPROVEMENT_HIGH] = promotion.improvement.high
    if promotion.candidate_interval is not None:
        tags[Tag.HOLDOUT_COVERAGE] = promotion.candidate_interval.coverage
        tags[Tag.HOLDOUT_WIDTH] = promotion.candidate_interval.width
    for metric in METRICS:
        if promotion.candidate_scores:
            tags[Tag.holdout(metric)] = promotion.candidate_scores[metric]
        if promotion.champion_scores:
            tags[Tag.champion_holdout(metric)] = promotion.champion_scores[metric]
        tags[Tag.baseline_holdout(metric)] = promotion.baseline_scores[metric]
    if promotion.promoted:
        tags[Tag.PROMOTED_AT] = promotion.decided_at
        tags[Tag.REPLACED_VERSION] = promotion.champion_version
    return as_tags(tags)


def evidence_words(promotion: Promotion) -> str:
    """Which evidence the decision used, in words (the holdout always; live when usable)."""
    if promotion.live is None:
        return "holdout only (no champion to compare live with)"
    return promotion.live.words()


def interval_text(interval: HoldoutInterval) -> str:
    """E.g. `80% intervals cover 81.5% of the holdout (mean width 6.2)`."""
    return (
        f"{level_text(interval.level)} intervals cover {interval.coverage:.1%} of the holdout "
        f"(mean width {interval.width:.1f})"
    )


def decision_note(description: str, promotion: Promotion) -> str:
    """The version's description with this decision added (the tags' facts, in words)."""
    scores = promotion.candidate_scores or {}
    holdout = f" Holdout {promotion.metric} {scores[promotion.metric]:.3f}." if scores else ""
    if promotion.candidate_interval is not None:
        holdout += f" Its {interval_text(promotion.candidate_interval)}."
    reason = promotion.reason.rstrip(".")
    said = f"**{outcome(promotion)}** {promotion.decided_at}: {reason}.{holdout}"
    return f"{description}\n\n{said}".strip()


def _gate_line(promotion: Promotion) -> str:
    rule = promotion.rule
    return (
        f"Holdout of snapshot `{promotion.snapshot_id}` ({promotion.holdout_rows} vehicles); "
        f"gate metric `{rule.metric}`: promoted when the {level_text(rule.confidence)} lower "
        f"bound of the improvement over the champion ({rule.draws} paired bootstrap draws) "
        f"clears {rule.min_effect:.1%}, and the candidate's interval coverage is no more than "
        f"{rule.tolerance * 100:g} points below its level."
    )


def _score_rows(promotion: Promotion) -> list[str]:
    def row(name: str, scores: dict[str, float] | None, interval: HoldoutInterval | None) -> str:
        cells = [f"{scores[m]:.4f}" if scores else "-" for m in METRICS]
        if interval is None:
            cells += ["-", "-"]
        else:
            cells += [f"{interval.coverage:.1%} of {level_text(interval.level)}"]
            cells += [f"{interval.width:.2f}"]
        return f"| {name} | " + " | ".join(cells) + " |"

    return [
        "| model | " + " | ".join(METRICS) + " | interval coverage | mean width |",
        "|---|" + "---|" * (len(METRICS) + 2),
        row(
            f"candidate v{promotion.candidate_version or '-'}",
            promotion.candidate_scores,
            promotion.candidate_interval,
        ),
        row(
            f"champion v{promotion.champion_version or '-'}",
            promotion.champion_scores,
            promotion.champion_interval,
        ),
        row("median baseline", promotion.baseline_scores, None),
    ]


def decision_markdown(promotion: Promotion, pages: dict[str, str | None] | None = None) -> str:
    """The decision as markdown: one row per contender, the verdict, then the holdout by
    slice; versions in `pages` (`v<N>` -> URL) are linked."""
    lines = [
        f"# {outcome(promotion).capitalize()}: "
        f"{promotion.registered_model} v{promotion.candidate_version or '-'}",
        "",
        _gate_line(promotion),
        "",
        *_score_rows(promotion),
        "",
        f"**Reason:** {promotion.reason}",
        "",
        f"**Evidence:** {evidence_words(promotion)}.",
    ]
    if promotion.slices:
        lines += ["", "## Holdout by slice", "", *slices.to_markdown(promotion.slices)]
    links = [f"[{label}]({url})" for label, url in (pages or {}).items() if url]
    if links:
        lines += ["", f"In MLflow: {', '.join(links)}."]
    return "\n".join(lines)
