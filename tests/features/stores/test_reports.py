"""The drift reports' folder layout: the flow's names sort by time, the newest complete wins."""

from __future__ import annotations

import dataclasses
import json

from features.settings import Settings
from features.stores.reports import DriftReport, drift_report_base, latest_drift_report
from flows.monitor.drift_result import DriftResult

# The numbers DriftReport reads by name: they must stay DriftResult's field names.
READ = ("created_at", "champion_version", "message", "drift_detected", "error_regressed")


def _write(settings: Settings, created_at: str, version: str, **numbers: object) -> None:
    base = drift_report_base(settings, created_at, version)
    base.parent.mkdir(parents=True, exist_ok=True)
    base.with_suffix(".html").write_text("<html>report</html>")
    body = {"created_at": created_at, "champion_version": version} | numbers
    base.with_suffix(".json").write_text(json.dumps(body))


def test_the_read_numbers_are_the_drift_results_fields() -> None:
    fields = {f.name for f in dataclasses.fields(DriftResult)}
    assert set(READ) <= fields
    properties = {name for name in READ if isinstance(getattr(DriftReport, name), property)}
    assert properties == set(READ)


def test_the_latest_report_is_the_newest_complete_one(settings: Settings) -> None:
    assert latest_drift_report(settings) is None
    _write(settings, "2026-12-01T09:00:00.000+00:00", "10", drift_detected=False)
    _write(settings, "2026-12-01T10:00:00.250+00:00", "9", drift_detected=True, message="drift")
    newest = drift_report_base(settings, "2026-12-01T11:00:00+00:00", "11")
    newest.with_suffix(".json").write_text('{"created_at": "2026-12-01T1')  # cut short
    report = latest_drift_report(settings)
    assert report is not None
    assert report.html.name == "drift-20261201T100000250Z-v9.html"
    assert (report.champion_version, report.drift_detected, report.message) == ("9", True, "drift")
    assert report.error_regressed is None  # not in the numbers: unknown, not False
