"""Attribution figures: files written, one symmetric colour scale shared by models, wrong predictions marked."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.colors import to_rgba

from robinterp.attribution.figures import RIGHT_COLOR, WRONG_COLOR, _grid_figure, _samples_figure, _symmetric_limit, plot_attribution_grid, plot_attribution_samples

CLASSES = [f"c{k}" for k in range(10)]


def _data(n=4, c=1, h=10, seed=0, robust_scale=1.0):
    """Images with a bright square; 'robust' maps concentrated on it, 'standard' maps scattered noise."""
    rng = np.random.default_rng(seed)
    images = 0.1 * rng.random((n, c, h, h))
    images[:, :, 3:7, 3:7] = 0.9
    labels = np.arange(n) % 10
    on_object = np.zeros((n, c, h, h))
    on_object[:, :, 3:7, 3:7] = 1.0
    models = {
        "standard": {"ig": rng.uniform(-1, 1, (n, c, h, h)), "shap": 0.01 * rng.uniform(-1, 1, (n, c, h, h)),
                     "predictions": labels.copy()},
        "robust_l2": {"ig": robust_scale * on_object, "shap": 0.01 * robust_scale * on_object,
                      "predictions": (labels + np.arange(n) % 2) % 10},  # every other prediction wrong
    }
    return images, labels, models


def _titled_axes(fig):
    """Every axes (in subfigures too) with a non-empty title → title text."""
    def walk(f):
        yield from f.axes
        for sub in f.subfigs:
            yield from walk(sub)
    return [(ax, ax.get_title()) for ax in walk(fig) if ax.get_title()]


@pytest.mark.parametrize("channels", [1, 3])
def test_figures_are_written_as_png_and_pdf(tmp_path, channels):
    images, labels, models = _data(n=3, c=channels)  # small: saving dominates the test time
    before = (images.copy(), {k: {kk: vv.copy() for kk, vv in v.items()} for k, v in models.items()})
    outs = [tmp_path / "samples.png", tmp_path / "samples.pdf"]
    plot_attribution_samples(images, labels, CLASSES, models, [2], outs)
    grid_outs = [tmp_path / "sub" / "grid.png", tmp_path / "sub" / "grid.pdf"]
    ig_only = {name: {"ig": spec["ig"], "predictions": spec["predictions"]} for name, spec in models.items()}
    plot_attribution_grid(images, labels, CLASSES, ig_only, "ig", grid_outs, columns=3)
    for out in outs + grid_outs:
        data = out.read_bytes()
        assert len(data) > 5000, out
        assert data.startswith(b"\x89PNG" if out.suffix == ".png" else b"%PDF"), out
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["grid.pdf", "grid.png",
                                                                          "samples.pdf", "samples.png"]
    assert plt.get_fignums() == []  # nothing left open
    np.testing.assert_array_equal(images, before[0])  # inputs untouched
    for name, spec in models.items():
        for key, value in spec.items():
            np.testing.assert_array_equal(value, before[1][name][key])


def test_symmetric_limit_is_the_99th_percentile_of_abs_over_all_maps():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(3, 8, 8)), -5 * rng.standard_t(2, size=(2, 6, 6))
    expected = np.percentile(np.abs(np.concatenate([a.ravel(), b.ravel()])), 99)
    assert _symmetric_limit([a, b]) == pytest.approx(expected)
    assert _symmetric_limit(-a) == pytest.approx(np.percentile(np.abs(a), 99))  # an array works, sign ignored
    assert _symmetric_limit([a, b]) != pytest.approx(_symmetric_limit([a]))  # every map counts
    sparse = np.zeros(1000)
    sparse[0] = -3.0  # 99th percentile is 0 → fall back to max |map|
    assert _symmetric_limit([sparse]) == 3.0
    assert _symmetric_limit([np.zeros((4, 4))]) == 1.0  # never a collapsed scale
    with pytest.raises(ValueError, match="NaN"):
        _symmetric_limit([np.array([1.0, np.nan])])


def _map_artists(fig):
    """(model, method) → list of the attribution AxesImage of the samples figure's panels."""
    found = {}
    for ax, title in _titled_axes(fig):
        if title.startswith("label:"):
            continue
        model, method = title.split("\n")[0].split(" ")
        found.setdefault((model, method), []).append(ax.images[-1])
    return found


def test_one_symmetric_scale_per_method_shared_by_models():
    images, labels, models = _data(n=3, c=3, robust_scale=10.0)
    # Scattered standard maps ±1 per channel; robust maps 10 per channel on the object: robust is 10x larger.
    fig = _samples_figure(images, labels, CLASSES, models, [0, 1, 2], scale="shared")
    artists = _map_artists(fig)
    assert set(artists) == {(m, k) for m in models for k in ("IG", "SHAP")}
    for method, key in (("IG", "ig"), ("SHAP", "shap")):
        v = _symmetric_limit([models[m][key].sum(axis=1) for m in models])
        for model in models:
            assert len(artists[(model, method)]) == 3
            for artist in artists[(model, method)]:
                assert artist.get_clim() == pytest.approx((-v, v))  # symmetric, same for both models
        # The standard model's map, drawn on the shared scale, stays near the middle (pale) ...
        std = np.concatenate([np.abs(a.norm(a.get_array()) - 0.5).ravel() * 2 for a in artists[("standard", method)]])
        rob = np.concatenate([np.abs(a.norm(a.get_array()) - 0.5).ravel() * 2 for a in artists[("robust_l2", method)]])
        # ... its strongest pixel (3 channels of ±1) reaches ≤ 0.1 of the scale, the robust map the full scale.
        assert std.max() <= 0.1 + 1e-9
        assert rob.max() >= 1.0 - 1e-9
    ig_clim = artists[("standard", "IG")][0].get_clim()
    shap_clim = artists[("standard", "SHAP")][0].get_clim()
    assert ig_clim[1] == pytest.approx(100 * shap_clim[1])  # each method keeps its own scale
    colorbar_labels = [ax.get_ylabel() for ax in fig.axes if "99th pct" in ax.get_ylabel()]
    assert len(colorbar_labels) == 2 and any("Integrated Gradients" in t for t in colorbar_labels) \
        and any("SHAP" in t for t in colorbar_labels)


def test_per_map_scales_show_the_structure_of_small_maps():
    """The default: each map on its own ±99th-percentile scale, so the robust model's 10x smaller (here: larger)
    or the standard model's small maps reach the full colour range; the colour bar reads in units of each map."""
    images, labels, models = _data(n=3, c=3, robust_scale=10.0)
    fig = _samples_figure(images, labels, CLASSES, models, [0, 1, 2])
    artists = _map_artists(fig)
    for (model, method), drawn in artists.items():
        key = method.lower()
        for row, artist in enumerate(drawn):
            assert artist.get_clim() == pytest.approx((-1.0, 1.0))
            expected = models[model][key][row].sum(axis=0)
            np.testing.assert_allclose(artist.get_array(), expected / _symmetric_limit(expected))
        # the standard model's map now spans the scale as the robust one does
        reach = max(np.abs(a.get_array()).max() for a in drawn)
        assert reach >= 1.0 - 1e-9
    labels_ = [ax.get_ylabel() for ax in fig.axes if "own 99th pct" in ax.get_ylabel()]
    assert len(labels_) == 2
    with pytest.raises(ValueError, match="scale"):
        _samples_figure(images, labels, CLASSES, models, [0], scale="global")


def test_grid_marks_wrong_predictions_and_heads_each_block():
    images, labels, models = _data(n=5)
    fig = _grid_figure(images, labels, CLASSES, models, "shap", columns=2)
    blocks = fig.subfigs[0].subfigs
    assert [b.get_suptitle() for b in blocks] == ["standard", "robust_l2"]
    for block, (name, spec) in zip(blocks, models.items()):
        titled = [ax for ax in block.axes if ax.get_title()]
        assert len(titled) == 5 and len(block.axes) == 6  # 3 rows × 2 columns, the sixth panel empty
        for ax, pred, label in zip(titled, spec["predictions"], labels):
            right = pred == label
            assert ax.get_title() == f"pred c{pred}" + ("" if right else " ✗")
            assert to_rgba(ax.title.get_color()) == to_rgba(RIGHT_COLOR if right else WRONG_COLOR)
    wrong = [ax for b in blocks for ax in b.axes if ax.get_title().endswith("✗")]
    assert len(wrong) == 2  # robust_l2 predictions 1 and 3
    clims = {ax.images[-1].get_clim() for b in blocks for ax in b.axes if ax.images}
    assert len(clims) == 1  # one scale for the whole grid


@pytest.mark.parametrize("change,match", [
    (lambda a: a.update(images=a["images"][:, :, :2]), r"images"),
    (lambda a: a.update(labels=a["labels"][:3]), r"labels"),
    (lambda a: a.update(labels=a["labels"] + 20), r"labels.*class_names"),
    (lambda a: a["models"]["robust_l2"].update(ig=a["models"]["robust_l2"]["ig"][:, :, :5]),
     r"models\['robust_l2'\]\['ig'\].*shape"),
    (lambda a: a["models"]["standard"].pop("shap"), r"models\['standard'\].*'shap'"),
    (lambda a: a["models"]["standard"].update(predictions=np.zeros(2, int)), r"models\['standard'\]\['predictions'\]"),
    (lambda a: a.update(rows=[0, 4]), r"rows"),
    (lambda a: a.update(out_paths=["fig.xyz"]), r"out_paths"),
])
def test_samples_input_validation_names_the_argument(tmp_path, change, match):
    images, labels, models = _data()
    args = {"images": images, "labels": labels, "class_names": CLASSES, "models": models, "rows": [0, 1],
            "out_paths": [tmp_path / "f.png"]}
    change(args)
    with pytest.raises(ValueError, match=match):
        plot_attribution_samples(**args)
    assert not any(tmp_path.iterdir())


def test_grid_input_validation(tmp_path):
    images, labels, models = _data()
    with pytest.raises(ValueError, match="method"):
        plot_attribution_grid(images, labels, CLASSES, models, "lime", [tmp_path / "g.png"])
    with pytest.raises(ValueError, match="columns"):
        plot_attribution_grid(images, labels, CLASSES, models, "ig", [tmp_path / "g.png"], columns=0)
    models["robust_l2"]["shap"] = models["robust_l2"]["shap"][:3]
    with pytest.raises(ValueError, match=r"models\['robust_l2'\]\['shap'\]"):
        plot_attribution_grid(images, labels, CLASSES, models, "shap", [tmp_path / "g.png"])
    assert not any(tmp_path.iterdir())
