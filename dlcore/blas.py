"""Which BLAS NumPy runs, on which kernels, and whether an environment variable forces them.

OpenBLAS picks its kernels for the CPU it finds; ``OPENBLAS_CORETYPE`` overrides that. On an
AVX-512 CPU a forced "Haswell" runs SGEMM at about a third of the speed (measured in
docs/cpu-performance.md), so the benchmark records the kernels, ``python -m dlcore info`` prints
them, and ``make bench`` unsets both variables for its run.

    >>> summary, forced = blas_summary(blas_kernel())
    >>> isinstance(summary, str) and isinstance(forced, str)
    True
"""

from __future__ import annotations

import os

__all__ = ["BLAS_OVERRIDES", "blas_kernel", "blas_summary"]

#: Environment variables that pin OpenBLAS to one kernel family instead of the one it detects.
BLAS_OVERRIDES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def blas_kernel() -> dict:
    """NumPy's BLAS: ``library``, ``version``, ``architecture`` (OpenBLAS's kernel family, e.g.
    "Haswell" = AVX2, "SkylakeX" = AVX-512; None without threadpoolctl) and ``forced_by`` (the
    variables of ``BLAS_OVERRIDES`` that are set, with their values).

    >>> sorted(blas_kernel())
    ['architecture', 'forced_by', 'library', 'version']
    """
    info: dict = {"library": None, "version": None, "architecture": None,
                  "forced_by": {v: os.environ[v] for v in BLAS_OVERRIDES if os.environ.get(v)}}
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return info
    for pool in threadpool_info():
        if pool.get("user_api") == "blas":
            info.update(library=pool.get("internal_api"), version=pool.get("version"),
                        architecture=pool.get("architecture"))
            break
    return info


def blas_summary(info: dict) -> tuple[str, str]:
    """``("openblas 0.3.31, SkylakeX kernels", "OPENBLAS_CORETYPE=Haswell")`` from a
    :func:`blas_kernel` dict; the second is "" when no variable forces the kernels.

    >>> blas_summary({"library": "openblas", "version": "0.3.31", "architecture": "Haswell",
    ...               "forced_by": {"OPENBLAS_CORETYPE": "Haswell"}})
    ('openblas 0.3.31, Haswell kernels', 'OPENBLAS_CORETYPE=Haswell')
    """
    forced = " ".join(f"{k}={v}" for k, v in info["forced_by"].items())
    return f"{info['library']} {info['version']}, {info['architecture']} kernels", forced
