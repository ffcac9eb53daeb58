"""``dlcore.emulator``: run the unmodified ``kernels/*.cu`` on the CPU, and the whole GPU path
under ``DLCORE_CUDA_EMULATE=1``, on a machine without a GPU. For tests only: it proves logic,
bounds, barriers under sampled schedules and the launch ABI, never performance.

- :mod:`~dlcore.emulator.build`: g++ compiles a CUDA source *text* with ``cuda_emu.h`` first;
  entry points are discovered from the source; builds are cached by content hash outside the
  source tree (``$DLCORE_EMU_CACHE`` or ``~/.cache/dlcore-emu``).
- :mod:`~dlcore.emulator.kernel`: ``Module(code=...).get_function(name)(grid, block, args)``
  with launch-ABI checks, guarded buffers and several schedules per launch.
- :mod:`~dlcore.emulator.cupy_standin`: the emulated CuPy module dlcore's backend hands out;
  :mod:`~dlcore.emulator.device_array`: its ``ndarray``, which never mixes with NumPy.

Sits in the bottom layer next to ``backend`` (it imports only ``errors``), so that
``backend.cupy_module()`` can return the stand-in.

    >>> import shutil
    >>> emulator_status() == ((True, "") if shutil.which("g++") else emulator_status())
    True
"""

from __future__ import annotations

import platform
import shutil


def emulator_status() -> tuple[bool, str]:
    """``(usable, reason)`` for the CPU emulator: it needs g++ and an x86-64 or aarch64 Linux."""
    if shutil.which("g++") is None:
        return False, "DLCORE_CUDA_EMULATE=1 but g++ is not on PATH (the CUDA emulator compiles kernels with g++)"
    if platform.system() != "Linux":
        return False, f"DLCORE_CUDA_EMULATE=1 but the CUDA emulator runs on Linux only, not {platform.system()}"
    return True, ""


__all__ = ["emulator_status"]
