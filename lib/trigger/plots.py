"""What notebook 03 shows: training curves, fine-tune vs scratch, the DET curve, scores."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from lib.plots import _pyplot


def training_curves(history: dict[str, list[float]], keys: Sequence[str] = ("loss",)) -> Any:
    """One panel per metric: training and ``val_`` curves per epoch."""
    plt = _pyplot()
    keys = [k for k in keys if k in history or f"val_{k}" in history] or ["loss"]
    fig, axes = plt.subplots(1, len(keys), figsize=(5 * len(keys), 3.2), squeeze=False)
    for ax, key in zip(axes[0], keys, strict=True):
        for name, style in ((key, "-"), (f"val_{key}", "--")):
            values = history.get(name)
            if values:
                ax.plot(np.arange(1, len(values) + 1), values, style, marker="o", label=name)
        ax.set_xlabel("epoch")
        ax.set_title(key)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    return fig


def compare_curves(
    histories: dict[str, dict[str, list[float]]],
    metric: str = "val_pr_auc",
    target: float | None = None,
) -> Any:
    """``metric`` per epoch for several runs on one plot (e.g. fine-tuned vs from scratch)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.6))
    for label, history in histories.items():
        values = history.get(metric, [])
        ax.plot(np.arange(1, len(values) + 1), values, marker="o", label=label)
    if target is not None:
        ax.axhline(target, color="0.5", ls=":", label=f"target {target:g}")
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def det_plot(curve: Sequence[dict[str, Any]], title: str = "", fa_budget: float = 0.5) -> Any:
    """False-reject rate against false accepts per hour (the DET curve of lib.metrics)."""
    plt = _pyplot()
    pts = [
        (p["false_accepts_per_hour"], p["false_reject_rate"])
        for p in sorted(curve, key=lambda p: p["threshold"])
        if p.get("false_accepts_per_hour") is not None
        and p.get("false_reject_rate") is not None
        and p["threshold"] > 0  # threshold 0 fires on every step: not a usable operating point
    ]
    fig, ax = plt.subplots(figsize=(6, 3.8))
    if pts:
        fa, frr = np.array(pts).T
        ax.plot(np.maximum(fa, 1e-2), frr * 100, marker=".")
    ax.axvline(fa_budget, color="tab:red", ls=":", label=f"{fa_budget:g} FA/h")
    ax.axhline(5, color="tab:green", ls=":", label="5% FRR goal")
    ax.set_xscale("log")
    ax.set_xlabel("false accepts per hour (0 drawn at 0.01)")
    ax.set_ylabel("false-reject rate, %")
    ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    fig.tight_layout()
    return fig


def plot_scores(
    audio: np.ndarray, scores: np.ndarray, sample_rate: int, hop: float, offset: float,
    threshold: float, spans: Sequence[tuple[float, float]] = (), title: str = "",
) -> Any:  # fmt: skip
    """Waveform and the streaming scores on one time axis, with the true trigger spans."""
    plt = _pyplot()
    fig, axes = plt.subplots(2, 1, figsize=(11, 4), sharex=True)
    t = np.arange(len(audio)) / sample_rate
    step = max(1, len(audio) // 20000)
    axes[0].plot(t[::step], audio[::step], lw=0.5, color="0.2")
    axes[0].set_title(title)
    st = offset + np.arange(len(scores)) * hop
    axes[1].plot(st, scores, color="tab:blue")
    axes[1].axhline(threshold, color="tab:red", ls=":")
    axes[1].set_ylim(-0.05, 1.05)
    axes[1].set_ylabel("score")
    axes[1].set_xlabel("seconds")
    for s, e in spans:
        for ax in axes:
            ax.axvspan(s, e, color="tab:green", alpha=0.2, lw=0)
    fig.tight_layout()
    return fig
