"""The CPU CUDA emulator itself (dlcore/emulator): schedules, barrier and warp checks, poisoned
shared memory, guarded buffers, launch-ABI checks, float32 flush-to-zero and the build cache,
on small CUDA sources written here; then the whole GPU path under ``DLCORE_CUDA_EMULATE=1``:
``dlcore.cuda.is_available()``, ``dlcore.device("cuda")``, tensors and models on "cuda",
training with ``fit``, ``python -m dlcore info``, and NumPy never mixing with device arrays.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import dlcore
import dlcore.functional as F
from dlcore import nn
from dlcore.emulator import emulator_status
from dlcore.emulator.build import EmulatorError, find_entry_points
from dlcore.emulator.device_array import DeviceMixError
from dlcore.emulator.kernel import POLICIES, Module
from dlcore.errors import DeviceError

pytestmark = pytest.mark.skipif(not emulator_status()[0], reason=emulator_status()[1])

SOURCE = r"""
#define FULL_MASK 0xffffffffu
#define DEFINE_BLOCK_SUM(NAME, BARRIER)                                                   \
    extern "C" __global__ void NAME(const float* __restrict__ x, float* __restrict__ out, int n) { \
        __shared__ float sh[256];                                                          \
        sh[threadIdx.x] = (int)threadIdx.x < n ? x[threadIdx.x] : 0.0f;                    \
        BARRIER                                                                            \
        if (threadIdx.x == 0) {                                                            \
            float s = 0.0f;                                                                \
            for (unsigned i = 0; i < blockDim.x; ++i) s += sh[i];                          \
            out[blockIdx.x] = s;                                                           \
        }                                                                                  \
    }
DEFINE_BLOCK_SUM(block_sum, __syncthreads();)
DEFINE_BLOCK_SUM(block_sum_racy, )

extern "C" __global__ void early_exit(const float* __restrict__ x, float* __restrict__ out, int n) {
    if ((int)threadIdx.x >= n) return;
    __syncthreads();
    out[threadIdx.x] = x[threadIdx.x];
}
extern "C" __global__ void warp_sum(const float* __restrict__ x, float* __restrict__ out) {
    float v = x[blockIdx.x * blockDim.x + threadIdx.x];
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(FULL_MASK, v, o);
    if ((threadIdx.x & 31) == 0) out[(blockIdx.x * blockDim.x + threadIdx.x) / 32] = v;
}
extern "C" __global__ void stale_shared(float* __restrict__ out) {
    __shared__ float s[1];
    if (blockIdx.x == 0 && threadIdx.x == 0) s[0] = 1.0f;
    __syncthreads();
    if (threadIdx.x == 0) out[blockIdx.x] = s[0];
}
extern "C" __global__ void write_past_end(float* __restrict__ out, int n) {
    if (threadIdx.x == 0) out[n] = 1.0f;
}
extern "C" __global__ void read_past_end(const float* __restrict__ x, float* __restrict__ out, int n) {
    if (threadIdx.x == 0) out[0] = x[n];
}
extern "C" __global__ void copy_vec(const float4* __restrict__ x, float4* __restrict__ y, long long n) {
    for (long long i = threadIdx.x; i < n; i += blockDim.x) y[i] = x[i];
}
extern "C" __global__ void half_f32(const float* __restrict__ x, float* __restrict__ y) { y[0] = x[0] * 0.5f; }
extern "C" __global__ void half_f64(const double* __restrict__ x, double* __restrict__ y) { y[0] = x[0] * 0.5; }
extern "C" __global__ void signed_overflow(int* __restrict__ out, int n) { out[0] = n * (int)(4 + threadIdx.x); }
extern "C" __global__ void axpy(const double* x, double* y, double a, long long n) {
    for (long long i = threadIdx.x; i < n; i += blockDim.x) y[i] += a * x[i];
}
"""
ALL = tuple(POLICIES)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def mod():
    return Module(code=SOURCE, name="emulator_test.cu")


def f32(*shape, seed=0):
    return np.random.default_rng(seed).uniform(0.5, 1.5, shape).astype(np.float32)


# --------------------------------------------------------------------------- discovery + build
def test_entry_points_are_discovered_from_the_source_including_macro_generated_ones(mod):
    assert mod.entry_points == sorted(["axpy", "block_sum", "block_sum_racy", "copy_vec", "early_exit", "half_f32",
                                       "half_f64", "read_past_end", "signed_overflow", "stale_shared", "warp_sum",
                                       "write_past_end"])
    params = mod.library.signatures["block_sum"]
    assert [p.code for p in params] == ["cptr:f32", "ptr:f32", "i32"]
    assert [p.restrict for p in params] == [True, True, False]
    assert find_entry_points('extern "C" EMU_GLOBAL_MARK void k(int a, const double* __restrict__ b) {}') == {
        "k": ["int a", "const double* __restrict__ b"]}


def test_builds_are_cached_by_content_outside_the_source_tree(tmp_path, monkeypatch):
    from dlcore.emulator import build

    monkeypatch.setenv("DLCORE_EMU_CACHE", str(tmp_path))
    monkeypatch.setattr(build, "_libraries", {})
    text = 'extern "C" __global__ void one(float* __restrict__ y) { y[0] = 1.0f; }\n'
    build.library(text, "one.cu")
    built = sorted(tmp_path.glob("*.so"))
    assert len(built) == 1 and built[0].name.startswith("one-plain-")
    mtime = built[0].stat().st_mtime_ns
    monkeypatch.setattr(build, "_libraries", {})
    build.library(text, "one.cu")  # a new process would do the same: found by hash, not rebuilt
    assert built[0].stat().st_mtime_ns == mtime
    build.library(text + "// changed\n", "one.cu")
    assert len(list(tmp_path.glob("*.so"))) == 2


def test_a_compile_error_names_the_source_file(tmp_path, monkeypatch):
    from dlcore.emulator import build

    monkeypatch.setenv("DLCORE_EMU_CACHE", str(tmp_path))
    with pytest.raises(EmulatorError, match=r"g\+\+ failed on broken\.cu(.|\n)*broken\.cu:1"):
        build.library('extern "C" __global__ void k(float* y) { y[0] = undefined_name; }\n', "broken.cu")


# --------------------------------------------------------------------------- schedules + barriers
def test_a_correct_block_reduction_agrees_under_every_schedule(mod):
    x, out = f32(200), np.full(2, np.nan, np.float32)
    mod.get_function("block_sum")((2,), (256,), (x, out, np.int32(200)), schedules=ALL)
    np.testing.assert_allclose(out, [x.sum(dtype=np.float64)] * 2, rtol=1e-5)


def test_a_missing_barrier_is_caught_by_comparing_schedules(mod):
    x, out = f32(200), np.full(2, np.nan, np.float32)
    with pytest.raises(EmulatorError, match="block_sum_racy: the result depends on the schedule"):
        mod.get_function("block_sum_racy")((2,), (256,), (x, out, np.int32(200)), schedules=ALL)
    # under round robin alone, thread 0 reads slots nobody wrote yet: the shared poison shows
    mod.get_function("block_sum_racy")((1,), (64,), (x, out, np.int32(64)), schedules=["round_robin"])
    assert np.isnan(out[0])
    mod.get_function("block_sum_racy")((1,), (64,), (x, out, np.int32(64)), schedules=["high_first"])
    assert np.isfinite(out[0])  # why one schedule is not enough


def test_a_barrier_not_reached_by_every_thread_is_an_error_naming_the_kernel(mod):
    x, out = f32(64), np.zeros(64, np.float32)
    with pytest.raises(EmulatorError, match=r"early_exit: __syncthreads not reached by every thread of block \(0,0,0\)"):
        mod.get_function("early_exit")((1,), (64,), (x, out, np.int32(40)))
    mod.get_function("early_exit")((1,), (64,), (x, out, np.int32(64)))
    np.testing.assert_array_equal(out, x)


def test_full_mask_shuffles_in_a_partial_warp_are_an_error(mod):
    x, out = f32(128), np.full(4, np.nan, np.float32)
    mod.get_function("warp_sum")((2,), (64,), (x, out), schedules=ALL)
    np.testing.assert_allclose(out, x.reshape(4, 32).sum(1, dtype=np.float64), rtol=1e-5)
    with pytest.raises(EmulatorError, match="warp_sum: __shfl_.*names lanes that do not exist.*partial warp"):
        mod.get_function("warp_sum")((1,), (48,), (x, out))


def test_shared_memory_is_poisoned_between_blocks(mod):
    out = np.zeros(3, np.float32)
    mod.get_function("stale_shared")((3,), (32,), (out,), schedules=["round_robin"])
    assert out[0] == 1.0 and np.isnan(out[1:]).all()  # block 1 and 2 must not see block 0's value


# --------------------------------------------------------------------------- bounds
def test_a_write_past_the_end_is_an_error_and_a_read_past_it_sees_a_huge_value(mod):
    out = np.zeros(5, np.float32)
    with pytest.raises(EmulatorError, match=r"write_past_end: wrote outside argument 0 \(float\* __restrict__ out\)"):
        mod.get_function("write_past_end")((1,), (32,), (out, np.int32(5)))
    y = np.zeros(1, np.float32)
    mod.get_function("read_past_end")((1,), (32,), (f32(5), y, np.int32(5)))
    assert y[0] > 1e38  # the guard bytes 0x7f7f7f7f: visible in a sum and in a max (NaN is not, to fmax)


CHILD = """
import sys, numpy as np
from dlcore.emulator.kernel import Module
from tests.test_emulator import SOURCE
m = Module(code=SOURCE, name="emulator_test.cu")
if sys.argv[1] == "asan":
    m.get_function("write_past_end")((1,), (32,), (np.zeros(5, np.float32), np.int32(5)))
else:
    m.get_function("signed_overflow")((1,), (32,), (np.zeros(1, np.int32), np.int32(2**30)))
print("not caught")
"""


@pytest.mark.parametrize("which,report", [
    ("asan", "AddressSanitizer: heap-buffer-overflow"), ("ubsan", "runtime error: signed integer overflow")])
def test_the_sanitizer_build_reports_bad_accesses_in_a_child_process(which, report):
    libasan = subprocess.run(["g++", "-print-file-name=libasan.so"], capture_output=True, text=True).stdout.strip()
    if not os.path.isabs(libasan):
        pytest.skip("g++ has no AddressSanitizer runtime")
    env = {**os.environ, "LD_PRELOAD": libasan, "ASAN_OPTIONS": "detect_leaks=0", "DLCORE_EMU_SANITIZE": "asan+ubsan",
           "PYTHONPATH": os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")])}
    r = subprocess.run([sys.executable, "-c", CHILD, which], capture_output=True, text=True, env=env, cwd=ROOT)
    assert r.returncode != 0 and "not caught" not in r.stdout, r.stdout + r.stderr
    assert report in r.stderr, r.stderr[-3000:]
    assert "emulator_test.cu:" in r.stderr  # the report names the kernel source line
    if which == "asan":
        assert "cuda_emu: the failing access was made by block (0,0,0) thread (0,0,0)" in r.stderr


# --------------------------------------------------------------------------- launch ABI
def test_launch_arguments_are_checked_against_the_c_signature(mod):
    fn = mod.get_function("block_sum")
    x, out = f32(8), np.zeros(1, np.float32)
    with pytest.raises(EmulatorError, match=r"block_sum takes 3 arguments .*got 2"):
        fn((1,), (32,), (x, out))
    with pytest.raises(EmulatorError, match=r"argument 2 \(int n\): the C parameter is i32: pass np.int32, got int"):
        fn((1,), (32,), (x, out, 8))
    with pytest.raises(EmulatorError, match=r"argument 2 \(int n\): .*pass np.int32, got int64"):
        fn((1,), (32,), (x, out, np.int64(8)))
    with pytest.raises(EmulatorError, match=r"argument 0 \(const float\* __restrict__ x\): expected float32 data, got float64"):
        fn((1,), (32,), (x.astype(np.float64), out, np.int32(8)))
    with pytest.raises(EmulatorError, match="not C-contiguous"):
        fn((1,), (32,), (f32(16)[::2], out, np.int32(8)))
    with pytest.raises(EmulatorError, match=r"axpy argument 2 \(double a\): .*pass np.float64, got float"):
        mod.get_function("axpy")((1,), (32,), (np.ones(3), np.ones(3), 2.0, np.int64(3)))
    with pytest.raises(EmulatorError, match="no kernel 'nope'"):
        mod.get_function("nope")


def test_vector_pointers_need_16_byte_alignment(mod):
    fn = mod.get_function("copy_vec")
    buf = np.arange(20, dtype=np.float32)
    y = np.zeros(16, np.float32)
    fn((1,), (32,), (buf[:16], y, np.int64(4)))
    np.testing.assert_array_equal(y, buf[:16])
    with pytest.raises(EmulatorError, match="16-byte aligned"):
        fn((1,), (32,), (buf[1:17], y, np.int64(4)))


def test_restrict_pointers_must_not_overlap_a_written_argument(mod):
    x = f32(64)
    with pytest.raises(EmulatorError, match=r"arguments 0 .* and 1 .* overlap, but one is __restrict__"):
        mod.get_function("block_sum")((1,), (64,), (x, x[:1], np.int32(64)))
    y = np.ones(4)  # axpy's pointers are not __restrict__: aliasing is allowed there
    mod.get_function("axpy")((1,), (32,), (y, y, np.float64(1.0), np.int64(4)))
    np.testing.assert_array_equal(y, [2.0] * 4)


def test_float32_kernels_flush_denormals_like_nvrtc_and_float64_keeps_them(mod):
    tiny32 = np.array([np.finfo(np.float32).tiny], np.float32)  # half of it is a float32 denormal
    y32 = np.full(1, np.nan, np.float32)
    mod.get_function("half_f32")((1,), (32,), (tiny32, y32))
    assert y32[0] == 0.0
    tiny64 = np.array([np.finfo(np.float64).tiny])
    y64 = np.full(1, np.nan)
    mod.get_function("half_f64")((1,), (32,), (tiny64, y64))
    assert y64[0] == tiny64[0] / 2 and y64[0] > 0


# --------------------------------------------------------------------------- the GPU path, emulated
@pytest.fixture
def emulated(monkeypatch):
    if dlcore.cuda.is_available():  # the loader caches real modules: emulating next to them would mix the two
        pytest.skip("a real GPU is usable here: the device tests run on it instead of the emulator")
    monkeypatch.setenv("DLCORE_CUDA_EMULATE", "1")
    monkeypatch.setenv("DLCORE_DEVICE", "cpu")  # "cpu" tensors below stay there even under make gpu-check
    from dlcore.backend import cupy_module

    return cupy_module()


def test_the_interface_works_on_the_emulated_cuda_device(emulated):
    assert dlcore.cuda.is_available() and dlcore.cuda.device_count() == 1
    assert dlcore.device("cuda") == dlcore.Device("cuda", 0)
    x = np.arange(6.0, dtype=np.float32).reshape(2, 3)
    t = dlcore.tensor(x, device="cuda")
    assert t.device == dlcore.device("cuda") and type(t.array).__module__ == "dlcore.emulator.device_array"
    np.testing.assert_array_equal(t.numpy(), x)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    cpu_out = model(dlcore.tensor(x)).numpy()
    model.to("cuda")
    assert all(p.device.type == "cuda" for p in model.parameters())
    np.testing.assert_allclose(model(t).numpy(), cpu_out, rtol=1e-5, atol=1e-6)
    with pytest.raises(DeviceError, match="cuda:1"):
        dlcore.device("cuda:1")


def test_fit_on_emulated_cuda_matches_the_cpu(emulated):
    from dlcore.train import fit

    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 1, 6, 6)).astype(np.float32)
    y = (X.reshape(64, -1).sum(1) > 0).astype(np.int64)
    histories = {}
    for dev in ("cpu", "cuda"):
        dlcore.manual_seed(0)
        model = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                              nn.Linear(27, 2)).to(dev)
        opt = dlcore.optim.SGD(model.parameters(), lr=0.1)
        histories[dev] = fit(model, F.cross_entropy, opt, (X, y), epochs=2, batch_size=16, progress=False, seed=0)
        assert all(p.device.type == dev for p in model.parameters())
    cpu, gpu = (np.array(histories[d]["loss"]) for d in ("cpu", "cuda"))
    np.testing.assert_allclose(gpu, cpu, rtol=1e-4)


def test_numpy_arrays_never_mix_with_emulated_device_arrays(emulated):
    cp = emulated
    a, host = cp.asarray(np.ones(3)), np.ones(3)
    for mix in (lambda: a + host, lambda: host + a, lambda: host * a, lambda: np.add(host, a), lambda: a == host,
                lambda: np.asarray(a), lambda: np.concatenate([a, host]), lambda: cp.exp(host),
                lambda: cp.matmul(host, a), lambda: a.__setitem__(slice(None), host)):
        with pytest.raises(DeviceError) as info:
            mix()
        assert isinstance(info.value, TypeError)  # CuPy's own refusal is a TypeError
    assert type(np.exp(a)) is type(a) and type(a + 1.0) is type(a) and type(a * np.float32(2)) is type(a)
    np.testing.assert_array_equal(cp.asnumpy(a + np.float64(1.0)), [2.0] * 3)
    with pytest.raises(DeviceError, match="one device"):
        dlcore.tensor([1.0]) + dlcore.tensor([1.0], device="cuda")
    model = nn.Linear(3, 2)  # still on the CPU
    with pytest.raises(DeviceError, match=r"Linear\(3→2\) has its weights on cpu but got input on cuda:0"):
        model(dlcore.tensor(np.ones((2, 3), np.float32), device="cuda"))


def test_the_launchers_reach_the_emulator_and_refuse_host_arrays(emulated):
    from dlcore.cuda import activation

    cp = emulated
    x = cp.asarray(np.linspace(-2, 2, 9))
    np.testing.assert_array_equal(activation.forward("relu", x).get(), np.maximum(np.linspace(-2, 2, 9), 0))
    kernel = activation.KERNELS.function("relu_forward", np.float64)
    with pytest.raises(DeviceMixError, match="got a NumPy array"):
        kernel((1,), (32,), (np.ones(3), cp.zeros(3), np.int64(3), np.float64(0)))


def test_info_says_cuda_emulated():
    out = subprocess.run([sys.executable, "-m", "dlcore", "info"], capture_output=True, text=True, check=True,
                         env={**os.environ, "DLCORE_CUDA_EMULATE": "1"}).stdout
    assert "cuda (emulated)" in out
