"""Drawing helpers every stage's figures share: an unregistered figure, one saver, one resolution, one colour per
method, image panels."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib
import numpy as np

matplotlib.use("Agg")
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from robinterp.base.io import atomic_path  # noqa: E402

#: Resolution of every PNG figure the package writes.
DPI = 150


def new_figure(width: float, height: float) -> Figure:
    """A figure not registered with pyplot (nothing to close, nothing leaks between calls)."""
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Figure, out_paths: Sequence[str | Path], dpi: int = DPI) -> None:
    """Write ``fig`` to every path (PNG or PDF by extension), atomically."""
    for out in out_paths:
        with atomic_path(out) as tmp:
            fig.savefig(tmp, dpi=dpi, bbox_inches="tight")


def method_colours(n: int) -> list:
    """``n`` distinct colours, one per method of a figure: tab10's up to 10 (matplotlib's cycle, which repeats
    after 10), tab20's up to 20, then evenly spaced along viridis."""
    from matplotlib import colormaps

    if n <= 20:
        cmap = colormaps["tab10" if n <= 10 else "tab20"]
        return [cmap(i) for i in range(n)]
    return [colormaps["viridis"](i / (n - 1)) for i in range(n)]


def bare_axes(ax) -> None:
    ax.set_xticks([])
    ax.set_yticks([])


def draw_image(ax, image: np.ndarray) -> None:
    """An image (C, H, W) in [0, 1]: grayscale for C=1, RGB for C=3, pixels unsmoothed."""
    image = np.clip(image, 0.0, 1.0)
    if image.shape[0] == 1:
        ax.imshow(image[0], cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    else:
        ax.imshow(np.transpose(image, (1, 2, 0)), interpolation="nearest")
    bare_axes(ax)
