"""Ingest: CSV files (shipped data, landing folder) into the validated raw store.

- `flow.py`     the flow: find sources, stage each file, commit the store in one manifest swap
- `sources.py`  which files, which record kind each holds (by header), their content hash
- `staging.py`  one file: classify its rows, write accepted rows as an uncommitted part
- `classify.py` one file's rows checked and classified a bucket of listings at a time
- `rows.py`     the row rules applied (accepted, updated, duplicate, quarantined with reasons)
"""
