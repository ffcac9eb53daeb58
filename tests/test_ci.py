"""In CI the outside references are installed, so the comparison tests run instead of skipping."""

import importlib.util
import os

import pytest

REFERENCES = ["torch", "sklearn", "onnxruntime", "safetensors", "mpi4py", "nbclient"]


@pytest.mark.skipif(os.environ.get("CI") != "true", reason="only CI must have every reference installed")
@pytest.mark.parametrize("name", REFERENCES)
def test_reference_is_installed_in_ci(name):
    assert importlib.util.find_spec(name) is not None, f"CI must install {name}: the comparison tests would skip"
