"""The synthesis jobs on a tiny dataset: shared inputs across models, stored layouts, and the metrics.

The metrics are checked against direct computations on the same arrays: the
judge's accuracy by its own predictions, ``fid_judge`` by the Fréchet distance
of the judge's representations, the distances by numpy norms.
"""

import numpy as np
import pytest
import torch

from robinterp.attacks.spec import AttackSpec
from robinterp.data.store import Split
from robinterp.base.errors import ConfigError
from robinterp.synthesis.features import JudgeFeatures
from robinterp.synthesis.fid import fid_from_features
from robinterp.models.architectures import build_model
from robinterp.base.config import from_dict
from robinterp.synthesis.settings import SynthesisSettings
from robinterp.synthesis.columns import table_metrics
from robinterp.synthesis.job import make_seeds, run_generation, run_inversion, run_visualisation, synthesis_metrics

STEP = {"norm": "l2", "eps": None, "step_size": 0.1, "steps": 3}  # unconstrained, as the paper's ε = 1000
SETTINGS = {
    "seed": 0, "batch_size": 7, "feature_batch_size": 5, "noise": {"mean": 0.5, "std": 0.05},
    "seeds": {"grain": 4, "ridge": 1e-4},
    "generation": {"per_class": 3, "attack": {**STEP, "eps": 0.3}},
    "inversion": {"n_images": 6, "attack": STEP},
    "visualisation": {"coordinates": [4, [1, 2]], "n_images": 2, "n_extremes": 3, "attack": STEP},
    "features": "judge", "judge": {"seed": 1, "train": {"epochs": 1}},
    "figures": {"seeds": "14", "generation": "03", "inversion": ["04", "11"], "visualisation": ["05", "12"],
                "classes": 3, "columns": 2, "inversion_rows": 3},
    "tables": {"fid": "table2_fid", "inversion": "table3_inversion_distance"},
}


def settings(**changes) -> SynthesisSettings:
    return from_dict(SynthesisSettings, {**SETTINGS, **changes}, "datasets.tiny.synthesis")


def split(n: int, seed: int) -> Split:
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 3
    images = (rng.random((n, 8, 8, 1)) * 60 + labels[:, None, None, None] * 80).astype(np.uint8)  # class = brightness
    return Split(images, labels.astype(np.int64))


def model(seed: int):
    torch.manual_seed(seed)
    return build_model("resnet_small", 3, 1, [0.5], [0.25]).eval()


def pixels(images: np.ndarray) -> torch.Tensor:
    """Stored uint8 (N, H, W, C) images as the model's input (N, C, H, W) in [0, 1]."""
    return torch.from_numpy(np.asarray(images)).permute(0, 3, 1, 2).float() / 255


def test_every_model_starts_from_the_same_seeds_targets_sources_and_noise():
    test, s = split(30, 0), settings()
    seeds = make_seeds(test, 3, s)
    assert seeds["images"].shape == (9, 8, 8, 1) and seeds["images"].dtype == np.uint8
    assert seeds["targets"].tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    a, b = model(0), model(1)
    gen_a, gen_b = run_generation(a, seeds, s), run_generation(b, seeds, s)
    assert np.array_equal(gen_a["targets"], seeds["targets"]) and not np.array_equal(gen_a["images"], gen_b["images"])
    inv_a, inv_b = run_inversion(a, test, s), run_inversion(b, test, s)
    for key in ("target_idx", "source_idx", "originals", "sources_inv1", "sources_inv2"):
        assert np.array_equal(inv_a[key], inv_b[key]), key
    assert np.all(test.labels[inv_a["target_idx"]] != test.labels[inv_a["source_idx"]])
    assert np.array_equal(inv_a["originals"], test.images[inv_a["target_idx"]])
    assert inv_a["distance_inv1"].shape == (6,) and np.all(inv_a["distance_inv1"] >= 0)
    vis_a, vis_b = run_visualisation(a, test, s), run_visualisation(b, test, s)
    assert np.array_equal(vis_a["start_noise"], vis_b["start_noise"])
    assert np.array_equal(vis_a["start_images"], test.images[vis_a["start_images_idx"]])
    assert vis_a["c0_noise"].shape == (2, 8, 8, 1) and vis_a["c1_most"].shape == (3, 8, 8, 1)
    with torch.no_grad():
        r = a.representation(torch.from_numpy(test.images).permute(0, 3, 1, 2).float() / 255)
    assert vis_a["c0_most_idx"].tolist() == torch.argsort(r[:, 4], descending=True)[:3].tolist()
    assert vis_a["c1_least_idx"].tolist() == torch.argsort(r[:, [1, 2]].mean(1))[:3].tolist()
    assert np.array_equal(vis_a["c1_least"], test.images[vis_a["c1_least_idx"]])
    assert np.array_equal(make_seeds(test, 3, s)["images"], seeds["images"])  # reproducible
    assert not np.array_equal(make_seeds(test, 3, settings(seed=1))["images"], seeds["images"])  # and seeded

    # What each job promises of its outputs (checked on model a; the equalities above would also hold for
    # jobs that returned their inputs unchanged).
    targets = torch.from_numpy(seeds["targets"]).long().view(-1, 1)
    with torch.no_grad():
        gain = a(pixels(gen_a["images"])).gather(1, targets) - a(pixels(seeds["images"])).gather(1, targets)
    assert (gain > 0).all()  # generation raised every target logit (measured ≈ 0.01–0.02)
    # 3 L2 steps of σ = 0.1 from the seed (ε = 5 does not bind), plus at most half a grey level per pixel
    moved = (pixels(gen_a["images"]) - pixels(seeds["images"])).flatten(1).norm(dim=1)
    assert (moved > 0).all() and (moved <= 3 * 0.1 + 0.5 / 255 * 8).all()
    with torch.no_grad():
        r_originals = a.representation(pixels(inv_a["originals"]))
        for source in ("inv1", "inv2"):
            def distance(images):
                return ((a.representation(pixels(images)) - r_originals).norm(dim=1) / r_originals.norm(dim=1)).numpy()
            # distance_* is eq. 15's normalised distance of the result (up to the uint8 rounding of the stored
            # images), and inversion brought every source closer to its target's representation
            np.testing.assert_allclose(inv_a[f"distance_{source}"], distance(inv_a[f"inverted_{source}"]), rtol=0.02)
            assert np.all(inv_a[f"distance_{source}"] < distance(inv_a[f"sources_{source}"])), source
        for kind, start in (("noise", vis_a["start_noise"]), ("images", vis_a["start_images"])):
            # the visualisation of coordinates [1, 2] raised their mean activation from every start
            assert (a.representation(pixels(vis_a[f"c1_{kind}"]))[:, [1, 2]].mean(1)
                    > a.representation(pixels(start))[:, [1, 2]].mean(1)).all(), kind


# 9 generated images in a 64-d feature space: the covariances are singular, as scipy warns.
@pytest.mark.filterwarnings("ignore::scipy.linalg.LinAlgWarning")
def test_metrics_agree_with_direct_computations():
    test, train, s, cpu = split(30, 0), split(40, 1), settings(), torch.device("cpu")
    judge = model(7)
    seeds = make_seeds(test, 3, s)
    generated = {"standard": [run_generation(model(0), seeds, s), run_generation(model(1), seeds, s)]}
    inversions = {"standard": [run_inversion(model(0), test, s), run_inversion(model(1), test, s)]}
    replicates = synthesis_metrics(JudgeFeatures(judge), test, train, generated, inversions, s, cpu, judge=judge)
    assert set(replicates) == {"standard", "real_data"}
    assert len(replicates["standard"]) == 2 and len(replicates["real_data"]) == 1  # one per replicate; real: one
    assert replicates["standard"][0] != replicates["standard"][1]
    metrics = {name: entries[0] for name, entries in replicates.items()}  # replicate 0
    generated = {"standard": generated["standard"][0]}
    inversions = {"standard": inversions["standard"][0]}

    def rep(images):
        with torch.no_grad():
            return judge.representation(torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255).double().numpy()

    g = generated["standard"]
    assert metrics["standard"]["fid_judge"] == pytest.approx(fid_from_features(rep(g["images"]), rep(test.images)),
                                                             rel=1e-6)
    with torch.no_grad():
        predicted = judge(torch.from_numpy(g["images"]).permute(0, 3, 1, 2).float() / 255).argmax(1).numpy()
    assert metrics["standard"]["judge_accuracy"] == pytest.approx(100 * np.mean(predicted == g["targets"]))
    inv = inversions["standard"]
    d = np.linalg.norm(rep(inv["inverted_inv2"]) - rep(inv["originals"]), axis=1)
    assert metrics["standard"]["judge_l2_inv2"] == pytest.approx(d.mean(), rel=1e-6)
    assert len(d) == 6 and metrics["standard"]["judge_l2_inv2_std"] == pytest.approx(d.std(ddof=1), rel=1e-6)  # n − 1
    pixels = np.sqrt((((inv["inverted_inv1"].astype(float) - inv["originals"]) / 255) ** 2).sum(axis=(1, 2, 3)))
    assert metrics["standard"]["pixel_l2_inv1"] == pytest.approx(pixels.mean())
    assert metrics["real_data"]["fid_judge"] >= 0 and set(metrics["real_data"]) == {"fid_judge", "judge_accuracy"}
    fid_table, distance_table = table_metrics("judge", judge=True)
    assert set(fid_table) <= set(metrics["standard"]) and set(distance_table) <= set(metrics["standard"])
    assert table_metrics("inception", judge=False)[0] == ["fid"]
    assert "inception192_l2_inv1" in table_metrics("inception", judge=False)[1]


def test_settings_name_the_key_that_is_wrong():
    with pytest.raises(ConfigError, match="one per entry"):
        settings(figures={**SETTINGS["figures"], "visualisation": ["05"]})
    with pytest.raises(ConfigError, match="n_images >= 6"):
        settings(inversion={**SETTINGS["inversion"], "n_images": 5})
    with pytest.raises(ConfigError, match=r"lack \['inversion'\]"):
        from_dict(SynthesisSettings, {"seed": 0, "noise": SETTINGS["noise"]}, "synthesis").need("noise", "inversion")
    with pytest.raises(ConfigError, match=r"datasets.tiny.synthesis.generation"):
        settings(generation={**SETTINGS["generation"], "per_klass": 3})
    assert settings().visualisation.coordinates == ((4,), (1, 2))
    assert isinstance(settings().inversion.attack, AttackSpec)
