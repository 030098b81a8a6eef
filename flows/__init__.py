"""The Prefect flows, one folder per stage, in pipeline order, and the command line.

- `ingest/`     CSVs -> validated raw store (deployment `fleetcast-ingest`)
- `snapshot/`   raw store -> point-in-time offline snapshot + online store (`fleetcast-features`)
- `train/`      model families compared under one protocol; the best registered (`fleetcast-train`)
- `promote/`    candidate vs champion on the frozen holdout, the alias moved; rollback
                (`fleetcast-promote`)
- `monitor/`    prediction-log drain (`fleetcast-predictions`) and drift (`fleetcast-drift`)
- `pipeline.py` all four stages as one run (`fleetcast-pipeline`, and `make run`)
- `evaluation.py` the holdout, folds and metrics train and promote share
- `tasks.py`, `runners.py` task presets and the training fan-out's task runner
- `cli/`        the `fleetcast` command, its errors and printing, deployments, foreground children
- `synthetic/`  the seeded data generator (a tool, not a flow)
"""
