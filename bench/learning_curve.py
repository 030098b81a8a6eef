"""How much the training rows cap costs: holdout MAE of each family against sample size.

`python -m bench.learning_curve [--rows 5000 10000 ...]` reads the latest snapshot under the
settings' home (e.g. `FLEETCAST_HOME=bench/out/pipeline/v100000/home` after `bench.pipeline`),
fits each contending family, in its first configuration, on seeded samples of the training
part (`flows.evaluation.sampled`, as training draws them) and scores it on the whole frozen
holdout. Prints a markdown table: MAE per family and size, and each fit's seconds.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from threadpoolctl import threadpool_limits

from features.settings import get_settings
from features.stores.offline import scan_snapshot
from flows.evaluation import feature_frame, sampled, split_labeled, target
from flows.train import families

SIZES = [5_000, 10_000, 20_000, 40_000, 80_000]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.learning_curve", description=__doc__)
    parser.add_argument("--rows", type=int, nargs="+", default=SIZES, help="sample sizes")
    args = parser.parse_args()
    settings = get_settings()
    split = split_labeled(scan_snapshot(settings).collect(), settings.holdout_percent)
    holdout_x, holdout_y = feature_frame(split.holdout), target(split.holdout)
    names = [
        n for n in families.FAMILIES if n not in families.YARDSTICKS or n == families.REFERENCE
    ]
    print(f"{split.train.height:,} training rows, {len(holdout_y):,} holdout rows")
    print("| rows | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    with threadpool_limits(limits=1):
        for rows in [r for r in args.rows if r <= split.train.height]:
            part = sampled(split, rows, settings.seed).train
            x, y = feature_frame(part), target(part)
            cells = []
            for name in names:
                started = time.perf_counter()
                model = families.build(name, settings.seed).fit(x, y)
                mae = float(np.mean(np.abs(model.predict(holdout_x) - holdout_y)))
                cells.append(f"{mae:.4f} ({time.perf_counter() - started:.1f} s)")
            print(f"| {rows:,} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
