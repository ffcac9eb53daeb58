"""Preprocessing against scikit-learn (1e-5), on NumPy and, when there is a GPU, CuPy."""

import numpy as np
import pytest
from sklearn import decomposition
from sklearn import preprocessing as skp

from dlcore.backend import to_device, to_numpy
from dlcore.errors import ShapeError
from dlcore.preprocessing import PCA, MinMaxScaler, StandardScaler, train_test_split


def data(n=60, d=5, seed=0):
    rng = np.random.default_rng(seed)
    # correlated features on different scales, one constant column
    X = rng.standard_normal((n, d)) @ rng.standard_normal((d, d)) * np.array([1, 10, 0.1, 100, 1])[:d]
    X[:, 2] = 3.0
    return X + rng.uniform(-5, 5, d)


@pytest.mark.parametrize("ours,theirs", [
    (lambda: MinMaxScaler(), lambda: skp.MinMaxScaler()),
    (lambda: MinMaxScaler((-1, 2)), lambda: skp.MinMaxScaler((-1, 2))),
    (lambda: StandardScaler(), lambda: skp.StandardScaler()),
])
def test_scalers_match_sklearn(device, ours, theirs):
    X, X_new = data(), data(seed=1)
    ref = theirs().fit(X)
    scaler = ours().fit(to_device(X, device))
    out = scaler.transform(to_device(X_new, device))
    assert type(out) is type(to_device(X_new, device))  # stays on the device
    np.testing.assert_allclose(to_numpy(out), ref.transform(X_new), atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(to_numpy(scaler.fit_transform(to_device(X, device))), ref.transform(X),
                               atol=1e-5, rtol=1e-5)
    back = scaler.inverse_transform(out)
    np.testing.assert_allclose(to_numpy(back), X_new, atol=1e-5, rtol=1e-5)


def test_scaler_keeps_float32_and_checks_shapes():
    X = data().astype(np.float32)
    out = StandardScaler().fit_transform(X)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.mean(0), 0, atol=1e-5)
    with pytest.raises(ShapeError, match="5 features, got 4"):
        StandardScaler().fit(X).transform(X[:, :4])
    with pytest.raises(ShapeError, match="2-D"):
        MinMaxScaler().fit(X[:, 0])
    with pytest.raises(RuntimeError, match="before fit"):
        MinMaxScaler().transform(X)


def align_signs(ours: np.ndarray, theirs: np.ndarray) -> np.ndarray:
    """Per component: sign of the dot product with sklearn's; each |dot| must be ~1."""
    dots = np.sum(ours * theirs, axis=1)
    np.testing.assert_allclose(np.abs(dots), 1.0, atol=1e-6)
    return np.sign(dots)


@pytest.mark.parametrize("whiten", [False, True])
@pytest.mark.parametrize("k", [2, 4])
def test_pca_matches_sklearn(device, whiten, k):
    rng = np.random.default_rng(2)
    X = rng.standard_normal((80, 6)) @ rng.standard_normal((6, 6)) + 3.0
    X_new = rng.standard_normal((10, 6)) @ rng.standard_normal((6, 6))
    ref = decomposition.PCA(n_components=k, whiten=whiten, svd_solver="full").fit(X)
    pca = PCA(k, whiten=whiten).fit(to_device(X, device))
    comps = to_numpy(pca.components_)
    signs = align_signs(comps, ref.components_)
    np.testing.assert_allclose(comps * signs[:, None], ref.components_, atol=1e-5)
    np.testing.assert_allclose(to_numpy(pca.explained_variance_), ref.explained_variance_, rtol=1e-5)
    np.testing.assert_allclose(to_numpy(pca.explained_variance_ratio_), ref.explained_variance_ratio_, rtol=1e-5)
    Z = pca.transform(to_device(X_new, device))
    np.testing.assert_allclose(to_numpy(Z) * signs, ref.transform(X_new), atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(to_numpy(pca.inverse_transform(Z)), ref.inverse_transform(ref.transform(X_new)),
                               atol=1e-5, rtol=1e-5)
    if whiten:  # whitened training data has identity covariance
        cov = np.cov(to_numpy(pca.transform(to_device(X, device))), rowvar=False)
        np.testing.assert_allclose(cov, np.eye(k), atol=1e-6)


def test_pca_full_rank_roundtrip_and_fraction():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 4)) * [10, 3, 1, 0.01]
    pca = PCA().fit(X)
    assert pca.n_components_ == 4
    np.testing.assert_allclose(pca.inverse_transform(pca.transform(X)), X, atol=1e-8)
    assert PCA(0.9).fit(X).n_components_ == decomposition.PCA(0.9, svd_solver="full").fit(X).n_components_
    with pytest.raises(ValueError, match="n_components"):
        PCA(5).fit(X)


def test_train_test_split_sizes_and_disjointness():
    X = np.arange(100).reshape(50, 2)
    y = np.arange(50)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.3, seed=0)
    assert len(X_te) == len(y_te) == 15 and len(X_tr) == len(y_tr) == 35
    assert set(y_tr).isdisjoint(y_te) and set(y_tr) | set(y_te) == set(range(50))
    np.testing.assert_array_equal(X_tr[:, 0] // 2, y_tr)  # rows stay paired
    a = train_test_split(X, y, test_size=0.3, seed=0)
    np.testing.assert_array_equal(a[3], y_te)
    b = train_test_split(X, y, test_size=0.3, seed=1)
    assert not np.array_equal(b[3], y_te)
    assert len(train_test_split(y, test_size=7, seed=0)[1]) == 7
    assert len(train_test_split(y, test_size=0.25)[1]) == 13  # ceil, as scikit-learn


def test_train_test_split_stratified():
    y = np.array([0] * 60 + [1] * 30 + [2] * 10)
    X = np.arange(100)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.2, stratify=y, seed=0)
    assert len(y_te) == 20
    assert np.bincount(y_te).tolist() == [12, 6, 2]
    assert np.bincount(y_tr).tolist() == [48, 24, 8]
    np.testing.assert_array_equal(y[X_te], y_te)
    assert set(X_tr).isdisjoint(X_te)


def test_train_test_split_errors():
    with pytest.raises(ShapeError):
        train_test_split(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="test_size"):
        train_test_split(np.zeros(3), test_size=1.5)
    with pytest.raises(ValueError, match="test_size"):
        train_test_split(np.zeros(3), test_size=3)
