"""The shadow against the champion on the same served requests, measured by the drift flow.

Workers log the `challenger` version's (the shadow's) answer beside the champion's (`SHADOW_*`
columns). Rows both answered that have an outcome are paired; the MAE difference gets a paired
bootstrap interval (the same requests resampled for both, so what they share cancels out). It is
written on the shadow's version (`Tag.LIVE_*`) for promotion and the service, and never judged.
Its forms in the drift run's report, artifact and printed lines: `flows.monitor.shadow_report`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from features.contract import clock
from features.contract.formulas import TARGET
from features.contract.prediction_log import (
    LOG_SCHEMA,
    LOWER,
    MODEL_VERSION,
    PREDICTION,
    SHADOW_LOWER,
    SHADOW_PREDICTION,
    SHADOW_UPPER,
    SHADOW_VERSION,
    UPPER,
)
from features.contract.registry import Tag
from features.contract.schema import ENTITY
from features.settings import Settings
from features.stores import model_registry
from flows.monitor import drift_data

# Most resampled cells (draws x pairs) held at once: ~32 MB of indices per chunk.
_CHUNK_CELLS = 4_000_000
_PAIR_COLUMNS = (ENTITY, PREDICTION, LOWER, UPPER, SHADOW_PREDICTION, SHADOW_LOWER, SHADOW_UPPER)
_NO_PAIRS = pl.DataFrame(schema={**{c: LOG_SCHEMA[c] for c in _PAIR_COLUMNS}, TARGET: pl.Float64})
LIVE_TAGS = tuple(value for key, value in vars(Tag).items() if key.startswith("LIVE_"))
# Each measured number: its field, its tag on the shadow's version, its drift-run metric.
_NUMBERS = (
    ("shadow_mae", Tag.LIVE_MAE, "shadow_mae"),
    ("champion_mae", Tag.LIVE_CHAMPION_MAE, "shadow_champion_mae"),
    ("diff", Tag.LIVE_DIFF, "shadow_mae_diff"),
    ("diff_low", Tag.LIVE_DIFF_LOW, "shadow_mae_diff_low"),
    ("diff_high", Tag.LIVE_DIFF_HIGH, "shadow_mae_diff_high"),
    ("shadow_coverage", Tag.LIVE_COVERAGE, "shadow_coverage"),
    ("champion_coverage", Tag.LIVE_CHAMPION_COVERAGE, "shadow_champion_coverage"),
)


@dataclass(frozen=True)
class LiveComparison:
    """The shadow's live error beside the champion's, on the requests both answered that have
    an outcome. Without pairs, `pairs` is 0 and every number None (unknown, not zero)."""

    champion_version: str
    shadow_version: str
    pairs: int  # logged requests with an outcome, answered by both versions
    shadow_rows: int  # logged predictions in the window this shadow answered (outcome or not)
    champion_mae: float | None
    shadow_mae: float | None
    diff: float | None  # shadow MAE minus champion MAE: negative, the shadow is better
    diff_low: float | None  # its two-sided paired-bootstrap interval at `confidence`
    diff_high: float | None  # (None with fewer than 2 pairs)
    champion_coverage: float | None  # share of outcomes inside each one's logged range
    shadow_coverage: float | None
    confidence: float

    def words(self) -> str:
        """The comparison in one sentence, with what its interval says."""
        who = f"shadow v{self.shadow_version} vs champion v{self.champion_version}"
        if self.shadow_mae is None or self.champion_mae is None or self.diff is None:
            return f"{who}: no paired outcomes yet ({self.shadow_rows} predictions answered)."
        said = (
            f"{who} on {self.pairs} paired requests: live MAE {self.shadow_mae:.3f} vs "
            f"{self.champion_mae:.3f}, difference {self.diff:+.3f}"
        )
        verdict = "no clear difference"
        if self.diff_high is not None and self.diff_high < 0:
            verdict = "the shadow is better beyond the noise"
        elif self.diff_low is not None and self.diff_low > 0:
            verdict = "the shadow is worse beyond the noise"
        return f"{said} ({self.interval_words()}): {verdict}."

    def interval_words(self) -> str:
        """E.g. `95% interval [-0.310, -0.052]`."""
        if self.diff_low is None or self.diff_high is None:
            return "no interval: fewer than 2 pairs"
        level = f"{round(self.confidence * 100, 4):g}%"
        return f"{level} interval [{self.diff_low:+.3f}, {self.diff_high:+.3f}]"


def shadow_pairs(
    inputs: drift_data.OutcomeInputs, champion_version: str, shadow_version: str
) -> pl.DataFrame:
    """The outcome pairs of the requests answered by both `champion_version` and
    `shadow_version` (another champion's rows, another shadow's or none's are left out), by the
    champion outcomes' rule (`drift_data.with_labels`), with both answers, ranges and labels."""
    both = inputs.served.filter(
        (pl.col(MODEL_VERSION) == champion_version)
        & (pl.col(SHADOW_VERSION) == shadow_version)
        & pl.col(SHADOW_PREDICTION).is_not_null()
    )
    return drift_data.with_labels(both, inputs.labels, inputs.label_as_of).select(
        *_PAIR_COLUMNS, TARGET
    )


def answered_by(predictions: pl.DataFrame, shadow_version: str) -> int:
    """How many logged predictions `shadow_version` answered, outcome or not: shows that the
    shadow is being scored before any outcome is known."""
    answered = (pl.col(SHADOW_VERSION) == shadow_version) & pl.col(SHADOW_PREDICTION).is_not_null()
    return predictions.filter(answered).height


def _as_champion(pairs: pl.DataFrame) -> pl.DataFrame:
    """The shadow's answers and ranges under the champion's column names: one formula of
    error and coverage for both."""
    shadow = {PREDICTION: SHADOW_PREDICTION, LOWER: SHADOW_LOWER, UPPER: SHADOW_UPPER}
    return pairs.select(TARGET, *(pl.col(theirs).alias(ours) for ours, theirs in shadow.items()))


def paired_interval(
    differences: np.ndarray, confidence: float, draws: int, seed: int
) -> tuple[float | None, float | None]:
    """The two-sided bootstrap interval at `confidence` of the mean per-request difference of
    losses: each draw resamples the same requests for both models (one index row per draw, in
    chunks so memory stays bounded). None, None with fewer than 2 requests (no spread)."""
    rows = len(differences)
    if rows < 2:
        return None, None
    rng, means = np.random.default_rng(seed), np.empty(draws)
    chunk = max(1, _CHUNK_CELLS // rows)
    for start in range(0, draws, chunk):
        picked = rng.integers(0, rows, size=(min(chunk, draws - start), rows))
        means[start : start + len(picked)] = differences[picked].mean(axis=1)
    tail = (1 - confidence) / 2
    # Quantiles that are draws themselves, as the promotion gate takes them.
    low, high = np.quantile(means, [tail, 1 - tail], method="inverted_cdf")
    return float(low), float(high)


def _mae(pairs: pl.DataFrame) -> tuple[np.ndarray, float | None]:
    """Each pair's absolute error, and their mean (None without pairs)."""
    errors = np.abs(pairs[TARGET].to_numpy() - pairs[PREDICTION].to_numpy())
    return errors, float(errors.mean()) if len(errors) else None


def compare_live(
    pairs: pl.DataFrame,
    champion_version: str,
    shadow_version: str,
    *,
    shadow_rows: int,
    confidence: float,
    draws: int,
    seed: int,
) -> LiveComparison:
    """The comparison on outcome `pairs` (as `shadow_pairs` builds them): both MAEs, their
    difference with its paired-bootstrap interval, both coverages. Pure, so it is tested on
    hand-made pairs with known answers."""
    theirs = _as_champion(pairs)
    (champion, champion_mae), (shadow, shadow_mae) = _mae(pairs), _mae(theirs)
    diff = None if champion_mae is None or shadow_mae is None else shadow_mae - champion_mae
    low, high = paired_interval(shadow - champion, confidence, draws, seed)
    return LiveComparison(
        champion_version=champion_version,
        shadow_version=shadow_version,
        pairs=pairs.height,
        shadow_rows=shadow_rows,
        champion_mae=champion_mae,
        shadow_mae=shadow_mae,
        diff=diff,
        diff_low=low,
        diff_high=high,
        champion_coverage=drift_data.live_coverage(pairs)[0],
        shadow_coverage=drift_data.live_coverage(theirs)[0],
        confidence=confidence,
    )


def measure(
    settings: Settings, current: drift_data.Current, champion_version: str, shadow_version: str
) -> LiveComparison:
    """The comparison on the current window of logged predictions, paired with the outcome
    snapshot's labels as the drift flow pairs the champion's."""
    inputs = drift_data.outcome_inputs(settings, current)  # None: no outcome snapshot, no pairs
    pairs = _NO_PAIRS if inputs is None else shadow_pairs(inputs, champion_version, shadow_version)
    return compare_live(
        pairs,
        champion_version,
        shadow_version,
        shadow_rows=answered_by(current.rows, shadow_version),
        confidence=settings.promotion_confidence,
        draws=settings.bootstrap_draws,
        seed=settings.seed,
    )


def metrics(c: LiveComparison | None) -> dict[str, float]:
    """The comparison as metrics of the MLflow drift run (the numbers it measured)."""
    if c is None:
        return {}
    known = {metric: getattr(c, field) for field, _, metric in _NUMBERS}
    counts = {"shadow_pairs": float(c.pairs), "shadow_rows": float(c.shadow_rows)}
    return counts | {key: float(value) for key, value in known.items() if value is not None}


def live_tags(c: LiveComparison, measured_at: str) -> dict[str, str]:
    """The comparison as the shadow version's tags. Numbers as `str(float)`, exact (promotion
    compares the interval with zero); an unknown number has no tag, but the champion, the pair
    count and the time always do, so a reader knows it was measured and against whom."""
    known = {tag: getattr(c, field) for field, tag, _ in _NUMBERS}
    return {
        Tag.LIVE_CHAMPION_VERSION: c.champion_version,
        Tag.LIVE_PAIRS: str(c.pairs),
        **{key: str(float(value)) for key, value in known.items() if value is not None},
        Tag.LIVE_MEASURED_AT: measured_at,
    }


def write_tags(settings: Settings, c: LiveComparison) -> dict[str, str]:
    """Write the comparison on the shadow's version, and remove the `LIVE_*` tags it does not
    know: the tags are one measurement, never an older interval beside a newer count. Returns
    the tags written."""
    store, name = model_registry.client(settings), settings.registered_model
    tags = live_tags(c, clock.stamp())
    before = store.get_model_version(name, c.shadow_version).tags
    for key in LIVE_TAGS:
        if key in tags:
            store.set_model_version_tag(name, c.shadow_version, key, tags[key])
        elif key in before:
            store.delete_model_version_tag(name, c.shadow_version, key)
    return tags
