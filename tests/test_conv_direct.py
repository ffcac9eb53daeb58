"""The direct CPU convolution (dlcore/functional/conv_direct.py, dlcore/native/conv_direct.c):
float32 against torch in float64 (forward and every gradient), the pieces split over threads,
partial gradients, the auto rule, forcing, and the fallback when the native library is missing."""

import os

import numpy as np
import pytest

import dlcore
from dlcore import cpu, cpu_native, cpu_threads
from dlcore.functional import conv_direct
from dlcore.functional.conv import conv2d

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.usefixtures("cpu_only")  # a CPU algorithm: run on the CPU under DLCORE_DEVICE=cuda too


@pytest.fixture(autouse=True)
def needs_native():
    if not conv_direct.usable():
        if os.environ.get("CI"):  # CI has gcc and an AVX2 CPU: there this must run
            pytest.fail("the direct convolution's native library is not usable in CI")
        pytest.skip("no C compiler or no AVX2/AVX-512 CPU: the direct kernels cannot run here")


def _torch_conv(x, w, b, pad4, g):
    X, W = torch.tensor(x, dtype=torch.float64, requires_grad=True), torch.tensor(w, dtype=torch.float64, requires_grad=True)
    B = None if b is None else torch.tensor(b, dtype=torch.float64, requires_grad=True)
    t, bo, le, r = pad4
    Y = torch.nn.functional.conv2d(torch.nn.functional.pad(X, (le, r, t, bo)), W, B)
    Y.backward(torch.tensor(g, dtype=torch.float64))
    return Y.detach().numpy(), X.grad.numpy(), W.grad.numpy(), None if B is None else B.grad.numpy()


def _ours(x, w, b, pad4, g, algorithm="direct", needs=(True, True, True)):
    xt, wt = dlcore.tensor(x, requires_grad=needs[0]), dlcore.tensor(w, requires_grad=needs[1])
    bt = None if b is None else dlcore.tensor(b, requires_grad=needs[2])
    with cpu.conv_algorithm(algorithm):
        y = conv2d(xt, wt, bt, padding=pad4)
    assert y._ctx.algorithm == algorithm
    y.backward(dlcore.tensor(g))
    grads = [None if t is None or t.grad is None else t.grad.numpy() for t in (xt, wt, bt)]
    return [y.numpy(), *grads]


def _close(ours, ref, tol=2e-5):
    assert ours.shape == ref.shape and ours.dtype == np.float32
    assert np.abs(ours - ref).max() <= tol * max(1.0, np.abs(ref).max())


# N, C, H, W, F, KH x KW, (top, bottom, left, right): the MNIST CNN's layers; filters that are not
# a multiple of 8 and taps that are not a multiple of 12 (padding in the kernels), 1x1, 5x5 and
# non-square kernels, asymmetric and zero padding, rows longer than one tile, one pixel.
CASES = [
    (64, 16, 14, 14, 32, (3, 3), (1, 1, 1, 1)),
    (5, 1, 28, 28, 16, (3, 3), (1, 1, 1, 1)),
    (3, 3, 9, 11, 7, (3, 3), (1, 1, 1, 1)),
    (2, 2, 8, 8, 5, (3, 3), (0, 0, 0, 0)),
    (3, 4, 13, 10, 9, (3, 3), (2, 1, 0, 2)),
    (2, 5, 7, 13, 17, (5, 5), (2, 2, 2, 2)),
    (2, 6, 6, 6, 3, (1, 1), (0, 0, 0, 0)),
    (1, 3, 8, 40, 4, (2, 3), (1, 0, 2, 1)),
    (1, 1, 1, 1, 1, (1, 1), (0, 0, 0, 0)),
]


@pytest.fixture(params=[512, 256], ids=["avx512", "avx2"])
def isa(request):
    """Both instruction sets' kernels, as far as this CPU has them."""
    old = conv_direct.limit_isa(request.param)
    try:
        if cpu_native.isa() != request.param:
            pytest.skip(f"this CPU has no {request.param}-bit vectors (AVX-512F)")
        yield request.param
    finally:
        conv_direct.limit_isa(old)


@pytest.mark.parametrize("case", CASES)
def test_float32_matches_torch_float64_forward_and_every_gradient(case, isa):
    N, C, H, W, F, (kh, kw), pad4 = case
    rng = np.random.default_rng(sum(case[:5]))
    x = rng.standard_normal((N, C, H, W)).astype(np.float32)
    w = (rng.standard_normal((F, C, kh, kw)) / np.sqrt(C * kh * kw)).astype(np.float32)
    b = rng.standard_normal(F).astype(np.float32)
    oh, ow = H + pad4[0] + pad4[1] - kh + 1, W + pad4[2] + pad4[3] - kw + 1
    g = rng.standard_normal((N, F, oh, ow)).astype(np.float32)
    for ours, ref in zip(_ours(x, w, b, pad4, g), _torch_conv(x, w, b, pad4, g)):
        _close(ours, ref)


@pytest.mark.parametrize("grain", [1, 3, 1000])
def test_pieces_over_threads_give_torch_s_result(grain, monkeypatch, isa):
    # Pieces of 1 and 3 samples (a partial last one) on two threads, and one piece: every
    # worker's weight and bias sums must be added, every sample computed once.
    monkeypatch.setenv("DLCORE_NUM_THREADS", "2")
    monkeypatch.setattr(cpu_threads, "MIN_WORK_PER_THREAD", 1)
    monkeypatch.setattr(conv_direct, "GRAIN", grain)
    monkeypatch.setattr(conv_direct, "_threads", {2: 2})  # two threads even where one measured faster
    rng = np.random.default_rng(grain)
    x, w, b = (rng.standard_normal(s).astype(np.float32) for s in ((7, 4, 6, 6), (8, 4, 3, 3), (8,)))
    g = rng.standard_normal((7, 8, 6, 6)).astype(np.float32)
    for ours, ref in zip(_ours(x, w, b, (1, 1, 1, 1), g), _torch_conv(x, w, b, (1, 1, 1, 1), g)):
        _close(ours, ref)


def test_weight_gradient_is_bitwise_reproducible_on_one_thread_or_two(monkeypatch):
    # Which thread takes which piece varies, and the measured thread count may differ between
    # processes; the pieces and the order of their sums do not.
    monkeypatch.setenv("DLCORE_NUM_THREADS", "2")
    monkeypatch.setattr(cpu_threads, "MIN_WORK_PER_THREAD", 1)
    rng = np.random.default_rng(5)
    x, g = rng.standard_normal((9, 4, 6, 6)).astype(np.float32), rng.standard_normal((9, 8, 6, 6)).astype(np.float32)
    runs = []
    for count in (2, 1, 2):
        monkeypatch.setattr(conv_direct, "_threads", {2: count})
        runs += [conv_direct._weight_grad(x, g, (8, 4, 3, 3), (1, 1), True) for _ in range(10)]
    assert all(np.array_equal(r[0], runs[0][0]) and np.array_equal(r[1], runs[0][1]) for r in runs)


def test_thread_count_is_measured_once():
    count = conv_direct.threads()
    assert count in (1, cpu.num_threads()) and conv_direct.threads() == count


def test_parallel_pieces_cover_every_item_once(monkeypatch):
    monkeypatch.setenv("DLCORE_NUM_THREADS", "3")
    seen, workers = [], set()

    def piece(worker, lo, hi):
        workers.add(worker)
        seen.extend(range(lo, hi))

    count = cpu.parallel_pieces(piece, 10, 3, 1 << 30)
    assert sorted(seen) == list(range(10)) and count == 3 and workers <= {0, 1, 2}
    assert cpu.parallel_pieces(piece, 10, 3, 1 << 30, max_threads=1) == 1


@pytest.mark.parametrize("needs", [(True, False, False), (False, True, False), (False, False, True), (False, True, True)])
def test_partial_gradients(needs):
    rng = np.random.default_rng(3)
    x, w, b = (rng.standard_normal(s).astype(np.float32) for s in ((3, 4, 6, 5), (5, 4, 3, 3), (5,)))
    g = rng.standard_normal((3, 5, 6, 5)).astype(np.float32)
    ours, ref = _ours(x, w, b, (1, 1, 1, 1), g, needs=needs), _torch_conv(x, w, b, (1, 1, 1, 1), g)
    for need, o, r in zip(needs, ours[1:], ref[1:]):
        if need:
            _close(o, r)
        else:
            assert o is None


def test_no_grad_keeps_nothing():
    x = dlcore.tensor(np.ones((2, 3, 5, 5), np.float32), requires_grad=True)
    w = dlcore.tensor(np.ones((4, 3, 3, 3), np.float32), requires_grad=True)
    with cpu.conv_algorithm("direct"):
        with dlcore.no_grad():
            y = conv2d(x, w, padding=1)
        assert y._ctx is None and float(y[0, 0, 2, 2]) == 27.0
        assert conv2d(x, dlcore.tensor(np.ones((4, 3, 3, 3), np.float32)), padding=1)._ctx.x is None  # no dW: dx needs no x
        assert conv2d(x.detach(), w, padding=1)._ctx.x is not None  # dW needs x even when x needs no grad


def _algorithm(x_shape, w_shape, dtype=np.float32, **kw):
    xt = dlcore.tensor(np.ones(x_shape, dtype), requires_grad=True)
    return conv2d(xt, dlcore.tensor(np.ones(w_shape, dtype)), **kw)._ctx.algorithm


def test_auto_rule():
    assert cpu.get_conv_algorithm() == "auto"
    assert _algorithm((64, 16, 14, 14), (32, 16, 3, 3), padding=1) == "direct"   # the MNIST CNN's layers
    assert _algorithm((64, 1, 28, 28), (16, 1, 3, 3), padding=1) == "direct"
    assert _algorithm((64, 1, 28, 28), (6, 1, 5, 5), padding=2) == "direct"      # LeNet
    assert _algorithm((1, 16, 14, 14), (32, 16, 3, 3), padding=1) == "im2col"    # 196 positions
    assert _algorithm((64, 16, 14, 14), (32, 16, 3, 3), np.float64, padding=1) == "im2col"  # float32 only
    assert _algorithm((16, 256, 7, 7), (256, 256, 3, 3), padding=1) == "im2col"  # 590k weights
    assert _algorithm((64, 16, 14, 14), (32, 16, 3, 3), stride=2, padding=1) == "im2col"
    assert _algorithm((64, 16, 14, 14), (32, 16, 3, 3), padding=3) == "im2col"   # padding > kernel - 1
    if dlcore.cpu_jit.enabled(np.ones(1, np.float32)):  # Winograd keeps the shapes it wins (W3)
        assert _algorithm((8, 32, 28, 28), (64, 32, 3, 3), padding=1) == "winograd"
    with cpu.conv_algorithm("im2col"):
        assert _algorithm((64, 16, 14, 14), (32, 16, 3, 3), padding=1) == "im2col"


@pytest.mark.parametrize("bad, match", [
    (dict(stride=2, padding=1), "stride 1"),
    (dict(padding=3), "padding of at most"),
    (dict(dtype=np.float64, padding=1), "float32"),
])
def test_forcing_a_shape_it_cannot_do_raises(bad, match):
    dtype = bad.pop("dtype", np.float32)
    with cpu.conv_algorithm("direct"), pytest.raises(ValueError, match=f"conv2d: conv_algorithm 'direct' needs .*{match}"):
        _algorithm((2, 3, 8, 8), (4, 3, 3, 3), dtype, **bad)


def test_without_the_native_library_auto_falls_back_and_forcing_says_why(monkeypatch, tmp_path):
    monkeypatch.setattr(cpu_native, "_libraries", {})
    monkeypatch.setattr(cpu_native, "_failed", set())
    monkeypatch.setenv("DLCORE_NATIVE_CACHE", str(tmp_path))
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    monkeypatch.setattr(cpu_native.shutil, "which", lambda name: None)
    assert cpu_native.library() is None and cpu_native.isa() == 0 and not conv_direct.usable()
    assert _algorithm((64, 16, 14, 14), (32, 16, 3, 3), padding=1) == "im2col"
    with cpu.conv_algorithm("direct"), pytest.raises(ValueError, match="native library"):
        _algorithm((64, 16, 14, 14), (32, 16, 3, 3), padding=1)
    with cpu_native.native(False):
        assert cpu_native.library() is None


def test_the_library_is_built_once_into_the_cache(monkeypatch, tmp_path):
    monkeypatch.setattr(cpu_native, "_libraries", {})
    monkeypatch.setattr(cpu_native, "_failed", set())
    monkeypatch.setenv("DLCORE_NATIVE_CACHE", str(tmp_path))
    lib = cpu_native.library()
    assert lib is not None and lib.dl_direct_isa() in (256, 512)
    built = sorted(p.name for p in tmp_path.iterdir())
    assert len(built) == 1 and built[0].startswith("conv_direct-") and built[0].endswith(".so")  # no temporaries left
    assert cpu_native.library() is lib


def test_cache_falls_back_to_the_temporary_directory_without_a_writable_home(monkeypatch, tmp_path):
    monkeypatch.delenv("DLCORE_NATIVE_CACHE", raising=False)
    home = tmp_path / "home"
    home.write_text("a file, not a folder: mkdir under it fails")
    monkeypatch.setattr(cpu_native.Path, "home", staticmethod(lambda: home))
    monkeypatch.setattr(cpu_native.tempfile, "gettempdir", lambda: str(tmp_path))
    assert cpu_native.cache_dir().parent == tmp_path and cpu_native.cache_dir().name.startswith("dlcore-native-")


def test_training_matches_im2col():
    # A few SGD steps of the MNIST CNN: the direct path's weights stay within float32 rounding
    # of im2col's.
    from dlcore.models import mnist_cnn

    rng = np.random.default_rng(0)
    X, Y = rng.random((32, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, 32)
    results = []
    for algorithm in ("im2col", "direct"):
        dlcore.manual_seed(0)
        model = mnist_cnn()
        opt = dlcore.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        with cpu.conv_algorithm(algorithm):
            for _ in range(5):
                opt.zero_grad()
                loss = dlcore.nn.functional.cross_entropy(model(dlcore.tensor(X)), dlcore.tensor(Y))
                loss.backward()
                opt.step()
        results.append([p.numpy().copy() for p in model.parameters()])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5)
