"""Layers point one way: a module never imports from a layer above it (lazy imports included)."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "dlcore"

# backend → cuda → tensor/autograd → functional → nn → optim → data/preprocessing/train → bench
RANK = {
    "errors": 0, "backend": 0, "cpu": 0, "emulator": 0,
    "cuda": 1,
    "autograd": 2, "tensor": 2, "ops": 2, "serialization": 2,
    "functional": 3,
    "nn": 4, "models": 4,
    "optim": 5,
    "data": 6, "datasets": 6, "preprocessing": 6, "metrics": 6, "callbacks": 6, "train": 6, "plot": 6,
    "bench": 7,
}


def _layer(parts: tuple) -> str | None:
    return parts[0] if parts and parts[0] in RANK else None


def _imported_layers(path: Path, module_parts: tuple) -> set:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = module_parts[: len(module_parts) - node.level]
                target = base + tuple((node.module or "").split(".")) if node.module else base
                names = [target + (alias.name,) for alias in node.names] if not node.module else [target]
            else:
                if not (node.module or "").startswith("dlcore."):
                    continue
                names = [tuple(node.module.split(".")[1:])]
            found.update(filter(None, (_layer(n) for n in names)))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("dlcore."):
                    found.add(_layer(tuple(alias.name.split(".")[1:])))
    return found - {None}


def test_every_module_has_a_layer():
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        if parts[0] in ("__init__", "__main__"):
            continue
        assert _layer(parts), f"{path} has no layer in tests/test_layers.py: add it to RANK"


def test_no_module_imports_from_a_layer_above_it():
    offences = []
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        own = _layer(parts)
        if own is None:  # dlcore/__init__.py and __main__.py sit on top
            continue
        module_parts = parts[:-1] if parts[-1] == "__init__" else parts
        for other in _imported_layers(path, module_parts):
            if RANK[other] > RANK[own]:
                offences.append(f"{path.relative_to(PACKAGE.parent)} ({own}) imports {other}")
    assert not offences, "\n".join(offences)
