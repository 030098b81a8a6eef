"""The fast-inference export of a trained model: ONNX, checked against scikit-learn."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import onnx
import onnxruntime as ort
import pandas as pd
from onnx import helper
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType
from sklearn.base import RegressorMixin
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.pipeline import Pipeline

from features.contract.registry import ONNX_INPUT, PARITY_TOLERANCE


class ExportError(RuntimeError):
    """The model has no faithful ONNX export."""


@dataclass(frozen=True)
class OnnxExport:
    """Serialized ONNX model and its largest deviation from scikit-learn on the checked rows."""

    model: bytes
    max_abs_diff: float


@dataclass(frozen=True)
class NoExport:
    """Why a model has no ONNX export (it is then served by scikit-learn)."""

    reason: str


def _append_exp(model: onnx.ModelProto) -> onnx.ModelProto:
    """Apply exp to the output: skl2onnx leaves a Poisson HGB's prediction on the log scale."""
    graph = model.graph
    final = graph.output[0].name
    raw = f"{final}_log"
    for node in graph.node:
        node.output[:] = [raw if name == final else name for name in node.output]
    graph.node.append(helper.make_node("Exp", [raw], [final], name="poisson_link"))
    return model


def convert(model: RegressorMixin, n_features: int) -> bytes:
    """ONNX bytes of a fitted model taking a float32 [n, n_features] input named `X`."""
    try:
        with warnings.catch_warnings():
            # skl2onnx 1.20 writes booleans into integer attributes of tree nodes; protobuf 6
            # (pinned for that reason) accepts them with this warning, protobuf 7 refuses.
            warnings.filterwarnings("ignore", "Field onnx.AttributeProto.ints", DeprecationWarning)
            proto = to_onnx(
                model, initial_types=[(ONNX_INPUT, FloatTensorType([None, n_features]))]
            )
    except Exception as error:  # skl2onnx raises many types; the reason is what matters
        raise ExportError(f"skl2onnx cannot convert {type(model).__name__}: {error}") from error
    final = model[-1] if isinstance(model, Pipeline) else model  # a family may select columns
    if isinstance(final, HistGradientBoostingRegressor) and final.loss == "poisson":
        proto = _append_exp(proto)
    return proto.SerializeToString()


def session(model: bytes) -> ort.InferenceSession:
    """An onnxruntime session with one intra-op thread (one row costs microseconds)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def predict(inference: ort.InferenceSession, features: np.ndarray) -> np.ndarray:
    """Predictions of an ONNX session for a float matrix, as float64."""
    (output,) = inference.run(None, {ONNX_INPUT: features.astype(np.float32)})
    return np.asarray(output, dtype=np.float64).ravel()


def export_checked(model: RegressorMixin, features: pd.DataFrame) -> OnnxExport:
    """Convert `model` and verify it on every row of `features` (≤ PARITY_TOLERANCE apart)."""
    exported = convert(model, features.shape[1])
    onnx_predictions = predict(session(exported), features.to_numpy())
    diff = float(np.max(np.abs(onnx_predictions - model.predict(features))))
    if not diff <= PARITY_TOLERANCE:
        raise ExportError(
            f"ONNX parity failed: max |onnx - sklearn| = {diff:.3g} > {PARITY_TOLERANCE:g}"
        )
    return OnnxExport(model=exported, max_abs_diff=diff)
