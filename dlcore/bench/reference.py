"""PyTorch as the optional reference, and the thread/precision settings that make it a fair one.

torch is never imported at module level anywhere in dlcore: :func:`load_torch` imports it when
the benchmark asks for it, and says why when it cannot.
"""

from __future__ import annotations

import os
from typing import Any


def load_torch() -> tuple[Any, str]:
    """``(torch, "")`` or ``(None, reason)`` when torch cannot be imported."""
    try:
        import torch  # noqa: PLC0415 - optional reference, imported on demand
    except ImportError as exc:
        return None, f"torch is not importable ({exc}); install it with pip install 'dlcore[bench]'"
    except Exception as exc:  # a broken install can fail with anything
        return None, f"torch failed to import ({type(exc).__name__}: {exc})"
    return torch, ""


def blas_threads() -> tuple[int, str]:
    """Threads NumPy's BLAS uses, and how that was found out."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        threadpool_info = None
    if threadpool_info is not None:
        counts = [int(p["num_threads"]) for p in threadpool_info() if p.get("user_api") == "blas"]
        if counts:
            return max(counts), "threadpoolctl"
    for var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(var, "")
        if value.isdigit() and int(value) > 0:
            return int(value), var
    return os.cpu_count() or 1, "os.cpu_count()"


def limit_blas_threads(n: int) -> Any:
    """Set NumPy's BLAS to ``n`` threads for the rest of the process (needs threadpoolctl).

    Returns the threadpoolctl limiter (keep it alive), or raises RuntimeError without threadpoolctl.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        raise RuntimeError("--threads needs threadpoolctl (pip install threadpoolctl), or set "
                           "OPENBLAS_NUM_THREADS / MKL_NUM_THREADS before starting Python") from None
    return threadpool_limits(limits=n, user_api="blas")


def configure(torch: Any, threads: int) -> dict:
    """Give torch ``threads`` CPU threads and turn TF32 off; returns the settings as data."""
    torch.set_num_threads(threads)
    set_tf32(torch, False)
    settings = {"torch_num_threads": torch.get_num_threads(), "torch_tf32": False,
                "cudnn_benchmark": bool(torch.backends.cudnn.benchmark)}
    return settings


def set_tf32(torch: Any, enabled: bool) -> None:
    """TF32 on or off for cuBLAS matmuls and cuDNN convolutions (no effect on the CPU)."""
    torch.backends.cuda.matmul.allow_tf32 = enabled
    torch.backends.cudnn.allow_tf32 = enabled


def device_status(torch: Any, dev: Any) -> tuple[bool, str]:
    """Whether torch can run on a dlcore Device, and why not."""
    if dev.type == "cpu":
        return True, ""
    if not torch.cuda.is_available():
        return False, f"torch {torch.__version__} has no usable CUDA (CPU-only build or no driver)"
    if (dev.index or 0) >= torch.cuda.device_count():
        return False, f"torch sees {torch.cuda.device_count()} CUDA device(s), not {dev}"
    return True, ""
