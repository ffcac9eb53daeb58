"""Data preprocessing (lecture 000, part 4): min-max, z-score, PCA / whitening, and a split.

The scalers follow scikit-learn's ``fit`` / ``transform`` / ``fit_transform`` /
``inverse_transform`` and work on NumPy and CuPy arrays alike: the fitted statistics live on
the device of the data they were fitted on, and the output has the input's device and float
dtype (statistics are computed in float64).

>>> import numpy as np
>>> X = np.array([[1.0, 10.0], [3.0, 30.0]])
>>> MinMaxScaler().fit_transform(X).tolist()
[[0.0, 0.0], [1.0, 1.0]]
>>> StandardScaler().fit_transform(X).tolist()
[[-1.0, -1.0], [1.0, 1.0]]
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Sequence

import numpy as np

from .backend import device_of, get_array_module, is_gpu_array, to_device, to_numpy
from .creation import as_array as _raw
from .errors import DTypeError, RangeError, ShapeError
from .tensor import Tensor
from .validation import boolean, finite_number

__all__ = ["MinMaxScaler", "StandardScaler", "PCA", "train_test_split"]


class _Transformer:
    """fit / transform / fit_transform / inverse_transform around two hooks on 2-D float64 data."""

    _fitted_attr = ""  # an attribute set by fit; checked before transform
    _allows_nan = True  # NaN is ignored in fit and kept in transform, as scikit-learn's scalers do

    def fit(self, X: Any) -> "_Transformer":
        X = self._check(X, "fit")
        self._n_features = X.shape[1]
        self._fit(X.astype(np.float64))
        return self

    def transform(self, X: Any) -> Any:
        return self._apply(X, "transform", self._transform)

    def fit_transform(self, X: Any) -> Any:
        return self.fit(X).transform(X)

    def inverse_transform(self, X: Any) -> Any:
        return self._apply(X, "inverse_transform", self._inverse)

    # ---------------------------------------------------------------- helpers
    def _check(self, X: Any, what: str) -> Any:
        """2-D, numeric, at least one sample and one feature, no infinities; NaN only where allowed."""
        who = f"{type(self).__name__}.{what}"
        X = _raw(X)
        if X.ndim != 2:
            raise ShapeError(f"{who} expected a 2-D array (samples, features), got shape {tuple(X.shape)}")
        if X.dtype.kind not in "biuf":
            raise DTypeError(f"{who} expected real numbers, got dtype {X.dtype}")
        if X.shape[0] == 0 or X.shape[1] == 0:
            raise ShapeError(f"{who} expected at least one sample and one feature, got shape {tuple(X.shape)}")
        if X.dtype.kind == "f":
            xp = get_array_module(X)
            if bool(xp.isinf(X).any()):
                raise RangeError(f"{who} got an infinite value; only finite numbers (and NaN, ignored) are accepted")
            if not self._allows_nan and bool(xp.isnan(X).any()):
                raise RangeError(f"{who} got NaN; {type(self).__name__} needs complete data (impute it first)")
        return X

    def _apply(self, X: Any, what: str, fn) -> Any:
        if not hasattr(self, self._fitted_attr):
            raise RuntimeError(f"{type(self).__name__}.{what} called before fit")
        X = self._check(X, what)
        out_dtype = X.dtype if X.dtype.kind == "f" else np.float64
        return fn(X.astype(np.float64)).astype(out_dtype, copy=False)

    def _on(self, param: Any, X: Any) -> Any:
        """A fitted statistic on X's device (a copy only when the devices differ)."""
        dev = device_of(X)
        return param if device_of(param) == dev else to_device(param, dev)

    def _width(self, X: Any, expected: int, what: str) -> None:
        if X.shape[1] != expected:
            raise ShapeError(f"{type(self).__name__}.{what} expected {expected} features, got {X.shape[1]}")


def _nonzero(scale: Any) -> Any:
    """Replace (near-)zero scales by 1, as scikit-learn does for constant features."""
    xp = get_array_module(scale)
    eps = 10 * np.finfo(np.float64).eps
    return xp.where(scale < eps, 1.0, scale)


def _column_statistics(X: Any, *reductions: str) -> list:
    """Each NaN-ignoring reduction (``"nanmean"``, ...) of ``X`` over its rows; an all-NaN feature
    quietly gives NaN statistics, as in scikit-learn."""
    xp = get_array_module(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return [getattr(xp, name)(X, axis=0) for name in reductions]


class MinMaxScaler(_Transformer):
    """Rescale each feature to ``feature_range``: ``(x - min) / (max - min) * (hi - lo) + lo``.

    Guarantees all features share the exact same scale, but one outlier squeezes the rest.
    """

    _fitted_attr = "data_min_"

    def __init__(self, feature_range: tuple[float, float] = (0.0, 1.0)) -> None:
        if not isinstance(feature_range, (tuple, list)) or len(feature_range) != 2:
            raise RangeError(f"MinMaxScaler expected feature_range to be a pair (lo, hi), got {feature_range!r}")
        lo = finite_number(feature_range[0], "MinMaxScaler", "feature_range[0]")
        hi = finite_number(feature_range[1], "MinMaxScaler", "feature_range[1]")
        if not lo < hi:
            raise RangeError(f"MinMaxScaler expected feature_range (lo, hi) with lo < hi, got {feature_range}")
        self.feature_range = (float(lo), float(hi))

    def _fit(self, X: Any) -> None:
        self.data_min_, self.data_max_ = _column_statistics(X, "nanmin", "nanmax")
        lo, hi = self.feature_range
        self.scale_ = (hi - lo) / _nonzero(self.data_max_ - self.data_min_)
        self.min_ = lo - self.data_min_ * self.scale_

    def _transform(self, X: Any) -> Any:
        self._width(X, self._n_features, "transform")
        return X * self._on(self.scale_, X) + self._on(self.min_, X)

    def _inverse(self, X: Any) -> Any:
        self._width(X, self._n_features, "inverse_transform")
        return (X - self._on(self.min_, X)) / self._on(self.scale_, X)


class StandardScaler(_Transformer):
    """Z-score each feature: ``(x - mean) / std`` (population std; constant features keep std 1).

    Handles outliers better than min-max, but the features do not share an exact range.
    """

    _fitted_attr = "mean_"

    def _fit(self, X: Any) -> None:
        self.mean_, self.var_ = _column_statistics(X, "nanmean", "nanvar")
        self.scale_ = _nonzero(get_array_module(X).sqrt(self.var_))

    def _transform(self, X: Any) -> Any:
        self._width(X, self._n_features, "transform")
        return (X - self._on(self.mean_, X)) / self._on(self.scale_, X)

    def _inverse(self, X: Any) -> Any:
        self._width(X, self._n_features, "inverse_transform")
        return X * self._on(self.scale_, X) + self._on(self.mean_, X)


class PCA(_Transformer):
    """Principal component analysis by SVD of the centred data, optionally whitened.

    The data is centred and rotated into the eigenbasis of its covariance matrix, which
    decorrelates it; ``whiten=True`` also divides each component by its standard deviation,
    so the covariance becomes the identity. ``n_components`` is an int, None (all), or a
    float in (0, 1): the smallest number of components explaining that fraction of variance.
    Each component's sign is fixed so that its largest-magnitude entry is positive.
    """

    _fitted_attr = "components_"
    _allows_nan = False

    def __init__(self, n_components: "int | float | None" = None, whiten: bool = False) -> None:
        if n_components is not None and (isinstance(n_components, bool) or not isinstance(n_components, (int, float))):
            raise RangeError(f"PCA expected n_components to be an int, a float in (0, 1) or None, got {n_components!r}")
        self.n_components = n_components
        self.whiten = boolean(whiten, "PCA", "whiten")

    def _fit(self, X: Any) -> None:
        xp = get_array_module(X)
        n, d = X.shape
        if n < 2:
            raise ShapeError(f"PCA.fit expected at least 2 samples, got {n}")
        self.mean_ = X.mean(axis=0)
        _, s, vt = xp.linalg.svd(X - self.mean_, full_matrices=False)
        # deterministic signs: the largest |entry| of each component is positive
        rows = xp.arange(vt.shape[0])
        signs = xp.sign(vt[rows, xp.argmax(xp.abs(vt), axis=1)])
        vt = vt * xp.where(signs == 0, 1.0, signs)[:, None]
        variance = s**2 / (n - 1)
        k = self._choose_k(to_numpy(variance), min(n, d))
        self.n_components_ = k
        self.components_ = vt[:k]
        self.singular_values_ = s[:k]
        self.explained_variance_ = variance[:k]
        self.explained_variance_ratio_ = variance[:k] / variance.sum()

    def _choose_k(self, variance: np.ndarray, limit: int) -> int:
        k = self.n_components
        if k is None:
            return limit
        if isinstance(k, float) and 0.0 < k < 1.0:
            ratio = np.cumsum(variance) / variance.sum()
            return int(min(np.searchsorted(ratio, k) + 1, limit))
        if isinstance(k, (int, np.integer)) and 1 <= k <= limit:
            return int(k)
        raise RangeError(f"PCA expected n_components in 1..{limit}, a float in (0, 1) or None, got {k!r}")

    def _std(self, X: Any) -> Any:
        xp = get_array_module(X)
        return xp.sqrt(_nonzero(self._on(self.explained_variance_, X)))

    def _transform(self, X: Any) -> Any:
        self._width(X, self._n_features, "transform")
        Z = (X - self._on(self.mean_, X)) @ self._on(self.components_, X).T
        return Z / self._std(X) if self.whiten else Z

    def _inverse(self, Z: Any) -> Any:
        self._width(Z, self.n_components_, "inverse_transform")
        if self.whiten:
            Z = Z * self._std(Z)
        return Z @ self._on(self.components_, Z) + self._on(self.mean_, Z)


def train_test_split(*arrays: Any, test_size: "float | int" = 0.25, stratify: Any = None,
                     seed: int | None = None) -> list:
    """Shuffle and split arrays into train and test parts: ``[a_train, a_test, b_train, b_test, ...]``.

    ``test_size`` is a fraction in (0, 1) (rounded up, as scikit-learn does) or a count.
    ``stratify`` (class labels, usually ``y``) keeps each class's proportion in both parts.
    NumPy, CuPy and Tensor inputs are indexed in place; the split is reproducible with ``seed``.

    >>> X, y = np.arange(10).reshape(5, 2), np.arange(5)
    >>> X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=2, seed=0)
    >>> len(y_tr), len(y_te)
    (3, 2)
    """
    if not arrays:
        raise RangeError("train_test_split expected at least one array")
    n = len(arrays[0])
    for a in arrays[1:]:
        if len(a) != n:
            raise ShapeError(f"train_test_split expected arrays of equal length, got {[len(a) for a in arrays]}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
        raise RangeError(f"train_test_split expected seed to be an int >= 0 or None, got {seed!r}")
    if isinstance(test_size, float) and 0.0 < test_size < 1.0:
        n_test = math.ceil(test_size * n)
    elif isinstance(test_size, (int, np.integer)) and not isinstance(test_size, bool) and 0 < test_size < n:
        n_test = int(test_size)
    else:
        raise RangeError(f"train_test_split expected test_size in (0, 1) or 1..{n - 1}, got {test_size!r}")
    if not 0 < n_test < n:
        raise RangeError(f"train_test_split: test_size={test_size} leaves an empty part of {n} samples")
    rng = np.random.default_rng(seed)
    if stratify is None:
        perm = rng.permutation(n)
        test, train = perm[:n_test], perm[n_test:]
    else:
        train, test = _stratified(to_numpy(_raw(stratify)).reshape(n, -1), n_test, rng)
    out = []
    for a in arrays:
        out += [_take(a, train), _take(a, test)]
    return out


def _stratified(labels: np.ndarray, n_test: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Per-class test counts proportional to class sizes (largest remainders), then shuffle."""
    _, inverse, counts = np.unique(labels, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    exact = counts * n_test / counts.sum()
    take = np.floor(exact).astype(np.int64)
    remainder_order = np.argsort(-(exact - take), kind="stable")
    take[remainder_order[: n_test - take.sum()]] += 1
    train, test = [], []
    for c, k in enumerate(take):
        members = rng.permutation(np.flatnonzero(inverse == c))
        test.append(members[:k])
        train.append(members[k:])
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))


def _take(a: Any, index: np.ndarray) -> Any:
    if isinstance(a, Tensor):
        return Tensor(_take(a.array, index))
    if is_gpu_array(a):
        return a[get_array_module(a).asarray(index)]
    if isinstance(a, np.ndarray):
        return a[index]
    if isinstance(a, Sequence):
        return [a[i] for i in index]
    return np.asarray(a)[index]
