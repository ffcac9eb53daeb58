"""Fault injection in real processes: SIGKILL in the middle of dlcore.save, and a training run
killed after a checkpoint and resumed in a fresh process (issue 7).

POSIX only (SIGKILL); each test starts a few short Python subprocesses.
"""

import os
import random
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import dlcore

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def python(script_path, *args, **kw):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""), DLCORE_DEVICE="cpu")
    return subprocess.Popen([sys.executable, str(script_path), *map(str, args)], env=env, text=True, **kw)


SAVER = textwrap.dedent("""
    import sys
    import numpy as np
    import dlcore

    path, i = sys.argv[1], int(sys.argv[2])
    w = np.empty(4_000_000, np.float32)  # 16 MB: one save takes tens of milliseconds
    while True:
        i += 1
        w.fill(i)
        print("begin", i, flush=True)
        dlcore.save({"i": i, "w": w}, path)
        print("done", i, flush=True)
""")


def temp_files(folder):
    return [name for name in os.listdir(folder) if name.startswith(".tmp-")]


def test_sigkill_during_save_never_damages_the_previous_checkpoint(tmp_path):
    script, path = tmp_path / "saver.py", tmp_path / "ckpt.npz"
    script.write_text(SAVER)
    dlcore.save({"i": 0, "w": np.zeros(4_000_000, np.float32)}, path)
    rng = random.Random(0)
    last, mid_save = 0, 0
    for _ in range(5):
        proc = python(script, path, last, stdout=subprocess.PIPE)
        wanted = last + rng.randint(1, 2)  # let zero or one saves of this process finish first
        for line in proc.stdout:
            word, n = line.split()
            if word == "done":
                last = int(n)
            if word == "begin" and int(n) == wanted:
                break
        deadline = time.monotonic() + 5.0
        while not temp_files(tmp_path) and time.monotonic() < deadline:  # the temp file is being written
            pass
        time.sleep(rng.uniform(0.0, 0.02))
        proc.kill()
        proc.wait()
        proc.stdout.close()
        assert proc.returncode == -signal.SIGKILL
        leftovers = temp_files(tmp_path)
        mid_save += bool(leftovers)  # the kill hit before the rename: the target must be the old file
        assert sorted(os.listdir(tmp_path)) == sorted(["saver.py", "ckpt.npz"] + leftovers)
        state = dlcore.load(path)  # never half-written: the old checkpoint or a complete new one
        # A kill inside save `last + 1` leaves its temp file and the old target; on a fast disk the
        # next save may already have finished and the one after begun (a temp file again), so the
        # target is `last` or `last + 1`, and always whole (checked below).
        assert state["i"] in (last, last + 1)
        assert state["w"].shape == (4_000_000,) and (state["w"] == state["i"]).all()
        last = state["i"]
        for name in leftovers:
            os.unlink(tmp_path / name)
    assert mid_save >= 3, f"only {mid_save} of 5 kills landed inside a save"


TRAINER = textwrap.dedent("""
    import os, signal, sys
    import numpy as np
    import dlcore, dlcore.functional as F, dlcore.nn as nn
    from dlcore.nn import Conv2d, MaxPool2d
    from dlcore.nn.norm import BatchNorm2d
    from dlcore.train import Callback, ModelCheckpoint, fit

    mode, folder = sys.argv[1], sys.argv[2]
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((40, 1, 8, 8)).astype(np.float32), rng.integers(0, 3, 40)

    dlcore.manual_seed(123 if mode == "resume" else 0)  # resume must overwrite every bit of this
    model = nn.Sequential(Conv2d(1, 4, 3, padding=1), BatchNorm2d(4), nn.ReLU(), MaxPool2d(2), nn.Flatten(),
                          nn.Dropout(0.3), nn.Linear(64, 3))
    opt = dlcore.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    sched = dlcore.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.7)


    class KillAtEpoch3(Callback):  # runs before ModelCheckpoint: the last checkpoint is epoch 2's
        def on_epoch_end(self, run, epoch, logs):
            if epoch == 3:
                os.kill(os.getpid(), signal.SIGKILL)


    ckpt = os.path.join(folder, "last.npz")
    kw = dict(epochs=4, batch_size=8, scheduler=sched, progress=False)  # shuffled by the global generator
    if mode == "straight":
        fit(model, F.cross_entropy, opt, (X, y), **kw)
    elif mode == "killed":
        fit(model, F.cross_entropy, opt, (X, y), callbacks=[ModelCheckpoint(ckpt), KillAtEpoch3()], **kw)
        raise SystemExit("not killed")
    else:
        fit(model, F.cross_entropy, opt, (X, y), resume_from=ckpt, **kw)
    dlcore.save({"model": model.state_dict(), "optimizer": opt.state_dict()}, os.path.join(folder, mode + ".npz"))
""")


@pytest.mark.usefixtures("cpu_only")
def test_training_killed_after_a_checkpoint_resumes_bit_exactly_in_a_fresh_process(tmp_path):
    script = tmp_path / "trainer.py"
    script.write_text(TRAINER)
    procs = {mode: python(script, mode, tmp_path) for mode in ("straight", "killed")}
    codes = {mode: p.wait(timeout=120) for mode, p in procs.items()}
    assert codes == {"straight": 0, "killed": -signal.SIGKILL}
    assert dlcore.load(tmp_path / "last.npz")["epoch"] == 2
    assert python(script, "resume", tmp_path).wait(timeout=120) == 0
    straight, resumed = dlcore.load(tmp_path / "straight.npz"), dlcore.load(tmp_path / "resume.npz")
    assert list(straight["model"]) == list(resumed["model"])
    for key, value in straight["model"].items():  # weights and BatchNorm buffers
        np.testing.assert_array_equal(resumed["model"][key], value, err_msg=key)
    for a, b in zip(straight["optimizer"]["state"].values(), resumed["optimizer"]["state"].values(), strict=True):
        np.testing.assert_array_equal(a["momentum_buffer"], b["momentum_buffer"])
    assert straight["optimizer"]["param_groups"] == resumed["optimizer"]["param_groups"]
