"""Planted bugs are caught: each mutation below is applied to a copy of kernels/, and the
emulated kernel tests (tests/test_emulator_kernels.py, run in a child process on the copy) must
fail for every one of them.

Slow (one g++ build per mutated file), so it runs under ``DLCORE_EMU_MUTATIONS=1`` only:
``make emu-mutations`` (CI runs it). A mutation whose pattern no longer matches fails loudly:
update it together with the kernel.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from dlcore.cuda import loader
from dlcore.emulator import emulator_status

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [
    pytest.mark.skipif(os.environ.get("DLCORE_EMU_MUTATIONS") != "1", reason="set DLCORE_EMU_MUTATIONS=1 (make emu-mutations)"),
    pytest.mark.skipif(not emulator_status()[0], reason=emulator_status()[1]),
]

# name: (file, regex, replacement, which tests to run (-k))
MUTATIONS = {
    "remove the leading __syncthreads of the block reduction": (
        "softmax.cu", r"__syncthreads\(\);", ";", "softmax_family or cross_entropy"),
    "remove the __syncthreads after the shared-memory write": (
        "softmax.cu", r"(if \(lane == 0\) sh\[wid\] = v;\s*\\\s*)__syncthreads\(\);", r"\1;", "softmax_family"),
    "halve the butterfly reduction (start at offset 8)": (
        "softmax.cu", r"for \(int o = 16; o > 0; o >>= 1\)", "for (int o = 8; o > 0; o >>= 1)",
        "softmax_family"),
    "read one element past the row": (
        "softmax.cu", r"for \(int c = lane; c < cols; c \+= group\) m = dl_max",
        "for (int c = lane; c <= cols; c += group) m = dl_max", "softmax_family"),
    "drop the division of the average pool": (
        "pool2d.cu", r"y\[i\] = sum / \(T\)\(kh \* kw\);", "y[i] = sum;", "avg_pool"),
    "let im2col read the row below the padding": (
        "conv2d.cu", r"ih < H &&", "ih <= H &&", "im2col"),
    "skip the last element of the grid-stride loop": (
        "prelude.cuh", r"i < \(n\);", "i < (n) - 1;", "activation_forward_and_backward"),
}


def _mutate(tmp: Path, name: str) -> Path:
    filename, pattern, replacement, _ = MUTATIONS[name]
    folder = tmp / re.sub(r"\W+", "_", name)
    shutil.copytree(loader.kernel_dir(), folder)
    text = (folder / filename).read_text()
    mutated, count = re.subn(pattern, replacement, text, count=1)
    assert count == 1, f"mutation {name!r} no longer matches kernels/{filename}: update it with the kernel"
    (folder / filename).write_text(mutated)
    return folder


def _run(folder: Path, select: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DLCORE_EMU_KERNEL_DIR": str(folder), "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "-k", select,
           str(ROOT / "tests" / "test_emulator_kernels.py")]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)


def test_every_planted_bug_fails_the_emulated_kernel_tests(tmp_path):
    folders = {name: _mutate(tmp_path, name) for name in MUTATIONS}
    clean = _run(Path(loader.kernel_dir()), "softmax_family or avg_pool or im2col")
    assert clean.returncode == 0, f"the unmutated kernels must pass:\n{clean.stdout[-3000:]}"
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = dict(zip(MUTATIONS, pool.map(lambda n: _run(folders[n], MUTATIONS[n][3]), MUTATIONS)))
    survived = [name for name, r in results.items() if r.returncode != 1 or " failed" not in r.stdout]
    assert not survived, "mutations the emulated tests did not catch:\n" + "\n\n".join(
        f"{name}:\n{results[name].stdout[-2000:]}{results[name].stderr[-1000:]}" for name in survived)
