"""Smoke tests of ``python -m dlcore.bench --quick``: output structure only, never timings."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import dlcore
from dlcore.bench import cli, report, runner, timing

ROOT = Path(__file__).resolve().parent.parent
W = ["W1", "W2", "W3", "W4", "W5"]
HEADER = "  ".join(report.TABLE_HEADER[:2])


def _rows(out: str) -> dict[str, str]:
    """Table rows by label, from the header line to the first blank line."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("workload") and "ratio" in line)
    rows = {}
    for line in lines[start + 1:]:
        if not line.strip():
            break
        label = line.split("  ")[0].strip()
        rows[label] = line
    return rows


def _check_doc(doc: dict, workloads: list[str], reference: str) -> None:
    for key in ("schema", "date", "command", "machine", "versions", "settings", "copy_bandwidth", "results", "total_s"):
        assert key in doc
    for key in ("cpu", "cpu_count", "gpus"):
        assert key in doc["machine"]
    for key in ("python", "numpy", "cupy", "torch", "dlcore"):
        assert key in doc["versions"]
    assert doc["settings"]["reference"] == reference
    assert doc["settings"]["numpy_blas_threads"] >= 1
    assert [r["workload"] for r in doc["results"]] == workloads
    for r in doc["results"]:
        assert r["device"] == "cpu"
        assert r["status"] == "ok", r.get("reason")
        stats = r["dlcore"]
        assert set(stats) >= {"median_s", "q1_s", "q3_s", "min_s", "max_s", "first_call_s", "times_s", "n"}
        assert len(stats["times_s"]) == stats["n"] >= 1
        if reference == "none":
            assert r["reference"] is None and r["ratio"] is None
        else:
            assert len(r["reference"]["times_s"]) == stats["n"]
            assert r["ratio"] > 0


def test_quick_without_reference(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("DLCORE_DATA", raising=False)
    path = tmp_path / "bench.json"
    rc = cli.main(["--quick", "--device", "cpu", "--reference", "none", "--workloads", "W1,W2,W3,W4,W5,E2E",
                   "--reps", "2", "--json", str(path)])
    out = capsys.readouterr().out
    assert rc == 0
    assert HEADER in out
    rows = _rows(out)
    assert list(rows) == W + ["E2E-MLP", "E2E-CNN"]
    assert all(" cpu " in row for row in rows.values())
    assert "synthetic" in out and "extrapolated" in out
    doc = json.loads(path.read_text())
    _check_doc(doc, W + ["E2E-MLP", "E2E-CNN"], "none")
    e2e = doc["results"][-1]
    assert e2e["dataset"] == "synthetic" and e2e["extrapolated"] is True


def test_quick_with_torch(tmp_path, capsys):
    pytest.importorskip("torch")
    path, png = tmp_path / "bench.json", tmp_path / "bench.png"
    args = ["--quick", "--device", "cpu", "--reference", "torch", "--reps", "2", "--json", str(path)]
    try:  # one thread each: on a shared 2-core machine, spinning BLAS/OpenMP threads make tiny ops crawl
        import threadpoolctl  # noqa: F401
        args += ["--threads", "1"]
    except ImportError:
        pass
    try:
        import matplotlib  # noqa: F401
        args += ["--plot", str(png)]
    except ImportError:
        png = None
    rc = cli.main(args)
    out = capsys.readouterr().out
    assert rc == 0
    assert list(_rows(out)) == W        # --quick leaves E2E out by default
    assert "torch" in out and "same-work check" in out
    doc = json.loads(path.read_text())
    _check_doc(doc, W, "torch")
    assert doc["settings"]["torch_num_threads"] == doc["settings"]["numpy_blas_threads"]
    assert doc["settings"]["torch_tf32"] is False
    assert all(r["check"]["ok"] for r in doc["results"])
    assert {"W3", "W4", "W5"} <= {r["workload"] for r in doc["results"] if r["work"]}
    if png is not None:
        assert png.stat().st_size > 0


def test_torch_absent(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)   # makes "import torch" raise ImportError
    path = tmp_path / "bench.json"
    assert cli.main(["--quick", "--device", "cpu", "--workloads", "W5", "--reps", "1", "--json", str(path)]) == 0
    out = capsys.readouterr().out
    assert "torch is not importable" in out
    assert list(_rows(out)) == ["W5"]
    assert json.loads(path.read_text())["settings"]["reference"] == "none"
    assert cli.main(["--quick", "--device", "cpu", "--workloads", "W5", "--reference", "torch"]) == 2


def test_bad_arguments(capsys):
    assert cli.main(["--quick", "--workloads", "W9"]) == 2
    assert "unknown workload" in capsys.readouterr().err
    assert cli.main(["--quick", "--device", "tpu"]) == 2


def test_the_cuda_emulator_is_never_timed(capsys, monkeypatch):
    monkeypatch.setenv("DLCORE_CUDA_EMULATE", "1")
    assert cli._devices(None) == [dlcore.device("cpu")]  # the default list leaves the emulator out
    assert runner.gpu_info() == []
    assert cli.main(["--quick", "--device", "cpu,cuda", "--workloads", "W5"]) == 2
    assert "never timed" in capsys.readouterr().err


def test_alternation_order():
    calls = []
    ours = timing.Side(lambda: calls.append("a"))
    theirs = timing.Side(lambda: calls.append("b"))
    a, b = timing.compare(ours, theirs, reps=5, warmup=1, block=2)
    # first calls, warm-up, then blocks (one untimed call + up to 2 timed), order flipping every round
    assert "".join(calls) == "ab" + "ab" + "aaa" + "bbb" + "bbb" + "aaa" + "aa" + "bb"
    assert len(a.times_s) == len(b.times_s) == 5
    assert timing.paired_ratio(a, b)["median"] > 0
    calls.clear()
    a, b = timing.compare(ours, None, reps=3, warmup=0, block=2)
    assert "".join(calls) == "aaaa" and b is None and len(a.times_s) == 3


def test_fmt_time():
    assert report.fmt_time(float("nan")) == "-"
    assert report.fmt_time(5e-4).endswith("us")
    assert report.fmt_time(0.0042) == "4.20 ms"
    assert report.fmt_time(2.5) == "2.50 s"


def test_module_entry_point_help():
    res = subprocess.run([sys.executable, "-m", "dlcore.bench", "--help"], cwd=ROOT, capture_output=True, text=True,
                         env={"PYTHONPATH": str(ROOT), "PATH": ""}, timeout=60)
    assert res.returncode == 0 and "--reference" in res.stdout and "--e2e-batches" in res.stdout


def test_blas_kernel_and_a_forcing_variable_are_recorded_and_warned(monkeypatch):
    pytest.importorskip("threadpoolctl")
    from dlcore.blas import blas_kernel

    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    monkeypatch.delenv("OPENBLAS_L2_SIZE", raising=False)
    blas = blas_kernel()
    assert blas["library"] and blas["forced_by"] == {"OPENBLAS_CORETYPE": "Haswell"}
    lines = report._blas_lines(blas)
    assert lines[0].startswith(f"NumPy BLAS: {blas['library']}") and "OPENBLAS_CORETYPE=Haswell forces" in lines[1]
    monkeypatch.delenv("OPENBLAS_CORETYPE")
    assert blas_kernel()["forced_by"] == {} and len(report._blas_lines(blas_kernel())) == 1
