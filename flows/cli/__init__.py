"""The `fleetcast` command line (entry point `flows.cli.app:app`).

- `app.py`         the commands
- `errors.py`      user errors as one line and exit code 1
- `lines.py`       what the commands print about models
- `deploy.py`      prefect.yaml deployments and the work pool's worker
- `foreground.py`  long-running children (bentoml serve, a worker) that stop with the command
"""
