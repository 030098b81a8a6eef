"""Monitor: the prediction-log drain and the drift flow.

- `drain.py`         Redis stream -> Parquet files (`fleetcast-predictions`)
- `drift.py`         the drift flow: reference vs current, outcomes, the verdict, the event
- `drift_data.py`    what is compared: reference rows, the current window, outcomes
- `drift_report.py`  the Evidently reports and the numbers read back from them
- `drift_result.py`  the rule that turns those numbers into a verdict, and its record
- `shadow.py`        the shadow challenger against the champion on the same logged requests
- `shadow_report.py` that comparison as summary lines, a markdown and an HTML section
"""
