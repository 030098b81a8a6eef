"""The one stable hash of vehicle ids: it picks the frozen holdout and the build partitions."""

from __future__ import annotations

import polars as pl

# Fibonacci hashing: id * 2^32/phi mod 2^32. Stable across runs, machines and library versions
# (unlike Polars' or Python's hash), and it spreads sequential ids evenly.
_GOLDEN = 2_654_435_769
_MOD = 2**32


def id_bucket(vehicle_id: pl.Expr, buckets: int) -> pl.Expr:
    """The id's bucket in [0, buckets): the same for an id everywhere, forever."""
    mixed = ((vehicle_id.cast(pl.UInt64) % _MOD) * _GOLDEN) % _MOD
    return (mixed * buckets // _MOD).cast(pl.Int32)
