# Every target creates and uses .venv, so each works on a fresh machine.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
GPU_PY ?= python3

.PHONY: install test demo bench gpu-check lint clean

$(VENV)/.stamp-base: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e '.[test,plot,lint]'
	touch $@

# The cuda12 extra brings CuPy and NVRTC, so the kernel compile check runs (it never skips in CI).
$(VENV)/.stamp-cuda: $(VENV)/.stamp-base
	$(PIP) install -q -e '.[cuda12]'
	touch $@

$(VENV)/.stamp-bench: $(VENV)/.stamp-base
	$(PIP) install -q 'torch==2.13.*' || $(PIP) install -q torch
	touch $@

install: $(VENV)/.stamp-cuda

test: $(VENV)/.stamp-cuda
	DLCORE_REQUIRE_NVRTC=1 $(PY) -m pytest -q -p no:cacheprovider --doctest-modules tests dlcore

demo: $(VENV)/.stamp-base
	$(PY) examples/demo.py

bench: $(VENV)/.stamp-cuda $(VENV)/.stamp-bench
	$(PY) -m dlcore.bench

# On a GPU machine where nothing can be installed: its own python3 with cupy, numpy, pytest, torch.
gpu-check:
	PYTHONPATH=. $(GPU_PY) tools/gpu_check.py

lint: $(VENV)/.stamp-base
	$(PY) -m ruff check dlcore tests examples tools

clean:
	rm -rf $(VENV) demo_out runs .pytest_cache
