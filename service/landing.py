"""A listing registered through the API goes where the next ingest run picks it up."""

from __future__ import annotations

import csv
import io
import uuid
from pathlib import Path

from features.contract import clock
from features.contract.schema import VehicleRecord, columns
from features.settings import Settings
from features.stores.atomic import write_text_atomic


def land(settings: Settings, record: VehicleRecord) -> Path:
    """Write `record` as a one-row vehicles CSV into the landing folder, atomically."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    header = columns(VehicleRecord)
    writer.writerow(header)
    writer.writerow([getattr(record, name) for name in header])
    stamp = clock.compact_stamp()
    path = (
        settings.landing_dir / f"api-vehicle-{record.vehicle_id}-{stamp}-{uuid.uuid4().hex[:6]}.csv"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, buffer.getvalue())
    return path
