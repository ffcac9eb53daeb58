"""Reading ``.npz`` checkpoint archives with bounded memory, as a hostile file would be read.

Nothing is allocated from a size the file declares until that size has been checked against
what the file can really hold:

- the path must be a regular file (a symlink to a device or a FIFO is refused before opening);
- every zip member must be stored or deflated (no other method, no encryption), its bytes must
  lie inside the file and not overlap another member's, and a deflated member may expand at most
  :data:`MAX_EXPANSION` times (``dlcore.save`` writes stored members; a deflate bomb is refused);
- each ``.npy`` header's shape and dtype must describe exactly the member's bytes, the dtype must
  be plain numbers or text (no objects, so no pickle), and the header is at most 10 kB.

So loading never takes more than about :data:`MAX_EXPANSION` times the file's size, and a fuzzed
file ends in :class:`~dlcore.errors.CheckpointError`, never MemoryError or a raw zip error.

    >>> import numpy as np, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "a.npz")
    >>> np.savez(path, w=np.arange(3))
    >>> with Archive(path) as archive:
    ...     archive.array("w").tolist()
    [0, 1, 2]
"""

from __future__ import annotations

import os
import stat
import zipfile
from typing import Any

import numpy as np

from .errors import CheckpointError

__all__ = ["Archive", "MAX_EXPANSION", "check_regular_file"]

MAX_EXPANSION = 64  # a deflated member may hold at most this many times its compressed size
_SMALL = 1 << 20  # ... or 1 MiB, whichever is more
_MAX_HEADER = 10_000
_KINDS = "biufcSU"  # booleans, integers, floats, complex, bytes and text


def check_regular_file(path: str, who: str) -> int:
    """The size of ``path`` when it is a regular file; FileNotFoundError / IsADirectoryError /
    CheckpointError (devices, FIFOs, sockets) otherwise. Follows symlinks without opening."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"{who}: {path} does not exist") from None
    if stat.S_ISDIR(info.st_mode):
        raise IsADirectoryError(f"{who}: {path} is a folder, not a file")
    if not stat.S_ISREG(info.st_mode):
        raise CheckpointError(f"{who}: {path} is not a regular file (a device, FIFO or socket?); refused unread")
    return info.st_size


class Archive:
    """A zip archive opened for bounded reading: ``names`` and :meth:`array` (one ``.npy`` member)."""

    def __init__(self, path: str, file: Any = None) -> None:
        self.path = path
        self._file = file if file is not None else open(path, "rb")
        self.size = os.fstat(self._file.fileno()).st_size
        try:
            self._zip = zipfile.ZipFile(self._file)
            infos = self._zip.infolist()
        except Exception:
            self._file.close()
            raise
        self._members = {}
        used = 0
        for info in infos:
            self._check_member(info)
            used += info.compress_size
            self._members[info.filename] = info
        if used > self.size:  # members that share bytes: the classic overlapping zip bomb
            raise CheckpointError(f"load: {path} is damaged: its members claim {used} compressed bytes, "
                                  f"the file has {self.size}")
        self.members = list(self._members)
        self.names = [n[:-4] for n in self._members if n.endswith(".npy")]

    def _check_member(self, info: zipfile.ZipInfo) -> None:
        name = f"{self.path} member {info.filename!r}"
        if info.flag_bits & 0x1:
            raise CheckpointError(f"load: {name} is encrypted; dlcore checkpoints never are")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise CheckpointError(f"load: {name} uses compression method {info.compress_type}; "
                                  "only stored or deflated members are read")
        if info.header_offset + info.compress_size > self.size:
            raise CheckpointError(f"load: {name} is truncated: it reaches past the end of the file")
        if info.compress_type == zipfile.ZIP_STORED and info.file_size != info.compress_size:
            raise CheckpointError(f"load: {name} is damaged: stored, but {info.compress_size} bytes "
                                  f"claim to hold {info.file_size}")
        limit = max(_SMALL, MAX_EXPANSION * info.compress_size)
        if info.file_size > limit:
            raise CheckpointError(f"load: {name} would expand {info.compress_size} bytes to {info.file_size} "
                                  f"(more than {MAX_EXPANSION}x: a deflate bomb?); refused. dlcore.save writes "
                                  "uncompressed archives")

    def __enter__(self) -> "Archive":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        self._zip.close()
        self._file.close()

    def array(self, key: str) -> np.ndarray:
        """The array of member ``key + '.npy'``, after its header was checked against its size."""
        info = self._members.get(f"{key}.npy") if isinstance(key, str) else None
        if info is None:
            raise CheckpointError(f"load: {self.path} is damaged: array {key!r} is missing")
        where = f"{self.path} member {info.filename!r}"
        with self._zip.open(info) as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(f, max_header_size=_MAX_HEADER)
            elif version == (2, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(f, max_header_size=_MAX_HEADER)
            else:
                raise CheckpointError(f"load: {where} has .npy format version {version}; dlcore reads 1.0 and 2.0")
            if dtype.hasobject:
                raise CheckpointError(f"load: {where} holds pickled objects, which dlcore never loads")
            if dtype.fields is not None or dtype.subdtype is not None or dtype.kind not in _KINDS:
                raise CheckpointError(f"load: {where} has dtype {dtype}; dlcore stores plain numbers and text")
            count = 1
            for n in shape:
                count *= int(n)
            nbytes = count * dtype.itemsize
            if nbytes != info.file_size - f.tell():
                raise CheckpointError(f"load: {where} is damaged: its header declares {shape} {dtype} "
                                      f"({nbytes} bytes) but it holds {info.file_size - f.tell()}")
            buffer = bytearray(nbytes)
            view, got = memoryview(buffer), 0
            while got < nbytes:  # in chunks, so no second copy of the array is ever held
                chunk = f.read(min(1 << 22, nbytes - got))
                if not chunk:
                    break
                view[got:got + len(chunk)] = chunk
                got += len(chunk)
            if got != nbytes:
                raise CheckpointError(f"load: {where} is truncated: {got} of {nbytes} bytes")
            f.read(1)  # reach the end of the member, where zipfile checks its CRC
        array = np.frombuffer(buffer, dtype=dtype)
        return array.reshape(shape[::-1]).T if fortran else array.reshape(shape)
