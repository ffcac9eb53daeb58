"""Classification metrics on Tensors or NumPy/CuPy arrays.

>>> import numpy as np
>>> accuracy(np.array([[2.0, 1.0], [0.0, 3.0]]), np.array([0, 0]))
0.5
>>> confusion_matrix([0, 1, 1], [0, 1, 0]).tolist()
[[1, 0], [1, 1]]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .backend import to_numpy
from .creation import as_array
from .errors import DTypeError, RangeError, ShapeError
from .validation import finite_number, positive_int

__all__ = ["predicted_labels", "accuracy", "confusion_matrix", "MAX_CLASSES"]


def _numpy(x: Any) -> np.ndarray:
    return to_numpy(as_array(x))


def predicted_labels(output: Any, threshold: float | None = None) -> np.ndarray:
    """Class labels from model outputs, as a NumPy int64 vector.

    - (N, C) with C > 1: scores or logits of C classes -> ``argmax``.
    - (N,) or (N, 1): one binary score -> ``output > threshold`` as 0/1. Without a threshold,
      outputs all in [0, 1] are read as probabilities (threshold 0.5), anything else as logits
      (threshold 0); pass ``threshold`` to decide explicitly.
    """
    out = _numpy(output)
    if out.ndim == 2 and out.shape[1] > 1:
        return out.argmax(axis=1).astype(np.int64)
    if out.ndim > 2 or (out.ndim == 2 and out.shape[1] != 1):
        raise ShapeError(f"predicted_labels expected outputs (N, C) or (N,) or (N, 1), got {out.shape}")
    out = out.reshape(-1)
    if threshold is None:
        threshold = 0.5 if out.size and out.min() >= 0.0 and out.max() <= 1.0 else 0.0
    return (out > threshold).astype(np.int64)


MAX_CLASSES = 4096  # a confusion matrix of more classes (16M cells) is refused instead of allocated


def _whole_labels(t: np.ndarray, who: str, what: str) -> np.ndarray:
    """Integer labels as int64; float labels must be whole numbers (no NaN, no 0.7)."""
    if t.dtype.kind == "f":
        if t.size and not bool(np.all(np.isfinite(t) & (t == np.round(t)))):
            bad = t[~(np.isfinite(t) & (t == np.round(t)))][0]
            raise RangeError(f"{who} expected {what} to be whole-number class labels, got {bad}")
        if t.size and np.abs(t).max() >= 2.0**62:
            raise RangeError(f"{who} expected {what} to be class labels, got {np.abs(t).max()}")
    elif t.dtype.kind not in "iub":
        raise DTypeError(f"{who} expected {what} to be integer class labels, got dtype {t.dtype}")
    return t.astype(np.int64)


def _true_labels(targets: Any, n: int) -> np.ndarray:
    t = _numpy(targets)
    if t.ndim == 2 and t.shape[1] > 1:  # one-hot
        t = t.argmax(axis=1)
    t = t.reshape(-1)
    if t.shape[0] != n:
        raise ShapeError(f"accuracy expected {n} targets, got {t.shape[0]}")
    return t


def accuracy(output: Any, targets: Any, threshold: float | None = None) -> float:
    """The fraction of samples whose predicted class equals the target, as a Python float.

    ``output`` is labels, class scores/logits (N, C), or one binary score per sample (see
    :func:`predicted_labels`). ``targets`` is integer labels, one-hot rows, or binary labels in
    {0, 1} or {-1, 1} (the logistic loss's coding); anything else (0.7, NaN) is a RangeError.

    >>> accuracy(np.array([0.9, 0.2]), np.array([1, 0]))
    1.0
    """
    if threshold is not None:
        finite_number(threshold, "accuracy", "threshold")
    out = _numpy(output)
    if out.dtype.kind in "iub" and out.ndim == 1:  # already labels
        pred = out.astype(np.int64)
        t = _whole_labels(_true_labels(targets, pred.shape[0]), "accuracy", "targets")
    else:
        pred = predicted_labels(out, threshold)
        t = _true_labels(targets, pred.shape[0])
        if out.ndim == 1 or out.shape[1] == 1:
            values = np.unique(t)
            if not (set(values.tolist()) <= {0, 1} or set(values.tolist()) <= {-1, 1}):
                raise RangeError(f"accuracy of one score per sample expected binary targets in {{0, 1}} or "
                                 f"{{-1, 1}}, got values {values[:6].tolist()}")
            t = (t > 0).astype(np.int64)  # {-1, 1} or {0, 1} -> {0, 1}
        else:
            t = _whole_labels(t, "accuracy", "targets")
    if pred.shape[0] == 0:
        raise ShapeError("accuracy expected at least one sample, got 0")
    return float((pred == t).mean())


def confusion_matrix(y_true: Any, y_pred: Any, num_classes: int | None = None) -> np.ndarray:
    """``C[i, j]`` = number of samples of true class i predicted as class j (int64, NumPy).

    ``y_pred`` may be labels or (N, C) scores (argmax is taken). Classes are 0..num_classes-1;
    ``num_classes`` defaults to one more than the largest label seen, and at most
    :data:`MAX_CLASSES` classes are counted (an absurd label is an error, not a huge allocation).
    """
    if num_classes is not None:
        positive_int(num_classes, "confusion_matrix", "num_classes")
    t = _whole_labels(_numpy(y_true).reshape(-1), "confusion_matrix", "y_true")
    p = _numpy(y_pred)
    if p.dtype.kind == "f" and (p.ndim == 2 or not np.array_equal(p, np.round(p))):
        p = predicted_labels(p)  # scores, logits or probabilities
    p = _whole_labels(p.reshape(-1), "confusion_matrix", "y_pred")
    if t.shape != p.shape:
        raise ShapeError(f"confusion_matrix expected as many predictions as labels, got {p.shape[0]} and {t.shape[0]}")
    if t.size and min(t.min(), p.min()) < 0:
        raise RangeError(f"confusion_matrix expected labels 0..num_classes-1, got {min(t.min(), p.min())}")
    largest = int(max(t.max(initial=-1), p.max(initial=-1)))
    if num_classes is None:
        num_classes = largest + 1
    elif largest >= num_classes:
        raise RangeError(f"confusion_matrix got the label {largest}, expected labels < num_classes={num_classes}")
    if num_classes > MAX_CLASSES:
        raise RangeError(f"confusion_matrix would count {num_classes} classes (labels up to {largest}); it counts "
                         f"at most {MAX_CLASSES}: are these really class labels?")
    return np.bincount(t * num_classes + p, minlength=num_classes * num_classes).reshape(num_classes, num_classes)
