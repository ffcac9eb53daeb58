"""Layers point one way: a module never imports from a layer above it (lazy imports included)."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "dlcore"

# backend → cuda → tensor/autograd → functional → nn → optim → data/preprocessing/train → bench
RANK = {
    "errors": 0, "backend": 0, "blas": 0, "cpu": 0, "cpu_jit": 0, "cpu_kernels": 0, "cpu_kernels_winograd": 0, "cpu_native": 0, "cpu_threads": 0, "native_elementwise": 0, "conv_algorithms": 0, "dtypes": 0, "accelerator": 0, "backends": 0, "emulator": 0,
    "cuda": 1, "functional.window": 1,  # window geometry: used by the CUDA launchers, imports no Tensor
    "autograd": 2, "tensor": 2, "tensor_methods": 2, "tensor_inplace": 2, "tensor_sort": 2, "tensor_math": 2, "ops_math": 2, "ops": 2, "ops_reduce": 2, "ops_shape": 2, "creation": 2,
    "functions": 2, "serialization": 2, "archive": 2, "safetensors_io": 2,
    "functional": 3,
    "nn": 4, "models": 4,
    "optim": 5,
    # dlcore.distributed spans layers: the communicator just above the tensor core, the SyncBatchNorm
    # op with functional (nn.SyncBatchNorm uses both), DistributedDataParallel and the rest above nn.
    "distributed.communicator": 2, "distributed.process_group": 2, "distributed.sync_batchnorm": 3,
    "distributed": 5,
    "data": 6, "utils": 6, "datasets": 6, "preprocessing": 6, "metrics": 6, "callbacks": 6, "train": 6, "plot": 6,
    "onnx": 6, "finite": 6, "resume": 6, "validation": 0,
    "bench": 7,
}


def _layer(parts: tuple) -> str | None:
    """The longest dotted prefix of ``parts`` that RANK names (``distributed.ddp`` -> ``distributed``)."""
    for n in range(len(parts), 0, -1):
        if ".".join(parts[:n]) in RANK:
            return ".".join(parts[:n])
    return None


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
        module_parts = parts  # a package's __init__ resolves relative imports inside the package
        for other in _imported_layers(path, module_parts):
            if RANK[other] > RANK[own]:
                offences.append(f"{path.relative_to(PACKAGE.parent)} ({own}) imports {other}")
    assert not offences, "\n".join(offences)


# --------------------------------------------------------------------------- import circles
GRAPH_CORE_RANK = 2  # autograd, tensor, ops (and files split from them) form one unit and may import each other
NOT_GRAPH_CORE = {"serialization", "archive", "safetensors_io"}


def _module_name(path: Path) -> tuple:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return parts[:-1] if parts[-1] == "__init__" else parts


def _is_module(parts: tuple) -> bool:
    base = PACKAGE.joinpath(*parts) if parts else PACKAGE
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def _imports(path: Path) -> set:
    """The dlcore modules that ``path`` imports (module level or inside functions), as part tuples."""
    own = _module_name(path)
    package = own if path.name == "__init__.py" else own[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)] if node.level > 1 else package
            elif (node.module or "").split(".")[0] == "dlcore":
                base = ()
                node_module = node.module.split(".", 1)[1] if "." in node.module else ""
                target = tuple(node_module.split(".")) if node_module else ()
                found.update(_targets(target, node.names))
                continue
            else:
                continue
            target = base + (tuple(node.module.split(".")) if node.module else ())
            found.update(_targets(target, node.names))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("dlcore."):
                    found.add(tuple(alias.name.split(".")[1:]))
    return {t for t in found if t != own}


def _targets(target: tuple, names) -> set:
    out = set()
    for alias in names:
        sub = target + (alias.name,)
        out.add(sub if _is_module(sub) else target)
    return out


def _cycles(graph: dict) -> list:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, result, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                result.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return result


def _in_graph_core(parts: tuple) -> bool:
    return len(parts) == 1 and RANK.get(parts[0]) == GRAPH_CORE_RANK and parts[0] not in NOT_GRAPH_CORE


def test_cycle_finder_sees_a_circle():
    assert _cycles({("a",): {("b",)}, ("b",): {("a",)}, ("c",): {("a",)}}) == [[("a",), ("b",)]]


def test_no_import_circles_outside_the_graph_core():
    graph = {}
    for path in PACKAGE.rglob("*.py"):
        if path.name == "__main__.py" or path == PACKAGE / "__init__.py":
            continue  # the top-level package imports everything; nothing imports __main__
        graph[_module_name(path)] = {t for t in _imports(path) if t}
    circles = [c for c in _cycles(graph) if not all(_in_graph_core(m) for m in c)]
    assert not circles, "import circles: " + "; ".join(" <-> ".join(".".join(m) for m in c) for c in circles)
