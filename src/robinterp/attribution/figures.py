"""Figures of attribution maps (Integrated Gradients and SHAP), standard vs. robust models.

Two figures, as in Boychev 2023:

* :func:`plot_attribution_samples` — Fig. 2 / Fig. 6: a few test images, one row each: the image
  with its label, then for each model the IG overlay and the SHAP map.
* :func:`plot_attribution_grid` — Fig. 10/16 (IG) and Fig. 13/17 (SHAP): all selected images, one
  block of panels per model, each panel titled with the prediction, green when right, red when wrong.

Display conventions shared by both figures:

* a map is the channel sum of the signed attribution, shape (H, W);
* ``scale="per_map"`` (the default): every map on its own diverging scale, symmetric around zero,
  ±v with v the 99th percentile of that map's |values| (as the paper's figures and captum's
  ``visualize_image_attr`` with ``outlier_perc`` do), so that a model whose attributions are small
  in magnitude (a robust model's, next to a standard model's large, noisy ones) still shows its
  structure; the colour bar is then in units of each map's own v;
* ``scale="shared"``: one scale per method and figure, v the 99th percentile of |map| over every
  map of that method in the figure (all models together), so magnitudes compare across models —
  and a model with small attributions can fade to grey;
* every map is drawn the same way (:func:`_draw_attribution`): the image in grayscale, faint,
  underneath, the map on top with a colormap that fades to transparent near zero (the look of
  ``shap.image_plot``).

Figures are built on :class:`matplotlib.figure.Figure` with an Agg canvas, never through the
pyplot figure registry, so nothing is left open; each output file is written atomically.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure

from robinterp.base.plotting import bare_axes as _bare
from robinterp.base.plotting import draw_image as _draw_image
from robinterp.base.plotting import new_figure as _new_figure
from robinterp.base.plotting import save_figure

METHODS = {"ig": "IG", "shap": "SHAP"}
_METHOD_LONG = {"ig": "Integrated Gradients", "shap": "SHAP"}
PERCENTILE = 99.0
SCALES = ("per_map", "shared")
RIGHT_COLOR = "#1a7f37"  # green
WRONG_COLOR = "#c62828"  # red
_TITLE_SIZE = 8
_IMAGE_ALPHA = 0.35   # the grayscale image under a map
_MAP_ALPHA = 0.85     # the map's opacity at |value| >= _FADE * v
_FADE = 0.25          # below this fraction of v the map fades linearly to transparent


# ----------------------------------------------------------------------------- scales and colours

def _attribution_map(attribution: np.ndarray) -> np.ndarray:
    """Channel sum of a signed attribution: (C, H, W) → (H, W), or (n, C, H, W) → (n, H, W)."""
    return np.asarray(attribution, dtype=np.float64).sum(axis=-3)


def _symmetric_limit(maps) -> float:
    """v for the colour limits ±v: the 99th percentile of |map| over all the given maps.

    ``maps`` is an array or a sequence of arrays of any shapes (every value counts once).
    Falls back to max |map|, then to 1.0, when the percentile is 0 (e.g. all-zero maps), so the
    colour scale never collapses.
    """
    if isinstance(maps, np.ndarray):
        values = np.abs(maps.astype(np.float64, copy=False)).ravel()
    else:
        values = np.concatenate([np.abs(np.asarray(m, dtype=np.float64)).ravel() for m in maps])
    if values.size == 0:
        raise ValueError("maps: no values to compute a colour limit from")
    if not np.all(np.isfinite(values)):
        raise ValueError("maps: attribution maps contain NaN or infinity")
    v = float(np.percentile(values, PERCENTILE))
    if v <= 0.0:
        v = float(values.max())
    return v if v > 0.0 else 1.0


def _method_limits(models: Mapping[str, Mapping[str, np.ndarray]], methods: Sequence[str],
                   rows: Sequence[int]) -> dict[str, float]:
    """One v per method over the shown rows of every model (so models share a method's scale)."""
    return {m: _symmetric_limit([_attribution_map(np.asarray(spec[m])[list(rows)]) for spec in models.values()])
            for m in methods}


def _transparent_diverging(name: str = "RdBu_r", n: int = 256) -> ListedColormap:
    """``name`` with an alpha ramp: transparent at 0, opaque (``_MAP_ALPHA``) from ``_FADE`` · v on."""
    colors = matplotlib.colormaps[name](np.linspace(0.0, 1.0, n))
    s = np.abs(np.linspace(-1.0, 1.0, n))
    colors[:, 3] = _MAP_ALPHA * np.clip(s / _FADE, 0.0, 1.0)
    return ListedColormap(colors, name=f"{name}_transparent")


_CMAP = _transparent_diverging()


# ----------------------------------------------------------------------------- drawing

def _gray(image: np.ndarray) -> np.ndarray:
    """(C, H, W) in [0, 1] → (H, W) grayscale (luminance for RGB)."""
    image = np.clip(image, 0.0, 1.0)
    if image.shape[0] == 1:
        return image[0]
    return np.tensordot(np.array([0.299, 0.587, 0.114]), image, axes=1)


def _draw_attribution(ax, image: np.ndarray, attribution: np.ndarray, v: float | None):
    """The one way a map is drawn: faint grayscale image, the map on top; returns the map's artist.

    ``v``: the shared scale (limits ±v); None draws the map on its own scale, divided by the 99th
    percentile of its |values| (limits ±1).
    """
    ax.imshow(_gray(image), cmap="gray", vmin=0.0, vmax=1.0, alpha=_IMAGE_ALPHA, interpolation="nearest")
    values = _attribution_map(attribution)
    if v is None:
        values, v = values / _symmetric_limit(values), 1.0
    artist = ax.imshow(values, cmap=_CMAP, vmin=-v, vmax=v, interpolation="nearest")
    _bare(ax)
    return artist


def _class_name(class_names: Sequence[str], k: int) -> str:
    return str(class_names[int(k)])


def _pred_title(class_names: Sequence[str], pred: int, label: int) -> tuple[str, str]:
    """'pred <class>' (with ✗ when wrong, for readers who can't tell red from green) and its colour."""
    right = int(pred) == int(label)
    text = f"pred {_class_name(class_names, pred)}" + ("" if right else " ✗")
    return text, RIGHT_COLOR if right else WRONG_COLOR


def _colorbar_label(method: str, v: float | None) -> str:
    if v is None:
        return f"{_METHOD_LONG[method]} (sum over channels)\neach map ÷ its own 99th pct of |map|"
    return f"{_METHOD_LONG[method]} (sum over channels)\nshared scale ±{v:.3g} = 99th pct of |map|"


def _limits(models, methods: Sequence[str], rows: Sequence[int], scale: str) -> dict[str, float | None]:
    """Per method: the shared v, or None for per-map scales."""
    if scale not in SCALES:
        raise ValueError(f"scale: expected one of {SCALES}, got {scale!r}")
    if scale == "per_map":
        return {m: None for m in methods}
    return _method_limits(models, methods, rows)


# ----------------------------------------------------------------------------- validation

def _validate(images, labels, class_names, models, methods: Sequence[str], out_paths):
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"images: expected shape (n, C, H, W) with C = 1 or 3, got {images.shape}")
    if not np.issubdtype(images.dtype, np.number) or not np.all(np.isfinite(images)):
        raise ValueError("images: expected finite numbers in [0, 1]")
    n = images.shape[0]
    if n == 0:
        raise ValueError("images: no images")
    labels = np.asarray(labels)
    if labels.shape != (n,) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels: expected {n} integers (shape ({n},)), got dtype {labels.dtype} shape {labels.shape}")
    k = len(class_names)
    if labels.min() < 0 or labels.max() >= k:
        raise ValueError(f"labels: values must index class_names (0..{k - 1}), got {labels.min()}..{labels.max()}")
    if not isinstance(models, Mapping) or not models:
        raise ValueError("models: expected a non-empty dict model name → {'ig', 'shap', 'predictions'}")
    checked = {}
    for name, spec in models.items():
        for key in (*methods, "predictions"):
            if key not in spec:
                raise ValueError(f"models[{name!r}]: missing {key!r}")
        for m in methods:
            a = np.asarray(spec[m])
            if a.shape != images.shape:
                raise ValueError(f"models[{name!r}][{m!r}]: shape {a.shape} does not match images.shape {images.shape}")
            if not np.all(np.isfinite(a)):
                raise ValueError(f"models[{name!r}][{m!r}]: contains NaN or infinity")
        pred = np.asarray(spec["predictions"])
        if pred.shape != (n,) or not np.issubdtype(pred.dtype, np.integer):
            raise ValueError(f"models[{name!r}]['predictions']: expected {n} integers (shape ({n},)), "
                             f"got dtype {pred.dtype} shape {pred.shape}")
        if pred.min() < 0 or pred.max() >= k:
            raise ValueError(f"models[{name!r}]['predictions']: values must index class_names (0..{k - 1})")
        checked[str(name)] = {**{m: np.asarray(spec[m]) for m in methods}, "predictions": pred}
    if isinstance(out_paths, (str, Path)) or not out_paths:
        raise ValueError("out_paths: expected a non-empty list of paths")
    supported = FigureCanvasAgg(Figure()).get_supported_filetypes()
    for out in out_paths:
        suffix = Path(out).suffix.lower().lstrip(".")
        if suffix not in supported:
            raise ValueError(f"out_paths: cannot tell the format of {str(out)!r} (use .png or .pdf)")
    return images, labels, checked


# ----------------------------------------------------------------------------- Fig. 2 / Fig. 6

def _samples_figure(images, labels, class_names, models, rows, scale="per_map") -> Figure:
    """Build (without saving) the figure of :func:`plot_attribution_samples`; arguments validated."""
    methods = list(METHODS)
    limits = _limits(models, methods, rows, scale)
    ncols = 1 + len(methods) * len(models)
    fig = _new_figure(1.55 * ncols + 2.2, 1.75 * len(rows) + 0.3)
    axes = np.atleast_2d(fig.subplots(len(rows), ncols, squeeze=False))
    artists: dict[str, object] = {}
    for r, i in enumerate(rows):
        _draw_image(axes[r, 0], images[i])
        axes[r, 0].set_title(f"label: {_class_name(class_names, labels[i])}", fontsize=_TITLE_SIZE)
        col = 1
        for name, spec in models.items():
            text, color = _pred_title(class_names, spec["predictions"][i], labels[i])
            for m in methods:
                ax = axes[r, col]
                artists[m] = _draw_attribution(ax, images[i], spec[m][i], limits[m])
                ax.set_title(f"{name} {METHODS[m]}\n{text}", fontsize=_TITLE_SIZE, color=color)
                col += 1
    for m in reversed(methods):  # constrained layout puts the first colour bar outermost; IG nearest the panels
        cb = fig.colorbar(artists[m], ax=axes, location="right", shrink=0.85, aspect=25, pad=0.01)
        cb.set_label(_colorbar_label(m, limits[m]), fontsize=_TITLE_SIZE)
        cb.ax.tick_params(labelsize=7)
    return fig


def plot_attribution_samples(images, labels, class_names, models, rows, out_paths, scale: str = "per_map") -> None:
    """The paper's Fig. 2 / Fig. 6: a few test images, each with its label, then for each model
    (standard first, then robust) the Integrated Gradients overlay and the SHAP map, each panel
    titled with that model's prediction.

    Args:
        images: (n, C, H, W) floats in [0, 1], C = 1 or 3.
        labels: (n,) int true classes.
        class_names: names indexed by class.
        models: model name → {"ig": (n, C, H, W) signed, "shap": (n, C, H, W) signed,
            "predictions": (n,) int}; dict order = column order.
        rows: indices into n, one figure row each.
        out_paths: files to write (PNG and/or PDF, by extension), each atomically.
        scale: ``"per_map"`` (each map on its own ±99th-percentile scale) or ``"shared"`` (one scale
            per method over all models' shown maps); see the module docstring.

    One labelled colour bar per method. Titles of model panels are green when the prediction is
    right, red (and marked ✗) when wrong.

    Raises:
        ValueError: an argument has the wrong shape or values; the message names it.
    """
    images, labels, checked = _validate(images, labels, class_names, models, list(METHODS), out_paths)
    rows = [int(r) for r in rows]
    if not rows:
        raise ValueError("rows: expected at least one image index")
    bad = [r for r in rows if not 0 <= r < images.shape[0]]
    if bad:
        raise ValueError(f"rows: indices {bad} out of range for {images.shape[0]} images")
    fig = _samples_figure(images, labels, class_names, checked, rows, scale)
    save_figure(fig, out_paths)


# ----------------------------------------------------------------------------- Fig. 10/13/16/17

def _grid_figure(images, labels, class_names, models, method, columns=6, scale="per_map") -> Figure:
    """Build (without saving) the figure of :func:`plot_attribution_grid`; arguments validated."""
    n = images.shape[0]
    columns = min(columns, n)
    nrows = math.ceil(n / columns)
    v = _limits(models, [method], range(n), scale)[method]
    block_w, panel_h = 1.2 * columns, 1.3
    fig = _new_figure(block_w * len(models) + 0.3 * (len(models) - 1), panel_h * nrows + 1.5)
    top, bottom = fig.subfigures(2, 1, height_ratios=[panel_h * nrows + 0.7, 0.8])
    blocks = np.atleast_1d(top.subfigures(1, len(models), wspace=0.03))
    artist = None
    for block, (name, spec) in zip(blocks, models.items()):
        block.suptitle(name, fontsize=10, fontweight="bold")
        axes = block.subplots(nrows, columns, squeeze=False)
        for j, ax in enumerate(axes.ravel()):
            if j >= n:
                ax.set_axis_off()
                continue
            artist = _draw_attribution(ax, images[j], spec[method][j], v)
            text, color = _pred_title(class_names, spec["predictions"][j], labels[j])
            ax.set_title(text, fontsize=_TITLE_SIZE, color=color)
    cax = bottom.add_axes([0.3, 0.55, 0.4, 0.15])
    cb = bottom.colorbar(artist, cax=cax, orientation="horizontal")
    cb.set_label(_colorbar_label(method, v).replace("\n", "; "), fontsize=_TITLE_SIZE)
    cb.ax.tick_params(labelsize=7)
    fig.suptitle(f"{_METHOD_LONG[method]} — title: prediction (green right, red ✗ wrong)", fontsize=10)
    return fig


def plot_attribution_grid(images, labels, class_names, models, method, out_paths, columns=6,
                          scale: str = "per_map") -> None:
    """The paper's Fig. 10/16 (method "ig": IG overlays) and Fig. 13/17 (method "shap"): all n images
    (24 in the paper) for each model side by side (one block of panels per model), each panel titled
    with the prediction, marked right (green) or wrong (red, ✗).

    Args:
        images, labels, class_names, models: as in :func:`plot_attribution_samples`; only
            ``models[name][method]`` and ``models[name]["predictions"]`` are used.
        method: "ig" or "shap".
        out_paths: files to write (PNG and/or PDF, by extension), each atomically.
        columns: panels per row within a model's block.
        scale: ``"per_map"`` or ``"shared"``, as in :func:`plot_attribution_samples`.

    Raises:
        ValueError: an argument has the wrong shape or values; the message names it.
    """
    if method not in METHODS:
        raise ValueError(f"method: expected one of {sorted(METHODS)}, got {method!r}")
    if isinstance(columns, bool) or not isinstance(columns, (int, np.integer)) or columns < 1:
        raise ValueError(f"columns: expected a positive integer, got {columns!r}")
    images, labels, checked = _validate(images, labels, class_names, models, [method], out_paths)
    fig = _grid_figure(images, labels, class_names, checked, method, int(columns), scale)
    save_figure(fig, out_paths)
