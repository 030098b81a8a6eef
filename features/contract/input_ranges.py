"""What a model has seen: each input feature's observed range on its training rows, and the
inputs that leave it.

Training measures, per feature in FEATURE_NAMES order, the minimum, the maximum and a few
quantiles of the rows the model was fit on; they travel with the model version as one tag (and a
JSON artifact). The service checks every request's feature rows against the served version's
ranges: a value outside [low, high] is answered as usual, with a warning naming the feature, the
value and the range. Nothing is refused for it: a forecast far from the training data is still a
forecast, only one the model has no evidence for.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from features.contract.errors import FleetcastError
from features.contract.formulas import FEATURE_NAMES
from features.contract.registry import Tag

INPUT_RANGES_ARTIFACT = "input_ranges.json"
QUANTILES = (0.01, 0.5, 0.99)


class InputRangeError(FleetcastError, ValueError):
    """A model version's input ranges are malformed."""


def quantile_name(q: float) -> str:
    """0.01 -> "q01", 0.5 -> "q50"."""
    return f"q{round(q * 100):02d}"


@dataclass(frozen=True)
class FeatureRange:
    """One feature's training values: their extremes and a few quantiles."""

    feature: str
    low: float
    high: float
    quantiles: dict[str, float]


@dataclass(frozen=True)
class OutOfRange:
    """A feature value of one request row outside what the model was trained on."""

    row: int
    feature: str
    value: float
    low: float
    high: float

    @property
    def message(self) -> str:
        return (
            f"{self.feature}: {self.value:g} is outside the training range "
            f"[{self.low:g}, {self.high:g}]; the forecast is an extrapolation"
        )


@dataclass(frozen=True)
class InputRanges:
    """Every feature's range, in FEATURE_NAMES order, measured on `rows` training rows."""

    ranges: tuple[FeatureRange, ...]
    rows: int

    def __post_init__(self) -> None:
        # Kept as arrays once, so checking a request is two vector comparisons.
        object.__setattr__(self, "_low", np.array([r.low for r in self.ranges]))
        object.__setattr__(self, "_high", np.array([r.high for r in self.ranges]))

    def mask(self, features: np.ndarray) -> np.ndarray:
        """True where a value of `features` (rows x FEATURE_NAMES) is outside its range."""
        return (features < self._low) | (features > self._high)  # type: ignore[attr-defined]

    def outside(self, features: np.ndarray) -> list[OutOfRange]:
        """Each value of `features` (rows x FEATURE_NAMES) outside its range, row by row."""
        low, high = self._low, self._high  # type: ignore[attr-defined]
        rows, columns = np.nonzero(self.mask(features))
        return [
            OutOfRange(int(r), self.ranges[c].feature, float(features[r, c]), low[c], high[c])
            for r, c in zip(rows.tolist(), columns.tolist(), strict=True)
        ]

    def tags(self) -> dict[str, str]:
        """The ranges as one model-version tag (how they travel with the version)."""
        return {Tag.INPUT_RANGES: json.dumps(self._plain(), separators=(",", ":"))}

    def document(self) -> str:
        """The artifact logged beside the model: the same numbers."""
        return json.dumps(self._plain(), indent=1)

    def _plain(self) -> dict[str, Any]:
        return {"rows": self.rows, "ranges": [asdict(r) for r in self.ranges]}


def observe(features: np.ndarray) -> InputRanges:
    """The ranges of training rows (rows x FEATURE_NAMES, finite)."""
    values = np.asarray(features, dtype=np.float64)
    if values.ndim != 2 or values.shape[1] != len(FEATURE_NAMES) or len(values) == 0:
        raise InputRangeError(
            f"input ranges: expected rows x {len(FEATURE_NAMES)} features, got {values.shape}"
        )
    cut = np.quantile(values, QUANTILES, axis=0)
    ranges = tuple(
        FeatureRange(
            feature=name,
            low=float(values[:, i].min()),
            high=float(values[:, i].max()),
            quantiles={quantile_name(q): float(cut[k, i]) for k, q in enumerate(QUANTILES)},
        )
        for i, name in enumerate(FEATURE_NAMES)
    )
    return InputRanges(ranges=ranges, rows=len(values))


def from_tags(tags: dict[str, str], version: str) -> InputRanges | None:
    """A version's ranges, read back from its tags; None for a version trained before they were
    recorded; a clear error when the tag is there but broken."""
    raw = tags.get(Tag.INPUT_RANGES)
    if not raw:
        return None
    try:
        plain = json.loads(raw)
        ranges = tuple(
            FeatureRange(
                feature=str(r["feature"]),
                low=float(r["low"]),
                high=float(r["high"]),
                quantiles={str(k): float(v) for k, v in r["quantiles"].items()},
            )
            for r in plain["ranges"]
        )
        found = InputRanges(ranges=ranges, rows=int(plain["rows"]))
    except (ValueError, TypeError, KeyError, AttributeError) as error:
        raise InputRangeError(f"v{version}: tag {Tag.INPUT_RANGES}: {error!r}") from error
    names = tuple(r.feature for r in ranges)
    if names != FEATURE_NAMES or any(not r.low <= r.high for r in ranges):
        raise InputRangeError(
            f"v{version}: tag {Tag.INPUT_RANGES}: expected low <= high for {list(FEATURE_NAMES)}"
        )
    return found
