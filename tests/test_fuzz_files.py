"""Issue 11 item 6: seeded fuzzing of a real training checkpoint, real IDX files and a safetensors file.

A child process loads a few hundred byte-flipped and truncated copies under an address-space cap
(RLIMIT_AS, a couple of hundred MB above what it uses once warmed up). Each copy must end in a clean
CheckpointError / IDXFormatError or load exactly what an honest reader finds in those bytes:
the original checkpoint (zip CRCs guard the data), for IDX the array its header describes, and
for safetensors what the reference ``safetensors`` package reads from the same bytes.
Anything else (MemoryError, RecursionError, a raw zip/JSON/NumPy error, a silently different
checkpoint) is reported with the mutation that caused it.
"""

import gzip
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import dlcore
import dlcore.functional as F
import dlcore.nn as nn
from dlcore.datasets import playground
from dlcore.nn.norm import BatchNorm1d
from dlcore.train import EarlyStopping, ModelCheckpoint, fit

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS and /proc are Linux's")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HEADROOM = 256 << 20

CHILD = textwrap.dedent("""
    import json, random, resource, sys
    import numpy as np
    import dlcore
    from dlcore.datasets import IDXFormatError, read_idx
    from dlcore.errors import CheckpointError

    folder, count, headroom = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

    def same(a, b):
        if isinstance(a, dlcore.Tensor):
            return isinstance(b, dlcore.Tensor) and same(a.array, b.array)
        if isinstance(a, np.ndarray):
            return isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape and np.array_equal(
                a, b, equal_nan=a.dtype.kind == "f")
        if isinstance(a, dict):
            return isinstance(b, dict) and list(a) == list(b) and all(same(a[k], b[k]) for k in a)
        if isinstance(a, list):
            return isinstance(b, list) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
        return type(a) is type(b) and (a == b or a != a and b != b)

    def honest_idx(data):
        # what a correct reader finds in raw IDX bytes, or None when they are not a valid IDX file
        if len(data) < 4 or data[0] or data[1] or data[2] not in (8, 9, 11, 12, 13, 14) or not data[3]:
            return None
        dtype = {8: ">u1", 9: ">i1", 11: ">i2", 12: ">i4", 13: ">f4", 14: ">f8"}[data[2]]
        header = 4 + 4 * data[3]
        shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(data[3]))
        if len(data) < header or len(data) != header + int(np.prod(shape, dtype=object)) * np.dtype(dtype).itemsize:
            return None
        return np.frombuffer(data, dtype, offset=header).reshape(shape)

    def mutate(data, rng):
        data = bytearray(data)
        kind = rng.choice(["flip", "flip", "head", "tail", "cut"])
        if kind == "cut":
            return bytes(data[: rng.randrange(len(data))]), f"cut at {len(data)}"
        where = {"flip": (0, len(data)), "head": (0, min(len(data), 96)),
                 "tail": (max(0, len(data) - 400), len(data))}[kind]
        spots = [rng.randrange(*where) for _ in range(rng.randint(1, 4))]
        for i in spots:
            data[i] = rng.randrange(256)
        return bytes(data), f"{kind} {spots}"

    import safetensors.numpy

    NAMES = ("ck.npz", "images", "labels.gz", "m.safetensors")
    originals = {name: open(f"{folder}/{name}", "rb").read() for name in NAMES}
    reference = dlcore.load(f"{folder}/ck.npz")
    raw_labels = __import__("gzip").decompress(originals["labels.gz"])
    read_idx(f"{folder}/images"), read_idx(f"{folder}/labels.gz")  # warm up every code path
    dlcore.load(f"{folder}/m.safetensors"), safetensors.numpy.load(originals["m.safetensors"])

    with open("/proc/self/status") as f:
        vm = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize"))
    resource.setrlimit(resource.RLIMIT_AS, (vm + headroom, vm + headroom))

    outcomes, problems = {}, []
    rng = random.Random(1234)
    for i in range(count):
        name = NAMES[i % len(NAMES)]
        data, how = mutate(originals[name], rng)
        path = f"{folder}/fuzz-{name}"
        with open(path, "wb") as f:
            f.write(data)
        try:
            if name == "ck.npz":
                ok = same(dlcore.load(path), reference)
            elif name == "m.safetensors":  # no checksum: compare with the reference reader on the same bytes
                got = {k: t.array for k, t in dlcore.load(path).items()}  # Tensors
                try:
                    expected = safetensors.numpy.load(data)
                except Exception:
                    expected = None
                ok = expected is not None and same(dict(sorted(got.items())), dict(sorted(expected.items())))
            else:
                got = read_idx(path)
                if name == "images":
                    expected = honest_idx(data)
                else:
                    try:
                        expected = honest_idx(__import__("gzip").decompress(data))
                    except Exception:
                        expected = None
                ok = expected is not None and np.array_equal(got, expected) and got.shape == expected.shape
            outcome = "loaded" if ok else "WRONG RESULT"
        except (CheckpointError, IDXFormatError):
            outcome = "clean error"
        except BaseException as exc:
            outcome = f"{type(exc).__name__}: {str(exc)[:120]}"
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        if outcome not in ("loaded", "clean error"):
            problems.append(f"{name} {how}: {outcome}")
    print(json.dumps({"outcomes": outcomes, "problems": problems[:20]}))
""")


def make_files(folder):
    X, y = playground("gauss", 32, seed=0)
    dlcore.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 8), BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))
    opt = dlcore.optim.Adam(model.parameters(), lr=0.01)
    fit(model, F.cross_entropy, opt, (X / 4, y), epochs=2, batch_size=8, progress=False,
        scheduler=dlcore.optim.lr_scheduler.StepLR(opt, step_size=1),
        callbacks=[ModelCheckpoint(folder / "ck.npz"), EarlyStopping("loss", restore_best_weights=True)])
    images = np.random.default_rng(0).integers(0, 256, (6, 5, 4), dtype=np.uint8)
    (folder / "images").write_bytes(bytes([0, 0, 8, 3]) + b"".join(int(n).to_bytes(4, "big") for n in images.shape)
                                    + images.tobytes())
    labels = bytes([0, 0, 8, 1]) + (6).to_bytes(4, "big") + bytes([1, 2, 3, 4, 5, 6])
    (folder / "labels.gz").write_bytes(gzip.compress(labels))
    dlcore.save(model.state_dict(), folder / "m.safetensors")


@pytest.mark.usefixtures("cpu_only")
def test_fuzzed_checkpoints_and_idx_files_give_clean_errors_or_correct_loads(tmp_path):
    pytest.importorskip("safetensors")
    make_files(tmp_path)
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
               OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", DLCORE_DEVICE="cpu")
    proc = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path), "600", str(HEADROOM)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert not report["problems"], json.dumps(report, indent=1)
    outcomes = report["outcomes"]
    assert outcomes.get("clean error", 0) >= 200 and outcomes.get("loaded", 0) >= 10, outcomes
