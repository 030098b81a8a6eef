"""Shared parts of the ingest reliability tests: the ingest's own calls without Prefect, a
byte-level fingerprint of the state folder, and an independent model of what ingest should do.

The model re-reads each file with Python's `csv` module and applies the README's contract by
hand (not through `features.contract.schema`), so a rule that drifts in the product shows up here.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import math
import operator
import re
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from features.contract.schema import TIMESTAMP_FORMAT
from features.settings import Settings
from features.stores import raw as raw_store
from flows.ingest.flow import commit_ingest, find_sources, stage
from flows.ingest.staging import FileReport, IngestReport, StagedFile

_INT = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")
_FLOAT_WORDS = {"inf": math.inf, "-inf": -math.inf, "infinity": math.inf, "nan": math.nan}
# column -> (type, bounds); the bounds are the README's, in the contract's order.
VEHICLE_COLUMNS: dict[str, tuple[str, list[tuple[str, int]]]] = {
    "vehicle_id": ("int", [(">", 0)]),
    "technology": ("int", [(">=", 0), ("<=", 1)]),
    "actual_price": ("float", [(">", 0)]),
    "recommended_price": ("float", [(">", 0)]),
    "num_images": ("int", [(">=", 0)]),
    "street_parked": ("int", [(">=", 0), ("<=", 1)]),
    "description": ("int", [(">=", 0)]),
}
RESERVATION_COLUMNS = {"vehicle_id": ("int", [(">", 0)]), "created_at": ("timestamp", [])}
COLUMNS = {"vehicles": VEHICLE_COLUMNS, "reservations": RESERVATION_COLUMNS}
_WORDS = {"int": "an integer", "float": "a number", "timestamp": "a timestamp YYYY-MM-DD HH:MM:SS"}
_BROKEN = {">": operator.le, ">=": operator.lt, "<=": operator.gt}


def ingest_direct(settings: Settings, paths: list[str]) -> IngestReport:
    """`ingest_flow`'s own calls as plain functions (`.fn`): the real code path minus Prefect."""
    sources = find_sources.fn(settings, paths)
    with raw_store.writing(settings) as manifest:
        staged: list[StagedFile] = []
        for source in sources:
            staged.append(stage.fn(settings, source, manifest, list(staged)))
        return commit_ingest.fn(settings, manifest, staged)


def fingerprint(settings: Settings) -> dict[str, str]:
    """Every file of the raw store and quarantine folders, by path, with its content hash.
    The lock file is left out: holding the lock creates it, empty, and it is not data."""
    files = {}
    for folder in (settings.raw_dir, settings.quarantine_dir):
        for path in sorted(folder.rglob("*")) if folder.exists() else []:
            if path.is_file() and path.name != "write.lock":
                files[str(path.relative_to(settings.home))] = hashlib.sha256(
                    path.read_bytes()
                ).hexdigest()
    return files


@dataclass
class FuzzFile:
    """One generated input file and what the contract says must happen to it."""

    kind: str
    data: bytes
    clean: bool  # well-formed CSV: the exact model applies

    def refusal(self) -> str | None:
        """Why the whole run must be refused, or None (the contract's file-level rules)."""
        if not self.data.removeprefix(b"\xef\xbb\xbf"):
            return "empty"
        try:
            text = self.data.decode("utf-8-sig")
        except UnicodeDecodeError:
            return "not UTF-8"
        first = text.split("\n", 1)[0].rstrip("\r")
        if "\r" in first:  # rows are split on LF: the data would sit on the header line
            return "bare CR"
        header = [name.strip() for name in next(csv.reader([first]), [])]
        if len(set(header)) != len(header) or set(header) != set(COLUMNS[self.kind]):
            return "header"
        return None


def _number(kind: str, text: str) -> float | int | None:
    if kind == "int":
        return int(text) if _INT.fullmatch(text) and -(2**63) <= int(text) < 2**63 else None
    if _FLOAT.fullmatch(text):
        return float(text)
    return _FLOAT_WORDS.get(text.lower().lstrip("+"))


def _value(kind: str, text: str) -> float | dt.datetime | None:
    if kind != "timestamp":
        return _number(kind, text)
    try:
        return dt.datetime.strptime(text, TIMESTAMP_FORMAT)
    except ValueError:
        return None


def check_row(kind: str, record: dict[str, str | None]) -> tuple[list[str], dict]:
    """The rules a row breaks (in the product's order: parse rules, then value rules) and its
    parsed values."""
    parse, values, checks = [], {}, []
    for name, (typ, bounds) in COLUMNS[kind].items():
        text = (record.get(name) or "").strip(" \t")
        if not text:
            parse.append(f"{name} is required")
            continue
        value = _value(typ, text)
        if value is None:
            parse.append(f"{name} must be {_WORDS[typ]}")
            continue
        values[name] = value
        if typ == "float" and not math.isfinite(value):
            checks.append(f"{name} must be finite")
        checks += [f"{name} must be {op} {b}" for op, b in bounds if _BROKEN[op](value, b)]
    return parse + checks, values


def read_records(data: bytes) -> tuple[list[str], list[list[str]]]:
    """Header and data records of a well-formed CSV file, as the contract reads them."""
    text = data.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    return [name.strip() for name in rows[0]], rows[1:]


@dataclass
class Expected:
    """What ingest should report for one file."""

    rows: int = 0
    accepted: int = 0
    updated: int = 0
    duplicates: int = 0
    quarantined: list[tuple[int, str]] = field(default_factory=list)  # (row, rules)


@dataclass
class StoreModel:
    """The raw store as the contract describes it: latest vehicle versions and reservations."""

    vehicles: dict[int, tuple] = field(default_factory=dict)
    vehicle_rows: int = 0
    reservations: set[tuple[int, dt.datetime]] = field(default_factory=set)
    seen: dict[str, int] = field(default_factory=dict)  # content hash -> rows
    poisoned: bool = False  # a file outside the model was accepted: stop comparing

    def ingest(self, kind: str, data: bytes) -> Expected:
        """Apply one accepted file to the model; return what ingest should report for it."""
        digest = hashlib.sha256(data).hexdigest()
        if digest in self.seen:
            rows = self.seen[digest]
            return Expected(rows=rows, duplicates=rows)
        header, records = read_records(data)
        checked = []
        for number, cells in enumerate(records, start=1):
            rules, values = check_row(kind, dict(zip(header, cells, strict=False)))
            # The product sees the first field past the header only (empty = absent).
            if len(cells) > len(header) and cells[len(header)]:
                rules = ["row has more fields than the header"]
            checked.append((number, "; ".join(rules), values))
        classify = self._vehicles if kind == "vehicles" else self._reservations
        expected = Expected(rows=len(records))
        expected.quarantined = [(n, r) for n, r, _ in checked if r]
        classify([(n, v) for n, r, v in checked if not r], expected)
        expected.quarantined.sort()
        self.seen[digest] = expected.rows
        return expected

    def _vehicles(self, valid: list[tuple[int, dict]], expected: Expected) -> None:
        attrs = {n: tuple(v[c] for c in list(VEHICLE_COLUMNS)[1:]) for n, v in valid}
        variants: dict[int, set[tuple]] = {}
        for n, v in valid:
            variants.setdefault(int(v["vehicle_id"]), set()).add(attrs[n])
        done: set[int] = set()
        for n, v in valid:
            vid = int(v["vehicle_id"])
            if len(variants[vid]) > 1:
                expected.quarantined.append((n, "vehicle_id must be unique within a file"))
            elif vid in done or self.vehicles.get(vid) == attrs[n]:
                expected.duplicates += 1
                done.add(vid)
            else:
                expected.updated += vid in self.vehicles
                expected.accepted += vid not in self.vehicles
                self.vehicles[vid] = attrs[n]
                self.vehicle_rows += 1
                done.add(vid)

    def _reservations(self, valid: list[tuple[int, dict]], expected: Expected) -> None:
        for n, v in valid:
            key = (int(v["vehicle_id"]), v["created_at"])
            if key[0] not in self.vehicles:
                expected.quarantined.append((n, "vehicle_id must exist in vehicles"))
            elif key in self.reservations:
                expected.duplicates += 1
            else:
                expected.accepted += 1
                self.reservations.add(key)


def store_heights(settings: Settings) -> dict[str, int]:
    """Rows per kind in the committed raw store."""
    return {k: raw_store.scan(settings, k).select(pl.len()).collect().item() for k in COLUMNS}


def check_no_leftovers(settings: Settings) -> None:
    """Every part file is the manifest's; no staging file, no temp file anywhere."""
    manifest = raw_store.load_manifest(settings)
    referenced = {settings.raw_dir / p for parts in manifest.parts.values() for p in parts}
    parts = {p for kind in COLUMNS for p in (settings.raw_dir / kind).glob("*")}
    assert parts == referenced
    assert not list(raw_store.staging_dir(settings).glob("*"))
    assert not [p for p in settings.home.rglob("*.tmp")]


def _quarantine(report: FileReport) -> pl.DataFrame:
    if report.quarantine_file is None:
        return pl.DataFrame(schema={"source_file": pl.String, "row": pl.String, "rule": pl.String})
    return pl.read_csv(report.quarantine_file, infer_schema=False)


def check_accounted(settings: Settings, heights: dict[str, int], report: IngestReport) -> None:
    """Weak form for files outside the model: every row read is accepted, updated, duplicate
    or quarantined (with a row number and a rule), and the store grew by the stored rows."""
    for file in report.files:
        assert file.accepted + file.updated + file.duplicates + file.quarantined == file.rows
        quarantined = _quarantine(file)
        assert quarantined.height == file.quarantined
        numbers = [int(n) for n in quarantined["row"]]
        assert len(set(numbers)) == len(numbers)
        assert all(1 <= n <= file.rows for n in numbers)
        assert all(rule for rule in quarantined["rule"])
    for kind, height in store_heights(settings).items():
        grown = sum(f.accepted + f.updated for f in report.files if f.kind == kind)
        assert height == heights[kind] + grown, kind
    check_no_leftovers(settings)


def check_accepted(
    settings: Settings,
    model: StoreModel,
    files: list[FuzzFile],
    paths: list[Path],
    report: IngestReport,
) -> None:
    """Exact form: each file's counts and quarantined rows (number, rules) are the model's,
    and the store holds exactly the model's rows."""
    heights = {"vehicles": model.vehicle_rows, "reservations": len(model.reservations)}
    by_name = {f.name: f for f in report.files}
    for item, path in zip(files, paths, strict=True):  # vehicles first, as ingest orders them
        expected, got = model.ingest(item.kind, item.data), by_name[path.name]
        counts = (got.rows, got.accepted, got.updated, got.duplicates, got.quarantined)
        assert counts == (
            expected.rows,
            expected.accepted,
            expected.updated,
            expected.duplicates,
            len(expected.quarantined),
        ), path.name
        quarantined = _quarantine(got)
        assert list(zip(map(int, quarantined["row"]), quarantined["rule"], strict=True)) == (
            expected.quarantined
        )
        assert set(quarantined["source_file"]) <= {str(path)}
    check_accounted(settings, heights, report)
    stored = {k: raw_store.scan(settings, k).collect() for k in COLUMNS}
    assert set(stored["reservations"].iter_rows()) == model.reservations
    assert stored["reservations"].height == len(model.reservations)  # each row once
    latest = stored["vehicles"].sort("ingest_seq").unique("vehicle_id", keep="last")
    assert {r[0]: tuple(r[1:7]) for r in latest.iter_rows()} == model.vehicles
    assert stored["vehicles"].height == model.vehicle_rows
