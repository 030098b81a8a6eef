"""End-to-end benchmark of fleetcast at scale: generate, ingest, feature build, online store.

Run with `.venv/bin/python -m bench` (see `bench/__main__.py` and `docs/benchmarks.md`). This
package imports nothing at import time, so its child processes load only what they measure.
"""
