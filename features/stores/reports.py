"""Where the drift flow keeps its reports, and how to find the latest: one layout for both sides.

Each drift run writes `drift-<stamp>Z-v<champion version>.html` (Evidently's report) and a
`.json` of its numbers beside it, each atomically, under `Settings.reports_dir`. The stamp has
a fixed width, so the names sort by time; the JSON is written last, so a report with its JSON
is complete.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from features.settings import Settings

DRIFT_PREFIX = "drift-"
_STAMP = "%Y%m%dT%H%M%S%f"  # to the millisecond once the last 3 digits are cut


def drift_report_base(settings: Settings, created_at: str, champion_version: str) -> Path:
    """The report's path without suffix: `.html` is the report, `.json` its numbers."""
    stamp = dt.datetime.fromisoformat(created_at).strftime(_STAMP)[:-3]
    return settings.reports_dir / f"{DRIFT_PREFIX}{stamp}Z-v{champion_version}"


@dataclass(frozen=True)
class DriftReport:
    """The latest complete drift report: its HTML file and the numbers stored beside it.

    The numbers are the drift flow's `DriftResult` as JSON; the few read here are its field
    names (tests/features/stores/test_reports.py holds them to it).
    """

    html: Path
    numbers: dict[str, Any]

    def text(self, key: str) -> str | None:
        value = self.numbers.get(key)
        return value if isinstance(value, str) else None

    def flag(self, key: str) -> bool | None:
        value = self.numbers.get(key)
        return value if isinstance(value, bool) else None

    @property
    def created_at(self) -> str | None:
        return self.text("created_at")

    @property
    def champion_version(self) -> str | None:
        return self.text("champion_version")

    @property
    def message(self) -> str | None:
        return self.text("message")

    @property
    def drift_detected(self) -> bool | None:
        return self.flag("drift_detected")

    @property
    def error_regressed(self) -> bool | None:
        return self.flag("error_regressed")


def latest_drift_report(settings: Settings) -> DriftReport | None:
    """The newest report whose numbers are readable; None if there is none."""
    folder = settings.reports_dir
    candidates = sorted(folder.glob(f"{DRIFT_PREFIX}*.json"), reverse=True)
    for numbers_file in candidates:
        html = numbers_file.with_suffix(".html")
        try:
            numbers = json.loads(numbers_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # unreadable or cut short: the one before it still stands
        if html.is_file() and isinstance(numbers, dict):
            return DriftReport(html=html, numbers=numbers)
    return None
