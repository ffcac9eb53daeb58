"""Datasets: toy generators, scikit-learn copies, and the IDX reader on tiny files written here."""

import gzip
import struct

import numpy as np
import pytest

from dlcore import datasets
from dlcore.datasets import IDXFormatError, read_idx


# --------------------------------------------------------------------------- IDX helpers
def idx_bytes(array: np.ndarray, type_code: int = 0x08) -> bytes:
    dtype = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}[type_code]
    header = bytes([0, 0, type_code, array.ndim]) + b"".join(struct.pack(">I", s) for s in array.shape)
    return header + np.ascontiguousarray(array, dtype=dtype).tobytes()


def write(path, payload: bytes, gz: bool) -> None:
    if gz:
        with gzip.open(path, "wb") as f:
            f.write(payload)
    else:
        path.write_bytes(payload)


def write_mnist(root, n_train=5, n_test=3, gz=True, rows=28, cols=28, seed=0):
    rng = np.random.default_rng(seed)
    out = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, rows, cols), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n, dtype=np.uint8)
        suffix = ".gz" if gz else ""
        write(root / f"{prefix}-images-idx3-ubyte{suffix}", idx_bytes(images), gz)
        write(root / f"{prefix}-labels-idx1-ubyte{suffix}", idx_bytes(labels), gz)
        out[prefix] = (images, labels)
    return out


# --------------------------------------------------------------------------- read_idx
@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("type_code,dtype", [(0x08, np.uint8), (0x09, np.int8), (0x0B, np.int16),
                                             (0x0C, np.int32), (0x0D, np.float32), (0x0E, np.float64)])
def test_read_idx_roundtrip(tmp_path, gz, type_code, dtype):
    array = (np.arange(24).reshape(2, 3, 4) - 5).astype(dtype)
    if dtype == np.uint8:
        array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    path = tmp_path / ("a.idx" + (".gz" if gz else ""))
    write(path, idx_bytes(array, type_code), gz)
    got = read_idx(path)
    assert got.dtype == np.dtype(dtype) and got.dtype.isnative
    np.testing.assert_array_equal(got, array)


def test_read_idx_gzip_detected_by_content_not_name(tmp_path):
    array = np.arange(6, dtype=np.uint8)
    path = tmp_path / "labels-no-gz-suffix"
    write(path, idx_bytes(array), gz=True)
    np.testing.assert_array_equal(read_idx(path), array)


@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_truncated_raises_naming_file(tmp_path, gz):
    payload = idx_bytes(np.zeros((3, 28, 28), np.uint8))[:-10]
    path = tmp_path / ("short-idx3-ubyte" + (".gz" if gz else ""))
    write(path, payload, gz)
    with pytest.raises(ValueError, match="short-idx3-ubyte.*truncated"):
        read_idx(path)


def test_read_idx_trailing_bytes(tmp_path):
    path = tmp_path / "long"
    path.write_bytes(idx_bytes(np.zeros(4, np.uint8)) + b"\x00")
    with pytest.raises(IDXFormatError, match="longer than its header"):
        read_idx(path)


def test_read_idx_truncated_gzip_stream(tmp_path):
    path = tmp_path / "cut.gz"
    write(path, idx_bytes(np.zeros((10, 28, 28), np.uint8)), gz=True)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(IDXFormatError, match="cut.gz"):
        read_idx(path)


@pytest.mark.parametrize("payload", [
    b"\x89PNG\r\n\x1a\n" + b"\x00" * 20,     # a foreign file
    bytes([0, 0, 0x07, 1, 0, 0, 0, 1, 5]),   # unknown type byte
    bytes([0, 0, 0x08, 0]),                   # zero dimensions
    b"\x00\x00",                              # shorter than a header
    bytes([0, 0, 0x08, 3, 0, 0, 0, 1]),       # header cut inside the sizes
])
def test_read_idx_foreign_or_broken_header(tmp_path, payload):
    path = tmp_path / "foreign.bin"
    path.write_bytes(payload)
    with pytest.raises(IDXFormatError, match="foreign.bin"):
        read_idx(path)


def test_idx_error_is_a_value_error_and_a_dlcore_error():
    from dlcore.errors import DlcoreError

    assert issubclass(IDXFormatError, ValueError) and issubclass(IDXFormatError, DlcoreError)


def test_read_idx_expect_magic(tmp_path):
    path = tmp_path / "labels"
    path.write_bytes(idx_bytes(np.zeros(3, np.uint8)))
    assert read_idx(path, expect_magic=0x00000801).shape == (3,)
    with pytest.raises(IDXFormatError, match="0x00000801.*expected 0x00000803"):
        read_idx(path, expect_magic=0x00000803)


# --------------------------------------------------------------------------- mnist()
@pytest.mark.parametrize("gz", [False, True])
def test_mnist_reads_both_splits(tmp_path, gz):
    written = write_mnist(tmp_path, gz=gz)
    for split, prefix in (("train", "train"), ("test", "t10k")):
        X, y = datasets.mnist(tmp_path, split=split)
        images, labels = written[prefix]
        assert X.shape == (len(labels), 1, 28, 28) and X.dtype == np.float32
        assert y.dtype == np.int64
        assert 0.0 <= X.min() and X.max() <= 1.0
        np.testing.assert_allclose(X[:, 0], images / 255.0, rtol=1e-6)
        np.testing.assert_array_equal(y, labels)


def test_mnist_root_from_env(tmp_path, monkeypatch):
    write_mnist(tmp_path, n_test=2)
    monkeypatch.setenv("DLCORE_DATA", str(tmp_path))
    X, y = datasets.mnist(split="test")
    assert X.shape == (2, 1, 28, 28)


def test_mnist_without_root_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("DLCORE_DATA", raising=False)
    with pytest.raises(ValueError, match="DLCORE_DATA"):
        datasets.mnist()


def test_mnist_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
        datasets.mnist(tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        datasets.mnist(tmp_path / "nowhere")


def test_mnist_swapped_files_are_rejected(tmp_path):
    write_mnist(tmp_path, gz=False)
    images = tmp_path / "train-images-idx3-ubyte"
    labels = tmp_path / "train-labels-idx1-ubyte"
    data = images.read_bytes()
    images.write_bytes(labels.read_bytes())
    labels.write_bytes(data)
    with pytest.raises(IDXFormatError, match="train-images-idx3-ubyte"):
        datasets.mnist(tmp_path)


def test_mnist_count_mismatch(tmp_path):
    write_mnist(tmp_path, gz=False)
    write(tmp_path / "train-labels-idx1-ubyte", idx_bytes(np.zeros(4, np.uint8)), gz=False)
    with pytest.raises(IDXFormatError, match="5 images but .* 4 labels"):
        datasets.mnist(tmp_path)


def test_mnist_bad_split(tmp_path):
    with pytest.raises(ValueError, match="split"):
        datasets.mnist(tmp_path, split="val")


# --------------------------------------------------------------------------- toy data
def test_xor():
    X, y = datasets.xor()
    assert X.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_array_equal(y, np.logical_xor(X[:, 0], X[:, 1]))


def test_linear():
    X, y = datasets.linear(200, w=-1.5, b=0.5, noise=0.0, seed=1)
    assert X.shape == y.shape == (200, 1) and X.dtype == np.float32
    np.testing.assert_allclose(y, -1.5 * X + 0.5, atol=1e-6)
    X2, y2 = datasets.linear(200, w=-1.5, b=0.5, noise=0.1, seed=1)
    np.testing.assert_array_equal(X, X2)
    assert 0.05 < np.std(y2 - y) < 0.2


@pytest.mark.parametrize("name", datasets.PLAYGROUND_DATASETS)
def test_playground_shapes_and_seed(name):
    X, y = datasets.playground(name, n=101, noise=0.1, seed=3)
    assert X.shape == (101, 2) and X.dtype == np.float32
    assert y.shape == (101,) and y.dtype == np.int64 and set(np.unique(y)) <= {0, 1}
    X2, y2 = datasets.playground(name, n=101, noise=0.1, seed=3)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)
    assert np.abs(X).max() < 8


def test_playground_labels_follow_the_generators_without_noise():
    X, y = datasets.playground("circle", 400, noise=0.0, seed=0)
    r = np.hypot(X[:, 0], X[:, 1])
    np.testing.assert_array_equal(y, r < 2.5)
    assert r[y == 1].max() <= 2.5 and r[y == 0].min() >= 3.5  # inner disc, outer ring 3.5..5
    X, y = datasets.playground("xor", 400, noise=0.0, seed=0)
    np.testing.assert_array_equal(y, X[:, 0] * X[:, 1] >= 0)
    assert np.abs(X).min() >= 0.3  # the Playground's padding
    X, y = datasets.playground("gauss", 400, noise=0.0, seed=0)
    assert y.mean() == 0.5
    np.testing.assert_allclose(X[y == 1].mean(0), [2, 2], atol=0.25)
    np.testing.assert_allclose(X[y == 0].mean(0), [-2, -2], atol=0.25)
    X, y = datasets.playground("spiral", 400, noise=0.0, seed=0)
    np.testing.assert_allclose(X[y == 0], -X[y == 1], atol=1e-5)  # second arm = first turned by pi
    np.testing.assert_allclose(np.hypot(*X[y == 1].T), np.arange(200) / 200 * 5, atol=1e-5)


def test_playground_noise_flips_some_labels():
    X, y = datasets.playground("xor", 2000, noise=0.5, seed=0)
    wrong = np.mean(y != (X[:, 0] * X[:, 1] >= 0))
    assert 0.05 < wrong < 0.5


def test_playground_unknown_name():
    with pytest.raises(ValueError, match="spiral"):
        datasets.playground("moons")


def test_sklearn_bundled_sets():
    X, y = datasets.breast_cancer()
    assert X.shape == (569, 30) and X.dtype == np.float32 and y.dtype == np.int64
    assert set(np.unique(y)) == {0, 1}
    X, y = datasets.digits()
    assert X.shape == (1797, 64) and 0 <= X.min() and X.max() == 1.0 and y.max() == 9
    X, _ = datasets.digits(images=True)
    assert X.shape == (1797, 1, 8, 8)
