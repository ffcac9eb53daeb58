"""``python -m dlcore info``: versions, devices, the CPU kernels (Numba, native C, BLAS), CUDA driver/runtime/NVRTC and the kernel cache."""

from __future__ import annotations

import argparse
import os
import platform
import sys

import numpy as np

from . import __version__
from .backend import cuda_emulated, cuda_status


def _cpu_kernels() -> str:
    from . import cpu_jit

    if not cpu_jit.available():
        return "NumPy only (Numba not installed: pip install 'dlcore[fast]')"
    import numba

    return f"NumPy + compiled (Numba {numba.__version__})" + ("" if cpu_jit.enabled() else ", switched off (DLCORE_CPU_JIT=0)")


def _native() -> str:
    from . import cpu_native

    bits = cpu_native.isa()  # builds the library on first use (about a second), else reuses the cache
    if not bits:
        return "not usable (no C compiler, no AVX2/AVX-512, or DLCORE_CPU_NATIVE=0): the direct convolution is off"
    return f"direct convolution, {'AVX-512' if bits == 512 else 'AVX2'} (cache {cpu_native.cache_dir()})"


def _blas() -> str:
    from .blas import blas_kernel, blas_summary

    b = blas_kernel()
    if not b["library"]:
        return "unknown (threadpoolctl not installed)"
    summary, forced = blas_summary(b)
    return summary + (f" (forced by {forced}; unset it for the kernels this CPU supports)" if forced else "")


def info_lines() -> list[str]:
    """The lines ``python -m dlcore info`` prints."""
    lines = [
        f"dlcore      {__version__}",
        f"python      {platform.python_version()} ({sys.executable})",
        f"numpy       {np.__version__}",
        f"platform    {platform.platform()}",
        f"default     DLCORE_DEVICE={os.environ.get('DLCORE_DEVICE', '(unset: cpu)')}",
        f"cpu kernels {_cpu_kernels()}",
        f"native cpu  {_native()}",
        f"numpy blas  {_blas()}",
    ]
    try:
        import cupy

        lines.append(f"cupy        {cupy.__version__}")
        rt = cupy.cuda.runtime
        lines.append(f"cuda rt     {rt.runtimeGetVersion()}")
        try:
            lines.append(f"cuda driver {rt.driverGetVersion()}")
        except Exception as exc:  # no driver
            lines.append(f"cuda driver none ({exc})")
        try:
            lines.append("nvrtc       {}.{}".format(*cupy.cuda.nvrtc.getVersion()))
        except Exception as exc:
            lines.append(f"nvrtc       missing ({exc})")
        cache = os.environ.get("CUPY_CACHE_DIR", os.path.join(os.path.expanduser("~"), ".cupy", "kernel_cache"))
        lines.append(f"kernel cache {cache}")
    except ImportError:
        lines.append("cupy        not installed")
    ok, reason = cuda_status()
    if cuda_emulated():
        lines.append("device      cuda (emulated): DLCORE_CUDA_EMULATE=1, kernels run on the CPU emulator (logic only, "
                     f"never timed){'' if ok else ' but it is not usable: ' + reason}")
    elif ok:
        import cupy

        for i in range(cupy.cuda.runtime.getDeviceCount()):
            props = cupy.cuda.runtime.getDeviceProperties(i)
            name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
            lines.append(f"device      cuda:{i} {name}, sm_{props['major']}{props['minor']}, {props['totalGlobalMem'] / 2**30:.1f} GiB")
    else:
        lines.append(f"device      cpu only: {reason}")
    try:
        from .cuda.loader import kernel_dir

        lines.append(f"kernels     {kernel_dir()}")
    except Exception as exc:  # loader not importable
        lines.append(f"kernels     unavailable ({exc})")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dlcore", description=__doc__)
    parser.add_argument("command", choices=["info"], help="what to do")
    parser.parse_args(argv)
    print("\n".join(info_lines()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
