"""Compile every ``kernels/*.cu`` with NVRTC for sm_75, sm_80 and sm_90 -- no GPU needed.

This runs in CI (no GPU). It calls ``cupy.cuda.nvrtc`` directly (CuPy's public compile API
needs a device) with exactly the options ``dlcore.cuda.loader`` gives ``cupy.RawModule``
(plus the two CuPy appends itself and ``--gpu-architecture``), and treats any warning as an
error. It also checks, without a GPU:

* every kernel name a launcher module declares (its ``KERNELS``, a ``loader.KernelFile``)
  exists, as ``_f32`` and ``_f64``, in the CUBIN, and every entry point of the CUBIN is declared;
* every launch site (``KERNELS.function(...)`` call) uses a declared name;
* the sources (and the shared ``kernels/prelude.cuh``) follow the conventions:
  ``extern "C" __global__`` only, no templates, no ``#include``, no ``INFINITY``;
* the loader makes one ``RawModule`` per file, from ``kernel_source``, with the fixed options,
  and nothing else in dlcore creates one.

NVRTC missing: a failure when ``CI`` or ``DLCORE_REQUIRE_NVRTC=1`` is set, a skip otherwise.
"""

from __future__ import annotations

import ast
import functools
import inspect
import os
import re
import struct
import types
from pathlib import Path

import pytest

from dlcore.cuda import activation, conv, loader, pool, softmax

ARCHS = ("sm_75", "sm_80", "sm_90")
LAUNCHER_MODULES = (activation, softmax, conv, pool)
SUFFIXES = ("f32", "f64")


def _required() -> bool:
    ci = os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")
    return ci or os.environ.get("DLCORE_REQUIRE_NVRTC", "") == "1"


@functools.lru_cache(maxsize=None)
def _nvrtc_or_reason():
    """(nvrtc module, '') or (None, why it is not usable)."""
    try:
        from cupy.cuda import nvrtc

        nvrtc.getVersion()
        archs = set(nvrtc.getSupportedArchs())
    except Exception as exc:  # ImportError, a missing libnvrtc, ...
        return None, f"NVRTC is not usable ({type(exc).__name__}: {exc})"
    missing = [a for a in ARCHS if int(a[3:]) not in archs]
    if missing:
        return None, f"this NVRTC cannot target {missing} (supports {sorted(archs)})"
    return nvrtc, ""


def _nvrtc():
    nvrtc, reason = _nvrtc_or_reason()
    if nvrtc is None:
        hint = "install the cuda12 extra: pip install -e '.[cuda12]' (cupy-cuda12x + cuda-toolkit[nvrtc])"
        if _required():
            pytest.fail(f"{reason}; the kernel compile check must run here (CI or DLCORE_REQUIRE_NVRTC=1 is "
                        f"set): {hint}", pytrace=False)
        pytest.skip(f"{reason}; {hint}")
    return nvrtc


def compile_options(arch: str) -> list[str]:
    return [*loader.COMPILE_OPTIONS, *loader.CUPY_ADDED_OPTIONS, f"--gpu-architecture={arch}"]


@functools.lru_cache(maxsize=None)
def _compile(filename: str, arch: str) -> tuple[bool, str, bytes]:
    """(ok, NVRTC log, CUBIN). The program is named kernels/<file>, so the log reads
    'kernels/<file>(<line>): error: ...'."""
    nvrtc = _nvrtc()
    source = loader.kernel_source(filename)
    prog = nvrtc.createProgram(source, f"kernels/{filename}", [], [])
    try:
        try:
            nvrtc.compileProgram(prog, compile_options(arch))
            ok = True
        except nvrtc.NVRTCError:
            ok = False
        log = nvrtc.getProgramLog(prog)
        cubin = nvrtc.getCUBIN(prog) if ok else b""
    finally:
        nvrtc.destroyProgram(prog)
    return ok, log, cubin


def _cubin(filename: str, arch: str = "sm_80") -> bytes:
    ok, log, cubin = _compile(filename, arch)
    if not ok:
        pytest.fail(f"NVRTC could not compile kernels/{filename} for {arch}:\n{log}", pytrace=False)
    return cubin


def elf_global_functions(blob: bytes) -> set[str]:
    """Names of the global FUNC symbols (the kernel entry points) of a 64-bit little-endian ELF."""
    assert blob[:4] == b"\x7fELF" and blob[4] == 2 and blob[5] == 1, "not a 64-bit little-endian ELF"
    (shoff,) = struct.unpack_from("<Q", blob, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", blob, 0x3A)
    # sh_name, sh_type, sh_flags, sh_addr, sh_offset, sh_size, sh_link, sh_info, sh_addralign, sh_entsize
    sections = [struct.unpack_from("<IIQQQQIIQQ", blob, shoff + i * shentsize) for i in range(shnum)]
    names = set()
    for sec in sections:
        if sec[1] != 2:  # SHT_SYMTAB
            continue
        str_off = sections[sec[6]][4]
        for pos in range(sec[4], sec[4] + sec[5], 24):  # Elf64_Sym is 24 bytes
            st_name, st_info = struct.unpack_from("<IB", blob, pos)
            if st_info & 0xF == 2 and st_info >> 4 == 1:  # STT_FUNC, STB_GLOBAL
                end = blob.index(b"\0", str_off + st_name)
                names.add(blob[str_off + st_name:end].decode())
    return names


def _strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


# --------------------------------------------------------------------------- tests
def test_every_kernel_file_is_listed():
    on_disk = sorted(p.name for p in loader.kernel_dir().glob("*.cu"))
    assert on_disk == sorted(loader.KERNEL_FILES), "loader.KERNEL_FILES must list every kernels/*.cu"


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("filename", loader.KERNEL_FILES)
def test_kernel_compiles_without_warnings(filename, arch):
    ok, log, cubin = _compile(filename, arch)
    opts = " ".join(compile_options(arch))
    assert ok, f"NVRTC could not compile kernels/{filename} ({opts}):\n{log}"
    assert "warning" not in log.lower(), f"NVRTC warned on kernels/{filename} ({opts}); warnings are errors:\n{log}"
    assert cubin[:4] == b"\x7fELF"


@pytest.mark.parametrize("module", LAUNCHER_MODULES, ids=lambda m: m.__name__.rsplit(".", 1)[-1])
def test_launcher_kernel_names_exist(module):
    kernels = module.KERNELS
    assert isinstance(kernels, loader.KernelFile) and kernels.filename in loader.KERNEL_FILES
    symbols = elf_global_functions(_cubin(kernels.filename))
    missing = [f"{n}_{s}" for n in kernels for s in SUFFIXES if f"{n}_{s}" not in symbols]
    assert not missing, f"{module.__name__} launches kernels missing from kernels/{kernels.filename}: {missing}"
    unlisted = sorted(s for s in symbols if s[:-4] not in kernels.entry_points)
    assert not unlisted, f"kernels/{kernels.filename} has entry points no launcher lists (wire in or delete): {unlisted}"


def test_every_kernel_file_has_one_launcher_module():
    assert sorted(loader.REGISTRY) == sorted(loader.KERNEL_FILES)
    assert sorted(m.KERNELS.filename for m in LAUNCHER_MODULES) == sorted(loader.KERNEL_FILES)


@pytest.mark.parametrize("module", LAUNCHER_MODULES, ids=lambda m: m.__name__.rsplit(".", 1)[-1])
def test_launch_sites_use_declared_names(module):
    """Every ``KERNELS.function(name, dtype)`` call names a kernel as a literal or through a
    module-level table of literals, and that name is one of the module's KERNELS."""
    declared = module.KERNELS.entry_points
    tree = ast.parse(inspect.getsource(module))
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
             and n.func.attr == "function" and isinstance(n.func.value, ast.Name) and n.func.value.id == "KERNELS"]
    assert calls, f"{module.__name__} has no KERNELS.function(...) launch sites"
    for call in calls:
        arg = call.args[0]
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            names = [arg.value]
        elif isinstance(arg, ast.Subscript) and isinstance(arg.value, ast.Name):
            table = getattr(module, arg.value.id)
            assert isinstance(table, dict), f"{module.__name__} line {call.lineno}: {arg.value.id} is not a dict"
            names = list(table.values())
        elif isinstance(arg, ast.Name):  # a parameter: the launch helper's callers pass literals
            names = [c.value for c in ast.walk(tree) if isinstance(c, ast.Constant) and c.value in declared]
            assert names, f"{module.__name__} line {call.lineno}: no literal kernel names reach {arg.id}"
        else:
            pytest.fail(f"{module.__name__} line {call.lineno}: the kernel name must be a literal or TABLE[key]")
        unknown = [n for n in names if n not in declared]
        assert not unknown, f"{module.__name__} line {call.lineno} launches undeclared kernels {unknown}"


@pytest.mark.parametrize("filename", loader.KERNEL_FILES)
def test_entry_points_come_in_f32_f64_pairs(filename):
    symbols = elf_global_functions(_cubin(filename))
    assert symbols, f"no kernels found in kernels/{filename}"
    bad = sorted(s for s in symbols if not s.endswith(("_f32", "_f64")))
    assert not bad, f"kernels/{filename}: entry points must be named <name>_f32 / <name>_f64, got {bad}"
    bases32 = {s[:-4] for s in symbols if s.endswith("_f32")}
    bases64 = {s[:-4] for s in symbols if s.endswith("_f64")}
    assert bases32 == bases64, f"kernels/{filename}: unpaired kernels {sorted(bases32 ^ bases64)}"


@pytest.mark.parametrize("filename", loader.KERNEL_FILES + (loader.PRELUDE,))
def test_sources_follow_conventions(filename):
    code = _strip_comments((loader.kernel_dir() / filename).read_text())
    for pattern, what in ((r"\btemplate\b", "templates"), (r"#\s*include\b", "#include (NVRTC has no host headers)"),
                          (r"\bINFINITY\b", "INFINITY (use __int_as_float(0xff800000))")):
        m = re.search(pattern, code)
        assert m is None, f"kernels/{filename} uses {what} at line {code[:m.start()].count(chr(10)) + 1}"
    flat = re.sub(r"[\s\\]+", " ", code)
    for m in re.finditer(r"__global__", flat):
        assert flat[:m.start()].rstrip().endswith('extern "C"'), (
            f'kernels/{filename}: every __global__ must be declared extern "C" (near: {flat[max(0, m.start() - 60):m.end()]!r})')


def test_kernel_dir_holds_the_sources():
    d = loader.kernel_dir()
    assert isinstance(d, Path) and all((d / f).is_file() for f in loader.KERNEL_FILES)


def test_kernel_source_is_the_prelude_then_the_file():
    prelude = (loader.kernel_dir() / loader.PRELUDE).read_text()
    for filename in loader.KERNEL_FILES:
        full = loader.kernel_source(filename.removesuffix(".cu"))
        assert full == loader.kernel_source(filename)
        assert full.startswith(prelude) and full.endswith(loader.raw_source(filename))
        assert f'#line 1 "kernels/{filename}"' in full
    with pytest.raises(ValueError, match="unknown kernel file"):
        loader.kernel_source("gemm")


def test_kernel_source_reads_another_copy_of_the_kernels(tmp_path):
    for name in (*loader.KERNEL_FILES, loader.PRELUDE):
        (tmp_path / name).write_text((loader.kernel_dir() / name).read_text().replace("dl_exp", "dl_exp_copy"))
    text = loader.kernel_source("activation", directory=tmp_path)
    assert "dl_exp_copy" in text and text.startswith((tmp_path / loader.PRELUDE).read_text())


def test_shared_helpers_are_defined_once_in_the_prelude():
    for filename in loader.KERNEL_FILES:
        code = _strip_comments(loader.raw_source(filename))
        for helper in ("#define GRID_STRIDE_LOOP", "#define FULL_MASK", "dl_neg_inf(float)", "dl_exp(float v)"):
            assert helper not in code, f"kernels/{filename} defines {helper!r} again: it lives in prelude.cuh"


def test_loader_makes_one_raw_module_per_file_with_fixed_options(monkeypatch):
    """With a stand-in CuPy: RawModule gets kernel_source and COMPILE_OPTIONS, once per file."""
    made = []

    class FakeModule:
        def __init__(self, code, options):
            made.append((code, options))

        def get_function(self, name):
            return ("fn", name)

    monkeypatch.setattr(loader, "cupy_module", lambda: types.SimpleNamespace(RawModule=FakeModule))
    loader.compile_module.cache_clear()
    try:
        import numpy as np

        assert softmax.KERNELS.function("softmax_forward", np.float32) == ("fn", "softmax_forward_f32")
        assert softmax.KERNELS.function("softmax_backward", np.float64) == ("fn", "softmax_backward_f64")
        assert made == [(loader.kernel_source("softmax"), loader.COMPILE_OPTIONS)]
        with pytest.raises(AssertionError, match="not an entry point"):
            softmax.KERNELS.function("softmax_fwd", np.float32)
    finally:
        loader.compile_module.cache_clear()


def test_raw_module_is_created_in_one_place():
    package = Path(loader.__file__).resolve().parents[1]
    sites = []
    for path in package.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for fn in ast.walk(tree):
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if any(isinstance(n, ast.Attribute) and n.attr == "RawModule" for n in ast.walk(fn)):
                    sites.append(f"{path.relative_to(package)}:{fn.name}")
    assert sites == ["cuda/loader.py:compile_module"], sites
