"""Ingest fuzzing: random vehicles/reservations CSV pairs, malformed in every way we know of.

For each pair ingest either accepts the files, quarantining row by row with the rules each row
broke, or refuses the run with an error naming the file; a refused run leaves the state folder
byte-for-byte as it was. Clean files are checked exactly against `StoreModel`, the contract
applied by hand; files whose CSV structure is itself broken (a stray quote) only have to be
refused or accounted for row by row.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, event, example, given, settings
from hypothesis import strategies as st
from support.factories import vehicle
from support.ingest import (
    COLUMNS,
    FuzzFile,
    StoreModel,
    check_accepted,
    check_accounted,
    check_no_leftovers,
    fingerprint,
    ingest_direct,
    store_heights,
)

from features.contract.schema import RECORDS, TIMESTAMP_FORMAT, columns
from features.settings import Settings
from flows.ingest import classify
from flows.ingest.flow import ingest_flow
from flows.ingest.sources import SourceError
from flows.ingest.staging import IngestReport

KINDS = ("vehicles", "reservations")
_BAD = ["", "abc", "1,5", 'say "hi"', "line1\nline2", "café", "x" * 5000, "\uff11", "--1"]
_PAD = st.sampled_from(["", "", "", " ", "\t", "  "])
_INT = st.one_of(
    st.integers(-2, 3).map(str),
    st.sampled_from(["+5", "05", "-0", "1.0", "1e3", "1" + "0" * 30, "9223372036854775808"]),
    st.sampled_from(_BAD),
)
_ID = st.one_of(st.integers(1, 6).map(str), _INT)
_FLOAT = st.one_of(
    st.floats(0.5, 500).map(lambda f: f"{f:.2f}"),
    st.floats().map(repr),
    st.sampled_from(["1e308", "1e309", "-1e309", "inf", "-inf", "nan", "NaN", "Infinity", "5."]),
    st.sampled_from([".5", "0", "-0.0", "1.5e-400", "1_0", "12 EUR", *_BAD]),
)
_STAMP = st.datetimes(dt.datetime(2022, 1, 1), dt.datetime(2023, 12, 31)).map(
    lambda d: d.strftime(TIMESTAMP_FORMAT)
)
_TIME = st.one_of(
    _STAMP,
    st.sampled_from(["2023-01-01 00:00:00", "2023-02-30 12:00:00", "2023-01-01T00:00:00"]),
    st.sampled_from(["2023-01-01", "2023-01-01 00:00:00.5", "2023-01-01 24:00:00", *_BAD]),
)
# Hypothesis draws small integers (and booleans' False) far more often than uniformly: rare
# cases are drawn from a list instead, so their share stays near the intended one.
_ONE_IN_TEN = st.sampled_from([False] * 9 + [True])
_RARE = st.sampled_from([False] * 24 + [True])
_CELLS = {"int": _INT, "float": _FLOAT, "timestamp": _TIME}


# Valid values from small sets, so that files repeat ids, rows and reservations of the store
# (duplicates, new versions of a vehicle) as often as they bring new ones.
_GOOD = {
    "vehicle_id": st.integers(1, 6).map(str),
    "technology": st.sampled_from(["0", "1"]),
    "street_parked": st.sampled_from(["0", "1"]),
    "actual_price": st.sampled_from(["60", "60.00", "75.5", "1e308"]),
    "recommended_price": st.sampled_from(["50", "55.25", "0.01"]),
    "num_images": st.integers(0, 3).map(str),
    "description": st.sampled_from(["0", "300", "+12", "07"]),
    "created_at": st.sampled_from(["2023-01-01 00:00:00", "2023-06-30 23:59:59"]) | _STAMP,
}


def _cell(name: str, typ: str, good: bool) -> st.SearchStrategy[str]:
    text = _GOOD[name] if good else _ID if name == "vehicle_id" else _CELLS[typ]
    return st.tuples(_PAD, text, _PAD).map("".join)


@st.composite
def _row(draw: st.DrawFn, kind: str) -> dict[str, str]:
    """A valid row (most often), a row with one wild field, or wild throughout."""
    mode = draw(st.sampled_from(["valid"] * 3 + ["one wild field", "wild"]))
    row = {n: draw(_cell(n, typ, mode != "wild")) for n, (typ, _) in COLUMNS[kind].items()}
    if mode == "one wild field":
        name = draw(st.sampled_from(list(COLUMNS[kind])))
        row[name] = draw(_cell(name, COLUMNS[kind][name][0], good=False))
    return row


def _header(draw: st.DrawFn, kind: str) -> tuple[list[str], list[str], str]:
    """Column order of the file, the header as written, and the header mutation."""
    order = draw(st.permutations(list(COLUMNS[kind])))
    mutation = draw(st.sampled_from(["none"] * 12 + ["pad", "drop", "extra", "repeat"]))
    written = [f" {c} " if mutation == "pad" else c for c in order]
    if mutation == "drop":
        order, written = order[1:], written[1:]
    elif mutation == "extra":
        order, written = [*order, "colour"], [*written, "colour"]
    elif mutation == "repeat":
        order, written = [*order, order[0]], [*written, written[0]]
    return order, written, mutation


def _records(draw: st.DrawFn, kind: str, order: list[str]) -> list[list[str]]:
    rows = draw(st.lists(_row(kind), max_size=10))
    if rows:  # exact copies: duplicates within a file
        rows += draw(st.lists(st.sampled_from(rows), max_size=3))
    records = []
    for row in draw(st.permutations(rows)):
        cells = [row.get(c, "red") for c in order]
        tail = draw(st.sampled_from(["none"] * 10 + ["extra", "comma", "short", "blank"]))
        if tail == "extra":
            cells += draw(st.lists(st.sampled_from(["x", "1", "a b"]), min_size=1, max_size=3))
        cells = [*cells, ""] if tail == "comma" else cells[: -1 if tail == "short" else None]
        records.append([] if tail == "blank" else cells)
    return records


def _serialize(lines: list[list[str]], eol: str) -> list[str]:
    """Each record as one line of text (quoted where needed), ending in `eol`."""
    texts = []
    for cells in lines:
        out = io.StringIO()
        csv.writer(out, lineterminator="").writerow(cells)
        texts.append((out.getvalue() if cells else "") + eol)
    return texts


def _cut_last(draw: st.DrawFn, lines: list[str]) -> None:
    """Truncate the last line (never inside quotes: that is a different, unclean, file)."""
    if len(lines) > 1 and '"' not in lines[-1]:
        lines[-1] = lines[-1][: draw(st.integers(0, len(lines[-1]) - 1))]


@st.composite
def csv_file(draw: st.DrawFn, kind: str) -> FuzzFile:
    """A file of `kind`, broken at the header, row, line or byte level (or not at all)."""
    order, written, _ = _header(draw, kind)
    # CR CR LF (a CRLF file converted again) splits differently in Python's csv: not clean.
    eol = draw(st.sampled_from(["\n"] * 6 + ["\r\n"] * 3 + ["\r", "\r\r\n"]))
    lines = _serialize([written, *_records(draw, kind, order)], eol)
    ending = draw(st.sampled_from(["keep"] * 6 + ["no final newline", "cut last line"]))
    if ending == "cut last line":
        _cut_last(draw, lines)
    elif ending == "no final newline":
        lines[-1] = lines[-1].rstrip("\r\n")
    clean = eol != "\r\r\n"
    if len(lines) > 1 and draw(_ONE_IN_TEN):  # a stray quote somewhere in the data
        at = draw(st.integers(1, len(lines) - 1))
        pos = draw(st.integers(0, len(lines[at])))
        lines[at], clean = lines[at][:pos] + '"' + lines[at][pos:], False
    text = "".join(lines)
    encoding = draw(st.sampled_from(["utf-8"] * 8 + ["utf-8-sig", "latin-1", "utf-16", "bad"]))
    if encoding == "bad":
        data = text.encode()
        at = draw(st.integers(0, len(data)))
        data = data[:at] + b"\xff" + data[at:]
    else:
        data = text.encode(encoding, errors="replace")
    if draw(_RARE):  # nothing, a lone byte-order mark, the header alone
        data = draw(st.sampled_from([b"", b"\xef\xbb\xbf", lines[0].rstrip("\r\n").encode()]))
        clean = True
    return FuzzFile(kind, data, clean)


def _write(folder: Path, files: list[FuzzFile]) -> list[Path]:
    paths = []
    for index, item in enumerate(files):
        paths.append(folder / f"{item.kind}-{index}.csv")
        paths[-1].write_bytes(item.data)
    return paths


Ingest = Callable[[Settings, list[str]], IngestReport]


def _run_pair(settings: Settings, model: StoreModel, files: list[FuzzFile], ingest: Ingest) -> None:
    """Ingest `files` in one run; check it against the model; update the model if accepted."""
    paths = _write(settings.home.parent, files)
    refusals = {str(p): f.refusal() for p, f in zip(paths, files, strict=True)}
    before, heights = fingerprint(settings), store_heights(settings)
    try:
        report = ingest(settings, [str(p) for p in paths])
    except SourceError as error:
        event(f"refused: {next((r for r in refusals.values() if r), 'malformed CSV')}")
        named = [f for p, f in zip(refusals, files, strict=True) if p in str(error)]
        assert named, f"the error names no input file: {error}"
        assert named[0].refusal() or not named[0].clean, str(error)
        assert fingerprint(settings) == before
        check_no_leftovers(settings)
        return
    assert not any(refusals.values()), f"should have been refused: {refusals}"
    if all(f.clean for f in files):
        event("accepted (exact model)")
        check_accepted(settings, model, files, paths, report)
    else:
        event("accepted (malformed CSV, accounted)")
        check_accounted(settings, heights, report)
        model.poisoned = True


BASE = st.tuples(st.lists(_row("vehicles"), max_size=6), st.lists(_row("reservations"), max_size=6))
PAIR = st.tuples(csv_file("vehicles"), csv_file("reservations"))


def _clean(kind: str, rows: list[dict[str, str]]) -> FuzzFile:
    lines = _serialize([list(COLUMNS[kind]), *[list(r.values()) for r in rows]], "\n")
    return FuzzFile(kind, "".join(lines).encode(), clean=True)


def _scenario(base: tuple, pair: tuple, again: bool, ingest: Ingest) -> None:
    """A store holding a base pair, then the fuzzed pair, then (if accepted) the same again."""
    with tempfile.TemporaryDirectory(prefix="fleetcast-fuzz-") as tmp:
        settings = Settings(home=Path(tmp) / "home")
        model = StoreModel()
        clean = [_clean(kind, rows) for kind, rows in zip(KINDS, base, strict=True)]
        _run_pair(settings, model, clean, ingest)
        _run_pair(settings, model, list(pair), ingest)
        if again and not model.poisoned:
            before = fingerprint(settings)
            _run_pair(settings, model, list(pair), ingest)
            assert fingerprint(settings) == before  # content already ingested: a no-op


FUZZ = settings(
    derandomize=True,  # the same examples on every machine: CI failures reproduce
    database=None,  # nothing written into the repository
    deadline=None,  # ingest times vary with the shared machine's load
    phases=[Phase.explicit, Phase.generate, Phase.shrink],  # explain: minutes, little gain
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


_V, _R = (",".join(COLUMNS[kind]) + "\n" for kind in KINDS)
_ONE = ([{name: str(value) for name, value in vehicle(1).items()}], [])  # one stored vehicle


def _pair(vehicles: bytes | str, reservations: bytes | str, clean: bool = True) -> tuple:
    data = [v.encode() if isinstance(v, str) else v for v in (vehicles, reservations)]
    return FuzzFile("vehicles", data[0], clean), FuzzFile("reservations", data[1], clean)


@pytest.mark.timeout(900)  # a failure shrinks for up to Hypothesis's own 5-minute limit
@settings(FUZZ, max_examples=250)
@given(base=BASE, pair=PAIR, again=st.booleans())
# Regressions, each a traceback or a silent loss before the fix:
# a non-UTF-8 byte past the first 8 KiB, beyond the header check's read (ComputeError);
@example(_ONE, _pair((_V + "2,1,60,50,4,0,3\n" * 600).encode() + b"3,caf\xe9\n", _R), False)
# a quote inside an unquoted field, and an unbalanced quote (ComputeError);
@example(_ONE, _pair(_V, _R + '1,2023-01-01 00:00:00\n1"x,2023-01-02 00:00:00\n', False), False)
@example(_ONE, _pair(_V, _R + '1,2023-01-01 00:00:00\n"1,2023-01-02 00:00:00\n', False), False)
# a first data row with two extra fields (SchemaError) is quarantined, the rest accepted;
@example(_ONE, _pair(_V + "2,1,60,50,4,0,300,x,y\n3,1,60,50,4,0,300\n", _R), True)
# bare-CR line endings: the file read as a header alone, every row silently dropped;
@example(_ONE, _pair(_V.replace("\n", "\r") + "2,1,60,50,4,0,300\r", _R), False)
# empty, byte-order mark alone, header alone (no newline).
@example(_ONE, _pair(b"", _R), False)
@example(_ONE, _pair(b"\xef\xbb\xbf", _R), False)
@example(_ONE, _pair(_V.strip(), _R.strip()), True)
def test_every_file_pair_is_accepted_row_by_row_or_refused_whole(
    base: tuple, pair: tuple, again: bool
) -> None:
    _scenario(base, pair, again, ingest_direct)


@pytest.mark.timeout(900)
@settings(FUZZ, max_examples=120)
@given(base=BASE, pair=PAIR)
def test_the_same_promises_hold_when_a_file_is_classified_in_buckets(
    base: tuple, pair: tuple
) -> None:
    # Big files are classified a bucket of listings at a time; at 3 rows a bucket, most
    # drawn files span several, so in-file duplicates, conflicting versions and stored rows
    # must be found within the bucket their id hashes to.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(classify, "BUCKET_ROWS", 3)
        _scenario(base, pair, False, ingest_direct)


@pytest.mark.integration
@settings(FUZZ, max_examples=10)
@given(base=BASE, pair=PAIR)
def test_the_ingest_flow_keeps_the_same_promises(
    prefect_server: str, base: tuple, pair: tuple
) -> None:
    def run_flow(settings: Settings, paths: list[str]) -> IngestReport:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("FLEETCAST_HOME", str(settings.home))
            return ingest_flow(paths=paths)

    _scenario(base, pair, False, run_flow)


def test_the_model_knows_every_column_of_the_contract() -> None:
    # The model's rules are typed by hand (to check the product's, not to copy them): a column
    # added to the contract must be added there too.
    assert {kind: list(cols) for kind, cols in COLUMNS.items()} == {
        kind: columns(record) for kind, record in RECORDS.items()
    }
