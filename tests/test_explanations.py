"""The attribution job's glue: which images are explained, and the per-model outputs' consistency."""

import numpy as np
import pytest

from robinterp.base.errors import DataError
import torch

from robinterp.attribution.job import summarise_metrics
from robinterp.attribution.maps import metric_names
from robinterp.base.tables import sample_std
from robinterp.attribution.selection import select_images


def test_selection_is_disjoint_reproducible_and_seeded():
    a = select_images(1000, n_background=176, n_explained=24, n_metrics=500, seed=3)
    b = select_images(1000, n_background=176, n_explained=24, n_metrics=500, seed=3)
    c = select_images(1000, n_background=176, n_explained=24, n_metrics=500, seed=4)
    assert a == b and a != c
    groups = [set(a[k]) for k in ("background", "explained", "metrics")]
    assert [len(g) for g in groups] == [176, 24, 500]
    assert len(set().union(*groups)) == 700 and max(set().union(*groups)) < 1000
    assert a["background"] == sorted(a["background"]) and a["explained"] != sorted(a["explained"])
    # The seed is recorded with the draw, and the draw is random over the whole split rather than its first
    # 700 images (which a disjoint, sorted, reproducible but unseeded selection could also return).
    assert a["seed"] == 3 and c["seed"] == 4
    assert set().union(*groups) != set(range(700))
    assert a["explained"] != c["explained"] and a["metrics"] != c["metrics"]


def test_too_small_a_test_split_names_the_config_section():
    with pytest.raises(DataError, match="needs 30 distinct test images .* has 20; lower them in the config"):
        select_images(20, n_background=16, n_explained=6, n_metrics=8, seed=0)


def test_table7_reports_mean_and_std_of_every_metric():
    names = metric_names()
    assert names[:2] == ["alignment_mean", "alignment_std"] and len(names) == 12 and len(set(names)) == 12
    assert np.all([n.endswith(("_mean", "_std")) for n in names])


def test_table7_std_is_the_sample_std_of_the_per_image_values():
    """One standard deviation in every table: n − 1 (numpy's ddof=1), batches concatenated; NaN for one image."""
    rng = np.random.default_rng(0)
    batches = [torch.from_numpy(rng.normal(size=n)).float() for n in (4, 3)]
    summary = summarise_metrics({"alignment": batches})
    values = torch.cat(batches).double().numpy()
    assert summary["alignment_mean"] == pytest.approx(values.mean(), rel=1e-12)
    assert summary["alignment_std"] == pytest.approx(values.std(ddof=1), rel=1e-12)
    assert summary["alignment_std"] != pytest.approx(values.std(ddof=0), rel=1e-6)  # the other convention fails
    assert np.isnan(summarise_metrics({"alignment": [torch.tensor([0.5])]})["alignment_std"])


def test_sample_std_is_numpys_ddof_1_and_undefined_below_two_values():
    assert sample_std([1.0, 2.0, 4.0]) == pytest.approx(np.std([1.0, 2.0, 4.0], ddof=1), rel=1e-15)
    assert sample_std(np.ones((2, 3))) == 0.0
    assert np.isnan(sample_std([3.0])) and np.isnan(sample_std([]))
