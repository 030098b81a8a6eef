"""One module per store, holding its layout, its reads and its writes.

- `raw.py`             validated raw records: Parquet parts listed by one atomic manifest
- `offline.py`         immutable feature snapshots with ids, content hashes and a latest pointer
- `online.py`          the Redis online store: key layout, encoding, atomic read, fast writer
- `predictions.py`     the prediction log read from Redis and drained to Parquet files
- `prediction_stream.py` the log stream's append script (capped in rows) and its row counts
- `model_registry.py`  the one door to MLflow (client, experiment, versions at aliases)
- `atomic.py`          atomic file writes and an exclusive file lock
"""
