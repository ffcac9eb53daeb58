"""examples/quickstart.ipynb runs top to bottom in a real Jupyter kernel (nbclient)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_quickstart_notebook_runs(monkeypatch):
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    nb = nbformat.read(ROOT / "examples" / "quickstart.ipynb", as_version=4)
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}})
    client.execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "test accuracy:" in text
    # history.plot() displays an inline PNG, and fit's notebook progress bar is a widget or an HTML bar
    assert any("image/png" in o.get("data", {}) for o in outputs), "history.plot() showed no inline figure"
    # fit shows tqdm.auto's bar in a notebook (a widget, or its text fallback without ipywidgets)
    shown = text + "".join(o.get("text", "") for o in outputs if o.output_type == "stream" and o.name == "stderr")
    widgets = [o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert widgets or "batch/s" in shown or "it/s" in shown, "fit drew no progress bar in the notebook"
