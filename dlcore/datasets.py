"""Small datasets for the examples, all local: nothing is ever downloaded.

Every loader returns NumPy arrays ``(X, y)``: features as float32, class labels as int64.

- :func:`xor` -- the four XOR points of lecture 001.
- :func:`linear` -- points on a noisy line ``y = w x + b`` (lecture 000).
- :func:`playground` -- the TensorFlow Playground's "circle", "xor", "gauss" and "spiral".
- :func:`breast_cancer`, :func:`digits` -- scikit-learn's bundled copies (no download).
- :func:`mnist` -- MNIST (or Fashion-MNIST) from local IDX files, read with :func:`read_idx`.

>>> X, y = playground("spiral", n=100, noise=0.0, seed=0)
>>> X.shape, y.shape, sorted(set(y.tolist()))
((100, 2), (100,), [0, 1])
"""

from __future__ import annotations

import gzip
import os
import stat
import zlib
from pathlib import Path

import numpy as np

from .errors import DlcoreError, RangeError
from .validation import boolean, finite_number, nonnegative_int, one_of, positive_int

__all__ = [
    "IDXFormatError",
    "read_idx",
    "xor",
    "linear",
    "playground",
    "PLAYGROUND_DATASETS",
    "breast_cancer",
    "digits",
    "mnist",
]


# --------------------------------------------------------------------------- toy data
def xor() -> tuple[np.ndarray, np.ndarray]:
    """The four XOR points: ``X`` (4, 2) float32 and labels ``y`` (4,) int64.

    >>> X, y = xor(); y.tolist()
    [0, 1, 1, 0]
    """
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
    y = np.array([0, 1, 1, 0], dtype=np.int64)
    return X, y


def linear(n: int = 100, w: float = 2.0, b: float = 1.0, noise: float = 0.1,
           seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points ``x ~ U(-1, 1)``, ``y = w x + b + noise * N(0, 1)``, each shaped (n, 1).

    >>> X, y = linear(5, w=3.0, b=-1.0, noise=0.0, seed=0)
    >>> bool(np.allclose(y, 3.0 * X - 1.0))
    True
    """
    n = positive_int(n, "linear", "n")
    w, b = finite_number(w, "linear", "w"), finite_number(b, "linear", "b")
    noise = finite_number(noise, "linear", "noise", low=0.0)
    rng = np.random.default_rng(_seed(seed, "linear"))
    x = rng.uniform(-1.0, 1.0, size=(n, 1))
    y = w * x + b + noise * rng.standard_normal((n, 1))
    return x.astype(np.float32), y.astype(np.float32)


def _seed(seed, who: str):
    if seed is not None:
        nonnegative_int(seed, who, "seed (or None)")
    return seed


# The TensorFlow Playground's classification generators (playground/src/dataset.ts), with
# NumPy's generator in place of Math.random and labels {-1, 1} mapped to {0, 1}. The Playground
# slider's "noise 0..50" is ``noise`` 0..0.5 here.
def _circle(n: int, noise: float, rng: np.random.Generator):
    radius = 5.0
    half = n // 2
    parts = []
    for lo, hi, count in ((0.0, radius * 0.5, half), (radius * 0.7, radius, n - half)):
        r = rng.uniform(lo, hi, count)
        angle = rng.uniform(0.0, 2 * np.pi, count)
        pts = np.stack([r * np.sin(angle), r * np.cos(angle)], axis=1)
        noisy = pts + rng.uniform(-radius, radius, (count, 2)) * noise
        label = np.hypot(noisy[:, 0], noisy[:, 1]) < radius * 0.5
        parts.append((pts, label))
    return np.concatenate([p for p, _ in parts]), np.concatenate([lab for _, lab in parts])


def _xor(n: int, noise: float, rng: np.random.Generator):
    pts = rng.uniform(-5.0, 5.0, (n, 2))
    pts += np.where(pts > 0, 0.3, -0.3)  # padding keeps points off the axes
    noisy = pts + rng.uniform(-5.0, 5.0, (n, 2)) * noise
    return pts, noisy[:, 0] * noisy[:, 1] >= 0


def _gauss(n: int, noise: float, rng: np.random.Generator):
    variance = 0.5 + noise / 0.5 * 3.5  # d3.scaleLinear().domain([0, .5]).range([0.5, 4])
    half = n // 2
    pos = rng.normal(2.0, np.sqrt(variance), (half, 2))
    neg = rng.normal(-2.0, np.sqrt(variance), (n - half, 2))
    label = np.concatenate([np.ones(half, bool), np.zeros(n - half, bool)])
    return np.concatenate([pos, neg]), label


def _spiral(n: int, noise: float, rng: np.random.Generator):
    parts = []
    for delta, count, label in ((0.0, n // 2, True), (np.pi, n - n // 2, False)):
        i = np.arange(count) / count
        r = i * 5.0
        t = 1.75 * i * 2 * np.pi + delta
        pts = np.stack([r * np.sin(t), r * np.cos(t)], axis=1)
        pts += rng.uniform(-1.0, 1.0, (count, 2)) * noise
        parts.append((pts, np.full(count, label)))
    return np.concatenate([p for p, _ in parts]), np.concatenate([lab for _, lab in parts])


_PLAYGROUND = {"circle": _circle, "xor": _xor, "gauss": _gauss, "spiral": _spiral}
PLAYGROUND_DATASETS = tuple(_PLAYGROUND)


def playground(name: str = "spiral", n: int = 500, noise: float = 0.0,
               seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A TensorFlow Playground classification set: ``X`` (n, 2) float32, ``y`` (n,) int64 in {0, 1}.

    ``name`` is "circle", "xor", "gauss" or "spiral"; ``noise`` is the Playground's noise slider
    divided by 100 (0 to 0.5). Points lie in about [-6, 6]^2, as in the Playground.
    """
    gen = _PLAYGROUND[one_of(name, PLAYGROUND_DATASETS, "playground", "name")]
    if positive_int(n, "playground", "n") < 2:
        raise RangeError(f"playground expected n >= 2 (two classes), got {n}")
    noise = finite_number(noise, "playground", "noise", low=0.0)
    X, y = gen(int(n), noise, np.random.default_rng(_seed(seed, "playground")))
    return X.astype(np.float32), y.astype(np.int64)


# --------------------------------------------------------------------------- scikit-learn copies
def _sklearn_datasets():
    try:
        import sklearn.datasets
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("this dataset is scikit-learn's bundled copy: pip install scikit-learn") from None
    return sklearn.datasets


def breast_cancer() -> tuple[np.ndarray, np.ndarray]:
    """Wisconsin breast cancer: ``X`` (569, 30) float32 (raw, unscaled), ``y`` (569,) int64.

    Label 1 is benign, 0 malignant (scikit-learn's coding).
    """
    bunch = _sklearn_datasets().load_breast_cancer()
    return bunch.data.astype(np.float32), bunch.target.astype(np.int64)


def digits(images: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8x8 handwritten digits, scaled from 0..16 to [0, 1].

    ``X`` is (1797, 64) float32, or (1797, 1, 8, 8) with ``images=True``; ``y`` (1797,) int64.
    """
    images = boolean(images, "digits", "images")
    bunch = _sklearn_datasets().load_digits()
    X = (bunch.data / 16.0).astype(np.float32)
    if images:
        X = X.reshape(-1, 1, 8, 8)
    return X, bunch.target.astype(np.int64)


# --------------------------------------------------------------------------- IDX files
class IDXFormatError(DlcoreError, ValueError):
    """A file is not a well-formed IDX file (wrong magic, truncated, trailing bytes...)."""


# IDX type byte -> big-endian dtype (http://yann.lecun.com/exdb/mnist/, "THE IDX FILE FORMAT")
_IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


_GZIP_RATIO = 1032  # deflate's best case: no gzip file of S bytes holds more than ~1032 S bytes
_CHUNK = 1 << 22


def _read_upto(stream, n: int) -> bytes:
    """Up to ``n`` bytes, in chunks, so a short file never makes us allocate its header's claim."""
    parts, got = [], 0
    while got < n:
        chunk = stream.read(min(_CHUNK, n - got))
        if not chunk:
            break
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


def _check_header(path: Path, head: bytes, expect_magic: int | None) -> tuple[np.dtype, int]:
    if len(head) < 4:
        raise IDXFormatError(f"read_idx: {path} is {len(head)} bytes, too short for an IDX header")
    magic = int.from_bytes(head[:4], "big")
    zero, type_code, ndim = head[0] << 8 | head[1], head[2], head[3]
    if zero != 0 or type_code not in _IDX_DTYPES or ndim == 0:
        raise IDXFormatError(
            f"read_idx: {path} is not an IDX file (magic number 0x{magic:08x}; expected "
            f"0x0000TTNN with type TT in {{08,09,0b,0c,0d,0e}} and NN >= 1 dimensions)")
    if expect_magic is not None and magic != expect_magic:
        raise IDXFormatError(
            f"read_idx: {path} has magic number 0x{magic:08x}, expected 0x{expect_magic:08x}")
    return _IDX_DTYPES[type_code], ndim


def read_idx(path: "str | os.PathLike", expect_magic: int | None = None) -> np.ndarray:
    """Read an IDX file (gzipped or not) into a NumPy array in native byte order.

    The header is checked: two zero bytes, a known type byte, the number of dimensions, then
    the sizes; the file must hold exactly ``prod(sizes)`` items after it. ``expect_magic``
    (e.g. ``0x00000803`` for MNIST images, ``0x00000801`` for labels) pins type and rank.
    Only the header is read before that check, and the data size it declares is checked
    against the file's size (for gzip, against what deflate can hold) before anything is
    allocated; devices and FIFOs are refused unopened. Raises :class:`IDXFormatError` (a
    ``ValueError``) naming the file otherwise.
    """
    path = Path(path)
    info = os.stat(path)
    if not stat.S_ISREG(info.st_mode):
        raise IDXFormatError(f"read_idx: {path} is not a regular file (a folder, device or FIFO?); refused unread")
    with open(path, "rb") as raw:
        gzipped = raw.read(2) == b"\x1f\x8b"
        raw.seek(0)
        stream = gzip.GzipFile(fileobj=raw, mode="rb") if gzipped else raw
        try:
            dtype, ndim = _check_header(path, _read_upto(stream, 4), expect_magic)
            header = 4 + 4 * ndim
            dims = _read_upto(stream, 4 * ndim)
            if len(dims) < 4 * ndim:
                raise IDXFormatError(f"read_idx: {path} is truncated inside its header "
                                     f"({4 + len(dims)} bytes, header needs {header})")
            shape = tuple(int.from_bytes(dims[4 * i: 4 * i + 4], "big") for i in range(ndim))
            count = 1
            for n in shape:
                count *= n
            expected = header + count * dtype.itemsize
            limit = _GZIP_RATIO * info.st_size + 1024 if gzipped else info.st_size
            if expected > limit:
                raise IDXFormatError(
                    f"read_idx: {path} is truncated: shape {shape} of {dtype.name} needs {expected} bytes, "
                    f"{'a gzip file of ' if gzipped else 'file has '}{info.st_size} bytes"
                    f"{' cannot hold that many' if gzipped else ''}")
            data = _read_upto(stream, expected - header + 1)  # one more byte shows trailing data
        except (EOFError, OSError, zlib.error) as exc:
            raise IDXFormatError(f"read_idx: {path} is a damaged or truncated gzip file ({exc})") from None
        finally:
            if gzipped:
                stream.close()
    got = header + len(data)
    if got != expected:
        what = "truncated" if got < expected else "longer than its header says"
        raise IDXFormatError(f"read_idx: {path} is {what}: shape {shape} of {dtype.name} needs {expected} bytes, "
                             f"file has {'more' if got > expected else got}")
    array = np.frombuffer(data, dtype=dtype).reshape(shape)
    return array.astype(dtype.newbyteorder("="))


_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def _find(root: Path, name: str) -> Path:
    for candidate in (root / name, root / (name + ".gz")):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"mnist: neither {root / name} nor {root / (name + '.gz')} exists. dlcore downloads nothing: "
        f"put the four IDX files of MNIST (or Fashion-MNIST) in that folder")


def mnist(root: "str | os.PathLike | None" = None, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """MNIST (or Fashion-MNIST, same format) from local IDX files.

    ``root`` is the folder with ``train-images-idx3-ubyte[.gz]`` etc.; it defaults to the
    environment variable ``DLCORE_DATA``. Returns images (N, 1, 28, 28) float32 in [0, 1] and
    labels (N,) int64. Nothing is downloaded.
    """
    one_of(split, tuple(_MNIST_FILES), "mnist", "split")
    if root is None:
        root = os.environ.get("DLCORE_DATA")
        if not root:
            raise ValueError("mnist() needs root=<folder with the MNIST IDX files> or the environment "
                             "variable DLCORE_DATA; dlcore never downloads data")
    root = Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"mnist: data folder {root} does not exist")
    image_path, label_path = (_find(root, name) for name in _MNIST_FILES[split])
    images = read_idx(image_path, expect_magic=0x00000803)
    labels = read_idx(label_path, expect_magic=0x00000801)
    if images.shape[0] != labels.shape[0]:
        raise IDXFormatError(f"mnist: {image_path} holds {images.shape[0]} images but {label_path} "
                             f"holds {labels.shape[0]} labels")
    X = images.astype(np.float32)[:, None, :, :]
    X *= np.float32(1.0 / 255.0)
    return X, labels.astype(np.int64)
