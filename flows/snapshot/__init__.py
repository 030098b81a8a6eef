"""Snapshot (the feature build): raw store -> point-in-time offline snapshot -> online store.

- `flow.py`  the flow, optionally split into hash partitions on a Dask cluster
"""
