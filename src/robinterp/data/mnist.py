"""MNIST from its four official IDX files into the prepared format.

The files are ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte``, plain or
gzip-compressed (``.gz``), in one folder: where torchvision's
``datasets.MNIST(root, download=True)`` puts them (``<root>/MNIST/raw``), which
is also how they are fetched when missing and online (torchvision knows the
mirrors and checks each file's md5). IDX format (LeCun et al.): a big-endian
header, magic 2051 for images (then count, rows, columns) and 2049 for labels
(then count), followed by uint8 data.

Writes ``train`` (60,000) and ``test`` (10,000) uint8 N×28×28×1 splits.
"""

from __future__ import annotations

import gzip
import logging
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

import numpy as np

from robinterp.data.store import Split, write_prepared
from robinterp.base.errors import DataError

logger = logging.getLogger("robinterp.data")

FILES = MappingProxyType({
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
})
OFFICIAL_COUNTS = MappingProxyType({"train": 60_000, "test": 10_000})
IMAGES_MAGIC, LABELS_MAGIC = 2051, 2049
CLASSES = [str(d) for d in range(10)]


def _find(folder: Path, name: str) -> Path | None:
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _missing_message(folder: Path, missing: list[str]) -> str:
    return (f"MNIST file(s) {missing} not found in {folder}: put the four official IDX files there (plain or .gz), "
            "or set download: true on a machine with internet (torchvision fetches them)")


def read_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file (``.gz`` or plain) of unsigned bytes: images (N, rows, cols) or labels (N,)."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as exc:
        raise DataError(f"cannot read {path} ({exc}); replace it with the official file") from exc
    if len(raw) < 8:
        raise DataError(f"{path} is too short to be an IDX file")
    magic, count = int.from_bytes(raw[0:4], "big"), int.from_bytes(raw[4:8], "big")
    if magic == IMAGES_MAGIC:
        rows, cols = int.from_bytes(raw[8:12], "big"), int.from_bytes(raw[12:16], "big")
        shape, offset = (count, rows, cols), 16
    elif magic == LABELS_MAGIC:
        shape, offset = (count,), 8
    else:
        raise DataError(f"{path} has IDX magic number {magic}, expected {IMAGES_MAGIC} (images) or "
                        f"{LABELS_MAGIC} (labels)")
    expected = int(np.prod(shape))
    if len(raw) - offset != expected:
        raise DataError(f"{path} holds {len(raw) - offset} data bytes, its header announces {expected}; "
                        "the file is truncated or damaged")
    return np.frombuffer(raw, dtype=np.uint8, offset=offset).reshape(shape)


def download_mnist(root: Path) -> Path:
    """Fetch the official files with torchvision into ``<root>/MNIST/raw`` (md5-checked); return that folder."""
    from torchvision.datasets import MNIST  # heavy import, needed only here

    try:
        for train in (True, False):
            MNIST(str(root), train=train, download=True)
    except Exception as exc:  # urllib, socket and torchvision's RuntimeError all mean "no usable download"
        raise DataError(f"{_missing_message(root / 'MNIST' / 'raw', list(FILES['train'] + FILES['test']))}; "
                        f"the automatic download failed: {exc}") from exc
    return root / "MNIST" / "raw"


def read_mnist(folder: str | Path, expected_counts: Mapping[str, int] = OFFICIAL_COUNTS) -> dict[str, Split]:
    """The train and test splits from the IDX files in ``folder``, checked against ``expected_counts``."""
    folder = Path(folder)
    found = {name: _find(folder, name) for pair in FILES.values() for name in pair}
    missing = [name for name, path in found.items() if path is None]
    if missing:
        raise DataError(_missing_message(folder, missing))
    splits = {}
    for split, (images_name, labels_name) in FILES.items():
        images, labels = read_idx(found[images_name]), read_idx(found[labels_name])
        if images.ndim != 3 or labels.ndim != 1:
            raise DataError(f"{found[images_name]} must hold images and {found[labels_name]} labels")
        if len(images) != len(labels) or len(images) != expected_counts[split]:
            raise DataError(f"MNIST {split}: {len(images)} images and {len(labels)} labels in {folder}, expected "
                            f"{expected_counts[split]} of each")
        if labels.max(initial=0) > 9:
            raise DataError(f"{found[labels_name]} has label {labels.max()}; MNIST labels are 0-9")
        splits[split] = Split(np.ascontiguousarray(images[..., None]), labels.astype(np.int64))
    return splits


def prepare_mnist(root: str | Path, out_dir: str | Path, download: bool = True,
                  expected_counts: Mapping[str, int] = OFFICIAL_COUNTS) -> Path:
    """Turn the official MNIST files into a prepared dataset; return its ``meta.json`` path.

    Args:
        root: torchvision's MNIST root; the files are read from ``<root>/MNIST/raw``
            (or from ``root`` itself when they are there).
        out_dir: folder of the prepared dataset.
        download: fetch the files with torchvision when they are missing.
        expected_counts: images per split the files must hold.
    """
    root, out_dir = Path(root), Path(out_dir)
    folder = root if _find(root, FILES["test"][0]) else root / "MNIST" / "raw"
    downloaded = False
    if download and any(_find(folder, name) is None for pair in FILES.values() for name in pair):
        folder, downloaded = download_mnist(root), True
    splits = read_mnist(folder, expected_counts)
    meta = write_prepared(out_dir, "mnist", CLASSES, splits,
                          provenance={"source": "MNIST IDX files", "folder": str(folder.resolve()),
                                      "downloaded": downloaded})
    logger.info("prepared MNIST (%s) in %s", ", ".join(f"{k} {len(v)}" for k, v in splits.items()), out_dir)
    return meta
