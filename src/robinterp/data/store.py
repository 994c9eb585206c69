"""The one on-disk format for prepared datasets.

A prepared dataset is a folder::

    <dir>/meta.json          name, classes, image shape, split sizes, provenance
    <dir>/<split>_x.npy      uint8, shape (N, H, W, C), pixel values 0..255
    <dir>/<split>_y.npy      int64, shape (N,), class indices into meta["classes"]

Arrays are plain ``.npy`` so they memory-map (``np.load(mmap_mode="r")``) and
load in seconds on a GPU node; ``meta.json`` is written last, so its presence
means the folder is complete (it is the file the workflow tracks).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np

from robinterp.base.errors import DataError
from robinterp.base.io import atomic_path, read_json, write_json

META_FILE = "meta.json"


@dataclass(frozen=True)
class Split:
    """Images (uint8, N×H×W×C) and integer labels of one split."""

    images: np.ndarray
    labels: np.ndarray

    def __post_init__(self):
        if self.images.dtype != np.uint8 or self.images.ndim != 4:
            raise ValueError(f"images must be uint8 (N, H, W, C), got {self.images.dtype} {self.images.shape}")
        if self.labels.shape != (self.images.shape[0],):
            raise ValueError(f"labels shape {self.labels.shape} does not match {self.images.shape[0]} images")

    def __len__(self) -> int:
        return int(self.labels.shape[0])


@dataclass(frozen=True)
class PreparedDataset:
    """A dataset loaded from a prepared folder."""

    name: str
    classes: list[str]
    splits: dict[str, Split]
    meta: dict

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) as the models see it."""
        h, w, c = next(iter(self.splits.values())).images.shape[1:]
        return (c, h, w)

    def __getitem__(self, split: str) -> Split:
        if split not in self.splits:
            raise DataError(f"dataset {self.name!r} has no split {split!r} (has {sorted(self.splits)})")
        return self.splits[split]


def write_prepared(out_dir: str | Path, name: str, classes: list[str], splits: Mapping[str, Split],
                   provenance: dict | None = None) -> Path:
    """Write ``splits`` in the prepared format; ``meta.json`` goes last."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    num_classes = len(classes)
    for split_name, split in splits.items():
        if len(split) and (split.labels.min() < 0 or split.labels.max() >= num_classes):
            raise DataError(f"{name}/{split_name}: labels outside 0..{num_classes - 1}")
        for suffix, array in (("x", split.images), ("y", split.labels.astype(np.int64))):
            with atomic_path(out_dir / f"{split_name}_{suffix}.npy") as tmp:
                np.save(tmp, np.ascontiguousarray(array))
    meta = {
        "name": name,
        "classes": list(classes),
        "image_shape_hwc": list(next(iter(splits.values())).images.shape[1:]),
        "splits": {k: len(v) for k, v in splits.items()},
        "class_counts": {k: np.bincount(v.labels, minlength=num_classes).tolist() for k, v in splits.items()},
        "provenance": provenance or {},
    }
    write_json(out_dir / META_FILE, meta)
    return out_dir / META_FILE


def load_prepared(path: str | Path, mmap: bool = True) -> PreparedDataset:
    """Load a prepared dataset from its folder (or its ``meta.json``)."""
    path = Path(path)
    folder = path.parent if path.name == META_FILE else path
    meta_path = folder / META_FILE
    if not meta_path.exists():
        raise DataError(f"no prepared dataset at {folder}: {meta_path} is missing. "
                        "Run the workflow's prepare rule for this dataset first.")
    meta = read_json(meta_path)
    splits = {}
    for split_name, n in meta["splits"].items():
        try:
            x = np.load(folder / f"{split_name}_x.npy", mmap_mode="r" if mmap else None)
            y = np.load(folder / f"{split_name}_y.npy")
        except (OSError, ValueError) as exc:
            raise DataError(f"prepared dataset {folder} is damaged ({exc}); delete the folder and prepare it again") from exc
        if len(y) != n or x.shape[0] != n:
            raise DataError(f"{folder}/{split_name}: meta.json says {n} images, arrays hold {x.shape[0]}/{len(y)}; "
                            "delete the folder and prepare it again")
        splits[split_name] = Split(x, y)
    return PreparedDataset(meta["name"], meta["classes"], splits, meta)
