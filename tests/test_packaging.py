"""A non-editable ``pip install .`` into a fresh venv ships kernels/*.cu and native/*.c inside the package."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_non_editable_install_finds_the_kernels(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    # Build and install a real wheel (not editable), with this interpreter's pip, into the fresh venv.
    build = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-compile", "-q",
         "--target", site, str(ROOT)], capture_output=True, text=True, cwd=tmp_path)
    assert build.returncode == 0, build.stdout + build.stderr
    subpackages = sorted(p.parent.name for p in (ROOT / "dlcore").glob("*/__init__.py"))
    assert all((Path(site) / "dlcore" / name / "__init__.py").is_file() for name in subpackages), subpackages
    installed = Path(site) / "dlcore" / "kernels"
    expected = sorted(p.name for p in (ROOT / "kernels").glob("*.cu"))
    assert expected and sorted(p.name for p in installed.glob("*.cu")) == expected
    native = sorted(p.name for p in (ROOT / "dlcore" / "native").glob("*.c"))  # the CPU's C kernels
    assert native and sorted(p.name for p in (Path(site) / "dlcore" / "native").glob("*.c")) == native
    # dlcore from the fresh venv (numpy borrowed from ours), run away from the checkout.
    numpy_site = str(Path(np.__file__).resolve().parents[1])
    code = (f"import sys; sys.path.append({numpy_site!r}); import dlcore; from dlcore.cuda.loader import kernel_dir; "
            "print(dlcore.__file__); print(kernel_dir())")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run([str(py), "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert out.returncode == 0, out.stderr
    module_file, kdir = out.stdout.split()
    assert Path(module_file).is_relative_to(site) and Path(kdir) == installed.resolve()
