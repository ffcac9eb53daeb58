"""``inplace=True`` (F.relu, leaky_relu, elu, silu, dropout, dropout2d and their nn modules)
overwrites the input and returns it, as PyTorch does, with PyTorch's autograd rules: inside a
network the gradients equal torch's; on a leaf that requires grad it is refused."""

from __future__ import annotations

import numpy as np
import pytest

import dlcore
import dlcore.nn as nn
import dlcore.nn.functional as F
from dlcore.autograd import AutogradError

torch = pytest.importorskip("torch")
TF = torch.nn.functional

CASES = [("relu", {}), ("leaky_relu", {"negative_slope": 0.2}), ("elu", {"alpha": 0.7}), ("silu", {})]


@pytest.mark.parametrize("name,kw", CASES, ids=[c[0] for c in CASES])
def test_functional_inplace_overwrites_like_torch(name, kw, device):
    x = np.random.default_rng(1).standard_normal((3, 5))
    ours, theirs = dlcore.tensor(x, device=device), torch.tensor(x)
    out = getattr(F, name)(ours, inplace=True, **kw)
    ref = getattr(TF, name)(theirs, inplace=True, **kw)
    assert out is ours and ref is theirs
    np.testing.assert_allclose(ours.cpu().numpy(), theirs.numpy(), rtol=1e-12, atol=1e-15)
    with pytest.raises(AutogradError, match="leaf tensor that requires grad"):
        getattr(F, name)(dlcore.tensor(x, requires_grad=True, device=device), inplace=True, **kw)


def _net(lib, inplace):
    lib.manual_seed(0)
    return lib.nn.Sequential(lib.nn.Conv2d(2, 3, 3, padding=1, dtype=lib.float64), lib.nn.BatchNorm2d(3, dtype=lib.float64),
                             lib.nn.ReLU(inplace=inplace), lib.nn.Conv2d(3, 2, 3, dtype=lib.float64),
                             lib.nn.LeakyReLU(0.1, inplace=inplace), lib.nn.Flatten(), lib.nn.Linear(32, 5, dtype=lib.float64),
                             lib.nn.ELU(inplace=inplace), lib.nn.Dropout(0.0, inplace=inplace),
                             lib.nn.Linear(5, 4, dtype=lib.float64), lib.nn.SiLU(inplace=inplace))


def test_inplace_layers_in_a_network_give_torchs_gradients(device):
    ours, theirs = _net(dlcore, True).to(device), _net(torch, True)
    theirs.load_state_dict({k: torch.tensor(v.detach().cpu().numpy()) for k, v in ours.state_dict().items()})
    x = np.random.default_rng(2).standard_normal((4, 2, 6, 6))
    xs, ts = dlcore.tensor(x, requires_grad=True, device=device), torch.tensor(x, requires_grad=True)
    y, ty = ours(xs), theirs(ts)
    np.testing.assert_allclose(y.detach().cpu().numpy(), ty.detach().numpy(), rtol=1e-10, atol=1e-12)
    y.square().sum().backward()
    ty.square().sum().backward()
    np.testing.assert_allclose(xs.grad.cpu().numpy(), ts.grad.numpy(), rtol=1e-9, atol=1e-12)
    for (name, p), tp in zip(ours.named_parameters(), theirs.parameters()):
        np.testing.assert_allclose(p.grad.cpu().numpy(), tp.grad.numpy(), rtol=1e-9, atol=1e-12, err_msg=name)


def test_dropout_inplace_zeroes_the_input_itself():
    x = dlcore.ones(1000, dtype=dlcore.float64)
    out = F.dropout(x, 0.5, training=True, inplace=True)
    assert out is x and set(np.unique(x.numpy())) == {0.0, 2.0}
    img = dlcore.ones(2, 8, 3, 3)
    assert F.dropout2d(img, 0.5, inplace=True) is img
    per_channel = img.numpy().reshape(16, 9)
    assert all(len(set(row)) == 1 for row in per_channel)  # whole channels dropped
    assert nn.Dropout(0.5, inplace=True).eval()(x) is x  # eval: the input itself, unchanged


def test_inplace_on_a_view_while_recording_is_a_clear_error():
    """The one listed difference: PyTorch rebases a view's base; dlcore refuses (README)."""
    h = dlcore.ones(2, 3, requires_grad=True) * 2
    with pytest.raises(AutogradError, match=r"relu\(inplace=True\) on a view of another tensor"):
        nn.ReLU(inplace=True)(h.flatten())
    with dlcore.no_grad():
        v = h.flatten()
        assert F.relu(-v, inplace=True).sum().item() == 0.0
