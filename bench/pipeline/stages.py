"""One pipeline stage in its own child process, run as the real Prefect flow.

`python -m bench.pipeline.stages STAGE [ARGS]` runs one flow against the Prefect server at
`PREFECT_API_URL` and the state under `FLEETCAST_HOME` (both set by the parent), then prints
its wall time, peak RSS and what it produced as one JSON line. The flow modules are imported
after `use_prefect_server`, as the CLI does, and the flow call alone is timed.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

from bench.children import emit, peak_rss_mb
from features.local.prefect_server import use_prefect_server
from features.settings import get_settings


def ingest() -> dict[str, Any]:
    from flows.ingest.flow import ingest_flow

    report = ingest_flow()
    return {"rows": report.total("rows"), "accepted": report.total("accepted")}


def features() -> dict[str, Any]:
    from flows.snapshot.flow import feature_build_flow

    meta = feature_build_flow().snapshot
    return {"snapshot_id": meta.snapshot_id, "vehicles": meta.vehicles, "labeled": meta.labeled}


def train(snapshot_id: str) -> dict[str, Any]:
    from flows.train.flow import train_flow

    result = train_flow(snapshot_id=snapshot_id)
    return {
        "version": result.version,
        "family": result.family,
        "cv_mae": result.cv["mae"],
        "rows": result.train_rows,
        "rows_available": result.train_rows_available,
    }


def promote(version: str, snapshot_id: str) -> dict[str, Any]:
    from flows.promote.decision import outcome
    from flows.promote.flow import promote_flow

    promotion = promote_flow(candidate_version=version, snapshot_id=snapshot_id)
    return {
        "outcome": outcome(promotion),
        "reason": promotion.reason,
        "holdout_rows": promotion.holdout_rows,
    }


STAGES: dict[str, Callable[..., dict[str, Any]]] = {
    "ingest": ingest,
    "features": features,
    "train": train,
    "promote": promote,
}


def main(stage: str, *args: str) -> None:
    use_prefect_server(get_settings())
    started = time.perf_counter()
    facts = STAGES[stage](*args)
    emit({"seconds": time.perf_counter() - started, "peak_rss_mb": peak_rss_mb(), **facts})


if __name__ == "__main__":
    main(sys.argv[1], *sys.argv[2:])
