"""The data contract: pure definitions, imported by every other part; imports none of them.

- `schema.py`          record kinds as pydantic models; columns, dtypes, row rules derive from them
- `formulas.py`        feature and target definitions, evaluated on Polars or NumPy
- `point_in_time.py`   the feature table as of an instant (offline snapshot = online store)
- `hashing.py`         the stable id hash: frozen holdout, build partitions
- `registry.py`        model-registry aliases, tag keys, artifact paths, the ONNX parity bound
- `events.py`          Prefect event names, resources and the promotion payload
- `prediction_log.py`  what a served prediction records and how a stream entry encodes it
- `clock.py`           the wall clock in the data's and the audit's spelling
- `errors.py`          FleetcastError, the base of every error a user can fix
"""
