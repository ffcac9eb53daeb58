"""Modules: registration order, modes, state dicts, inits, MLP, and XOR learned to 100 %."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import dlcore
import dlcore.functional as F
import dlcore.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.first = nn.Linear(3, 4)
        self.act = nn.ReLU()
        self.second = nn.Linear(4, 2, bias=False)
        self.register_buffer("count", np.zeros(1, np.float32))

    def forward(self, x):
        return self.second(self.act(self.first(x)))


def test_parameters_and_buffers_register_in_insertion_order():
    net = Net()
    assert [n for n, _ in net.named_parameters()] == ["first.weight", "first.bias", "second.weight"]
    # PyTorch's order: each module's parameters, then its buffers, then its children's
    assert list(net.state_dict()) == ["count", "first.weight", "first.bias", "second.weight"]
    assert net.num_parameters() == 3 * 4 + 4 + 4 * 2


def test_train_eval_propagates_to_children():
    net = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5))
    net.eval()
    assert not net[1].training
    net.train()
    assert all(m.training for m in net.modules())


def test_load_state_dict_reports_every_problem_at_once():
    net = Net()
    state = net.state_dict()
    state.pop("first.bias")
    state["extra"] = np.zeros(1)
    state["second.weight"] = np.zeros((3, 3))
    with pytest.raises(dlcore.ShapeError) as err:
        net.load_state_dict(state)
    msg = str(err.value)
    assert "first.bias" in msg and "extra" in msg and "second.weight: expected (2, 4), got (3, 3)" in msg


def test_load_state_dict_non_strict_applies_the_rest():
    src, dst = Net(), Net()
    state = src.state_dict()
    state.pop("first.bias")
    state["extra"] = np.zeros(1)
    result = dst.load_state_dict(state, strict=False)
    assert result.missing_keys == ["first.bias"] and result.unexpected_keys == ["extra"]
    np.testing.assert_array_equal(dst.first.weight.numpy(), src.first.weight.numpy())


def test_state_dict_round_trip_through_save_and_load(tmp_path):
    src, dst = Net(), Net()
    dlcore.save(src.state_dict(), tmp_path / "net.npz")
    dst.load_state_dict(dlcore.load(tmp_path / "net.npz"))
    x = dlcore.randn(5, 3)
    np.testing.assert_array_equal(src(x).numpy(), dst(x).numpy())


@pytest.mark.parametrize("scheme,expected_std", [("he", np.sqrt(2 / 400)), ("xavier", np.sqrt(2 / (400 + 300))), ("normal", 0.1)])
def test_linear_inits_have_the_documented_scale(scheme, expected_std):
    w = nn.Linear(400, 300, init=scheme).weight.numpy()
    assert w.std() == pytest.approx(expected_std, rel=0.03)
    assert abs(w.mean()) < 0.01
    assert nn.Linear(400, 300, init=scheme).bias.numpy().sum() == 0


def test_unknown_init_and_activation_are_clear_errors():
    with pytest.raises(ValueError, match="init expected one of"):
        nn.Linear(2, 2, init="glorot")
    with pytest.raises(ValueError, match="activation"):
        nn.MLP([2, 2], activation="swish")


def test_mlp_structure():
    mlp = nn.MLP([4, 8, 8, 3], activation="tanh", out_activation="softmax")
    kinds = [type(m).__name__ for m in mlp]
    assert kinds == ["Linear", "Tanh", "Linear", "Tanh", "Linear", "Softmax"]
    assert mlp(dlcore.randn(2, 4)).numpy().sum(1) == pytest.approx([1.0, 1.0], abs=1e-6)


def test_flatten_and_errors():
    assert nn.Flatten()(dlcore.zeros(2, 3, 4, 5)).shape == (2, 60)
    with pytest.raises(dlcore.ShapeError, match="did you forget Flatten"):
        nn.Linear(784, 256)(dlcore.zeros(64, 1, 28, 28))


def test_module_to_device_moves_parameters(device):
    net = Net().to(device)
    assert all(p.device.type == device for p in net.parameters())
    out = net(dlcore.randn(2, 3, device=device))
    assert out.device.type == device


def test_xor_mlp_reaches_100_percent():
    dlcore.manual_seed(0)
    x = dlcore.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = dlcore.tensor([[0.0], [1.0], [1.0], [0.0]])
    model = nn.MLP([2, 8, 1], activation="tanh")
    opt = dlcore.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(500):
        opt.zero_grad()
        loss = F.binary_cross_entropy_with_logits(model(x), y)
        loss.backward()
        opt.step()
    pred = (model(x).numpy() > 0).astype(float)
    assert (pred == y.numpy()).all(), f"XOR not learned, loss {loss.item()}"


def test_issue_snippet_runs_unchanged_and_loss_goes_down():
    snippet = '''
import numpy as np, dlcore as dl
import dlcore.nn as nn, dlcore.nn.functional as F
dl.manual_seed(0)
model = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 2))
opt = dl.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
x = dl.tensor(np.array([[0,0],[0,1],[1,0],[1,1]], np.float32)); y = dl.tensor(np.array([0,1,1,0]))
first = F.cross_entropy(model(x), y).item()
for step in range(200):
    opt.zero_grad(); loss = F.cross_entropy(model(x), y); loss.backward(); opt.step()
print(loss.item(), model(x).numpy().argmax(1))
assert loss.item() < first / 10, (first, loss.item())
'''
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", snippet], cwd=root, capture_output=True, text=True, env={"PYTHONPATH": str(root), "PATH": ""})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("[0 1 1 0]")
