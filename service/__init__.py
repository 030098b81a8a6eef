"""The BentoML service that serves the champion.

- `service.py`           the routes; each worker loads the champion and follows promotions
- `schemas.py`           request and response bodies, derived from the data contract
- `champion.py`          loading one exact version, its parity check and smoke test
- `reloader.py`          swaps to a new champion on a Prefect event or an alias poll
- `lookup.py`, `lookup_client.py`  the Redis feature lookup and its coalescing client
- `prediction_buffer.py` each worker's buffer of the prediction log, flushed to Redis
- `http.py`, `metrics.py`, `landing.py`  error replies and middleware, Prometheus, API listings
"""
