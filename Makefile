# Every target creates and uses .venv, so each works on a fresh machine.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
GPU_PY ?= python3

.PHONY: install test emu-suite emu-sanitize emu-mutations demo bench gpu-check lint clean

$(VENV)/.stamp-base: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e '.[test,plot,lint,fast]'
	touch $@

# The cuda12 extra brings CuPy and NVRTC, so the kernel compile check runs (it never skips in CI).
$(VENV)/.stamp-cuda: $(VENV)/.stamp-base
	$(PIP) install -q -e '.[cuda12]'
	touch $@

$(VENV)/.stamp-bench: $(VENV)/.stamp-base
	$(PIP) install -q 'torch==2.13.*' || $(PIP) install -q torch
	touch $@

install: $(VENV)/.stamp-cuda

# Without a GPU the "cuda" cases run on the CPU kernel emulator (dlcore/emulator, needs g++).
test: $(VENV)/.stamp-cuda
	DLCORE_REQUIRE_NVRTC=1 $(PY) -m pytest -q -p no:cacheprovider --doctest-modules tests dlcore

# The whole suite with "cuda" as the default device, on the CPU kernel emulator: every op, layer,
# optimizer, DataLoader and checkpoint path on the GPU code path (CI runs it).
emu-suite: $(VENV)/.stamp-cuda
	DLCORE_CUDA_EMULATE=1 DLCORE_DEVICE=cuda $(PY) -m pytest -q -p no:cacheprovider tests

# The emulated kernel tests again, with the kernels built under AddressSanitizer + UBSan, in a
# child process that preloads the ASan runtime, and the native CPU kernels' tests likewise (CI runs it).
emu-sanitize: $(VENV)/.stamp-cuda
	LD_PRELOAD="$$(g++ -print-file-name=libasan.so)" ASAN_OPTIONS=detect_leaks=0 DLCORE_EMU_SANITIZE=asan+ubsan \
		$(PY) -m pytest -q -p no:cacheprovider tests/test_emulator_kernels.py tests/test_cuda_kernels.py
	LD_PRELOAD="$$(gcc -print-file-name=libasan.so)" ASAN_OPTIONS=detect_leaks=0 \
		DLCORE_NATIVE_SANITIZE=asan+ubsan $(PY) -m pytest -q -p no:cacheprovider tests/test_conv_direct.py tests/test_native_elementwise.py

# Planted bugs (a removed barrier, a halved butterfly, a read past a row...) must fail the
# emulated kernel tests (CI runs it).
emu-mutations: $(VENV)/.stamp-cuda
	DLCORE_EMU_MUTATIONS=1 $(PY) -m pytest -q -p no:cacheprovider tests/test_emulator_mutations.py

demo: $(VENV)/.stamp-base
	$(PY) examples/demo.py

# OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE pin NumPy's OpenBLAS to one kernel family (some machines
# set them for old OpenBLAS builds); on an AVX-512 CPU a pinned "Haswell" runs SGEMM at a third of
# the speed. The bench measures what the CPU does: it runs without them (BENCH_ENV= keeps them).
BENCH_ENV ?= env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE
bench: $(VENV)/.stamp-cuda $(VENV)/.stamp-bench
	$(BENCH_ENV) $(PY) -m dlcore.bench

# On a GPU machine where nothing can be installed: its own python3 with cupy, numpy, pytest, torch.
gpu-check:
	PYTHONPATH=. $(GPU_PY) tools/gpu_check.py

lint: $(VENV)/.stamp-base
	$(PY) -m ruff check dlcore tests examples tools

clean:
	rm -rf $(VENV) demo_out runs .pytest_cache
