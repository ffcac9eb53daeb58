"""Pictures of training: curves, Playground-style decision boundaries, conv filters and feature maps.

matplotlib is an optional extra (``pip install 'dlcore[plot]'``), imported only when a function
here is called. Figures are drawn with the Agg canvas directly (no pyplot, no GUI, no global
backend switch), so everything works headless; each function writes a PNG of exactly
``figsize * dpi`` pixels and returns its path.
"""

from __future__ import annotations

import io
import math
import os
from typing import Any, Mapping, Sequence

import numpy as np

from .autograd import no_grad
from .backend import to_numpy
from .creation import as_array

__all__ = ["plot_history", "plot_decision_boundary", "plot_loss_curves", "show_filters", "show_feature_maps"]

# The TensorFlow Playground's colours: orange for class 0 (its -1), blue for class 1.
ORANGE, BLUE = "#f59322", "#0877bd"


def _figure(figsize: tuple[float, float], dpi: int):
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("dlcore.plot needs matplotlib: pip install 'dlcore[plot]' (or pip install matplotlib)") from None
    fig = Figure(figsize=figsize, dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Any, path: "str | os.PathLike") -> str:
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fig.savefig(path, format="png", dpi=fig.dpi)
    return path


# --------------------------------------------------------------------------- curves
def plot_history(history: Mapping[str, Sequence[float]], path: "str | os.PathLike | None" = None,
                 figsize: tuple[float, float] = (10, 4), dpi: int = 100, title: str | None = None) -> Any:
    """Loss (and val_loss) per epoch on the left; accuracy (and val_accuracy) on the right if present.

    With ``path`` the PNG is written there and the path returned; without, the matplotlib Figure is
    returned (a notebook shows it inline).
    """
    metrics = [k for k in history if not k.startswith("val_") and k not in ("loss", "lr", "time")]
    panels = [["loss"]] + [[m] for m in metrics]
    fig = _figure(figsize, dpi)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (key,) in zip(axes, panels):
        for name, style in ((key, "-"), (f"val_{key}", "--")):
            values = history.get(name)
            if values:
                ax.plot(range(1, len(values) + 1), values, style, marker="o", markersize=3,
                        label="validation" if name.startswith("val_") else "train")
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _displayable(fig) if path is None else _save(fig, path)


def _displayable(fig: Any) -> Any:
    """Give a pyplot-free Figure a ``_repr_png_``, so Jupyter shows it inline when it is returned."""

    def png() -> bytes:
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=fig.dpi)
        return buffer.getvalue()

    fig._repr_png_ = png
    return fig


def plot_loss_curves(curves: Mapping[str, Sequence[float]], path: "str | os.PathLike",
                     xlabel: str = "epoch", ylabel: str = "loss", log_scale: bool = True,
                     figsize: tuple[float, float] = (7, 4.5), dpi: int = 100, title: str | None = None) -> str:
    """Several loss curves in one plot, e.g. ``{"batch": [...], "mini-batch": [...], "stochastic": [...]}``."""
    fig = _figure(figsize, dpi)
    ax = fig.subplots()
    for name, values in curves.items():
        values = np.asarray(values, dtype=np.float64)
        ax.plot(np.arange(1, len(values) + 1), values, label=name, linewidth=1.5)
    if log_scale:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return _save(fig, path)


# --------------------------------------------------------------------------- decision boundary
def _positive_probability(out: np.ndarray) -> np.ndarray:
    """P(class 1) from outputs: one column (probabilities, else logits) or two-class scores."""
    out = np.asarray(out, dtype=np.float64)
    if out.ndim == 2 and out.shape[1] == 2:
        z = out - out.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e[:, 1] / e.sum(axis=1)
    out = out.reshape(len(out), -1)
    if out.shape[1] != 1:
        raise ValueError(f"plot_decision_boundary expected 1 or 2 outputs per point, got {out.shape[1]}")
    out = out[:, 0]
    if out.min() >= 0.0 and out.max() <= 1.0:
        return out
    return 0.5 * (1.0 + np.tanh(0.5 * out))  # a numerically safe sigmoid


def plot_decision_boundary(model: Any, X: Any, y: Any, path: "str | os.PathLike", resolution: int = 200,
                           padding: float = 0.5, figsize: tuple[float, float] = (5, 5), dpi: int = 100,
                           title: str | None = None, transform: Any = None) -> str:
    """The Playground picture: the model's P(class 1) over a grid as a filled contour, plus the points.

    ``X`` is (N, 2) in the plane drawn; ``transform`` (e.g. a fitted scaler's ``transform``)
    maps grid points to the model's inputs if the model was trained on transformed data.
    """
    X = to_numpy(as_array(X)).astype(np.float64)
    y = to_numpy(as_array(y)).reshape(-1)
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(f"plot_decision_boundary expected X of shape (N, 2), got {X.shape}")
    lo, hi = X.min(axis=0) - padding, X.max(axis=0) + padding
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], resolution), np.linspace(lo[1], hi[1], resolution))
    grid = np.stack([gx.ravel(), gy.ravel()], axis=1)
    inputs = grid if transform is None else to_numpy(as_array(transform(grid)))
    prob = _positive_probability(_eval_outputs(model, inputs.astype(np.float32)))

    from matplotlib.colors import LinearSegmentedColormap

    cmap = LinearSegmentedColormap.from_list("playground", [ORANGE, "#f7f7f7", BLUE])
    fig = _figure(figsize, dpi)
    ax = fig.subplots()
    ax.contourf(gx, gy, prob.reshape(gx.shape), levels=np.linspace(0, 1, 21), cmap=cmap, alpha=0.75)
    ax.contour(gx, gy, prob.reshape(gx.shape), levels=[0.5], colors="k", linewidths=1)
    positive = y > 0 if y.min() < 0 else y > 0.5
    for mask, colour, label in ((~positive, ORANGE, "class 0"), (positive, BLUE, "class 1")):
        ax.scatter(X[mask, 0], X[mask, 1], c=colour, s=14, edgecolors="white", linewidths=0.6, label=label)
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.set_aspect("equal", adjustable="box")
    ax.legend(loc="upper right", fontsize="small")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return _save(fig, path)


# --------------------------------------------------------------------------- CNN pictures
def _eval_outputs(model: Any, X: np.ndarray, batch_size: int = 8192) -> np.ndarray:
    """The model's outputs for ``X`` (eval mode, no_grad, in batches) as one NumPy array.

    (plot sits beside train, which imports the callbacks that import plot: no ``predict`` here.)
    """
    from .tensor import tensor

    was_training = model.training
    model.eval()
    try:
        with no_grad():
            return np.concatenate([to_numpy(model(tensor(X[i:i + batch_size], device=model.device)).array)
                                   for i in range(0, len(X), batch_size)])
    finally:
        model.train(was_training)


def _grid_shape(count: int, max_cols: int = 8) -> tuple[int, int]:
    cols = min(count, max_cols)
    return math.ceil(count / cols), cols


def _imshow(ax: Any, image: np.ndarray, cmap: str = "gray", symmetric: bool = False) -> None:
    if symmetric:
        bound = float(np.abs(image).max()) or 1.0
        ax.imshow(image, cmap="bwr", vmin=-bound, vmax=bound, interpolation="nearest")
    else:
        ax.imshow(image, cmap=cmap, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def show_filters(conv_layer: Any, path: "str | os.PathLike", max_filters: int = 64, dpi: int = 100,
                 figsize: tuple[float, float] | None = None, title: str | None = None) -> str:
    """A grid of a conv layer's filters (weight (out, in, kh, kw)), blue negative, red positive.

    One-channel filters are drawn as they are, three-channel ones as RGB images, others as the
    mean over their input channels. ``conv_layer`` may also be the weight itself.
    """
    weight = getattr(conv_layer, "weight", conv_layer)
    w = to_numpy(as_array(weight)).astype(np.float64)
    if w.ndim != 4:
        raise ValueError(f"show_filters expected a conv weight (out, in, kh, kw), got shape {w.shape}")
    w = w[:max_filters]
    rows, cols = _grid_shape(len(w))
    fig = _figure(figsize or (cols * 1.0 + 0.2, rows * 1.0 + (0.5 if title else 0.2)), dpi)
    axes = fig.subplots(rows, cols, squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i >= len(w):
            ax.axis("off")
            continue
        f = w[i]
        if f.shape[0] == 3:
            rgb = np.transpose(f, (1, 2, 0))
            rgb = (rgb - rgb.min()) / (np.ptp(rgb) or 1.0)
            _imshow(ax, rgb)
        else:
            _imshow(ax, f.mean(axis=0), symmetric=True)
        ax.set_title(str(i), fontsize=7)
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def _is_feature_layer(module: Any) -> bool:
    name = type(module).__name__
    return "Conv" in name or "Pool" in name


def show_feature_maps(model: Any, image: Any, path: "str | os.PathLike", max_maps: int = 8, dpi: int = 100,
                      figsize: tuple[float, float] | None = None, title: str | None = None) -> str:
    """The input image, then the activations after each conv and pool layer of a Sequential.

    ``image`` is one image, (H, W), (C, H, W) or (1, C, H, W). One row per layer, up to
    ``max_maps`` channels each: what lecture 004 calls multilevel feature extraction.
    """
    x = to_numpy(as_array(image)).astype(np.float32)
    while x.ndim < 4:
        x = x[None]
    if x.shape[0] != 1:
        raise ValueError(f"show_feature_maps expects one image, got a batch of {x.shape[0]}")
    layers = list(model) if hasattr(model, "__iter__") else list(model.children())
    from .tensor import Tensor, tensor

    rows = [("input", x[0])]
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            t: Tensor = tensor(x, device=model.device)
            for i, layer in enumerate(layers):
                t = layer(t)
                if _is_feature_layer(layer) and t.ndim == 4:
                    rows.append((f"{i}: {type(layer).__name__}", to_numpy(t.array)[0]))
    finally:
        model.train(was_training)
    if len(rows) == 1:
        raise ValueError("show_feature_maps found no conv or pool layer in the model")
    cols = min(max_maps, max(r[1].shape[0] for r in rows))
    fig = _figure(figsize or (cols * 1.1 + 1.2, len(rows) * 1.1 + (0.4 if title else 0.1)), dpi)
    axes = fig.subplots(len(rows), cols, squeeze=False)
    for r, (name, maps) in enumerate(rows):
        for c in range(cols):
            ax = axes[r, c]
            if c < maps.shape[0]:
                _imshow(ax, maps[c], cmap="viridis" if r else "gray")
            else:
                ax.axis("off")
        axes[r, 0].set_ylabel(name, fontsize=7, rotation=0, ha="right", va="center")
    if title:
        fig.suptitle(title)
    return _save(fig, path)
