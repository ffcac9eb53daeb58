"""The safetensors format (Hugging Face's pickle-free tensor files), read and written in NumPy.

A file is an 8-byte little-endian header length N, N bytes of JSON naming each tensor's dtype,
shape and byte range, then the raw little-endian bytes. :func:`dlcore.save` and
:func:`dlcore.load` use it for paths ending in ``.safetensors``, so a PyTorch ``state_dict``
saved with ``safetensors.torch.save_file`` loads into the matching dlcore model and back.

Reading checks the header against the file before anything is allocated: its length, its JSON
(a dict of entries, at most 100 MB, as the reference implementation), every dtype, shape and
byte range, and that the ranges tile the data exactly. So a damaged, truncated or oversized
header is a :class:`~dlcore.errors.CheckpointError`, nothing is allocated beyond the file's
size, and nothing in the file is ever executed.

    >>> import numpy as np, tempfile, os, dlcore
    >>> path = os.path.join(tempfile.mkdtemp(), "m.safetensors")
    >>> dlcore.save({"weight": np.eye(2, dtype=np.float32)}, path)
    >>> dlcore.load(path)["weight"].tolist()
    [[1.0, 0.0], [0.0, 1.0]]
"""

from __future__ import annotations

import json
import os
from typing import Any, BinaryIO

import numpy as np

from .backend import is_gpu_array, to_numpy
from .errors import CheckpointError, DTypeError
from .tensor import Tensor

__all__ = ["SAFETENSORS_SUFFIX", "read_safetensors", "write_safetensors", "flat_arrays"]

SAFETENSORS_SUFFIX = ".safetensors"
MAX_HEADER = 100_000_000  # bytes, the reference implementation's limit
_DTYPES = {"BOOL": "?", "U8": "u1", "I8": "i1", "I16": "<i2", "U16": "<u2", "I32": "<i4", "U32": "<u4",
           "I64": "<i8", "U64": "<u8", "F16": "<f2", "F32": "<f4", "F64": "<f8", "BF16": "<u2"}
_NAMES = {np.dtype(code).newbyteorder("<"): name for name, code in _DTYPES.items() if name != "BF16"}


def flat_arrays(obj: Any, who: str) -> dict[str, np.ndarray]:
    """``{name: little-endian NumPy array}`` from a flat dict of arrays or Tensors (a state_dict)."""
    if not isinstance(obj, dict):
        raise DTypeError(f"{who}: a .safetensors file holds a flat dict of arrays by name (a state_dict), got "
                         f"{type(obj).__name__}; use an .npz path for training state")
    out = {}
    for name, value in obj.items():
        raw = value.array if isinstance(value, Tensor) else value
        if not isinstance(name, str) or not (isinstance(raw, np.ndarray) or is_gpu_array(raw)):
            raise DTypeError(f"{who}: a .safetensors file holds only arrays by string name, got "
                             f"{type(value).__name__} at {name!r}; use an .npz path for nested training state")
        arr = to_numpy(raw)
        little = arr.dtype.newbyteorder("<") if arr.dtype.byteorder == ">" else arr.dtype
        if np.dtype(little).newbyteorder("<") not in _NAMES:
            raise DTypeError(f"{who}: safetensors cannot store {name!r} of dtype {arr.dtype}")
        out[name] = np.ascontiguousarray(arr, dtype=little)
    return out


def write_safetensors(f: BinaryIO, tensors: dict[str, np.ndarray]) -> None:
    """Write ``tensors`` to the open binary file ``f`` (the header padded to 8 bytes, as the reference)."""
    header: dict[str, Any] = {"__metadata__": {"format": "pt"}}  # PyTorch's layouts: (out, in), NCHW
    offset = 0
    for name, arr in tensors.items():
        header[name] = {"dtype": _NAMES[arr.dtype.newbyteorder("<")], "shape": list(arr.shape),
                        "data_offsets": [offset, offset + arr.nbytes]}
        offset += arr.nbytes
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    f.write(len(text).to_bytes(8, "little"))
    f.write(text)
    for arr in tensors.values():
        f.write(arr.tobytes())


def _entries(header: Any, data_len: int, path: str) -> list[tuple[str, np.dtype, tuple, int, int]]:
    if not isinstance(header, dict):
        raise CheckpointError(f"load: {path} has a safetensors header that is a {type(header).__name__}, not a dict")
    metadata = header.pop("__metadata__", None)
    if metadata is not None and not (isinstance(metadata, dict) and
                                     all(isinstance(v, str) for v in metadata.values())):
        raise CheckpointError(f"load: {path} has safetensors __metadata__ that is not a dict of strings")
    entries = []
    for name, entry in header.items():
        where = f"load: {path} tensor {name!r}"
        if not isinstance(entry, dict) or entry.get("dtype") not in _DTYPES:
            got = entry.get("dtype") if isinstance(entry, dict) else entry
            raise CheckpointError(f"{where} has dtype {got!r:.40}; dlcore reads {sorted(_DTYPES)}")
        shape, offsets = entry.get("shape"), entry.get("data_offsets")
        if not (isinstance(shape, list) and all(type(n) is int and n >= 0 for n in shape)):
            raise CheckpointError(f"{where} has a bad shape {shape!r:.60}")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(type(n) is int for n in offsets)
                and 0 <= offsets[0] <= offsets[1] <= data_len):
            raise CheckpointError(f"{where} has data_offsets {offsets!r:.60} outside the {data_len} data bytes")
        dtype = np.dtype(_DTYPES[entry["dtype"]])
        count = 1
        for n in shape:
            count *= n
        if count * dtype.itemsize != offsets[1] - offsets[0]:
            raise CheckpointError(f"{where} declares {tuple(shape)} {entry['dtype']} ({count * dtype.itemsize} "
                                  f"bytes) but its range holds {offsets[1] - offsets[0]}")
        entries.append((name, entry["dtype"], tuple(shape), offsets[0], offsets[1]))
    end = 0
    for name, _, _, begin, stop in sorted(entries, key=lambda e: (e[3], e[4])):
        if begin != end:
            raise CheckpointError(f"load: {path} is damaged: tensor {name!r} starts at byte {begin}, expected {end} "
                                  "(ranges overlap or leave gaps)")
        end = stop
    if end != data_len:
        raise CheckpointError(f"load: {path} is damaged: its tensors hold {end} bytes, the data has {data_len}")
    return entries


def read_safetensors(path: str) -> dict[str, np.ndarray]:
    """``{name: NumPy array}`` from a safetensors file (BF16 becomes float32, exactly)."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise CheckpointError(f"load: {path} is {len(head)} bytes, too short for a safetensors file")
        n = int.from_bytes(head, "little")
        if n > min(size - 8, MAX_HEADER):
            raise CheckpointError(f"load: {path} declares a {n}-byte safetensors header, but the file has "
                                  f"{size} bytes (limit {MAX_HEADER}): truncated or not a safetensors file")
        try:
            header = json.loads(f.read(n).decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise CheckpointError(f"load: {path} has a damaged safetensors header ({type(exc).__name__})") from None
        result = {}
        for name, code, shape, begin, stop in _entries(header, size - 8 - n, path):
            f.seek(8 + n + begin)
            buffer = bytearray(stop - begin)
            if f.readinto(buffer) != len(buffer):
                raise CheckpointError(f"load: {path} is truncated inside tensor {name!r}")
            arr = np.frombuffer(buffer, np.dtype(_DTYPES[code])).reshape(shape)
            if code == "BF16":  # bfloat16 is the top half of a float32
                arr = (arr.astype(np.uint32) << 16).view(np.float32)
            result[name] = arr.astype(arr.dtype.newbyteorder("="), copy=False)
    return result
