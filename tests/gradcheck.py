"""One finite-difference gradient check for every differentiable op.

    gradcheck(lambda x, w: F.linear(x, w), x_array, w_array)

Inputs are float64 NumPy arrays (or Tensors); the function takes Tensors and returns a Tensor.
The check projects the output on a random direction r, so it compares d(sum(r * f))/dx from
autograd with central differences, element by element.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

import dlcore
from dlcore.backend import to_numpy


def gradcheck(fn: Callable, *inputs, eps: float = 1e-6, atol: float = 1e-6, rtol: float = 1e-5,
              device: str = "cpu", check: tuple | None = None, seed: int = 0) -> None:
    """Assert that autograd matches central finite differences for every float input.

    ``check`` selects the input positions to differentiate (default: every float input).
    """
    arrays = [to_numpy(x.array if isinstance(x, dlcore.Tensor) else x) for x in inputs]
    positions = check if check is not None else [i for i, a in enumerate(arrays) if np.asarray(a).dtype.kind == "f"]
    for i in positions:
        assert arrays[i].dtype == np.float64, f"gradcheck input {i} must be float64, got {arrays[i].dtype}"

    def run(values, track):
        tensors = [dlcore.tensor(a, device=device, requires_grad=(j in track)) for j, a in enumerate(values)]
        return tensors, fn(*tensors)

    _, out = run(arrays, ())
    direction = np.random.default_rng(seed).standard_normal(out.shape)

    def objective(values) -> float:
        _, y = run(values, ())
        return float((to_numpy(y.array) * direction).sum())

    tensors, out = run(arrays, positions)
    (out * dlcore.tensor(direction, device=device)).sum().backward()
    for i in positions:
        analytic = np.zeros_like(arrays[i]) if tensors[i].grad is None else tensors[i].grad.numpy()
        numeric = np.zeros_like(arrays[i])
        flat = arrays[i].reshape(-1)
        for k in range(flat.size):
            keep = flat[k]
            flat[k] = keep + eps
            plus = objective(arrays)
            flat[k] = keep - eps
            minus = objective(arrays)
            flat[k] = keep
            numeric.reshape(-1)[k] = (plus - minus) / (2 * eps)
        np.testing.assert_allclose(analytic, numeric, atol=atol, rtol=rtol, err_msg=f"gradient of input {i}")
