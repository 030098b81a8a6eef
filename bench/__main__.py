"""`.venv/bin/python -m bench`: generate, ingest, build features two ways, write to Redis.

Prints a markdown results table and writes it, with the machine's facts, to
`WORKDIR/results.md`. Fails loudly if the pandas baseline and the Polars flow disagree.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from bench import machine, steps
from bench.report import Row, document

DEFAULT_WORKDIR = Path(__file__).resolve().parent / "out"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--vehicles", type=int, default=1_000_000, help="listings to generate")
    parser.add_argument(
        "--per-vehicle", type=float, default=20.0, help="mean reservations per listing"
    )
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR, help="all outputs here")
    parser.add_argument(
        "--reuse", action="store_true", help="reuse the generated CSVs and raw store if present"
    )
    parser.add_argument(
        "--repeat", type=int, default=5, help="feature builds per child (best wall time kept)"
    )
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> tuple[list[Row], list[str]]:
    """Every step in order; returns the table rows and notes."""
    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    rows = steps.generate_rows(workdir, args.vehicles, args.per_vehicle, args.reuse)
    rows += steps.ingest_rows(workdir, args.reuse)
    build_rows, table_path, notes = steps.feature_rows(workdir, args.repeat)
    rows += build_rows
    online_rows, online_notes = steps.online_rows(workdir, table_path)
    rows += online_rows
    notes += online_notes
    return rows, notes


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    facts = machine.facts()
    rows, notes = run(args)
    facts["load average at end (1/5/15 min)"] = machine.load_average()
    title = f"fleetcast benchmark: {args.vehicles:,} vehicles x {args.per_vehicle:g} reservations"
    text = document(title, rows, facts, notes)
    print("\n" + text, flush=True)
    out = args.workdir.resolve() / "results.md"
    out.write_text(text)
    print(f"written to {out}", flush=True)
    os.sync()


if __name__ == "__main__":
    main()
