"""The evaluation protocol: a stable frozen holdout, shared shuffled folds, the metrics."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from features.contract.formulas import TARGET
from features.contract.schema import ENTITY
from flows.evaluation import fold_indices, holdout_bucket, sampled, score, split_labeled


def _table(n: int) -> pl.DataFrame:
    return pl.DataFrame({ENTITY: np.arange(1, n + 1), TARGET: np.arange(n) % 7})


def test_holdout_buckets_are_pinned() -> None:
    # The holdout must never move: these values are part of the contract, and equal the
    # reference formula in plain integer arithmetic.
    ids = [1, 2, 3, 1000, 123_456_789, 2**40 + 5]
    buckets = pl.select(holdout_bucket(pl.lit(pl.Series(ids)))).to_series().to_list()
    assert buckets == [61, 23, 85, 3, 72, 9]
    assert buckets == [(i % 2**32 * 2_654_435_769 % 2**32) * 100 // 2**32 for i in ids]


def test_holdout_share_matches_the_percent_and_sequential_ids_spread() -> None:
    split = split_labeled(_table(10_000), 20)
    assert split.holdout.height == pytest.approx(2_000, abs=30)
    # Every block of consecutive ids contributes, not one contiguous range.
    blocks = split.holdout[ENTITY] // 1000
    assert blocks.n_unique() == 10


def test_holdout_is_the_same_whatever_else_is_in_the_snapshot() -> None:
    small = set(split_labeled(_table(500), 20).holdout[ENTITY])
    large = set(split_labeled(_table(5_000), 20).holdout[ENTITY])
    assert small == {i for i in large if i <= 500}


def test_unlabeled_rows_are_neither_trained_nor_held_out() -> None:
    table = _table(100).with_columns(
        pl.when(pl.col(ENTITY) > 90).then(None).otherwise(pl.col(TARGET)).alias(TARGET)
    )
    split = split_labeled(table, 20)
    assert split.train.height + split.holdout.height == 90
    assert not set(split.train[ENTITY]) & set(split.holdout[ENTITY])


def test_above_the_cap_training_gets_a_seeded_sample_and_the_holdout_stays_whole() -> None:
    split = split_labeled(_table(5_000), 20)
    cut = sampled(split, 1_000, seed=42)
    assert cut.train.height == 1_000 and cut.train_available == split.train.height
    assert cut.is_sampled and not split.is_sampled
    assert set(cut.train[ENTITY]) <= set(split.train[ENTITY])
    assert cut.train[ENTITY].is_sorted()  # id order, as the folds expect
    assert cut.holdout.equals(split.holdout)
    assert cut.train.equals(sampled(split, 1_000, seed=42).train)  # reproducible
    assert not cut.train.equals(sampled(split, 1_000, seed=7).train)
    # Spread over the ids, not the first thousand.
    assert cut.train[ENTITY].max() > 0.9 * split.train[ENTITY].max()
    assert sampled(split, split.train.height, seed=42) is split  # at the cap: untouched


def test_folds_are_shuffled_repeated_and_reproducible() -> None:
    folds = fold_indices(100, folds=5, repeats=2, seed=42)
    assert len(folds) == 10
    first_repeat = np.sort(np.concatenate([test for _, test in folds[:5]]))
    assert (first_repeat == np.arange(100)).all()  # each row tested once per repeat
    assert not (folds[0][1] == np.arange(20)).all()  # shuffled, not blocks
    assert not np.array_equal(folds[0][1], folds[5][1])  # repeats differ
    again = fold_indices(100, folds=5, repeats=2, seed=42)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(folds, again, strict=True))


def test_scores() -> None:
    values = score(np.array([0.0, 2.0, 4.0]), np.array([1.0, 2.0, 2.0]))
    assert values["mae"] == pytest.approx(1.0)
    assert values["rmse"] == pytest.approx(np.sqrt(5 / 3))
    # A zero prediction is floored, so the deviance stays finite.
    assert np.isfinite(score(np.array([1.0]), np.array([0.0]))["poisson_deviance"])
