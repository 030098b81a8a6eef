"""The model registry contract between the train/promote flows and the service.

The registered model's name is a setting; aliases, artifact paths and tag keys are fixed here.
"""

from __future__ import annotations

CANDIDATE = "candidate"
CHAMPION = "champion"
# The version every service worker scores beside the champion, off the response path (its
# answers go to the prediction log only): set when a candidate is judged and not promoted, or
# by `fleetcast shadow set`; cleared by `fleetcast shadow clear` or when it is promoted.
CHALLENGER = "challenger"
# The two yardsticks every training run scores on the same folds as the families, and whose
# scores travel with each version: the seed's hand-rolled model and the median of the target.
REFERENCE = "reference"
BASELINE = "median"
YARDSTICKS = (REFERENCE, BASELINE)
PROMOTED, REJECTED = "promoted", "rejected"  # the values of Tag.DECISION

# Where, inside a training run's artifacts, the fast-inference export of its model lives.
ONNX_ARTIFACT = "onnx/model.onnx"
ONNX_INPUT = "X"

METRICS = ("mae", "rmse", "poisson_deviance")
# Most an ONNX export may differ from its scikit-learn model, checked at export and at load.
PARITY_TOLERANCE = 1e-4


class Tag:
    """Keys of the tags set on a registered model version."""

    SNAPSHOT_ID = "fleetcast.snapshot_id"
    SNAPSHOT_SHA256 = "fleetcast.snapshot_sha256"
    SNAPSHOT_AS_OF = "fleetcast.snapshot_as_of"
    GIT_COMMIT = "fleetcast.git_commit"
    FAMILY = "fleetcast.family"
    FEATURES = "fleetcast.features"  # the model's inputs (always the contract's)
    FEATURE_SET = "fleetcast.feature_set"  # which of them it uses (formulas.FEATURE_SETS)
    SCHEMA_VERSION = "fleetcast.schema_version"
    HOLDOUT_PERCENT = "fleetcast.holdout_percent"
    TRAINED_AT = "fleetcast.trained_at"
    ONNX = "fleetcast.onnx"  # "ok" or why there is no export
    ONNX_MAX_ABS_DIFF = "fleetcast.onnx_max_abs_diff"
    # The prediction-interval calibration (features.contract.intervals), set at training.
    INTERVAL_LEVEL = "fleetcast.interval_level"
    INTERVAL_LOWER = "fleetcast.interval_lower"
    INTERVAL_UPPER = "fleetcast.interval_upper"
    INTERVAL_ROWS = "fleetcast.interval_rows"
    # Each input feature's range on the training rows (features.contract.input_ranges).
    INPUT_RANGES = "fleetcast.input_ranges"
    # Written by each promotion decision about this version.
    DECISION = "fleetcast.decision"  # "promoted" or "rejected"
    DECISION_REASON = "fleetcast.decision_reason"
    DECIDED_AT = "fleetcast.decided_at"
    PROMOTED_AT = "fleetcast.promoted_at"
    REPLACED_VERSION = "fleetcast.replaced_version"
    DECISION_SNAPSHOT_ID = "fleetcast.decision_snapshot_id"
    DECISION_FLOW_RUN_ID = "fleetcast.decision_flow_run_id"
    DECISION_EVIDENCE = "fleetcast.decision_evidence"  # holdout only, or holdout + live
    COMPARED_TO_CHAMPION = "fleetcast.compared_to_champion"
    PROMOTION_MIN_EFFECT = "fleetcast.promotion_min_effect"
    PROMOTION_CONFIDENCE = "fleetcast.promotion_confidence"
    # The paired-bootstrap interval of the relative improvement over the champion.
    IMPROVEMENT = "fleetcast.improvement"
    IMPROVEMENT_LOW = "fleetcast.improvement_low"
    IMPROVEMENT_HIGH = "fleetcast.improvement_high"
    # The version's interval on the decision's holdout: share of outcomes inside, mean width.
    HOLDOUT_COVERAGE = "fleetcast.holdout_coverage"
    HOLDOUT_WIDTH = "fleetcast.holdout_width"
    # Written by a rollback (`fleetcast rollback`): on the restored and on the replaced version.
    RESTORED_AT = "fleetcast.restored_at"
    RESTORED_REASON = "fleetcast.restored_reason"
    RESTORED_FROM = "fleetcast.restored_from_version"
    ROLLED_BACK_AT = "fleetcast.rolled_back_at"
    # The shadow's live comparison with the champion on the same requests, written on the
    # shadow's version by the drift flow (flows.monitor.shadow); promotion may use it.
    LIVE_CHAMPION_VERSION = "fleetcast.live_champion_version"
    LIVE_PAIRS = "fleetcast.live_pairs"  # requests with an outcome both versions answered
    LIVE_MAE = "fleetcast.live_mae"  # the shadow's MAE on them
    LIVE_CHAMPION_MAE = "fleetcast.live_champion_mae"
    LIVE_DIFF = "fleetcast.live_mae_diff"  # shadow minus champion, mean absolute error
    LIVE_DIFF_LOW = "fleetcast.live_mae_diff_low"  # its paired-bootstrap interval
    LIVE_DIFF_HIGH = "fleetcast.live_mae_diff_high"
    LIVE_COVERAGE = "fleetcast.live_coverage"  # the shadow's interval coverage on them
    LIVE_CHAMPION_COVERAGE = "fleetcast.live_champion_coverage"
    LIVE_MEASURED_AT = "fleetcast.live_measured_at"
    # On each run of the drift experiment: the champion it judged, and the verdict.
    JUDGED_MODEL = "fleetcast.judged_model"
    JUDGED_VERSION = "fleetcast.judged_version"
    JUDGED_RUN_ID = "fleetcast.judged_run_id"
    DRIFT_VERDICT = "fleetcast.drift_verdict"

    @staticmethod
    def cv(metric: str, of: str | None = None) -> str:
        """Mean nested-CV score of the version's family, or `of` a yardstick on the same folds."""
        return f"fleetcast.cv_{metric}" + (f".{of}" if of else "")

    @staticmethod
    def holdout(metric: str) -> str:
        """The version's score on the frozen holdout, measured by the promote flow."""
        return f"fleetcast.holdout_{metric}"

    @staticmethod
    def champion_holdout(metric: str) -> str:
        """The champion's score on the same holdout, when this version was judged."""
        return f"fleetcast.champion_holdout_{metric}"

    @staticmethod
    def baseline_holdout(metric: str) -> str:
        """The median baseline's score on the same holdout, when this version was judged."""
        return f"fleetcast.baseline_holdout_{metric}"


TRAINING_TAGS = frozenset(
    {
        Tag.SNAPSHOT_ID,
        Tag.SNAPSHOT_SHA256,
        Tag.SNAPSHOT_AS_OF,
        Tag.GIT_COMMIT,
        Tag.FAMILY,
        Tag.FEATURES,
        Tag.FEATURE_SET,
        Tag.SCHEMA_VERSION,
        Tag.HOLDOUT_PERCENT,
        Tag.TRAINED_AT,
        Tag.ONNX,
        Tag.ONNX_MAX_ABS_DIFF,
        Tag.INTERVAL_LEVEL,
        Tag.INTERVAL_LOWER,
        Tag.INTERVAL_UPPER,
        Tag.INTERVAL_ROWS,
        Tag.INPUT_RANGES,
    }
)


def training_tags(tags: dict[str, str]) -> dict[str, str]:
    """The tags a train run set on a version (lineage, calibration, CV scores), without any
    decision, rollback or holdout score written since: what a copy of the version carries."""
    cv = Tag.cv("")
    return {k: v for k, v in tags.items() if k in TRAINING_TAGS or k.startswith(cv)}


TagValue = str | int | float | None
# How far a number read back from a tag may sit from the value written (6 significant digits).
TAG_PRECISION = 5e-6


def tag_text(value: TagValue) -> str | None:
    """A tag value as MLflow shows it: numbers to 6 significant digits (a score of 3.3951 reads
    better than 3.395123456789 and gates the same), None as no tag at all (never "None")."""
    if value is None:
        return None
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def as_tags(values: dict[str, TagValue]) -> dict[str, str]:
    """`values` as tags, each through `tag_text`; a None value is left out."""
    texts = {key: tag_text(value) for key, value in values.items()}
    return {key: text for key, text in texts.items() if text is not None}


def tag_number(tags: dict[str, str], key: str) -> float | None:
    """A numeric tag of a version, or None when it was never written (or written empty)."""
    value = tags.get(key)
    return float(value) if value not in (None, "") else None


def model_uri(name: str, version: str) -> str:
    """URI of one exact registered version (resolve an alias once, then load by version)."""
    return f"models:/{name}/{version}"
