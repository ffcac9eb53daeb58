"""``python -m dlcore.bench``: dlcore against PyTorch on every device, with numbers you can reproduce.

    python -m dlcore.bench                       # every device, every workload, torch as reference
    python -m dlcore.bench --quick --reference none
    python -m dlcore.bench --device cpu --json docs/bench/cpu.json --plot docs/bench/cpu.png

Workloads W1-W5 and E2E are described in :mod:`dlcore.bench.workloads` and
:mod:`dlcore.bench.e2e`; the timing method (first call apart, warm-up, dlcore and reference
alternating, synchronised clocks, median and IQR) in :mod:`dlcore.bench.timing`. torch is
optional and imported only when the benchmark runs.
"""

from .cli import main
from .runner import Config, run

__all__ = ["Config", "main", "run"]
