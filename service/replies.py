"""The service's error replies and their wording, shared by its routes."""

from __future__ import annotations

from typing import Any

import bentoml
import numpy as np

from features.contract.formulas import FEATURE_NAMES
from service.http import error
from service.lookup import STORE_DOWN

LOOKUP_DOWN = f"{STORE_DOWN} or the lookup is overloaded"
NOT_READY = "no model loaded yet: the champion could not be loaded (see GET /model)"
NO_DRIFT_REPORT = (
    "no drift report in this service's reports folder yet: `fleetcast drift` (or the "
    "fleetcast-drift deployment) writes one"
)
# Evidently's report runs its own inline scripts: it gets a sandbox (an origin of its own, so
# it cannot read or call this one) and no network.
REPORT_HEADERS = {
    "Content-Security-Policy": "sandbox allow-scripts; default-src 'self' 'unsafe-inline' "
    "'unsafe-eval' data: blob:; connect-src 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
}


def not_finite(ctx: bentoml.Context, features: np.ndarray, batch: str = "") -> Any:
    """A 400 naming each derived feature that overflows (the ratio of a huge price to a tiny
    one is infinite): the model must never see it, and the client must not get a 500."""
    rows, columns = np.nonzero(~np.isfinite(features))
    if not len(rows):
        return None
    where = [[batch, int(row)] if batch else [] for row in rows]
    detail = [
        {
            "loc": [*at, FEATURE_NAMES[column]],
            "type": "finite_number",
            "msg": "derived from the listing's attributes, it is not a finite number",
        }
        for at, column in zip(where, columns, strict=True)
    ]
    return error(ctx, 400, f"{len(detail)} derived feature(s) not finite: check the prices", detail)


def not_online(vehicle_id: int) -> str:
    """The 404 of a by-id route."""
    return f"vehicle_id: {vehicle_id} is not in the online store"
