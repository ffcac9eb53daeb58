"""``dlcore.save`` / ``dlcore.load``: checkpoints as .npz archives, written atomically, read without pickle.

A checkpoint holds nested dicts and lists of arrays, tensors, numbers, strings and None.
Arrays go into the zip archive as ``.npy`` members; the structure goes into one JSON member
(``__dlcore__``) with a format version. Loading reads each ``.npy`` header itself
(:mod:`dlcore.archive`): object arrays, and so pickled data, are refused and nothing in the file
runs, and no size is allocated before it is checked against the file. Paths ending in
``.safetensors`` use that format instead (:mod:`dlcore.safetensors_io`).

    >>> import numpy as np, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "ckpt.npz")
    >>> save({"w": np.ones(2), "epoch": 3}, path)
    >>> load(path)["epoch"]
    3
"""

from __future__ import annotations

import json
import os
import struct
import tempfile
import zipfile
import zlib
from typing import Any, Callable

import numpy as np

from .archive import Archive, check_regular_file
from .backend import Device, device, is_gpu_array, to_device, to_numpy
from .errors import CheckpointError, RangeError
from .safetensors_io import SAFETENSORS_SUFFIX, flat_arrays, read_safetensors, write_safetensors
from .tensor import Tensor

FORMAT = "dlcore-checkpoint"
VERSION = 2  # 2 marks saved Tensors (they load back as Tensors); version 1 files still load
READABLE = (1, 2)
_META = "__dlcore__"
_REF = "__ndarray__"
_TENSOR = "tensor"


def _encode(obj: Any, arrays: dict, where: str) -> Any:
    if isinstance(obj, Tensor):  # stored as its array, marked so that it loads back as a Tensor
        return {**_encode(obj.array, arrays, where), _TENSOR: True}
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


MAX_DEPTH = 100  # nesting of the saved structure; deeper metadata is refused, not recursed into


def _decode(obj: Any, archive: Archive, path: str, depth: int, seen: set) -> Any:
    if depth > MAX_DEPTH:
        raise CheckpointError(f"load: {path} is damaged: its structure is nested deeper than {MAX_DEPTH} levels")
    if isinstance(obj, dict):
        if _REF in obj:
            key, tensor = obj[_REF], obj.get(_TENSOR, False)
            if set(obj) - {_REF, _TENSOR} or tensor is not True and tensor is not False or not isinstance(key, str) \
                    or key in seen:
                raise CheckpointError(f"load: {path} is damaged: bad or repeated array reference {obj!r:.80}")
            seen.add(key)
            return Tensor(archive.array(key)) if tensor else archive.array(key)
        return {k: _decode(v, archive, path, depth + 1, seen) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_decode(v, archive, path, depth + 1, seen) for v in obj]
    return obj


def write_atomically(path: "str | os.PathLike", write: Callable[[Any], None]) -> None:
    """Call ``write(file)`` on a temp file in ``path``'s folder, fsync it, then rename it to ``path``.

    A crash mid-save leaves any previous file at ``path`` intact.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=os.path.splitext(path)[1] or ".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
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


def save(obj: Any, path: "str | os.PathLike") -> None:
    """Write ``obj`` to ``path`` atomically: a temp file in the same folder, fsync, then rename.

    A path ending in ``.safetensors`` gets the safetensors format (a flat dict of arrays, e.g.
    a ``state_dict``, readable by ``safetensors.torch.load_file``); any other path an ``.npz``
    checkpoint that holds nested dicts and lists too. A crash mid-save leaves any previous file
    at ``path`` intact.
    """
    path = os.fspath(path)
    if path.endswith(SAFETENSORS_SUFFIX):
        tensors = flat_arrays(obj, "save")
        write_atomically(path, lambda f: write_safetensors(f, tensors))
        return
    arrays: dict[str, np.ndarray] = {}
    tree = _encode(obj, arrays, "checkpoint")
    meta = json.dumps({"format": FORMAT, "version": VERSION, "tree": tree})
    arrays[_META] = np.frombuffer(meta.encode("utf-8"), dtype=np.uint8)
    write_atomically(path, lambda f: np.savez(f, **arrays))


def _what_is(head: bytes) -> str:
    """Why a file that is not a zip archive cannot be a checkpoint, judged from its first bytes."""
    if not head:
        return "is empty (0 bytes); dlcore.save never leaves a partial file, so something else cut it short"
    if head[:1] == b"\x80" or head[:1] in (b"(", b"]", b"}"):
        return "is a pickle file, not a dlcore checkpoint: dlcore never unpickles, since that can run code from the file"
    return "is not a dlcore checkpoint (not an .npz archive; pickle files are refused)"


_BROKEN = (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError, KeyError, IndexError,
           UnicodeDecodeError, struct.error, OverflowError, NotImplementedError, RuntimeError, zlib.error,
           RecursionError, SyntaxError, TypeError)


def _load_npz(path: str) -> Any:
    with open(path, "rb") as f:
        head = f.read(4)
        if not head.startswith(b"PK"):
            raise CheckpointError(f"load: {path} {_what_is(head)}")
        f.seek(0)
        try:
            with Archive(path, f) as archive:
                if _META not in archive.names:
                    if any(name.endswith(".pkl") for name in archive.members):
                        raise CheckpointError(f"load: {path} holds pickled data (a PyTorch torch.save file?); "
                                              "dlcore reads only dlcore.save files and never unpickles")
                    raise CheckpointError(f"load: {path} is an .npz archive but not a dlcore checkpoint "
                                          f"(no {_META} entry)")
                meta = archive.array(_META)
                if meta.dtype != np.uint8 or meta.ndim != 1:
                    raise CheckpointError(f"load: {path} is damaged: its {_META} entry is not JSON bytes")
                meta = json.loads(bytes(meta).decode("utf-8"))
                if not isinstance(meta, dict) or "tree" not in meta:
                    raise CheckpointError(f"load: {path} is damaged: its metadata is a {type(meta).__name__} "
                                          "without a tree")
                if meta.get("format") != FORMAT:
                    raise CheckpointError(f"load: {path} has format {meta.get('format')!r}, expected {FORMAT!r}")
                if meta.get("version") not in READABLE:
                    raise CheckpointError(f"load: {path} has format version {meta.get('version')!r:.40}, "
                                          f"this dlcore reads versions {', '.join(map(str, READABLE))}")
                return _decode(meta["tree"], archive, path, 0, set())
        except CheckpointError:
            raise
        except _BROKEN as exc:
            raise CheckpointError(f"load: {path} is truncated or corrupt ({type(exc).__name__}: {exc!s:.200})") from None


def _moved(obj: Any, dev: Device) -> Any:
    if isinstance(obj, dict):
        return {k: _moved(v, dev) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_moved(v, dev) for v in obj]
    if isinstance(obj, Tensor):
        return obj.to(dev)
    return to_device(obj, dev) if isinstance(obj, np.ndarray) else obj


def load(path: "str | os.PathLike", map_location: "str | Device | None" = None, weights_only: bool = True) -> Any:
    """Read a file written by :func:`save` (``.npz``) or any ``.safetensors`` file.

    Saved Tensors come back as Tensors (every entry of a safetensors file is one) and saved
    arrays as arrays, on the CPU or on ``map_location`` ("cpu", "cuda", "cuda:1" or a Device),
    as with ``torch.load``; files written before Tensors were marked (format version 1) give arrays. ``weights_only`` is accepted for PyTorch's
    sake: dlcore only ever loads data (numbers, strings, arrays), never pickled objects, so
    ``weights_only=True`` always holds and False changes nothing. Raises
    :class:`~dlcore.errors.CheckpointError` for a truncated, foreign, pickled, hostile or
    newer-version file (without allocating more than a small multiple of the file's size),
    and FileNotFoundError for a missing one.
    """
    path = os.fspath(path)
    if map_location is not None and not isinstance(map_location, (str, Device)):
        raise RangeError(f"load expected map_location to be None, 'cpu', 'cuda[:N]' or a Device, got "
                         f"{type(map_location).__name__}; dlcore does not take a function or a dict here")
    dev = None if map_location is None else device(map_location)
    if not isinstance(weights_only, bool):
        raise RangeError(f"load expected weights_only to be True or False, got {weights_only!r}")
    check_regular_file(path, "load")
    if path.endswith(SAFETENSORS_SUFFIX):  # every entry of a safetensors file is a tensor
        result = {name: Tensor(array) for name, array in read_safetensors(path).items()}
    else:
        result = _load_npz(path)
    return result if dev is None or dev.type == "cpu" else _moved(result, dev)
