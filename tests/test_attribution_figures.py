"""The attribution figures: files, one shared symmetric colour scale per method, right/wrong marks, validation."""

import numpy as np
import pytest
from matplotlib.colors import to_rgba

from robinterp.attribution_figures import (RIGHT_COLOR, WRONG_COLOR, _grid_figure, _method_limits, _symmetric_limit,
                                           plot_attribution_grid, plot_attribution_samples)


def _data(n=6, channels=1, size=12, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.random((n, channels, size, size))
    labels = np.arange(n) % 3
    models = {}
    for scale, name in ((1.0, "standard"), (10.0, "robust_l2")):
        models[name] = {"ig": scale * rng.standard_normal(images.shape),
                        "shap": scale * rng.standard_normal(images.shape),
                        "predictions": labels.copy()}
    models["standard"]["predictions"][1] = (labels[1] + 1) % 3  # one wrong prediction
    return images, labels, ["zero", "one", "two"], models


@pytest.mark.parametrize("channels", [1, 3])
def test_both_figures_are_written_as_png_and_pdf(tmp_path, channels):
    images, labels, names, models = _data(channels=channels)
    plot_attribution_samples(images, labels, names, models, [0, 1, 2], [tmp_path / "s.png", tmp_path / "s.pdf"])
    plot_attribution_grid(images, labels, names, models, "shap", [tmp_path / "g.png", tmp_path / "g.pdf"])
    for name in ("s.png", "s.pdf", "g.png", "g.pdf"):
        assert (tmp_path / name).stat().st_size > 10_000, name
    assert (tmp_path / "s.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_colour_limit_is_the_99th_percentile_of_all_maps_together():
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((4, 8, 8)), 10 * rng.standard_normal((4, 8, 8))
    expected = np.percentile(np.abs(np.concatenate([a.ravel(), b.ravel()])), 99)
    assert _symmetric_limit([a, b]) == pytest.approx(expected)
    assert _symmetric_limit(np.zeros((2, 3))) == 1.0  # never a collapsed scale
    with pytest.raises(ValueError, match="NaN or infinity"):
        _symmetric_limit([np.array([np.nan])])


def test_a_method_shares_one_scale_across_models_so_the_weaker_map_looks_weaker():
    images, labels, names, models = _data()
    limits = _method_limits(models, ["ig", "shap"], range(len(images)))
    both = [models[m]["ig"].sum(axis=1) for m in models]
    assert limits["ig"] == pytest.approx(np.percentile(np.abs(np.concatenate([x.ravel() for x in both])), 99))
    # the standard model's maps are 10x smaller: on the shared scale most of them stay far below the limit
    assert np.percentile(np.abs(models["standard"]["ig"].sum(axis=1)), 99) < 0.2 * limits["ig"]


def test_the_grid_marks_wrong_predictions():
    images, labels, names, models = _data()
    fig = _grid_figure(images, labels, names, models, "ig")
    titles = [(ax.get_title(), ax.title.get_color()) for sub in fig.subfigs[0].subfigs for ax in sub.axes
              if ax.get_title()]
    assert len(titles) == 2 * len(images)
    wrong = [t for t in titles if "✗" in t[0]]
    assert wrong == [("pred two ✗", WRONG_COLOR)]
    assert all(to_rgba(c) == to_rgba(RIGHT_COLOR) for t, c in titles if "✗" not in t)


def test_mismatched_inputs_name_the_argument(tmp_path):
    images, labels, names, models = _data()
    models["robust_l2"]["shap"] = models["robust_l2"]["shap"][:, :, :5]
    with pytest.raises(ValueError, match=r"models\['robust_l2'\]\['shap'\]: shape"):
        plot_attribution_grid(images, labels, names, models, "shap", [tmp_path / "g.png"])
    images, labels, names, models = _data()
    with pytest.raises(ValueError, match="rows: indices"):
        plot_attribution_samples(images, labels, names, models, [0, 99], [tmp_path / "s.png"])
    with pytest.raises(ValueError, match="labels"):
        plot_attribution_samples(images, labels[:3], names, models, [0], [tmp_path / "s.png"])
