"""The diagnostic figures logged with every trained model (PNG, drawn without a display)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _figure(width: float = 7, height: float = 4.5) -> Figure:
    # The object API with the Agg canvas: no pyplot global state, no display needed.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def importance_figure(names: list[str], mean: np.ndarray, std: np.ndarray, title: str) -> Figure:
    """Horizontal bars of permutation importance (MAE increase when a feature is shuffled)."""
    figure = _figure()
    axes = figure.add_subplot()
    order = np.argsort(mean)
    axes.barh([names[i] for i in order], mean[order], xerr=std[order], color="#3b75af")
    axes.set_xlabel("increase in MAE when the feature is shuffled")
    axes.set_title(title)
    return figure


def residual_figure(actual: np.ndarray, predicted: np.ndarray, title: str) -> Figure:
    """Out-of-fold residuals against predictions, with the zero line."""
    figure = _figure()
    axes = figure.add_subplot()
    axes.scatter(predicted, actual - predicted, s=8, alpha=0.5, color="#3b75af")
    axes.axhline(0, color="black", linewidth=1)
    axes.set_xlabel("predicted reservations (out of fold)")
    axes.set_ylabel("actual - predicted")
    axes.set_title(title)
    return figure
