"""Promotion decisions built by the real gate on a constructed holdout, for the tests of how a
decision is recorded and shown."""

from __future__ import annotations

import numpy as np
import polars as pl

from features.contract.formulas import features_of
from features.contract.intervals import calibrate
from features.contract.schema import VehicleRecord
from features.settings import Settings
from flows.evaluation import score
from flows.promote import slices
from flows.promote.decision import Promotion
from flows.promote.gate import Contender, Rule, decide
from support.factories import vehicle

ROWS = 200


def _holdout(rng: np.random.Generator) -> pl.DataFrame:
    records = [
        VehicleRecord(
            **vehicle(
                i + 1,
                technology=int(rng.integers(2)),
                street_parked=int(rng.integers(2)),
                actual_price=float(rng.uniform(40, 80)),
                recommended_price=60.0,
            )
        )
        for i in range(ROWS)
    ]
    return features_of(records)


def decided(champion_factor: float | None = 1.25, seed: int = 11) -> Promotion:
    """A candidate that predicts each vehicle's mean demand, judged against a champion that
    predicts `champion_factor` times it (None: no champion), both calibrated."""
    rng = np.random.default_rng(seed)
    mean = np.exp(rng.normal(np.log(5), 0.7, ROWS))
    labels = rng.negative_binomial(3, 3 / (3 + mean), ROWS).astype(np.float64)
    candidate = Contender.scored("2", labels, mean, calibrate(labels, mean, 0.8))
    champion = None
    if champion_factor is not None:
        old = mean * champion_factor
        champion = Contender.scored("1", labels, old, calibrate(labels, old, 0.8))
    baseline = score(labels, np.full(ROWS, np.median(labels)))
    rule = Rule.of(Settings())
    verdict = decide(candidate, champion, labels, baseline[rule.metric], rule)
    return Promotion(
        promoted=verdict.promote,
        reason=verdict.reason,
        registered_model="fleetcast-test",
        candidate_version="2",
        champion_version=champion.version if champion else None,
        candidate_run_id="run-2",
        snapshot_id="snapshot-1",
        rule=rule,
        holdout_rows=ROWS,
        candidate_scores=candidate.scores,
        champion_scores=champion.scores if champion else None,
        baseline_scores=baseline,
        improvement=verdict.improvement,
        candidate_interval=candidate.interval,
        champion_interval=champion.interval if champion else None,
        slices=slices.slice_table(_holdout(rng), labels, candidate, champion),
        decided_at="2026-12-02T03:00:00+00:00",
        flow_run_id="flow-run-1",
    )
