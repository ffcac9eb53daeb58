"""Winograd 3x3 convolution (dlcore/functional/winograd.py): against torch in float64 (forward and
every gradient), float32 accuracy against a float64 reference on realistic activations, finite
differences, the per-shape choice and the forcing switch."""

import numpy as np
import pytest

import dlcore
from dlcore import cpu, cpu_jit, cpu_threads
from dlcore.functional import winograd
from dlcore.functional.conv import conv2d
from dlcore.functional.winograd import tile_size, transforms
from tests.gradcheck import gradcheck

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.usefixtures("cpu_only")  # Winograd is a CPU algorithm (cpu.CPU_ALGORITHMS): run on the CPU under DLCORE_DEVICE=cuda too


def _torch_conv(x, w, b, pad4, g):
    """Forward and (dx, dw, db) of torch's conv2d in float64, with explicit (t, b, l, r) padding."""
    X = torch.tensor(x, requires_grad=True)
    W = torch.tensor(w, requires_grad=True)
    B = torch.tensor(b, requires_grad=True) if b is not None else None
    t, bo, le, r = pad4
    Y = torch.nn.functional.conv2d(torch.nn.functional.pad(X, (le, r, t, bo)), W, B)
    Y.backward(torch.tensor(g))
    return Y.detach().numpy(), X.grad.numpy(), W.grad.numpy(), None if B is None else B.grad.numpy()


def _ours(x, w, b, pad4, g, algorithm="winograd"):
    xt, wt = dlcore.tensor(x, requires_grad=True), dlcore.tensor(w, requires_grad=True)
    bt = None if b is None else dlcore.tensor(b, requires_grad=True)
    with cpu.conv_algorithm(algorithm):
        y = conv2d(xt, wt, bt, padding=pad4)
    assert y._ctx.algorithm == algorithm
    y.backward(dlcore.tensor(g))
    return y.numpy(), xt.grad.numpy(), wt.grad.numpy(), None if bt is None else bt.grad.numpy()


# N, C, H, W, F, (top, bottom, left, right): odd sizes that leave partial tiles, asymmetric and
# zero padding, images smaller than one tile, F(2x2) (small outputs) and F(4x4) (larger ones).
CASES = [
    (2, 3, 7, 9, 4, (1, 1, 1, 1)),
    (1, 2, 6, 6, 3, (0, 0, 0, 0)),
    (2, 4, 13, 10, 5, (2, 1, 0, 2)),
    (3, 5, 3, 4, 2, (1, 1, 1, 1)),
    (1, 3, 16, 12, 4, (1, 1, 1, 1)),
    (2, 2, 5, 5, 3, (3, 0, 1, 4)),
]


@pytest.mark.parametrize("case", CASES)
def test_winograd_matches_torch_float64_forward_and_every_gradient(case, cpu_kernels):
    N, C, H, W, F, pad4 = case
    rng = np.random.default_rng(sum(case[:5]))
    x, w, b = rng.standard_normal((N, C, H, W)), rng.standard_normal((F, C, 3, 3)), rng.standard_normal(F)
    oh, ow = H + pad4[0] + pad4[1] - 2, W + pad4[2] + pad4[3] - 2
    g = rng.standard_normal((N, F, oh, ow))
    for ours, ref in zip(_ours(x, w, b, pad4, g), _torch_conv(x, w, b, pad4, g)):
        assert ours.shape == ref.shape and ours.dtype == np.float64
        np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("tiles_per_block", [1, 9, 10_000])
def test_sample_blocks_give_torch_s_result(tiles_per_block, monkeypatch):
    # The compiled F(4x4) path runs by sample blocks (winograd._in_blocks) on dlcore's threads:
    # one sample per block, blocks of 2 with a partial last one in each thread's share (7 samples
    # of 4 tiles), and one block. dW is summed over blocks and threads.
    if not cpu_jit.available():
        pytest.skip("needs Numba: the blocked path is the compiled one")
    monkeypatch.setattr(winograd, "TILES_PER_BLOCK", tiles_per_block)
    monkeypatch.setenv("DLCORE_NUM_THREADS", "2")  # two shares of the samples, also on a 1-CPU runner
    monkeypatch.setattr(cpu_threads, "MIN_WORK_PER_THREAD", 1)  # ... although the arrays are tiny
    rng = np.random.default_rng(tiles_per_block)
    x, w, b = rng.standard_normal((7, 3, 8, 7)), rng.standard_normal((5, 3, 3, 3)), rng.standard_normal(5)
    g = rng.standard_normal((7, 5, 8, 7))
    for ours, ref in zip(_ours(x, w, b, (1, 1, 1, 1), g), _torch_conv(x, w, b, (1, 1, 1, 1), g)):
        np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=1e-10)


def test_both_tile_sizes_are_exercised():
    assert {tile_size(H + sum(p[:2]) - 2, W + sum(p[2:]) - 2) for _, _, H, W, _, p in CASES} == {2, 4}


def test_transforms_reproduce_a_1d_correlation_exactly():
    # F(m, 3) in 1-D: y = A^T [(G g) * (B^T d)]; kron(A^T, A^T) etc. are its 2-D form.
    rng = np.random.default_rng(0)
    for m in (2, 4):
        d, g = rng.standard_normal(m + 2), rng.standard_normal(3)
        bt, gg, at = (np.array([[float(v) for v in row] for row in mat]) for mat in winograd._MATRICES[m])
        np.testing.assert_allclose(at @ ((gg @ g) * (bt @ d)), np.correlate(d, g, "valid"), atol=1e-12)
        kb, kg, ka = transforms(m, np.float64)
        np.testing.assert_allclose(kb, np.kron(bt, bt))


def _realistic(shape_x, shape_w, seed=0):
    """ReLU activations (half zeros, non-negative) and He-initialised filters, as in a trained CNN layer."""
    rng = np.random.default_rng(seed)
    x = np.maximum(rng.standard_normal(shape_x), 0)
    w = rng.standard_normal(shape_w) * np.sqrt(2.0 / (shape_w[1] * 9))
    return x, w


@pytest.mark.parametrize("shape", [(4, 32, 28, 28, 16), (4, 16, 14, 14, 32), (2, 64, 7, 7, 8)])
def test_float32_within_1e4_of_a_float64_reference(shape, cpu_kernels):
    N, C, H, W, F = shape
    x, w = _realistic((N, C, H, W), (F, C, 3, 3))
    b = np.random.default_rng(1).standard_normal(F) * 0.1
    g = np.random.default_rng(2).standard_normal((N, F, H, W))
    ref = _torch_conv(x, w, b, (1, 1, 1, 1), g)
    f32 = _ours(*(a.astype(np.float32) for a in (x, w, b)), (1, 1, 1, 1), g.astype(np.float32))
    for ours, exact, name in zip(f32, ref, ("y", "dx", "dw", "db")):
        assert ours.dtype == np.float32
        rel = np.abs(ours - exact).max() / np.abs(exact).max()
        assert rel < 1e-4, f"{name}: relative error {rel:.2e}"


def test_float32_agrees_with_the_im2col_path():
    x, w = _realistic((3, 8, 12, 12), (5, 8, 3, 3), seed=3)
    x, w = x.astype(np.float32), w.astype(np.float32)
    b = np.linspace(-1, 1, 5, dtype=np.float32)
    g = np.random.default_rng(4).standard_normal((3, 5, 12, 12)).astype(np.float32)
    for a, c in zip(_ours(x, w, b, (1, 1, 1, 1), g, "winograd"), _ours(x, w, b, (1, 1, 1, 1), g, "im2col")):
        np.testing.assert_allclose(a, c, rtol=1e-4, atol=1e-4 * np.abs(c).max())


@pytest.mark.parametrize("hw", [(5, 6), (8, 8)])  # F(2x2); F(4x4) at padding 1 (compiled transforms with Numba)
def test_winograd_gradcheck_float64(hw, cpu_kernels):
    rng = np.random.default_rng(5)
    x, w, b = rng.standard_normal((2, 3) + hw), rng.standard_normal((2, 3, 3, 3)), rng.standard_normal(2)
    with cpu.conv_algorithm("winograd"):
        gradcheck(lambda x, w, b: conv2d(x, w, b, padding=1), x, w, b)
        gradcheck(lambda x, w: conv2d(x, w, padding=(0, 2)), x, w)


def test_partial_gradients_and_no_grad():
    rng = np.random.default_rng(6)
    x, w = rng.standard_normal((2, 8, 6, 6)), rng.standard_normal((3, 8, 3, 3))
    g = np.ones((2, 3, 6, 6))
    ref = _torch_conv(x, w, None, (1, 1, 1, 1), g)
    for x_grad, w_grad in ((True, False), (False, True)):
        xt, wt = dlcore.tensor(x, requires_grad=x_grad), dlcore.tensor(w, requires_grad=w_grad)
        conv2d(xt, wt, padding=1).sum().backward()
        assert (xt.grad is None) != x_grad and (wt.grad is None) != w_grad
        np.testing.assert_allclose((xt if x_grad else wt).grad.numpy(), ref[1 if x_grad else 2], rtol=1e-10)
    with dlcore.no_grad():
        y = conv2d(dlcore.tensor(x), dlcore.tensor(w), padding=1)
    assert y._ctx is None
    np.testing.assert_allclose(y.numpy(), ref[0], rtol=1e-10, atol=1e-12)


def test_auto_rule_picks_winograd_only_where_it_pays_and_can_be_forced(cpu_kernels):
    def algorithm(x_shape, w_shape, **kw):
        xt = dlcore.tensor(np.ones(x_shape, np.float32), requires_grad=True)
        return conv2d(xt, dlcore.tensor(np.ones(w_shape, np.float32)), **kw)._ctx.algorithm

    assert cpu.get_conv_algorithm() == "auto"
    assert algorithm((2, 32, 8, 8), (32, 32, 3, 3), padding=1) == "winograd"
    assert algorithm((2, 32, 7, 7), (32, 32, 3, 3), padding=1) == "im2col"     # 4x4 tiles waste 23 %
    assert algorithm((2, 1, 8, 8), (4, 1, 3, 3), padding=1) == "im2col"        # too few channels
    # C x F at least 1024, or 512 with the compiled transforms (winograd.MIN_GEMM_SIZE*)
    compiled = cpu_kernels == "compiled"
    assert algorithm((2, 16, 8, 8), (32, 16, 3, 3), padding=1) == ("winograd" if compiled else "im2col")  # 512
    assert algorithm((2, 16, 8, 8), (16, 16, 3, 3), padding=1) == "im2col"     # 256: won or lost by shape
    assert algorithm((2, 8, 8, 8), (16, 8, 3, 3), padding=1) == "im2col"       # 128: GEMMs too small
    assert algorithm((2, 16, 8, 8), (64, 16, 3, 3), padding=1) == "winograd"   # 1024
    assert algorithm((2, 16, 8, 8), (4, 16, 3, 3), stride=2) == "im2col"       # strided
    assert algorithm((2, 16, 8, 8), (4, 16, 5, 5)) == "im2col"                 # not 3x3
    assert algorithm((2, 16, 8, 8), (4, 16, 3, 3), dilation=2) == "im2col"     # dilated
    with cpu.conv_algorithm("im2col"):
        assert algorithm((2, 16, 8, 8), (4, 16, 3, 3), padding=1) == "im2col"
    with cpu.conv_algorithm("winograd"):
        assert algorithm((2, 1, 8, 8), (4, 1, 3, 3), padding=1) == "winograd"
        with pytest.raises(ValueError, match="winograd.*stride"):
            algorithm((2, 16, 8, 8), (4, 16, 3, 3), stride=2)
    x16 = dlcore.tensor(np.ones((2, 16, 8, 8), np.float16), requires_grad=True)
    assert conv2d(x16, dlcore.tensor(np.ones((4, 16, 3, 3), np.float16)), padding=1)._ctx.algorithm == "im2col"
    assert cpu.get_conv_algorithm() == "auto"
    with pytest.raises(ValueError, match="set_conv_algorithm expected one of"):
        cpu.set_conv_algorithm("fft")


def test_forward_keeps_only_the_transformed_input():
    # The saved state for dW is V: (m+2)^2 / m^2 floats per input pixel and channel (2.25 for
    # F(4x4)), not im2col's 9 per output pixel; without a weight gradient nothing is kept.
    x = dlcore.tensor(np.ones((2, 8, 16, 16), np.float32), requires_grad=True)
    w = dlcore.tensor(np.ones((4, 8, 3, 3), np.float32), requires_grad=True)
    with cpu.conv_algorithm("winograd"):
        y = conv2d(x, w, padding=1)
        assert y._ctx.v.size == 36 * 8 * 2 * 4 * 4
        assert conv2d(x, dlcore.tensor(np.ones((4, 8, 3, 3), np.float32)), padding=1)._ctx.v is None
