"""The fast examples run end to end (tiny --epochs) and end with a `<metric>: <value>` line.

The MNIST examples are not run here: they need the real data set and minutes of CPU.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAST_LINE = re.compile(r"^[A-Za-z][\w ()\-]*: -?\d+(\.\d+)?(e[-+]?\d+)?%?$")

CASES = {
    "linear_regression": (["--epochs", "20"], []),
    "xor": (["--epochs", "5"], []),
    "playground": (["--epochs", "1", "--n", "80", "--dataset", "circle"], ["playground_circle.png"]),
    "breast_cancer": (["--epochs", "1"], []),
    "digits": (["--epochs", "1"], []),
    "batch_modes": (["--epochs", "1"], ["batch_modes.png"]),
    "demo": (["--epochs", "1", "--spiral-epochs", "2"],
             ["mlp_history.png", "cnn_history.png", "cnn_filters.png", "cnn_feature_maps.png",
              "spiral_decision_boundary.png"]),
}


def run_example(name, args, out):
    env = dict(os.environ, PYTHONPATH=str(ROOT), DLCORE_DATA="")  # demo: digits, not MNIST
    cmd = [sys.executable, str(ROOT / "examples" / f"{name}.py"), "--device", "cpu", "--seed", "0",
           "--out", str(out), "--no-progress", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120, cwd=out)
    assert proc.returncode == 0, f"{name} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout.strip().splitlines()


@pytest.mark.parametrize("name", sorted(CASES))
def test_example_runs_and_ends_with_a_result_line(name, tmp_path):
    args, pictures = CASES[name]
    lines = run_example(name, args, tmp_path)
    assert LAST_LINE.match(lines[-1]), f"{name}: last line {lines[-1]!r} is not '<metric>: <value>'"
    for picture in pictures:
        assert (tmp_path / picture).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{name}: {picture} missing"


def test_linear_regression_recovers_the_line(tmp_path):
    lines = run_example("linear_regression", ["--epochs", "60", "--w", "1.5", "--b", "0.5"], tmp_path)
    recovered = next(line for line in lines if line.startswith("recovered"))
    w, b = (float(v) for v in re.findall(r"= (-?\d+\.\d+) \(true", recovered))
    assert w == pytest.approx(1.5, abs=0.05) and b == pytest.approx(0.5, abs=0.05)
    assert float(lines[-1].split(": ")[1]) < 0.05  # noise 0.1 -> mse about 0.01
