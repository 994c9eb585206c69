"""Which test images a dataset's models explain: one seeded draw, shared by every model."""

from __future__ import annotations

import numpy as np

from robinterp.base.errors import DataError
from robinterp.base.seeds import stream_seed


def select_images(n_test: int, *, n_background: int, n_explained: int, n_metrics: int, seed: int) -> dict:
    """Disjoint random test-image indices: SHAP background, explained (figures), and metric images.

    Args:
        n_test: size of the test split.
        n_background, n_explained, n_metrics: how many of each.
        seed: seed of the draw (recorded with the result).

    Returns:
        ``{"seed", "background", "explained", "metrics"}`` with sorted index lists
        (explained in draw order, so the figures' first rows are random images).
    """
    needed = n_background + n_explained + n_metrics
    if needed > n_test:
        raise DataError(f"attribution needs {needed} distinct test images (n_background + n_explained + n_metrics) "
                        f"but the test split has {n_test}; lower them in the config's attribution section")
    order = np.random.default_rng(stream_seed(seed, "attribution_selection")).permutation(n_test)
    return {"seed": seed,
            "explained": order[:n_explained].tolist(),
            "background": np.sort(order[n_explained:n_explained + n_background]).tolist(),
            "metrics": np.sort(order[n_explained + n_background:needed]).tolist()}
