"""Input files for ingest: where they come from, the record kind each holds, their hash."""

from __future__ import annotations

import codecs
import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path

from features.contract.errors import FleetcastError
from features.contract.schema import KINDS, RECORDS, RecordKind, columns
from features.settings import Settings


class SourceError(FleetcastError, ValueError):
    """An input file that cannot be ingested at all (missing, unreadable, wrong header)."""


@dataclass(frozen=True)
class Source:
    """One input file, recognized by its header and identified by its content."""

    path: Path
    kind: RecordKind
    header: tuple[str, ...]
    sha256: str


def resolve_paths(settings: Settings, paths: list[str] | None) -> list[Path]:
    """The given paths, or the shipped CSVs plus every CSV waiting in the landing folder."""
    if paths is not None:
        resolved = [Path(p) for p in paths]
    else:
        shipped = [settings.data_dir / f"{kind}.csv" for kind in KINDS]
        landed = sorted(settings.landing_dir.glob("*.csv")) if settings.landing_dir.exists() else []
        resolved = [p for p in shipped if p.exists()] + landed
    for index, path in enumerate(resolved):
        if not path.is_file():
            raise SourceError(f"paths[{index}]: {path} does not exist or is not a file")
    return resolved


def read_header(path: Path) -> tuple[str, ...]:
    """The column names on a CSV file's first line."""
    try:
        # utf-8-sig: spreadsheet exports often start with a byte-order mark. Lines split on
        # LF only, as the CSV reader of the rows splits them.
        with open(path, newline="\n", encoding="utf-8-sig") as handle:
            first = handle.readline()
    except UnicodeDecodeError as error:
        raise SourceError(f"{path}: not UTF-8 text ({error.reason})") from None
    except OSError as error:
        raise SourceError(f"{path}: cannot be read ({error.strerror})") from None
    if not first:
        raise SourceError(f"{path}: file is empty (no header line)")
    first = first.rstrip("\r\n")
    if "\r" in first:
        # Bare-CR line endings: the rows would be read as part of the header line.
        raise SourceError(f"{path}: lines end with a bare CR; save it with LF or CRLF endings")
    return tuple(name.strip() for name in next(csv.reader([first]), []))


def kind_of(path: Path, header: tuple[str, ...]) -> RecordKind:
    """The record kind whose columns the header holds; otherwise say what is missing or extra."""
    if len(set(header)) != len(header):
        raise SourceError(f"{path}: header repeats a column: {list(header)}")
    # The closest kind: the largest share of its columns present.
    share = {k: len(set(header) & set(columns(r))) / len(columns(r)) for k, r in RECORDS.items()}
    best = max(share, key=share.__getitem__)
    expected = columns(RECORDS[best])
    missing = [c for c in expected if c not in header]
    unexpected = [c for c in header if c not in expected]
    if missing or unexpected:
        raise SourceError(
            f"{path}: header does not match the {best} contract {expected}: "
            f"missing columns {missing}, unexpected columns {unexpected}"
        )
    return best


def sha256_of(path: Path) -> str:
    """Content hash, streamed: the identity of a file for idempotent ingest. The same pass
    checks that all of it is UTF-8, as the CSV reader needs (not just the header line)."""
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = start = 0
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
                # The decoder holds back a character split across chunks: count from there.
                start = offset - len(decoder.getstate()[0])
                decoder.decode(chunk)
                offset += len(chunk)
        start = offset - len(decoder.getstate()[0])
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as error:
        raise SourceError(
            f"{path}: not UTF-8 text at byte {start + error.start} ({error.reason})"
        ) from None
    except OSError as error:
        raise SourceError(f"{path}: cannot be read ({error.strerror})") from None
    return digest.hexdigest()


def inspect_sources(paths: list[Path]) -> list[Source]:
    """Check every header first (so a bad file changes nothing), then hash; vehicles go first."""
    headers = [read_header(p) for p in paths]
    kinds = [kind_of(p, h) for p, h in zip(paths, headers, strict=True)]
    sources = [
        Source(path=p, kind=k, header=h, sha256=sha256_of(p))
        for p, k, h in zip(paths, kinds, headers, strict=True)
    ]
    # Reservations are checked against vehicles, including the ones arriving in this run.
    return sorted(sources, key=lambda s: KINDS.index(s.kind))
