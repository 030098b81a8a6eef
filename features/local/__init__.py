"""Real servers on this machine, used when no URL is configured: found if running, else started.

- `redis_server.py`   the configured REDIS_URL, else an embedded redis-server under FLEETCAST_HOME
- `prefect_server.py` PREFECT_API_URL, else a local Prefect server (SQLite, loopback)
- `processes.py`      whether a process lives, what runs below it, a free port
"""
