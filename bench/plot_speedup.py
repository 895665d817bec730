#!/usr/bin/env python3
"""Plots the parallel-slices speed-up curve of a bench run.

Usage: plot_speedup.py RESULTS_JSON OUT_PNG
"""

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(results_path: str, png_path: str) -> int:
    with open(results_path, encoding="utf-8") as f:
        results = json.load(f)
    points = results["parallel_slices"]
    slices = [p["slices_at_once"] for p in points]
    speedup = [p["speedup"] for p in points]
    rate = [p["events_per_s"] for p in points]

    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=120)
    ax.plot(slices, slices, linestyle="--", color="grey", label="linear")
    ax.plot(slices, speedup, marker="o", color="tab:blue", label="measured")
    for x, y, r in zip(slices, speedup, rate):
        ax.annotate(f"{r:,.0f} ev/s", (x, y), textcoords="offset points", xytext=(6, -12), fontsize=8)
    cpus = results.get("machine", {}).get("cpus")
    if cpus:
        ax.axvline(cpus, color="tab:red", linewidth=0.8, linestyle=":", label=f"{cpus} CPUs")
    ax.set_xscale("log", base=2)
    ax.set_xticks(slices, [str(s) for s in slices])
    ax.set_xlabel("slices running at once (MAX_PARALLEL_SLICES)")
    ax.set_ylabel("speed-up over 1 slice")
    events = points[0]["events"] if points else 0
    ax.set_title(f"One 24-hour replay ({events:,} events), config `{results.get('config')}`")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(png_path)
    print(f"==> wrote {png_path}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1], sys.argv[2]))
