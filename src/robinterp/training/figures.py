"""Figures of training: loss and validation accuracies per epoch, one line per model and replicate."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Mapping, Sequence

from robinterp.base.plotting import method_colours, new_figure, save_figure


def _read_history(path: str | Path) -> dict[str, list[float]]:
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return {k: [float(r[k]) if r[k] != "" else float("nan") for r in rows] for k in rows[0]} if rows else {}


def plot_training_curves(histories: Mapping[str, Sequence[str | Path]], title: str,
                         out_paths: Sequence[str | Path]) -> None:
    """Training loss, validation clean and adversarial accuracy per epoch, one colour per model.

    Every replicate of a model is drawn, in the model's colour: replicate 0 as a line with filled markers, the
    others as thinner, paler lines with hollow markers, so their spread shows around it.

    Args:
        histories: model name → the history CSVs of its replicates (replicate 0 first), written by
            :func:`robinterp.training.loop.train`.
        title: figure title (the dataset).
        out_paths: files to write (PNG and/or PDF, by extension), atomically.
    """
    fig = new_figure(13, 3.6)
    axes = fig.subplots(1, 3)
    panels = [("train_loss", "training loss (on the batches trained on)"),
              ("val_clean_accuracy", "validation clean accuracy (%)"),
              ("val_adv_accuracy", "validation adversarial accuracy (%)")]
    replicated = any(len(paths) > 1 for paths in histories.values())
    for (model, paths), colour in zip(histories.items(), method_colours(len(histories))):
        for k, path in enumerate(paths):
            h = _read_history(path)
            for ax, (key, _) in zip(axes, panels):
                label = (f"{model} (n={len(paths)})" if replicated else model) if k == 0 else None
                ax.plot(h["epoch"], h[key], color=colour, label=label,
                        **({"marker": "o", "markersize": 3} if k == 0 else
                           {"marker": "o", "markersize": 3, "mfc": "none", "linewidth": 0.8, "alpha": 0.6}))
    for ax, (_, label) in zip(axes, panels):
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0].legend()
    fig.suptitle(title + (" (every replicate; filled markers: replicate 0)" if replicated else ""))
    save_figure(fig, out_paths)
