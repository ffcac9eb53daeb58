"""``dlcore.save`` / ``dlcore.load``: checkpoints as .npz archives, written atomically, read without pickle.

A checkpoint holds nested dicts and lists of arrays, tensors, numbers, strings and None.
Arrays go into the zip archive as ``.npy`` members; the structure goes into one JSON member
(``__dlcore__``) with a format version. Loading uses ``allow_pickle=False``, so a file that
carries pickled objects is rejected and nothing in it runs.

    >>> import numpy as np, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "ckpt.npz")
    >>> save({"w": np.ones(2), "epoch": 3}, path)
    >>> load(path)["epoch"]
    3
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from typing import Any

import numpy as np

from .backend import is_gpu_array, to_numpy
from .errors import CheckpointError
from .tensor import Tensor

FORMAT = "dlcore-checkpoint"
VERSION = 1
_META = "__dlcore__"
_REF = "__ndarray__"


def _encode(obj: Any, arrays: dict, where: str) -> Any:
    if isinstance(obj, Tensor):
        obj = obj.array
    if isinstance(obj, np.ndarray) or is_gpu_array(obj):
        arr = to_numpy(obj)
        if arr.dtype.hasobject:
            raise TypeError(f"save: {where} is an object array; only numeric arrays can be saved")
        key = f"a{len(arrays)}"
        arrays[key] = arr
        return {_REF: key}
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if isinstance(k, (int, np.integer)) and not isinstance(k, bool):  # e.g. an optimizer's state
                k = str(int(k))  # index; it loads back as its decimal string
                if k in obj:
                    raise ValueError(f"save: the dict at {where} has both {k} and {k!r} as keys")
            if not isinstance(k, str):
                raise TypeError(f"save: dict keys must be strings or ints, got {type(k).__name__} {k!r} at {where}")
            if k == _REF:
                raise ValueError(f"save: the dict key {_REF!r} at {where} is reserved for dlcore's array references")
            out[k] = _encode(v, arrays, f"{where}.{k}")
        return out
    if isinstance(obj, (list, tuple)):
        return [_encode(v, arrays, f"{where}[{i}]") for i, v in enumerate(obj)]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"save: cannot store {type(obj).__name__} at {where}; use arrays, numbers, strings, lists and dicts")


def _decode(obj: Any, archive: Any, path: str) -> Any:
    if isinstance(obj, dict):
        if set(obj) == {_REF}:
            try:
                return archive[obj[_REF]]
            except KeyError:
                raise CheckpointError(f"load: {path} is damaged: array {obj[_REF]!r} is missing") from None
            except ValueError as exc:  # an object array needs pickle
                raise CheckpointError(f"load: {path} holds pickled objects, which dlcore never loads ({exc})") from None
        return {k: _decode(v, archive, path) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_decode(v, archive, path) for v in obj]
    return obj


def save(obj: Any, path: "str | os.PathLike") -> None:
    """Write ``obj`` to ``path`` atomically: a temp file in the same folder, fsync, then rename.

    A crash mid-save leaves any previous file at ``path`` intact.
    """
    path = os.fspath(path)
    arrays: dict[str, np.ndarray] = {}
    tree = _encode(obj, arrays, "checkpoint")
    meta = json.dumps({"format": FORMAT, "version": VERSION, "tree": tree})
    arrays[_META] = np.frombuffer(meta.encode("utf-8"), dtype=np.uint8)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".npz", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _what_is(path: str) -> str:
    """Why a file that is not a zip archive cannot be a checkpoint, judged from its first bytes."""
    with open(path, "rb") as f:
        head = f.read(4)
    if not head:
        return "is empty (0 bytes); dlcore.save never leaves a partial file, so something else cut it short"
    if head.startswith(b"PK"):
        return "is truncated or corrupt: a zip archive without its central directory (an interrupted copy?)"
    if head[:1] == b"\x80" or head[:1] in (b"(", b"]", b"}"):
        return "is a pickle file, not a dlcore checkpoint: dlcore never unpickles, since that can run code from the file"
    return "is not a dlcore checkpoint (not an .npz archive; pickle files are refused)"


def load(path: "str | os.PathLike") -> Any:
    """Read a checkpoint written by :func:`save`. Arrays come back as NumPy arrays on the CPU.

    Raises :class:`~dlcore.errors.CheckpointError` for a truncated, foreign, pickled or
    newer-version file, and FileNotFoundError for a missing one.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        raise IsADirectoryError(f"load: {path} is a folder, not a checkpoint file")
    if not os.path.exists(path):
        raise FileNotFoundError(f"load: {path} does not exist")
    if not zipfile.is_zipfile(path):
        raise CheckpointError(f"load: {path} {_what_is(path)}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            if _META not in archive.files:
                if any(name.endswith(".pkl") for name in archive.files):
                    raise CheckpointError(f"load: {path} holds pickled data (a PyTorch torch.save file?); "
                                          "dlcore reads only dlcore.save files and never unpickles")
                raise CheckpointError(f"load: {path} is an .npz archive but not a dlcore checkpoint (no {_META} entry)")
            meta = json.loads(bytes(archive[_META]).decode("utf-8"))
            if meta.get("format") != FORMAT:
                raise CheckpointError(f"load: {path} has format {meta.get('format')!r}, expected {FORMAT!r}")
            if meta.get("version") != VERSION:
                raise CheckpointError(f"load: {path} has format version {meta.get('version')}, this dlcore reads version {VERSION}")
            return _decode(meta["tree"], archive, path)
    except CheckpointError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"load: {path} is truncated or corrupt ({type(exc).__name__}: {exc})") from None
