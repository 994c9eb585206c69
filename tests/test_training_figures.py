"""The training curves figure: every model's (every replicate's) history drawn, written as PNG and PDF by the one
figure saver."""

from matplotlib.image import imread

from robinterp.base.plotting import DPI
from robinterp.training.figures import plot_training_curves
from robinterp.training.loop import history_csv


def test_training_curves_are_written_at_the_package_resolution(tmp_path):
    rows = [{"epoch": e, "lr": 0.1, "train_loss": 2.0 / e, "train_accuracy": 50 + e, "val_clean_accuracy": 60 + e,
             "val_adv_accuracy": None if name == "standard" else 20 + e, "overfit": e == 3, "selection_score": 0,
             "seconds": 1}
            for name in ("standard",) for e in (1, 2, 3)]
    paths = {}
    for name in ("standard", "robust_l2"):
        paths[name] = [tmp_path / f"{name}.csv"]
        paths[name][0].write_text(history_csv([{**r, "val_adv_accuracy": r["val_adv_accuracy"] or 10} for r in rows]
                                              if name == "robust_l2" else rows))
    paths["robust_l2"].append(tmp_path / "robust_l2_replicate1.csv")  # a second replicate, drawn beside the first
    paths["robust_l2"][1].write_text(history_csv([{**r, "val_adv_accuracy": 15, "train_loss": 1.0} for r in rows]))
    out = [tmp_path / "fig.png", tmp_path / "fig.pdf"]
    plot_training_curves(paths, "digits", out)
    assert out[1].read_bytes().startswith(b"%PDF")
    height, width = imread(out[0]).shape[:2]
    # 13 × 3.6 inches at DPI, give or take the tight bounding box
    assert abs(width - 13 * DPI) < 0.15 * 13 * DPI and abs(height - 3.6 * DPI) < 0.3 * 3.6 * DPI


def test_every_method_of_eleven_gets_its_own_colour(tmp_path, monkeypatch):
    # The demo trains eleven methods; viridis past ten gave neighbouring methods nearly the same green.
    from matplotlib.colors import to_rgba

    import robinterp.training.figures as figures

    drawn = []
    monkeypatch.setattr(figures, "save_figure", lambda fig, paths: drawn.append(fig))
    paths = {}
    for i in range(11):
        paths[f"m{i}"] = [tmp_path / f"m{i}.csv"]
        paths[f"m{i}"][0].write_text(history_csv([
            {"epoch": e, "lr": 0.1, "train_loss": 1.0 + i, "train_accuracy": 50, "val_clean_accuracy": 60,
             "val_adv_accuracy": 20, "overfit": 0, "selection_score": 0, "seconds": 1} for e in (1, 2)]))
    plot_training_curves(paths, "digits", [tmp_path / "fig.png"])
    colours = [to_rgba(line.get_color()) for line in drawn[0].axes[0].get_lines()]
    assert len(colours) == 11 and len(set(colours)) == 11
    assert min(sum((a - b) ** 2 for a, b in zip(c, d)) ** 0.5
               for k, c in enumerate(colours) for d in colours[k + 1:]) > 0.1  # apart, not merely unequal
