"""CPU runtime helpers: the glibc malloc tuning is applied on import and can be switched off."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _tuned(**env) -> str:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "DLCORE_TUNE"))}
    out = subprocess.run([sys.executable, "-c", "import dlcore.cpu as c; print(c.TUNED_MALLOC)"],
                         capture_output=True, text=True, cwd=ROOT, env={**clean, "PYTHONPATH": str(ROOT), **env})
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_malloc_tuning_is_applied_and_can_be_switched_off():
    assert _tuned() == "True"
    assert _tuned(DLCORE_TUNE_MALLOC="0") == "False"
    assert _tuned(MALLOC_TRIM_THRESHOLD_="1000000") == "False"  # the user's own glibc setting wins
