"""The registry's audit trail: who replaced whom, when and why, read back from version tags.

The promote flow and `fleetcast rollback` write their decisions as tags on the versions they
touch (`registry.Tag`); nothing else stores the history, so this reading is the only one. The
service's GET /model/history shows it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from features.contract.registry import REJECTED, Tag

Kind = Literal["promoted", "rejected", "restored", "rolled_back"]


@dataclass(frozen=True)
class AuditEvent:
    """One decision about one version: `replaced` is the champion it took over from, if any."""

    at: str
    kind: Kind
    version: str
    replaced: str | None
    reason: str | None


def _events_of(version: str, tags: Mapping[str, str]) -> list[AuditEvent]:
    """What the tags of one version record (a version judged, promoted, restored, rolled back)."""
    reason = tags.get(Tag.DECISION_REASON)
    found: list[AuditEvent] = []
    if at := tags.get(Tag.PROMOTED_AT):
        found.append(AuditEvent(at, "promoted", version, tags.get(Tag.REPLACED_VERSION), reason))
    elif tags.get(Tag.DECISION) == REJECTED and (at := tags.get(Tag.DECIDED_AT)):
        compared = tags.get(Tag.COMPARED_TO_CHAMPION) or None
        found.append(AuditEvent(at, "rejected", version, compared, reason))
    if at := tags.get(Tag.RESTORED_AT):
        restored_from = tags.get(Tag.RESTORED_FROM)
        found.append(
            AuditEvent(at, "restored", version, restored_from, tags.get(Tag.RESTORED_REASON))
        )
    if at := tags.get(Tag.ROLLED_BACK_AT):
        found.append(AuditEvent(at, "rolled_back", version, None, None))
    return found


def history(versions: Iterable[tuple[str, Mapping[str, str]]]) -> list[AuditEvent]:
    """Every recorded decision over (version, tags) pairs, newest first.

    Stamps are ISO 8601 in UTC (`clock.stamp`), so their text order is their time order; at
    the same instant, a higher version number comes first.
    """
    events = [event for version, tags in versions for event in _events_of(version, tags)]
    return sorted(events, key=lambda e: (e.at, _number(e.version)), reverse=True)


def _number(version: str) -> int:
    return int(version) if version.isdigit() else -1
