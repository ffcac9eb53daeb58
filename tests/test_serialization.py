"""dlcore.save / dlcore.load: round trips, pickle refusal, damaged files, GPU to CPU."""

import pickle
import zipfile

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import dlcore


def test_nested_round_trip(tmp_path):
    obj = {"model": {"w": np.arange(6.0).reshape(2, 3), "b": dlcore.tensor([1.0])}, "epoch": 3, "lr": 0.1,
           "name": "run", "flags": [True, None, 2], "rng": {"state": {"state": 2**100, "inc": 5}}}
    dlcore.save(obj, tmp_path / "c.npz")
    back = dlcore.load(tmp_path / "c.npz")
    np.testing.assert_array_equal(back["model"]["w"], obj["model"]["w"])
    assert back["model"]["b"].dtype == np.float32
    assert back["epoch"] == 3 and back["name"] == "run" and back["flags"] == [True, None, 2]
    assert back["rng"]["state"]["state"] == 2**100


arrays = hnp.arrays(dtype=st.sampled_from([np.float32, np.float64, np.int64, np.uint8, np.bool_]),
                    shape=hnp.array_shapes(min_dims=0, max_dims=3, max_side=4))


@given(st.dictionaries(st.text(min_size=1, max_size=8), arrays, max_size=5))
def test_random_state_dicts_round_trip(tmp_path_factory, state):
    path = tmp_path_factory.mktemp("ckpt") / "s.npz"
    dlcore.save(state, path)
    back = dlcore.load(path)
    assert list(back) == list(state)
    for k in state:
        assert back[k].dtype == state[k].dtype
        np.testing.assert_array_equal(back[k], state[k])


def test_pickle_files_are_refused_and_never_run(tmp_path):
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path = tmp_path / "evil.pt"
    path.write_bytes(pickle.dumps({"w": Evil()}))
    with pytest.raises(dlcore.CheckpointError, match="not a dlcore checkpoint"):
        dlcore.load(path)
    assert not marker.exists()


def test_object_arrays_inside_an_npz_are_refused(tmp_path):
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    good, path = tmp_path / "good.npz", tmp_path / "evil.npz"
    dlcore.save({"w": np.ones(2)}, good)
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(path, "w") as dst:  # same structure, weight swapped
        dst.writestr("__dlcore__.npy", src.read("__dlcore__.npy"))
        with dst.open("a0.npy", "w") as f:
            np.lib.format.write_array(f, np.array([Evil()], dtype=object), allow_pickle=True)
    with pytest.raises(dlcore.CheckpointError):
        dlcore.load(path)
    assert not marker.exists()


def test_truncated_and_foreign_files(tmp_path):
    path = tmp_path / "c.npz"
    dlcore.save({"w": np.ones(1000)}, path)
    data = path.read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(dlcore.CheckpointError):
        dlcore.load(tmp_path / "cut.npz")
    np.savez(tmp_path / "plain.npz", w=np.ones(2))
    with pytest.raises(dlcore.CheckpointError, match="not a dlcore checkpoint"):
        dlcore.load(tmp_path / "plain.npz")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(dlcore.CheckpointError):
        dlcore.load(tmp_path / "text.npz")


def test_unsupported_values_are_clear_errors(tmp_path):
    with pytest.raises(TypeError, match="cannot store"):
        dlcore.save({"f": lambda: 0}, tmp_path / "x.npz")
    with pytest.raises(TypeError, match="keys must be strings or ints"):
        dlcore.save({(1, 2): np.ones(1)}, tmp_path / "x.npz")
    with pytest.raises(ValueError, match="both 1 and '1'"):
        dlcore.save({1: 0, "1": 1}, tmp_path / "x.npz")


def test_int_keys_load_back_as_their_decimal_strings(tmp_path):
    dlcore.save({"state": {0: {"step": 3}, 12: {}}}, tmp_path / "x.npz")
    assert dlcore.load(tmp_path / "x.npz") == {"state": {"0": {"step": 3}, "12": {}}}


def test_save_leaves_no_temp_files_and_replaces_atomically(tmp_path):
    path = tmp_path / "c.npz"
    dlcore.save({"v": np.zeros(1)}, path)
    dlcore.save({"v": np.ones(1)}, path)
    assert [p.name for p in tmp_path.iterdir()] == ["c.npz"]
    assert dlcore.load(path)["v"][0] == 1.0


def test_gpu_model_saves_and_loads_on_cpu(tmp_path, device):
    model = dlcore.nn.Linear(3, 2).to(device)
    dlcore.save(model.state_dict(), tmp_path / "m.npz")
    cpu_model = dlcore.nn.Linear(3, 2)
    cpu_model.load_state_dict(dlcore.load(tmp_path / "m.npz"))
    np.testing.assert_array_equal(cpu_model.weight.numpy(), model.weight.numpy())


def test_saved_tensors_load_back_as_tensors_and_arrays_as_arrays(tmp_path, device):
    """As torch.load: a state_dict's Tensors come back as Tensors (on map_location), arrays stay
    arrays, numbers stay numbers; safetensors entries are all Tensors."""
    model = dlcore.nn.Linear(3, 2).to(device)
    dlcore.save({"model": model.state_dict(), "raw": np.ones(2), "epoch": 4}, tmp_path / "c.npz")
    back = dlcore.load(tmp_path / "c.npz", map_location=device)
    w = back["model"]["weight"]
    assert isinstance(w, dlcore.Tensor) and w.device == model.weight.device and not w.requires_grad
    np.testing.assert_array_equal(w.cpu().numpy(), model.weight.detach().cpu().numpy())
    assert not isinstance(back["raw"], dlcore.Tensor) and back["epoch"] == 4  # an array (moved too)
    assert isinstance(dlcore.load(tmp_path / "c.npz")["model"]["bias"], dlcore.Tensor)  # on the CPU
    dlcore.save(model.state_dict(), tmp_path / "m.safetensors")
    st = dlcore.load(tmp_path / "m.safetensors", map_location=device)
    assert all(isinstance(t, dlcore.Tensor) and t.device == model.weight.device for t in st.values())
    model.load_state_dict(st)
