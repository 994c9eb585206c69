"""Figures of the synthesised images: seeds (Figs. 14/19), class generation (3/7),
representation inversion (4, 11 / 8, 18) and feature visualisation (5, 12 / 9, 15).

Every figure is a grid of images drawn by :func:`image_grid`: labelled rows,
labelled columns, pixels unsmoothed. Images arrive as the package stores them,
uint8 (N, H, W, C).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from robinterp.base.plotting import bare_axes, draw_image, new_figure, save_figure

_PANEL = 0.9          # inches per image
_LABEL_SIZE = 7


def _as_chw(image: np.ndarray) -> np.ndarray:
    """uint8 (H, W, C) → float (C, H, W) in [0, 1], what :func:`draw_image` takes."""
    return np.transpose(image, (2, 0, 1)).astype(np.float32) / 255.0


def image_grid(rows: Sequence[Sequence[np.ndarray | None]], row_labels: Sequence[str],
               column_labels: Sequence[str], title: str, out_paths: Sequence[str | Path]) -> None:
    """Draw images in a grid and save it.

    Args:
        rows: one sequence per row of uint8 (H, W, C) images; ``None`` leaves a cell empty.
        row_labels: one label per row, left of it.
        column_labels: one label per column, above it ("" for none).
        title: the figure's title.
        out_paths: files to write (PNG and/or PDF), atomically.
    """
    if len(row_labels) != len(rows):
        raise ValueError(f"{len(row_labels)} row labels for {len(rows)} rows")
    ncols = max(len(r) for r in rows)
    if len(column_labels) != ncols:
        raise ValueError(f"{len(column_labels)} column labels for {ncols} columns")
    fig = new_figure(_PANEL * ncols + 1.2, _PANEL * len(rows) + 0.5)
    axes = fig.subplots(len(rows), ncols, squeeze=False)
    for r, row in enumerate(rows):
        for c in range(ncols):
            ax = axes[r, c]
            image = row[c] if c < len(row) else None
            if image is None:
                ax.axis("off")
            else:
                draw_image(ax, _as_chw(image))
            if r == 0 and column_labels[c]:
                ax.set_title(column_labels[c], fontsize=_LABEL_SIZE)
        axes[r, 0].axis("on")
        bare_axes(axes[r, 0])
        for side in axes[r, 0].spines.values():
            side.set_visible(row[0] is not None)
        axes[r, 0].set_ylabel(row_labels[r], fontsize=_LABEL_SIZE, rotation=0, ha="right", va="center")
    fig.suptitle(title, fontsize=_LABEL_SIZE + 2)
    save_figure(fig, out_paths)


def _first_of_class(targets: np.ndarray, k: int, n: int) -> np.ndarray:
    found = np.flatnonzero(targets == k)[:n]
    if len(found) < n:
        raise ValueError(f"class {k} has {len(found)} images, the figure shows {n}")
    return found


def plot_seeds(seeds: np.ndarray, targets: np.ndarray, class_names: Sequence[str], n_classes: int, columns: int,
               out_paths: Sequence[str | Path]) -> None:
    """Seeds of class generation (Figs. 14/19): one row per class, ``columns`` seeds each."""
    rows = [[seeds[i] for i in _first_of_class(targets, k, columns)] for k in range(n_classes)]
    image_grid(rows, [str(class_names[k]) for k in range(n_classes)], [""] * columns,
               "seeds: draws from per-class normals", out_paths)


def plot_generation(models: Mapping[str, tuple[np.ndarray, np.ndarray]], class_names: Sequence[str],
                    n_classes: int, columns: int, title: str, out_paths: Sequence[str | Path]) -> None:
    """Class generation (Figs. 3/7): one row per class, each model's ``columns`` images side by side.

    Args:
        models: model name → (generated images uint8 (N, H, W, C), their target classes (N,)), in column order.
        class_names: names of the classes.
        n_classes: the first this many classes are shown.
        columns: images per class and model.
        title: the figure's title (the settings).
        out_paths: files to write.
    """
    rows = []
    for k in range(n_classes):
        row = []
        for images, targets in models.values():
            row += [images[i] for i in _first_of_class(targets, k, columns)]
        rows.append(row)
    labels = [name if c == 0 else "" for name in models for c in range(columns)]
    image_grid(rows, [str(class_names[k]) for k in range(n_classes)], labels, title, out_paths)


def plot_inversions(originals: np.ndarray, sources: Mapping[str, np.ndarray],
                    inversions: Mapping[str, Mapping[str, np.ndarray]], rows: Sequence[int], title: str,
                    out_paths: Sequence[str | Path]) -> None:
    """Representation inversion (Figs. 4, 11 / 8, 18): original | source | each model's inversion, per source set.

    Args:
        originals: the target images (N, H, W, C).
        sources: source set ("inv1", "inv2") → starting images (N, H, W, C).
        inversions: model name → source set → inverted images (N, H, W, C).
        rows: which targets to show.
        title: the figure's title.
        out_paths: files to write.
    """
    labels = ["original"]
    for source in sources:
        labels += [f"source ({source})"] + [f"{model} ({source})" for model in inversions]
    grid = []
    for i in rows:
        row = [originals[i]]
        for source, starts in sources.items():
            row += [starts[i]] + [inversions[model][source][i] for model in inversions]
        grid.append(row)
    image_grid(grid, [f"#{i}" for i in rows], labels, title, out_paths)


def plot_feature_visualisation(starts: Mapping[str, np.ndarray], models: Mapping[str, Mapping[str, np.ndarray]],
                               title: str, out_paths: Sequence[str | Path]) -> None:
    """Direct feature visualisation (Figs. 5, 12 / 9, 15).

    Args:
        starts: start kind ("noise", "images") → starting images (n, H, W, C).
        models: model name → {"noise": visualisations from noise, "images": from the
            test images, "most": the most activating test images, "least": the least
            activating}, each (n or k, H, W, C).
        title: the figure's title (the coordinate).
        out_paths: files to write.
    """
    grid, labels = [], []
    for kind, images in starts.items():
        grid.append(list(images))
        labels.append(f"start ({kind})")
        for model, arrays in models.items():
            grid.append(list(arrays[kind]))
            labels.append(f"{model}: from {kind}")
    for model, arrays in models.items():
        for kind in ("most", "least"):
            grid.append(list(arrays[kind]))
            labels.append(f"{model}: {kind} activating")
    image_grid(grid, labels, [""] * max(len(r) for r in grid), title, out_paths)
