"""The only dlcore-specific part of these scripts: which library plays "torch".

    torch, nn, F, optim, data = load("dlcore")   # or load("torch") to run them on PyTorch itself
"""

import importlib


def load(backend: str):
    """(torch, torch.nn, torch.nn.functional, torch.optim, torch.utils.data) of ``backend``."""
    if backend not in ("dlcore", "torch"):
        raise SystemExit(f"--backend must be dlcore or torch, got {backend!r}")
    names = ("", ".nn", ".nn.functional", ".optim", ".utils.data")
    return tuple(importlib.import_module(backend + n) for n in names)
