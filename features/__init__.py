"""What the data is and where it lives: the part both `flows` and `service` import.

- `settings.py`  the one Settings class: every path, URI and name, from the environment
- `contract/`    pure definitions (no I/O, no processes, no Settings): schema, formulas, the
                 point-in-time table, hashing, registry names, events, prediction-log encoding,
                 the clock, the user-error base
- `stores/`      each store's layout, reads and writes in one module: raw (Parquet + manifest),
                 offline snapshots, online (Redis), predictions (stream + Parquet), the model
                 registry (MLflow); `atomic.py` is the file-write primitive they share
- `local/`       real servers found or started on this machine: Redis, Prefect; processes
"""
