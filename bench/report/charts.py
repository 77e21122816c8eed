"""PNG charts of the benchmark outputs (matplotlib, no display)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # after choosing the backend

_DPI = 110


def webhook_latency(doc: dict[str, Any], path: Path) -> Path:
    """p50/p90/p99 of the webhook ack against the offered rate."""
    runs = sorted((r for r in doc["runs"] if r.get("client", "raw") == "raw"),
                  key=lambda r: r["rate"])
    rates = [r["rate"] for r in runs]
    fig, ax = plt.subplots(figsize=(7, 4))
    for key, label in (("p50_ms", "p50"), ("p90_ms", "p90"), ("p99_ms", "p99")):
        ax.plot(rates, [r[key] for r in runs], marker="o", label=label)
    ax.axhline(45, color="grey", linestyle="--", linewidth=1, label="seed: 45 ms")
    ax.set_yscale("log")
    ax.set_xlabel("offered webhooks/s (open loop)")
    ax.set_ylabel("ack latency (ms, log)")
    ax.set_title("Webhook gateway: latency per rate")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=_DPI)
    plt.close(fig)
    return path


def _bars(ax: Any, names: list[str], values: list[float], title: str, unit: str) -> None:
    bars = ax.barh(names, values, color=["#999999" if "peer" in n or "per-row" in n
                                         or "dlt" in n else "#3a7bd5" for n in names])
    ax.bar_label(bars, labels=[f"{v:,.0f}" for v in values], padding=3, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(unit)
    ax.set_title(title)
    ax.margins(x=0.2)
    ax.grid(True, axis="x", alpha=0.3)


def throughput(projector: list[tuple[str, float]], streams: list[tuple[str, float]],
               path: Path) -> Path:
    """events/s per contender, projector and stream worker side by side."""
    panels = [(p, t) for p, t in ((projector, "Projector → PostgreSQL"),
                                  (streams, "Stream worker raw → entity.synced")) if p]
    fig, axes = plt.subplots(len(panels) or 1, 1, figsize=(8, 2.2 + 0.45 * sum(
        len(p) for p, _ in panels)), squeeze=False)
    for ax, (pairs, title) in zip(axes[:, 0], panels, strict=False):
        _bars(ax, [n for n, _ in pairs], [v for _, v in pairs], title, "events/s")
    fig.tight_layout()
    fig.savefig(path, dpi=_DPI)
    plt.close(fig)
    return path


def api_latency(doc: dict[str, Any], path: Path, goal_ms: float) -> Path:
    """Sequential p50 and p99 per endpoint, cache off and on."""
    names = list(doc["cache off"])
    fig, ax = plt.subplots(figsize=(8, 0.5 * len(names) + 1.5))
    height = 0.2
    for i, (mode, key, color) in enumerate((("cache off", "p50_ms", "#9ec5f8"),
                                            ("cache off", "p99_ms", "#3a7bd5"),
                                            ("cache on", "p50_ms", "#b6e3b6"),
                                            ("cache on", "p99_ms", "#3a9a3a"))):
        values = [doc[mode][n]["sequential"][key] for n in names]
        ax.barh([j + (i - 1.5) * height for j in range(len(names))], values, height,
                label=f"{mode}, {key[:3]}", color=color)
    ax.axvline(goal_ms, color="red", linestyle="--", linewidth=1,
               label=f"goal p99 {goal_ms:.0f} ms")
    ax.axvline(120, color="grey", linestyle=":", linewidth=1, label="seed 120 ms")
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("ms (log), sequential requests")
    ax.set_title("Admin API latency, 1,000,000 read-model rows")
    ax.grid(True, axis="x", which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=_DPI)
    plt.close(fig)
    return path


def zoho_pull(doc: dict[str, Any], path: Path) -> Path:
    """Wall time of each puller against the rate-limit bound."""
    rows = [(label, doc[key]["wall_s"]) for key, label in (
        ("tds", "TDS (paced)"), ("tds_burst", "TDS (burst)"), ("dlt", "dlt peer"))
        if isinstance(doc.get(key), dict) and "wall_s" in doc[key]]  # not a skipped one
    fig, ax = plt.subplots(figsize=(7, 0.5 * len(rows) + 1.6))
    _bars(ax, [n for n, _ in rows], [v for _, v in rows],
          f"Zoho full pull of {doc['items']:,} items", "seconds (lower is better)")
    ax.axvline(doc["tds"]["bound_s"], color="red", linestyle="--", linewidth=1,
               label="rate-limit bound")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=_DPI)
    plt.close(fig)
    return path


def e2e_timeline(doc: dict[str, Any], path: Path) -> Path:
    """bench/e2e over time: events projected per second (webhooks, backfill) above the
    webhook → row latency per second of send time."""
    timeline = doc["timeline"]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    for label, counts in timeline["rows_per_s"].items():
        top.plot(range(len(counts)), counts, label=f"{label} events → rows/s", linewidth=1.2)
    top.set_ylabel("events projected per second")
    top.set_title("End to end over time: throughput (top), webhook → row latency (bottom)")
    top.grid(True, alpha=0.3)
    top.legend(loc="upper right")
    points = timeline["latency"]
    for key, label in (("p50_ms", "p50"), ("p99_ms", "p99")):
        bottom.plot([p["t"] for p in points], [p[key] for p in points], marker=".",
                    linewidth=1, label=label)
    bottom.set_yscale("log")
    bottom.set_ylabel("webhook → row (ms, log)")
    bottom.set_xlabel("seconds since the steady phase began")
    bottom.grid(True, which="both", alpha=0.3)
    for ax in (top, bottom):
        ax.axvline(timeline["backfill_starts_s"], color="grey", linestyle="--", linewidth=1)
    bottom.text(timeline["backfill_starts_s"], bottom.get_ylim()[1], " backfill starts",
                va="top", fontsize=8, color="grey")
    bottom.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=_DPI)
    plt.close(fig)
    return path
