"""Promote: judge the candidate against the champion on the frozen holdout; rollback.

- `flow.py`        the promote flow: resolve, score, decide, move the alias, announce
- `contenders.py`  the versions judged: aliases resolved, lineage checked, holdout scores
- `gate.py`        the pure promotion rule: coverage, baseline, evidence against the champion
- `evidence.py`    its statistics: the paired bootstrap, interval coverage on the holdout
- `slices.py`      the holdout by slice (technology, street parking, price band)
- `decision.py`    one decision and its audit (version tags, markdown)
- `lock.py`        the lock every promote and rollback takes
- `rollback.py`    the rollback flow: a former champion back, by hand
"""
