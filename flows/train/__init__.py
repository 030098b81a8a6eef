"""Train: model families under one protocol; the best is refit, exported and registered.

- `flow.py`      the flow: load the snapshot, evaluate each family, refit, export, record
- `families.py`  the competing scikit-learn families, each built from a seed
- `export.py`    the ONNX export, checked against scikit-learn on every row
- `record.py`    what a training run leaves in MLflow: runs, artifacts, the registered version
- `tracking.py`  MLflow run logging (metrics, models, artifacts)
- `plots.py`     the diagnostic figures logged with a model
"""
