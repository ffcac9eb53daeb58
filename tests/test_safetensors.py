"""Issue 17 (safetensors) and issue 14 (load's map_location / weights_only): dlcore.save/load pick the
safetensors format by suffix; files move between PyTorch and dlcore by name with the same outputs;
damaged files are CheckpointErrors that never allocate more than the file holds.
"""

import json
import tracemalloc

import numpy as np
import pytest

import dlcore
import dlcore.nn as nn
from dlcore.errors import CheckpointError, DTypeError, RangeError
from dlcore.nn.conv import Conv2d

safetensors = pytest.importorskip("safetensors")
torch = pytest.importorskip("torch")
from safetensors.torch import load_file, save_file  # noqa: E402


def dl_model():
    return nn.Sequential(Conv2d(1, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 4 * 4, 5))


def torch_model():
    return torch.nn.Sequential(torch.nn.Conv2d(1, 3, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(48, 5))


def x():
    return np.random.default_rng(0).standard_normal((2, 1, 6, 6)).astype(np.float32)


def test_pytorch_file_loads_into_the_dlcore_model_with_the_same_outputs(tmp_path):
    torch.manual_seed(0)
    theirs = torch_model()
    save_file(theirs.state_dict(), tmp_path / "m.safetensors")
    ours = dl_model()
    ours.load_state_dict(dlcore.load(tmp_path / "m.safetensors"))
    expected = theirs(torch.from_numpy(x())).detach().numpy()
    np.testing.assert_allclose(ours(dlcore.tensor(x())).numpy(), expected, rtol=1e-5, atol=1e-6)


def test_dlcore_file_loads_with_safetensors_torch_into_the_pytorch_model(tmp_path):
    dlcore.manual_seed(0)
    ours = dl_model()
    dlcore.save(ours.state_dict(), tmp_path / "m.safetensors")
    theirs = torch_model()
    theirs.load_state_dict(load_file(tmp_path / "m.safetensors"))
    expected = ours(dlcore.tensor(x())).numpy()
    np.testing.assert_allclose(theirs(torch.from_numpy(x())).detach().numpy(), expected, rtol=1e-5, atol=1e-6)


def test_dtypes_round_trip_and_bfloat16_becomes_float32(tmp_path):
    arrays = {"f64": np.arange(3.0), "i64": np.arange(4), "u8": np.arange(5, dtype=np.uint8),
              "b": np.array([True, False]), "f16": np.ones(2, np.float16), "empty": np.zeros((0, 3), np.float32)}
    dlcore.save(arrays, tmp_path / "a.safetensors")
    back = dlcore.load(tmp_path / "a.safetensors")
    for k, v in arrays.items():
        assert back[k].dtype == v.dtype and back[k].shape == v.shape
        np.testing.assert_array_equal(back[k], v)
    save_file({"w": torch.tensor([1.5, -2.0, 3.25], dtype=torch.bfloat16)}, tmp_path / "bf.safetensors")
    w = dlcore.load(tmp_path / "bf.safetensors")["w"]
    assert w.dtype == np.float32 and w.tolist() == [1.5, -2.0, 3.25]


def test_only_flat_dicts_of_arrays_go_into_safetensors(tmp_path):
    with pytest.raises(DTypeError, match="flat dict of arrays"):
        dlcore.save([np.ones(2)], tmp_path / "a.safetensors")
    with pytest.raises(DTypeError, match="use an .npz path"):
        dlcore.save({"epoch": 3}, tmp_path / "a.safetensors")
    assert not list(tmp_path.iterdir())


def st_file(header, data=b""):
    text = json.dumps(header).encode()
    return len(text).to_bytes(8, "little") + text + data


DAMAGED = [
    ("too-short", b"\x01\x02", "too short"),
    ("oversized-header", (2**62).to_bytes(8, "little") + b"{}", "4611686018427387904-byte safetensors header"),
    ("header-past-end", (100).to_bytes(8, "little") + b"{}", "100-byte safetensors header"),
    ("not-json", (4).to_bytes(8, "little") + b"\xff{[}", "damaged safetensors header"),
    ("json-list", st_file([1, 2]), "header that is a list"),
    ("deep-json", len(b"[" * 100000).to_bytes(8, "little") + b"[" * 100000,
     "damaged safetensors header"),
    ("bad-dtype", st_file({"w": {"dtype": "F128", "shape": [1], "data_offsets": [0, 16]}}, bytes(16)), "'F128'"),
    ("bad-shape", st_file({"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}, bytes(4)), "bad shape"),
    ("shape-vs-bytes", st_file({"w": {"dtype": "F32", "shape": [10**12], "data_offsets": [0, 4]}}, bytes(4)),
     "declares (1000000000000,) F32"),
    ("offsets-past-end", st_file({"w": {"dtype": "U8", "shape": [8], "data_offsets": [0, 8]}}, bytes(4)),
     "outside the 4 data bytes"),
    ("overlap", st_file({"a": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]},
                         "b": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]}}, bytes(4)), "overlap"),
    ("gap", st_file({"a": {"dtype": "U8", "shape": [2], "data_offsets": [0, 2]}}, bytes(4)), "hold 2 bytes"),
    ("bad-metadata", st_file({"__metadata__": {"a": 1}}), "__metadata__"),
]


@pytest.mark.parametrize("payload,fragment", [c[1:] for c in DAMAGED], ids=[c[0] for c in DAMAGED])
def test_damaged_safetensors_files_are_checkpoint_errors(tmp_path, payload, fragment):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(payload)
    tracemalloc.start()
    try:
        with pytest.raises(CheckpointError) as info:
            dlcore.load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(path) in str(info.value) and fragment in str(info.value), str(info.value)
    assert peak < 2 * len(payload) + (1 << 20), f"{peak} bytes allocated for a {len(payload)}-byte file"


def test_truncated_copies_of_a_real_file_are_all_refused(tmp_path):
    dlcore.save(dl_model().state_dict(), tmp_path / "m.safetensors")
    data = (tmp_path / "m.safetensors").read_bytes()
    for cut in range(0, len(data), max(1, len(data) // 40)):
        (tmp_path / "cut.safetensors").write_bytes(data[:cut])
        with pytest.raises(CheckpointError):
            dlcore.load(tmp_path / "cut.safetensors")


def test_map_location_and_weights_only_follow_torch_load(tmp_path):
    dlcore.save({"w": np.ones(2)}, tmp_path / "c.npz")
    assert isinstance(dlcore.load(tmp_path / "c.npz", map_location="cpu")["w"], np.ndarray)
    assert dlcore.load(tmp_path / "c.npz", map_location=dlcore.device("cpu"), weights_only=False)["w"].sum() == 2
    with pytest.raises(RangeError, match="map_location"):
        dlcore.load(tmp_path / "c.npz", map_location=lambda storage, loc: storage)
    with pytest.raises(RangeError, match="weights_only"):
        dlcore.load(tmp_path / "c.npz", weights_only="yes")


@pytest.mark.parametrize("device", ["cuda"], indirect=True)
def test_map_location_cuda_moves_the_arrays(tmp_path, device):
    dlcore.save({"w": np.ones(2), "nested": [np.zeros(1)]}, tmp_path / "c.npz")
    loaded = dlcore.load(tmp_path / "c.npz", map_location=device)
    assert dlcore.backend.is_gpu_array(loaded["w"]) and dlcore.backend.is_gpu_array(loaded["nested"][0])
