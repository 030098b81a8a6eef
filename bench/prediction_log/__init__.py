"""The prediction log's cost on `/predict` (`python -m bench.prediction_log`): see
docs/benchmarks.md, "Prediction log overhead"."""
