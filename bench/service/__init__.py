"""The serving benchmark (`python -m bench.service`): see docs/benchmarks.md, "Serving"."""
