"""Figures of training: loss and validation accuracies per epoch, one line per model."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Mapping, Sequence

from robinterp.base.plotting import new_figure, save_figure


def _read_history(path: str | Path) -> dict[str, list[float]]:
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return {k: [float(r[k]) if r[k] != "" else float("nan") for r in rows] for k in rows[0]} if rows else {}


def plot_training_curves(histories: Mapping[str, str | Path], title: str, out_paths: Sequence[str | Path]) -> None:
    """Training loss, validation clean and adversarial accuracy per epoch, one line per model.

    Args:
        histories: model name → history CSV written by :func:`robinterp.training.loop.train`.
        title: figure title (the dataset).
        out_paths: files to write (PNG and/or PDF, by extension), atomically.
    """
    fig = new_figure(13, 3.6)
    axes = fig.subplots(1, 3)
    panels = [("train_loss", "training loss (on the batches trained on)"),
              ("val_clean_accuracy", "validation clean accuracy (%)"),
              ("val_adv_accuracy", "validation adversarial accuracy (%)")]
    for model, path in histories.items():
        h = _read_history(path)
        for ax, (key, _) in zip(axes, panels):
            ax.plot(h["epoch"], h[key], marker="o", markersize=3, label=model)
    for ax, (_, label) in zip(axes, panels):
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0].legend()
    fig.suptitle(title)
    save_figure(fig, out_paths)
