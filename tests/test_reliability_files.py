"""Issue 11 item 3: hostile checkpoint and IDX files cost bounded memory and end in a clean error.

Deflate bombs, lying .npy headers, devices, FIFOs, unsupported or encrypted members, metadata of
the wrong JSON type or absurd nesting, IDX headers whose sizes overflow or disagree with the file.
Peak allocations are measured with tracemalloc (NumPy reports its buffers to it).
"""

import gzip
import json
import os
import tracemalloc
import zipfile

import numpy as np
import pytest

import dlcore
from dlcore.archive import MAX_EXPANSION
from dlcore.datasets import IDXFormatError, read_idx
from dlcore.errors import CheckpointError

MB = 1 << 20


def refuses_within(limit_bytes, call, exc=CheckpointError):
    """``call()`` raises ``exc`` and the peak Python/NumPy allocation stays under ``limit_bytes``."""
    tracemalloc.start()
    try:
        with pytest.raises(exc) as info:
            call()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < limit_bytes, f"peak {peak} bytes while refusing: {info.value}"
    return str(info.value)


def npy_header(shape, descr="<f4"):
    header = repr({"descr": descr, "fortran_order": False, "shape": tuple(shape)}).encode("latin1")
    header += b" " * (-(len(header) + 11) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header


def checkpoint_zip(path, members, meta=None, compression=zipfile.ZIP_STORED):
    """A zip shaped like a dlcore checkpoint: the given raw .npy members and metadata."""
    if meta is None:
        meta = {"format": "dlcore-checkpoint", "version": 1, "tree": {k: {"__ndarray__": k} for k in members}}
    text = json.dumps(meta).encode() if not isinstance(meta, bytes) else meta
    with zipfile.ZipFile(path, "w", compression=compression) as z:
        z.writestr("__dlcore__.npy", npy_header((len(text),), "|u1") + text, compress_type=zipfile.ZIP_STORED)
        for name, payload in members.items():
            z.writestr(f"{name}.npy", payload)
    return path


def test_deflate_bomb_is_refused_before_it_expands(tmp_path):
    path = tmp_path / "bomb.npz"
    n = 64 * MB
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        with z.open("a.npy", "w", force_zip64=True) as f:
            f.write(npy_header((n // 4,)))
            zeros = bytes(MB)
            for _ in range(n // MB):
                f.write(zeros)
        z.writestr("__dlcore__.npy", npy_header((2,), "|u1") + b"{}")
    assert path.stat().st_size < n / MAX_EXPANSION
    message = refuses_within(4 * MB, lambda: dlcore.load(path))
    assert "deflate bomb" in message


def test_npy_header_larger_than_its_member_is_refused_without_allocating(tmp_path):
    path = checkpoint_zip(tmp_path / "lie.npz", {"a": npy_header((10**12,)) + bytes(16)})
    message = refuses_within(1 * MB, lambda: dlcore.load(path))
    assert "declares (1000000000000,) float32" in message and "holds 16" in message


@pytest.mark.parametrize("descr,fragment", [("|O", "pickled objects"), ([("a", "<f4")], "dtype"),
                                            ("<f4", "nested deeper")])
def test_object_structured_and_deep_entries_are_refused(tmp_path, descr, fragment):
    payload = npy_header((1,), descr) + bytes(8 if descr == "|O" else 4)
    meta = None
    if descr == "<f4":
        deep = {"__ndarray__": "a"}
        for _ in range(200):
            deep = [deep]
        meta = {"format": "dlcore-checkpoint", "version": 1, "tree": deep}
    path = checkpoint_zip(tmp_path / "x.npz", {"a": payload}, meta=meta)
    with pytest.raises(CheckpointError, match=fragment):
        dlcore.load(path)


@pytest.mark.parametrize("meta,fragment", [
    (b"[1, 2]", "metadata is a list"),
    (b'"text"', "metadata is a str"),
    (b"[" * 200000, "truncated or corrupt"),  # deeper than the JSON parser goes: RecursionError, caught
    (b"\xff\xfe", "truncated or corrupt"),
    (json.dumps({"format": "dlcore-checkpoint", "version": [1], "tree": {}}).encode(), r"format version \[1\]"),
    (json.dumps({"format": "dlcore-checkpoint", "version": 1, "tree": {"a": {"__ndarray__": 3}}}).encode(),
     "bad or repeated array reference"),
    (json.dumps({"format": "dlcore-checkpoint", "version": 1,
                 "tree": [{"__ndarray__": "a"}, {"__ndarray__": "a"}]}).encode(), "bad or repeated"),
])
def test_metadata_of_the_wrong_json_type_or_nesting_is_a_checkpoint_error(tmp_path, meta, fragment):
    path = checkpoint_zip(tmp_path / "m.npz", {"a": npy_header((1,)) + bytes(4)}, meta=meta)
    with pytest.raises(CheckpointError, match=fragment):
        dlcore.load(path)


def test_unsupported_compression_and_encrypted_members_are_refused(tmp_path):
    path = checkpoint_zip(tmp_path / "bz.npz", {"a": npy_header((4,)) + bytes(16)}, compression=zipfile.ZIP_BZIP2)
    with pytest.raises(CheckpointError, match="compression method 12"):
        dlcore.load(path)
    good = tmp_path / "good.npz"
    dlcore.save({"w": np.ones(3)}, good)
    data = bytearray(good.read_bytes())
    for signature, flag_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):  # local and central headers
        start = 0
        while (start := data.find(signature, start)) != -1:
            data[start + flag_at] |= 0x1
            start += 4
    (tmp_path / "enc.npz").write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="is encrypted"):
        dlcore.load(tmp_path / "enc.npz")


def test_overlapping_members_are_refused(tmp_path):
    """Many central-directory entries pointing at the same bytes: the overlapping zip bomb."""
    good = tmp_path / "good.npz"
    dlcore.save({"w": np.ones(1000)}, good)
    with zipfile.ZipFile(good) as z:
        infos = z.infolist()
    data = good.read_bytes()
    cd_start = data.find(b"PK\x01\x02")  # the central directory; its first entry is a0.npy
    entry = infos[0]
    assert entry.filename == "a0.npy"
    first = data[cd_start: cd_start + 46 + len(entry.filename) + len(entry.extra) + len(entry.comment)]
    copies = [first.replace(b"a0.npy", b"c%02d.np" % i) for i in range(50)]  # same bytes, new names
    end = data.find(b"PK\x05\x06")
    eocd = bytearray(data[end:end + 22])
    count = len(infos) + len(copies)
    eocd[8:10] = eocd[10:12] = count.to_bytes(2, "little")
    cd = data[cd_start:end] + b"".join(copies)
    eocd[12:16] = len(cd).to_bytes(4, "little")
    (tmp_path / "overlap.npz").write_bytes(data[:cd_start] + cd + bytes(eocd))
    with pytest.raises(CheckpointError, match="members claim .* compressed bytes"):
        dlcore.load(tmp_path / "overlap.npz")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fifos_and_devices_are_refused_unread(tmp_path):
    fifo = tmp_path / "ck.npz"
    os.mkfifo(fifo)  # opening it would block forever
    with pytest.raises(CheckpointError, match="not a regular file"):
        dlcore.load(fifo)
    with pytest.raises(IDXFormatError, match="not a regular file"):
        read_idx(fifo)
    if os.path.exists("/dev/zero"):
        link = tmp_path / "zero.safetensors"
        link.symlink_to("/dev/zero")
        with pytest.raises(CheckpointError, match="not a regular file"):
            dlcore.load(link)
        (tmp_path / "zero-idx").symlink_to("/dev/zero")
        with pytest.raises(IDXFormatError, match="not a regular file"):
            read_idx(tmp_path / "zero-idx")


def sparse_file(path, head, size):
    with open(path, "wb") as f:
        f.write(head)
        f.truncate(size)
    return path


def test_a_huge_foreign_file_is_refused_from_its_first_bytes(tmp_path):
    big = sparse_file(tmp_path / "huge.npz", b"hello", 1 << 32)  # 4 GiB on paper, nothing on disk
    assert "is not a dlcore checkpoint" in refuses_within(1 * MB, lambda: dlcore.load(big))
    assert "is not an IDX file" in refuses_within(1 * MB, lambda: read_idx(big), IDXFormatError)


def test_idx_header_whose_sizes_overflow_or_disagree_is_refused_before_reading(tmp_path):
    huge = bytes([0, 0, 0x0D, 4]) + b"\xff\xff\xff\xff" * 4  # (2**32 - 1)**4 float32s
    (tmp_path / "overflow").write_bytes(huge + bytes(64))
    message = refuses_within(1 * MB, lambda: read_idx(tmp_path / "overflow"), IDXFormatError)
    assert "is truncated" in message and "needs" in message
    (tmp_path / "overflow.gz").write_bytes(gzip.compress(huge + bytes(64)))
    message = refuses_within(1 * MB, lambda: read_idx(tmp_path / "overflow.gz"), IDXFormatError)
    assert "cannot hold that many" in message
    claims = bytes([0, 0, 0x08, 1]) + (50 * MB).to_bytes(4, "big")  # 50 MB claimed, 1 MB there
    sparse_file(tmp_path / "short", claims, 1 * MB)
    refuses_within(1 * MB // 2, lambda: read_idx(tmp_path / "short"), IDXFormatError)
    (tmp_path / "short.gz").write_bytes(gzip.compress(claims + bytes(MB)))
    assert "is truncated" in refuses_within(4 * MB, lambda: read_idx(tmp_path / "short.gz"), IDXFormatError)


def test_idx_trailing_data_in_gzip_is_found_without_reading_all_of_it(tmp_path):
    labels = bytes([0, 0, 0x08, 1]) + (3).to_bytes(4, "big") + bytes([1, 2, 3])
    (tmp_path / "extra.gz").write_bytes(gzip.compress(labels + bytes(8 * MB)))
    message = refuses_within(1 * MB, lambda: read_idx(tmp_path / "extra.gz"), IDXFormatError)
    assert "longer than its header says" in message
    (tmp_path / "ok.gz").write_bytes(gzip.compress(labels))
    assert read_idx(tmp_path / "ok.gz").tolist() == [1, 2, 3]


# ------------------------------------------------------------------ moved from test_reliability.py
# --------------------------------------------------------------------------- files
def idx_bytes(array, magic=None):
    codes = {np.dtype(np.uint8): 0x08}
    head = bytes([0, 0, codes[array.dtype], array.ndim]) if magic is None else magic.to_bytes(4, "big")
    return head + b"".join(int(n).to_bytes(4, "big") for n in array.shape) + array.tobytes()


@pytest.mark.parametrize("name,payload,kw,fragment", [
    ("train-images-idx3-ubyte", idx_bytes(np.zeros((2, 4, 4), np.uint8))[:-5], {}, "is truncated"),
    ("picture.png", b"\x89PNG\r\n\x1a\n" + bytes(16), {}, "is not an IDX file"),
    ("train-labels-idx1-ubyte", idx_bytes(np.zeros(3, np.uint8)), {"expect_magic": 0x803}, "expected 0x00000803"),
])
def test_bad_idx_files_name_the_file(tmp_path, name, payload, kw, fragment):
    path = tmp_path / name
    path.write_bytes(payload)
    with pytest.raises(IDXFormatError) as info:
        read_idx(path, **kw)
    assert str(path) in str(info.value) and fragment in str(info.value)


def checkpoint_with_meta(path, meta, member=None):
    """A zip laid out like a dlcore checkpoint, with the given metadata (dict or object array)."""
    with zipfile.ZipFile(path, "w") as z:
        with z.open("__dlcore__.npy", "w") as f:
            if isinstance(meta, dict):
                np.lib.format.write_array(f, np.frombuffer(json.dumps(meta).encode(), np.uint8))
            else:
                np.lib.format.write_array(f, meta, allow_pickle=True)
        if member is not None:
            with z.open("a0.npy", "w") as f:
                np.lib.format.write_array(f, member)


def test_checkpoint_format_version_is_checked(tmp_path):
    tree = {"w": {"__ndarray__": "a0"}}
    checkpoint_with_meta(tmp_path / "ok.npz", {"format": "dlcore-checkpoint", "version": 1, "tree": tree}, np.ones(2))
    np.testing.assert_array_equal(dlcore.load(tmp_path / "ok.npz")["w"], np.ones(2))  # the crafted layout is right
    checkpoint_with_meta(tmp_path / "v3.npz", {"format": "dlcore-checkpoint", "version": 3, "tree": tree}, np.ones(2))
    with pytest.raises(CheckpointError, match="v3.npz has format version 3, this dlcore reads versions 1, 2"):
        dlcore.load(tmp_path / "v3.npz")
    checkpoint_with_meta(tmp_path / "other.npz", {"format": "something-else", "version": 1, "tree": tree}, np.ones(2))
    with pytest.raises(CheckpointError, match="has format 'something-else', expected 'dlcore-checkpoint'"):
        dlcore.load(tmp_path / "other.npz")


class MakesMarker:
    path = None

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_pickled_metadata_member_is_refused_and_never_runs(tmp_path):
    # test_serialization.py covers a pickle file and a pickled weight; here the metadata itself is pickled
    marker = tmp_path / "ran"
    MakesMarker.path = str(marker)
    checkpoint_with_meta(tmp_path / "evil.npz", np.array([MakesMarker()], dtype=object))
    with pytest.raises(CheckpointError):
        dlcore.load(tmp_path / "evil.npz")
    assert not marker.exists()


def test_damaged_checkpoints_are_checkpoint_errors(tmp_path):
    path = tmp_path / "c.npz"
    dlcore.save({"w": np.arange(5000.0)}, path)
    data = path.read_bytes()
    cases = {
        "cut.npz": (data[: len(data) // 2], "is truncated or corrupt"),
        "tiny.npz": (data[:10], "is truncated or corrupt"),
        "empty.npz": (b"", "is empty (0 bytes)"),
        "flipped.npz": (data[:2000] + bytes([data[2000] ^ 0xFF]) + data[2001:], "Bad CRC-32"),
        "pickle.npz": (b"\x80\x04K\x01.", "is a pickle file, not a dlcore checkpoint"),
        "text.npz": (b"hello", "is not a dlcore checkpoint"),
    }
    for name, (payload, fragment) in cases.items():
        (tmp_path / name).write_bytes(payload)
        with pytest.raises(CheckpointError) as info:
            dlcore.load(tmp_path / name)
        assert name in str(info.value) and fragment in str(info.value), str(info.value)
    with pytest.raises(FileNotFoundError, match="nope.npz does not exist"):
        dlcore.load(tmp_path / "nope.npz")
    with pytest.raises(IsADirectoryError, match="is a folder"):
        dlcore.load(tmp_path)
    np.testing.assert_array_equal(dlcore.load(path)["w"], np.arange(5000.0))


def test_a_torch_file_is_refused_without_unpickling(tmp_path):
    torch = pytest.importorskip("torch")
    torch.save({"w": torch.ones(2)}, tmp_path / "model.pt")
    with pytest.raises(CheckpointError, match="holds pickled data .*never unpickles"):
        dlcore.load(tmp_path / "model.pt")


def test_reserved_key_cannot_be_saved(tmp_path):
    with pytest.raises(ValueError, match="reserved"):
        dlcore.save({"x": {"__ndarray__": "a0"}}, tmp_path / "c.npz")
    assert not list(tmp_path.iterdir())
