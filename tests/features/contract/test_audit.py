"""The audit trail read back from version tags: every decision, newest first."""

from __future__ import annotations

from features.contract.audit import AuditEvent, history
from features.contract.registry import PROMOTED, REJECTED, Tag


def _promoted(at: str, replaced: str | None, reason: str) -> dict[str, str]:
    tags = {
        Tag.DECISION: PROMOTED,
        Tag.DECIDED_AT: at,
        Tag.PROMOTED_AT: at,
        Tag.DECISION_REASON: reason,
    }
    return tags | ({Tag.REPLACED_VERSION: replaced} if replaced else {})


def test_promotions_rejections_and_a_rollback_read_newest_first() -> None:
    versions = [
        ("1", _promoted("2026-12-01T10:00:00+00:00", None, "the first champion")),
        (
            "2",
            _promoted("2026-12-01T11:00:00+00:00", "1", "4.0% better")
            | {Tag.ROLLED_BACK_AT: "2026-12-01T13:00:00+00:00"},
        ),
        (
            "3",
            {
                Tag.DECISION: REJECTED,
                Tag.DECIDED_AT: "2026-12-01T12:00:00+00:00",
                Tag.COMPARED_TO_CHAMPION: "2",
                Tag.DECISION_REASON: "not enough evidence",
            },
        ),
        ("4", {Tag.FAMILY: "random_forest"}),  # trained, never judged: no event
    ]
    versions[0][1].update(
        {
            Tag.RESTORED_AT: "2026-12-01T13:00:00+00:00",
            Tag.RESTORED_FROM: "2",
            Tag.RESTORED_REASON: "bad live error",
        }
    )
    assert history(versions) == [
        AuditEvent("2026-12-01T13:00:00+00:00", "rolled_back", "2", None, None),
        AuditEvent("2026-12-01T13:00:00+00:00", "restored", "1", "2", "bad live error"),
        AuditEvent("2026-12-01T12:00:00+00:00", "rejected", "3", "2", "not enough evidence"),
        AuditEvent("2026-12-01T11:00:00+00:00", "promoted", "2", "1", "4.0% better"),
        AuditEvent("2026-12-01T10:00:00+00:00", "promoted", "1", None, "the first champion"),
    ]


def test_a_registry_without_decisions_has_no_history() -> None:
    assert history([]) == []
    assert history([("1", {Tag.FAMILY: "median_boosting"})]) == []


def test_versions_at_one_instant_order_by_number_not_text() -> None:
    at = "2026-12-01T10:00:00+00:00"
    events = history([("9", _promoted(at, None, "a")), ("10", _promoted(at, "9", "b"))])
    assert [e.version for e in events] == ["10", "9"]
