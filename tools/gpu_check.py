#!/usr/bin/env python3
"""``make gpu-check``: run the whole test suite and the benchmark on a GPU and write a report.

    PYTHONPATH=. python3 tools/gpu_check.py [--no-bench] [--no-tests] [--out docs/gpu]

Meant for a GPU machine where nothing can be installed: it needs only the standard library
plus what is already there (CuPy, NumPy, pytest; PyTorch for the reference timings). Steps:

1. Check that CuPy sees a GPU; without one, say why and exit with status 2.
2. Record the date, GPU name, compute capability, driver, CUDA runtime, NVRTC, Python, CuPy,
   NumPy and PyTorch versions.
3. Run ``python -m pytest tests`` with ``DLCORE_DEVICE=cuda`` and count passed / failed /
   errors / skipped from a JUnit XML file.
4. Run ``python -m dlcore.bench --device cuda --reference torch --json <tmp>`` if dlcore.bench
   exists (its absence is recorded, not an error).
5. Write ``docs/gpu/<date>-<gpu-name-slug>.md`` and ``.json``.

Exit status: 0 when the tests ran with no failures or errors and the benchmark (if present)
succeeded; 1 otherwise; 2 without a usable GPU.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import importlib.util
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------- environment
def _no_gpu(reason: str) -> None:
    print(f"gpu-check: no usable GPU, nothing checked: {reason}. Run `make gpu-check` on a machine with an "
          "NVIDIA GPU, its driver and CuPy.", file=sys.stderr)
    raise SystemExit(2)


def gpu_or_exit() -> object:
    """CuPy with at least one visible GPU, or exit 2 with the reason."""
    try:
        import cupy
    except Exception as exc:  # ImportError, or a broken CUDA install
        _no_gpu(f"CuPy does not import ({type(exc).__name__}: {exc})")
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:
        _no_gpu(f"{type(exc).__name__}: {exc}")
    if count < 1:
        _no_gpu("CuPy sees 0 CUDA devices")
    return cupy


def _cuda_version(v: int) -> str:
    """10020 -> '10.2', 12040 -> '12.4'."""
    return f"{v // 1000}.{(v % 1000) // 10}"


def _module_version(name: str) -> str | None:
    try:
        mod = __import__(name)
    except Exception:
        return None
    return str(getattr(mod, "__version__", "unknown"))


def environment(cupy) -> dict:
    rt = cupy.cuda.runtime
    props = rt.getDeviceProperties(0)
    name = props["name"]
    name = name.decode() if isinstance(name, bytes) else str(name)
    info = {
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d"),
        "datetime_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "gpu_name": name,
        "gpu_count": int(rt.getDeviceCount()),
        "compute_capability": f"{props['major']}.{props['minor']}",
        "gpu_memory_gib": round(props["totalGlobalMem"] / 2**30, 1),
        "driver_cuda_version": _cuda_version(rt.driverGetVersion()),
        "cuda_runtime": _cuda_version(rt.runtimeGetVersion()),
        "python": platform.python_version(),
        "cupy": str(cupy.__version__),
        "numpy": _module_version("numpy"),
        "torch": _module_version("torch"),
        "pytest": _module_version("pytest"),
        "host": platform.node(),
    }
    try:
        major, minor = cupy.cuda.nvrtc.getVersion()
        info["nvrtc"] = f"{major}.{minor}"
    except Exception as exc:
        info["nvrtc"] = f"unavailable ({exc})"
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=30)
        info["driver"] = out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else None
    except Exception:
        info["driver"] = None
    torch_cuda = None
    try:
        import torch

        torch_cuda = torch.version.cuda
    except Exception:
        pass
    info["torch_cuda"] = torch_cuda
    return info


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "gpu"


def _env_with_repo(**extra: str) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    env.update(extra)
    return env


def _tail(text: str, n: int = 4000) -> str:
    return text if len(text) <= n else "...\n" + text[-n:]


# --------------------------------------------------------------------------- tests
def run_tests(tmp: Path, timeout: int, targets: list[str]) -> dict:
    junit = tmp / "junit.xml"
    cmd = [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", f"--junitxml={junit}", *targets]
    print(f"gpu-check: running {' '.join(cmd[1:])} with DLCORE_DEVICE=cuda", flush=True)
    try:
        proc = subprocess.run(cmd, cwd=ROOT, env=_env_with_repo(DLCORE_DEVICE="cuda"),
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        return {"status": "timeout", "timeout_s": timeout, "output_tail": _tail(str(exc.stdout or ""))}
    result = {"status": "ran", "returncode": proc.returncode, "command": " ".join(cmd[1:]), "targets": targets,
              "output_tail": _tail(proc.stdout + proc.stderr)}
    if not junit.is_file():
        result["status"] = "no-junit"
        return result
    result.update(parse_junit(junit))
    return result


def parse_junit(path: Path) -> dict:
    """Counts, failed test ids and skip reasons from a pytest JUnit XML file."""
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    failed, skip_reasons, seconds = [], {}, 0.0
    for s in suites:
        for k in counts:
            counts[k] += int(s.get(k, 0))
        seconds += float(s.get("time", 0) or 0)
        for case in s.iter("testcase"):
            test_id = f"{case.get('classname', '')}::{case.get('name', '')}"
            for tag in ("failure", "error"):
                el = case.find(tag)
                if el is not None:
                    failed.append({"test": test_id, "kind": tag, "message": (el.get("message") or "")[:500]})
            sk = case.find("skipped")
            if sk is not None:
                reason = (sk.get("message") or "").strip()[:200]
                skip_reasons[reason] = skip_reasons.get(reason, 0) + 1
    counts["passed"] = counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]
    return {**counts, "seconds": round(seconds, 1), "failed": failed,
            "skip_reasons": dict(sorted(skip_reasons.items(), key=lambda kv: -kv[1]))}


# --------------------------------------------------------------------------- benchmark
def run_bench(tmp: Path, timeout: int) -> dict:
    sys.path.insert(0, str(ROOT))
    try:
        found = importlib.util.find_spec("dlcore.bench") is not None
    except Exception:
        found = False
    if not found:
        return {"status": "absent", "note": "dlcore.bench is not in this checkout"}
    out = tmp / "bench.json"
    cmd = [sys.executable, "-m", "dlcore.bench", "--device", "cuda", "--reference", "torch", "--json", str(out)]
    print(f"gpu-check: running {' '.join(cmd[1:])}", flush=True)
    try:
        proc = subprocess.run(cmd, cwd=ROOT, env=_env_with_repo(), capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        return {"status": "timeout", "timeout_s": timeout, "output_tail": _tail(str(exc.stdout or ""))}
    result = {"status": "ok" if proc.returncode == 0 else "failed", "returncode": proc.returncode,
              "command": " ".join(cmd[1:]), "stdout": proc.stdout, "stderr_tail": _tail(proc.stderr)}
    if out.is_file():
        try:
            result["document"] = json.loads(out.read_text())
        except ValueError as exc:
            result["status"] = "failed"
            result["json_error"] = str(exc)
    elif proc.returncode == 0:
        result["status"] = "failed"
        result["json_error"] = "the benchmark exited 0 but wrote no JSON"
    return result


# --------------------------------------------------------------------------- report
def markdown(env: dict, tests: dict, bench: dict) -> str:
    lines = [f"# GPU check: {env['gpu_name']}, {env['date']}", "",
             "Written by `tools/gpu_check.py` (`make gpu-check`). Numbers are from this one run.", "",
             "## Machine", "", "| | |", "|---|---|"]
    for key in ("datetime_utc", "gpu_name", "gpu_count", "compute_capability", "gpu_memory_gib", "driver",
                "driver_cuda_version", "cuda_runtime", "nvrtc", "python", "cupy", "numpy", "torch", "torch_cuda",
                "pytest"):
        lines.append(f"| {key} | {env.get(key) if env.get(key) is not None else '-'} |")
    lines += ["", f"## Tests (`DLCORE_DEVICE=cuda python -m pytest {' '.join(tests.get('targets', ['tests']))}`)", ""]
    if tests.get("status") == "skipped":
        lines.append("Not run (--no-tests).")
    elif "tests" not in tests:
        lines += [f"Did not produce results: {tests.get('status')}.", "", "```text", tests.get("output_tail", ""), "```"]
    else:
        lines += ["| passed | failed | errors | skipped | total | seconds |", "|---|---|---|---|---|---|",
                  f"| {tests['passed']} | {tests['failures']} | {tests['errors']} | {tests['skipped']} | "
                  f"{tests['tests']} | {tests['seconds']} |", ""]
        if tests["failed"]:
            lines += ["Failed:", ""] + [f"- `{f['test']}` ({f['kind']}): {f['message'][:200]}" for f in tests["failed"]]
            lines.append("")
        if tests["skip_reasons"]:
            lines += ["Skip reasons:", ""] + [f"- {n} x {r}" for r, n in list(tests["skip_reasons"].items())[:15]]
            lines.append("")
    lines += ["## Benchmark (`python -m dlcore.bench --device cuda --reference torch`)", ""]
    status = bench.get("status")
    if status == "ok":
        lines += ["```text", bench.get("stdout", "").rstrip(), "```"]
    elif status == "skipped":
        lines.append("Not run (--no-bench).")
    elif status == "absent":
        lines.append("Not run: dlcore.bench is not in this checkout.")
    else:
        lines += [f"Failed ({status}, return code {bench.get('returncode')}).", "", "```text",
                  (bench.get("stdout", "") + "\n" + bench.get("stderr_tail", bench.get("output_tail", ""))).strip(),
                  "```"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default=str(ROOT / "docs" / "gpu"), help="report folder (default docs/gpu)")
    p.add_argument("--no-tests", action="store_true", help="skip the pytest run")
    p.add_argument("--no-bench", action="store_true", help="skip the benchmark")
    p.add_argument("--tests", nargs="*", default=["tests"], metavar="PATH",
                   help="what pytest runs (default: tests, the whole suite)")
    p.add_argument("--test-timeout", type=int, default=3600, help="seconds (default 3600)")
    p.add_argument("--bench-timeout", type=int, default=3600, help="seconds (default 3600)")
    args = p.parse_args(argv)

    cupy = gpu_or_exit()
    env = environment(cupy)
    print(f"gpu-check: {env['gpu_name']} (sm {env['compute_capability']}), driver {env['driver']}, "
          f"CUDA runtime {env['cuda_runtime']}, CuPy {env['cupy']}", flush=True)
    with tempfile.TemporaryDirectory(prefix="dlcore-gpu-check-") as tmp_name:
        tmp = Path(tmp_name)
        tests = {"status": "skipped"} if args.no_tests else run_tests(tmp, args.test_timeout, args.tests)
        bench = {"status": "skipped"} if args.no_bench else run_bench(tmp, args.bench_timeout)

    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = out_dir / f"{env['date']}-{slug(env['gpu_name'])}"
    stem.with_suffix(".md").write_text(markdown(env, tests, bench))
    stem.with_suffix(".json").write_text(json.dumps({"environment": env, "tests": tests, "bench": bench},
                                                    indent=1, default=str))
    print(f"gpu-check: wrote {stem}.md and {stem}.json")

    ok = True
    if not args.no_tests:
        if "tests" not in tests:
            print(f"gpu-check: the test run produced no results ({tests.get('status')})")
            ok = False
        else:
            print(f"gpu-check: tests: {tests['passed']} passed, {tests['failures']} failed, {tests['errors']} errors, "
                  f"{tests['skipped']} skipped")
            ok = ok and tests["failures"] == 0 and tests["errors"] == 0
    if bench.get("status") not in ("ok", "absent", "skipped"):
        print(f"gpu-check: benchmark {bench.get('status')}")
        ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
