"""The request bodies every case sends: real listings and ids from the latest offline snapshot.

`/predict` (fleetcast and the baseline) gets listings' raw attributes, `/predict_by_id` their
ids; both services get the same bodies in the same round-robin order.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from features.contract.formulas import RAW_FEATURES
from features.contract.schema import ENTITY
from features.settings import Settings
from features.stores.offline import scan_snapshot

COUNT = 64


@dataclass(frozen=True)
class Bodies:
    """JSON-lines files of request bodies, and the same bodies as text."""

    listings_file: Path
    ids_file: Path
    listings: list[str]
    ids: list[str]


def write_bodies(settings: Settings, out_dir: Path, count: int = COUNT) -> Bodies:
    """`count` vehicles of the snapshot (a seeded sample) as /predict and /predict_by_id bodies."""
    rows = scan_snapshot(settings).select(ENTITY, *RAW_FEATURES).collect()
    sample = rows.sample(min(count, rows.height), seed=42)
    rows_as_dicts = sample.iter_rows(named=True)
    listings = [json.dumps({k: row[k] for k in RAW_FEATURES}) for row in rows_as_dicts]
    ids = [json.dumps({ENTITY: v}) for v in sample[ENTITY].to_list()]
    out_dir.mkdir(parents=True, exist_ok=True)
    listings_file, ids_file = out_dir / "listings.jsonl", out_dir / "ids.jsonl"
    listings_file.write_text("\n".join(listings) + "\n")
    ids_file.write_text("\n".join(ids) + "\n")
    return Bodies(listings_file, ids_file, listings, ids)
