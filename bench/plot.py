#!/usr/bin/env python3
"""Plots a bench run: the parallel-slices speed-up (figure 4) and growth
(figure 10: time to first delivery, full scan time and the worker's peak
memory against the log's size).

Usage: plot.py DIR   (DIR/results.json -> DIR/speedup.png, DIR/growth.png)
"""

import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def plot_speedup(results: dict, png_path: str) -> None:
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



def plot_growth(results: dict, png_path: str) -> None:
    points = (results.get("growth") or {}).get("points") or []
    if not points:
        print(f"==> no growth figure: {png_path} not written")
        return
    millions = [p["records"] / 1e6 for p in points]
    panels = [
        ("first_delivery_ms", "time to first delivery (ms)", "flat"),
        ("full_scan_seconds", "full scan, one slice (s)", "linear"),
        ("worker_peak_rss_mb", "worker peak RSS (MB)", "flat"),
    ]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.8), dpi=120)
    for ax, (key, label, expected) in zip(axes, panels):
        values = [p[key] for p in points]
        if expected == "linear":
            # The straight line through the origin and the smallest log's point.
            slope = values[0] / millions[0]
            ax.plot([0, millions[-1]], [0, slope * millions[-1]], linestyle="--", color="grey", label="linear")
        else:
            ax.axhline(values[0], linestyle="--", color="grey", label="flat")
        ax.plot(millions, values, marker="o", color="tab:blue", label="measured")
        ax.set_xlabel("records in the log (millions)")
        ax.set_ylabel(label)
        ax.set_ylim(0, max(values) * 1.25)
        ax.grid(True, alpha=0.3)
        ax.legend(loc="lower right")
    days = results.get("dataset", {}).get("days")
    fig.suptitle(f"Growth: the same {days} days at more records, config `{results.get('config')}`")
    fig.tight_layout()
    fig.savefig(png_path)
    print(f"==> wrote {png_path}")



def main(directory: str) -> int:
    with open(os.path.join(directory, "results.json"), encoding="utf-8") as f:
        results = json.load(f)
    plot_speedup(results, os.path.join(directory, "speedup.png"))
    plot_growth(results, os.path.join(directory, "growth.png"))
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
