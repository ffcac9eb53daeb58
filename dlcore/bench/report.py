"""Turn the benchmark document into a text table, a JSON file and an optional bar chart."""

from __future__ import annotations

import json
import math
from typing import Any

from dlcore.blas import blas_summary

TABLE_HEADER = ("workload", "device", "dlcore median", "dlcore IQR", "ref median", "ref IQR", "ratio",
                "first call dlcore / ref")


def fmt_time(s: Any) -> str:
    """Seconds as a short human string: 512 us, 4.21 ms, 12.3 ms, 1.25 s."""
    if s is None or not isinstance(s, (int, float)) or not math.isfinite(s):
        return "-"
    if s < 1e-3:
        return f"{s * 1e6:.0f} us"
    if s < 1.0:
        ms = s * 1e3
        return f"{ms:.2f} ms" if ms < 10 else (f"{ms:.1f} ms" if ms < 100 else f"{ms:.0f} ms")
    return f"{s:.2f} s" if s < 100 else f"{s:.0f} s"


def fmt_iqr(stats: dict | None) -> str:
    if not stats or stats.get("n", 0) < 2:
        return "-"
    return f"{fmt_time(stats['q1_s'])} - {fmt_time(stats['q3_s'])}"


def row_label(r: dict) -> str:
    return r["workload"] + (" [torch TF32]" if r.get("variant") == "torch-tf32" else "")


def _align(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]


def table_rows(doc: dict) -> list[tuple[str, ...]]:
    out = []
    for r in doc["results"]:
        if r["status"] != "ok":
            out.append((row_label(r), r["device"], r["status"], "-", "-", "-", "-", "-"))
            continue
        a, b = r["dlcore"], r.get("reference")
        ratio = f"{r['ratio']:.2f}" if r.get("ratio") is not None else "-"
        first = f"{fmt_time(a['first_call_s'])} / {fmt_time(b['first_call_s']) if b else '-'}"
        out.append((row_label(r), r["device"], fmt_time(a["median_s"]), fmt_iqr(a),
                    fmt_time(b["median_s"]) if b else "-", fmt_iqr(b), ratio, first))
    return out


def _blas_lines(blas: dict | None) -> list[str]:
    """NumPy's BLAS library and kernels, and a warning when an environment variable forces them."""
    if not blas or not blas.get("library"):
        return []
    summary, forced = blas_summary(blas)
    lines = [f"NumPy BLAS: {summary}"]
    if forced:
        lines.append(f"warning: {forced} forces OpenBLAS's kernels instead of the ones it detects for this CPU; "
                     "dlcore's GEMMs may run slower than the CPU allows (unset it, as `make bench` does)")
    return lines


def format_table(doc: dict) -> str:
    """The main table: one row per workload and device (plus TF32 rows on a GPU)."""
    s, m = doc["settings"], doc["machine"]
    ref = s["reference"]
    lines = [
        f"dlcore {doc['versions']['dlcore']} benchmark, {doc['date']}",
        f"machine: {m['cpu']}, {m['cpu_count']} CPU cores"
        + "".join(f"; GPU {g['index']}: {g['name']}" for g in m["gpus"]),
        f"threads: NumPy BLAS {s['numpy_blas_threads']} ({s['numpy_blas_threads_source']})"
        + (f", torch {s['torch_num_threads']} (set to match)" if "torch_num_threads" in s else ""),
        *_blas_lines(s.get("numpy_blas")),
        f"reference: {ref}" + (f" {doc['versions']['torch']}, TF32 off (TF32 rows separate)" if ref == "torch" else "")
        + (f" -- {s['reference_note']}" if s.get("reference_note") else ""),
        "method: first call timed apart, warm-up, then dlcore and reference alternate in blocks of "
        f"{s.get('block', 1)} timed calls (" + ", ".join(f"{d}: {v['reps']} reps, {v['settle_s']:g} s pause before each block"
                                            for d, v in s.get("per_device", {}).items()) + ")",
        "ratio = dlcore median / reference median (below 1: dlcore is faster); IQR = 25th-75th percentile",
        "",
    ]
    lines += _align([TABLE_HEADER] + table_rows(doc))
    lines.append("")
    seen = set()
    for r in doc["results"]:
        key = (r["workload"], r["device"])
        if r["status"] == "ok" and key not in seen:
            seen.add(key)
            src = f" [{r['source']}]" if r.get("source") else ""
            n = r["dlcore"]["n"]
            lines.append(f"  {r['workload']} ({r['device']}, {n} reps): {r['description']}{src}")
    for r in doc["results"]:
        if r["status"] != "ok":
            lines.append(f"  {r['workload']} ({r['device']}) {r['status']}: {r['reason']}")
        elif r.get("reference_note"):
            lines.append(f"  {r['workload']} ({r['device']}) no reference: {r['reference_note']}")
    bad = [r for r in doc["results"] if r.get("check") and not r["check"]["ok"]]
    checked = [r for r in doc["results"] if r.get("check")]
    if checked:
        worst = max(c["check"]["max_rel_diff"] for c in checked)
        lines.append(f"  same-work check (first-call outputs, dlcore vs reference): {len(checked) - len(bad)} of "
                     f"{len(checked)} agree to {worst:.1e} relative or better" if not bad else
                     "  same-work check FAILED for: " + ", ".join(f"{r['workload']} ({r['device']}): "
                                                                  f"{r['check']['max_rel_diff']:.1e}" for r in bad))
    return "\n".join(lines)


def format_rates(doc: dict) -> str:
    """Achieved FLOP/s (W3) and bandwidth (W4, W5) next to the copy bandwidth of each device."""
    rows = [("workload", "device", "dlcore", "reference", "counted as")]
    for r in doc["results"]:
        if r["status"] != "ok" or not r.get("work") or r.get("variant") != "main":
            continue
        cells = []
        for side in ("dlcore", "reference"):
            a = r["achieved"].get(side)
            if not a:
                cells.append("-")
            elif "gflop_per_s" in a:
                cells.append(f"{a['gflop_per_s']:.1f} GFLOP/s")
            else:
                frac = f" ({100 * a['fraction_of_copy_bw']:.0f}% of copy)" if "fraction_of_copy_bw" in a else ""
                cells.append(f"{a['gb_per_s']:.1f} GB/s{frac}")
        counted = (f"{r['work']['flops'] / 1e9:.2f} GFLOP (fwd + 2x fwd for bwd)" if "flops" in r["work"]
                   else f"{r['work']['bytes'] / 1e6:.0f} MB moved (minimum)")
        rows.append((r["workload"], r["device"], *cells, counted))
    if len(rows) == 1:
        return ""
    lines = ["achieved rates (median time):"]
    for dev, bw in doc.get("copy_bandwidth", {}).items():
        lines.append(f"  copy bandwidth {dev}: {bw['gb_per_s']:.1f} GB/s ({bw['method']})")
    lines += ["  " + line for line in _align(rows)]
    return "\n".join(lines)


def write_json(doc: dict, path: str) -> None:
    with open(path, "w") as f:
        json.dump(doc, f, indent=1, default=_jsonable)
        f.write("\n")


def _jsonable(x: Any) -> Any:
    if hasattr(x, "item"):
        return x.item()
    if hasattr(x, "tolist"):
        return x.tolist()
    return str(x)


def plot(doc: dict, path: str) -> bool:
    """Bar chart of the ratios (log scale, line at 1). Returns False when there is nothing to plot."""
    rows = [r for r in doc["results"] if r["status"] == "ok" and r.get("ratio")]
    if not rows:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    devices = sorted({r["device"] for r in rows})
    colours = dict(zip(devices, ["tab:blue", "tab:orange", "tab:green", "tab:red"]))
    fig, ax = plt.subplots(figsize=(max(5.0, 0.7 * len(rows) + 2), 3.6), dpi=100)
    labels = [f"{row_label(r).replace(' [torch TF32]', ' TF32')}\n{r['device']}" for r in rows]
    bars = ax.bar(range(len(rows)), [r["ratio"] for r in rows], color=[colours[r["device"]] for r in rows])
    for bar, r in zip(bars, rows):
        ax.annotate(f"{r['ratio']:.2f}", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    ha="center", va="bottom", fontsize=8)
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_yscale("log")
    from matplotlib.ticker import FuncFormatter, NullFormatter

    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    lo = min(r["ratio"] for r in rows + [{"ratio": 1.0}])
    hi = max(r["ratio"] for r in rows + [{"ratio": 1.0}])
    ax.set_ylim(lo / 1.3, hi * 1.3)
    ticks = [t for t in (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 20, 50, 100)
             if lo / 1.3 <= t <= hi * 1.3]
    ax.set_yticks(ticks)
    ax.set_xticks(range(len(rows)), labels, fontsize=8)
    ax.set_ylabel(f"dlcore / {doc['settings']['reference']} time")
    ax.set_title(f"dlcore vs {doc['settings']['reference']} ({doc['date'][:10]}; below 1 = dlcore faster)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True
