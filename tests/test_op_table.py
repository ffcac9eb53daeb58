"""Every case of tests/op_cases.py on every available device (the ``device`` fixture) x dtype.

For each case: the forward pass against the float64 reference (dtype tolerance), the output
dtype, the gradients by central finite differences (float64) and float32 gradients against the
float64 ones, and that neither forward nor backward writes into an input. Kernel output
buffers are NaN-poisoned (``loader.POISON_OUTPUTS``), so on the GPU an element a kernel forgot
to write fails the comparison.
"""

from __future__ import annotations

import numpy as np
import pytest
from gradcheck import gradcheck
from op_cases import CASES, TOLERANCES

import dlcore
from dlcore.cuda import loader

DTYPES = [np.float32, np.float64]


@pytest.fixture(autouse=True)
def _poison(monkeypatch):
    monkeypatch.setattr(loader, "POISON_OUTPUTS", True)


def _inputs(case, dtype):
    """(float64 reference arrays, arrays cast to ``dtype`` (ints stay ints), differentiated positions)."""
    ref = case.make()
    cast = [a.astype(dtype) if a.dtype.kind == "f" else a for a in ref]
    grad = case.grad if case.grad is not None else tuple(i for i, a in enumerate(ref) if a.dtype.kind == "f")
    return [a.astype(np.float64) if a.dtype.kind == "f" else a for a in cast], cast, grad


def _run(case, arrays, grad, device, g=None):
    """Forward (and, with ``g``, backward) on ``device``; returns (output, grads as NumPy)."""
    tensors = [dlcore.tensor(a, device=device, requires_grad=i in grad) for i, a in enumerate(arrays)]
    out = case.op(*tensors)
    grads = None
    if g is not None:
        out.backward(dlcore.tensor(g.astype(out.dtype), device=device))
        grads = [tensors[i].grad.numpy() for i in grad]
    return out, grads


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_forward_matches_reference_and_keeps_dtype_and_inputs(case, device, dtype):
    ref_in, arrays, grad = _inputs(case, dtype)
    before = [a.copy() for a in arrays]
    expected = case.ref(*ref_in)
    g = np.random.default_rng(0).standard_normal(expected.shape)
    out, grads = _run(case, arrays, grad, device, g)
    assert out.dtype == np.dtype(dtype), f"{case.id}: output dtype {out.dtype} for {np.dtype(dtype)} inputs"
    assert out.device.type == device
    assert all(gr.dtype == np.dtype(dtype) for gr in grads), f"{case.id}: gradient dtypes {[gr.dtype for gr in grads]}"
    rtol, atol = TOLERANCES[np.dtype(dtype)]
    scale = max(1.0, float(np.abs(expected).max(initial=0.0)))
    np.testing.assert_allclose(out.numpy(), expected, rtol=rtol * case.rtol, atol=atol * case.rtol * scale,
                               err_msg=case.id)
    for a, b in zip(arrays, before):
        np.testing.assert_array_equal(a, b, err_msg=f"{case.id} wrote into an input")


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_gradients_match_finite_differences(case, device):
    ref_in, arrays, grad = _inputs(case, np.float64)
    gradcheck(case.op, *arrays, device=device, check=grad)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_float32_gradients_match_float64(case, device):
    ref_in, a64, grad = _inputs(case, np.float64)
    _, a32, _ = _inputs(case, np.float32)
    g = np.random.default_rng(1).standard_normal(case.ref(*ref_in).shape)
    _, g64 = _run(case, a64, grad, device, g)
    _, g32 = _run(case, a32, grad, device, g)
    for i, (x32, x64) in enumerate(zip(g32, g64)):
        scale = max(1.0, float(np.abs(x64).max(initial=0.0)))
        np.testing.assert_allclose(x32, x64, rtol=1e-4 * case.rtol, atol=1e-4 * case.rtol * scale,
                                   err_msg=f"{case.id}: float32 gradient of input {grad[i]}")
