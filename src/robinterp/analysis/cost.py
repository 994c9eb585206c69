"""What each compute job of the workflow does, counted in passes of its model, and what that costs on a device.

A *pass* is one batched call of a model, of one of four kinds (:data:`PASS_KINDS`):

- ``train``: a training step: forward in train mode, backward to the parameters, optimiser step;
- ``grad``: an input gradient: forward in eval mode, backward to the input only (an attack or
  ascent step, a saliency map, one batch of Integrated Gradients' path points, one batch of
  SHAP's samples);
- ``double``: a double-backpropagation training step (the gradient-norm penalty: the input
  gradient with ``create_graph``, then the backward of the penalty to the parameters);
- ``fwd``: a forward pass without gradient (accuracies, predictions, representations, features).

A job's :class:`Work` counts, for each model it runs, the images and the calls of each kind;
the probe (:mod:`robinterp.analysis.probe`) measures, per architecture and input size, the
seconds of one call of B images as ``per_call + B·per_image`` (:class:`PassCost`), so a job takes

    start-up + Σ_kind calls·per_call + images·per_image

seconds. The counts follow the code of each job (the training loop and objectives, the accuracy
loop, the attribution, synthesis and Etmann jobs); where a count depends on how the model turns
out (AutoAttack runs its later attacks only on the images its first ones did not flip; the
Etmann bisection only on the images an attack flips at ``eps_max``) it uses the stated assumption.
Nothing here imports torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping

from robinterp.analysis.settings import EtmannSettings
from robinterp.attacks.settings import CurvesSettings, EvaluationSettings
from robinterp.attacks.spec import AttackSpec
from robinterp.attribution.settings import AttributionSettings
from robinterp.base.config import from_dict
from robinterp.data.prepare import DatasetLayout
from robinterp.synthesis.settings import SynthesisSettings
from robinterp.training.schedules import warmup_eps

PASS_KINDS = ("train", "grad", "double", "fwd")
#: Not a pass: shap's own work per explained image (``calls``) and per sample (``images``), measured by the probe.
SHAP = "shap"
#: The architecture key of the FID Inception network (it resizes every image to 299×299 itself).
INCEPTION = "inception_fid"
INCEPTION_SHAPE = (3, 299, 299)
#: AutoAttack as torchattacks 3.5 runs it (robinterp.attacks.autoattack): 10 iterations per attack, one restart;
#: Square's queries where the attack's ``square_queries`` leaves them out (torchattacks' and the reference's 5,000).
AUTOATTACK_STEPS = 10
SQUARE_QUERIES = 5000
#: The share of the attacked images that survive AutoAttack's first attack (APGD-CE), before a model exists:
#: adversarially trained methods keep most of them, regularised ones about half, standard training almost none
#: (the demo's last run: 88-94 %, 19-70 %, 1 %).
ROBUST_SHARE = {"adversarial": 0.9, "regularised": 0.5, "standard": 0.05}
#: The module each compute rule's CLI command imports (robinterp.cli): its import is part of the job's start-up.
RULE_MODULES = {
    "prepare_data": "robinterp.data.prepare",
    "train_model": "robinterp.training.job", "train_judge": "robinterp.training.job",
    "evaluate_model": "robinterp.attacks.job", "robustness_curves": "robinterp.attacks.job",
    "etmann_analysis": "robinterp.analysis.job",
    "attribute_model": "robinterp.attribution.job", "explain_model": "robinterp.attribution.job",
    "generate_classes": "robinterp.synthesis.job", "invert_representations": "robinterp.synthesis.job",
    "visualise_features": "robinterp.synthesis.job", "synthesis_metrics": "robinterp.synthesis.job",
}


@dataclass(frozen=True)
class ModelKey:
    """Which throughput a pass uses: the architecture, the input (C, H, W), and bf16 autocast."""

    arch: str
    shape: tuple[int, int, int]
    amp: bool = False

    def __str__(self) -> str:
        return f"{self.arch}@{'x'.join(map(str, self.shape))}" + ("+bf16" if self.amp else "")


@dataclass(frozen=True)
class PassCost:
    """Seconds of one call of a pass on B images: ``per_call + B·per_image``."""

    per_call: float
    per_image: float

    def seconds(self, images: float, calls: float) -> float:
        return calls * self.per_call + images * self.per_image

    def images_per_second(self, batch: int) -> float:
        return batch / (self.per_call + batch * self.per_image)


@dataclass
class Work:
    """The passes a job runs through one model: kind → [images, calls]."""

    model: ModelKey
    counts: dict[str, list[float]] = field(default_factory=dict)

    def add(self, kind: str, images: float, batch: int, times: float = 1.0) -> Work:
        """``times`` passes of kind ``kind`` over ``images`` images in batches of ``batch``."""
        if kind not in PASS_KINDS:
            raise ValueError(f"unknown pass kind {kind!r}; one of {PASS_KINDS}")
        if images > 0 and times > 0:
            entry = self.counts.setdefault(kind, [0.0, 0.0])
            entry[0] += images * times
            entry[1] += math.ceil(images / max(1, batch)) * times
        return self

    def add_calls(self, kind: str, images: float, calls: float) -> Work:
        """Passes of kind ``kind`` over ``images`` images in ``calls`` calls in all."""
        if kind not in PASS_KINDS + (SHAP,):
            raise ValueError(f"unknown pass kind {kind!r}; one of {PASS_KINDS + (SHAP,)}")
        if images > 0:
            entry = self.counts.setdefault(kind, [0.0, 0.0])
            entry[0] += images
            entry[1] += calls
        return self

    def image_passes(self) -> float:
        return sum(images for images, _ in self.counts.values())


# --- attacks ---------------------------------------------------------------------------------------------------------


def attack_passes(work: Work, attack: AttackSpec, n: float, batch: int, *, num_classes: int,
                  robust_share: float) -> Work:
    """The passes of ``attack`` on ``n`` images in batches of ``batch`` (the attack alone, not the accuracy's forwards).

    PGD and MI-FGSM: one input gradient per step (and one forward for the best iterate); FGSM: one.
    AutoAttack "standard" (torchattacks, :mod:`robinterp.attacks.autoattack`): APGD-CE on every image, then
    APGD-T, FAB-T (each over the ``num_classes`` − 1 other classes) and Square's queries (``square_queries``,
    default 5,000) on the share
    ``robust_share`` of images the earlier attacks did not flip; "plus" restarts APGD and FAB five times and adds
    APGD-DLR, "rand" runs APGD-CE and APGD-DLR with 20 samples of expectation over transformations.
    """
    kind = attack.kind
    if kind in ("pgd", "mifgsm"):
        work.add("grad", n, batch, attack.steps)
        if attack.use_best:
            work.add("fwd", n, batch)
    elif kind == "fgsm":
        work.add("grad", n, batch)
    elif kind == "autoattack":
        steps, targets, survivors = AUTOATTACK_STEPS + 1, num_classes - 1, n * robust_share
        restarts = 5 if attack.version == "plus" else 1
        eot = 20 if attack.version == "rand" else 1
        work.add("grad", n, batch, steps * restarts * eot).add("fwd", n, batch, 2)  # APGD-CE
        if attack.version in ("plus", "rand"):
            work.add("grad", survivors, batch, steps * restarts * eot)  # APGD-DLR
        if attack.version != "rand":
            work.add("grad", survivors, batch, steps * targets)  # APGD-T
            work.add("grad", survivors, batch, AUTOATTACK_STEPS * targets * restarts)  # FAB-T: one gradient a step
            work.add("fwd", survivors, batch, (AUTOATTACK_STEPS + 2) * targets * restarts)
            queries = attack.square_queries or SQUARE_QUERIES
            work.add("fwd", survivors, batch, queries)  # Square: one forward a query
        work.add("fwd", n, batch, 4)  # MultiAttack's check after each attack
    else:
        raise ValueError(f"unknown attack kind {kind!r}")
    return work


def accuracy_passes(work: Work, attacks: Mapping[str, AttackSpec], n: int, batch: int, *, num_classes: int,
                    robust_share: float) -> Work:
    """:func:`robinterp.attacks.accuracy.evaluate_accuracy` on ``n`` images: a clean forward, and per attack the
    attack on its images (its ``max_examples`` first) and a forward of the result."""
    work.add("fwd", n, batch)
    for attack in attacks.values():
        m = min(n, attack.max_examples or n)
        attack_passes(work, attack, m, batch, num_classes=num_classes, robust_share=robust_share)
        work.add("fwd", m, batch)
    return work


def robust_share(method: Mapping) -> float:
    """The prior share of images surviving AutoAttack's first attack for a method's config (:data:`ROBUST_SHARE`)."""
    objective = (method.get("objective") or {}).get("name")
    if method.get("attack"):
        return ROBUST_SHARE["adversarial"]
    return ROBUST_SHARE["regularised" if objective else "standard"]


# --- training --------------------------------------------------------------------------------------------------------

#: Passes per image of one optimisation step of each training objective (robinterp.training.objectives,
#: .saliency, .cam): (kind, count) with "K" the attack's steps, for a step whose attack moves the images (ε > 0)
#: and for one at ε = 0 (the warm-up's start, where the objectives skip the attack).
OBJECTIVE_PASSES = {
    "standard": ([("train", 1)], [("train", 1)]),
    # Madry et al. 2018: K input gradients of PGD, then the update: K + 1 forward-backward passes.
    "adversarial": ([("grad", "K"), ("train", 1)], [("train", 1)]),
    # Wong et al. 2020: one FGSM gradient from the random start, then the update (the attack is one PGD step).
    "fgsm_rs": ([("grad", "K"), ("train", 1)], [("train", 1)]),
    # Shafahi et al. 2019: one forward-backward pass per optimisation step, which also yields ∇_δ; the loop
    # replays each minibatch `replays` times, counted in the optimisation steps (training_work).
    "free": ([("train", 1)], [("train", 1)]),
    # Etmann et al. 2019, double backpropagation: the input gradient with create_graph, then its backward.
    "gradnorm": ([("double", 1)], [("double", 1)]),
    # Ismail et al. 2021: the saliency (one input gradient), then the clean and the masked batch trained on.
    "sgt": ([("grad", 1), ("train", 2)], [("grad", 1), ("train", 2)]),
    "asgt": ([("grad", "K"), ("grad", 1), ("train", 3)], [("grad", 1), ("train", 3)]),
    # Boopathy et al. 2020: Int's CAMs of the clean batch (one forward), the attack, clean and attacked trained on.
    "int": ([("fwd", 1), ("grad", "K"), ("train", 2)], [("train", 1)]),
    "int2": ([("grad", "K"), ("train", 2)], [("train", 1)]),
}
#: free's ``replays`` when the config leaves it out (robinterp.training.objectives.Free; Shafahi et al.: m = 8).
FREE_DEFAULT_REPLAYS = 8


def objective_name(train: Mapping) -> str:
    objective = train.get("objective")
    if objective:
        return objective["name"]
    return "adversarial" if train.get("attack") else "standard"


def replays(train: Mapping) -> int:
    """Optimisation steps per minibatch: free's ``replays`` (robinterp.training.loop), 1 for every other objective."""
    if objective_name(train) != "free":
        return 1
    return int((train.get("objective") or {}).get("replays", FREE_DEFAULT_REPLAYS))


def moving_steps(train: Mapping, steps: int) -> int:
    """How many of the ``steps`` optimisation steps attack at ε > 0 (all of them without an ε warm-up)."""
    attack = train.get("attack")
    if not attack:
        return 0
    start, end = train.get("eps_warmup_start"), train.get("eps_warmup_end")
    if end is None:
        return steps if attack["eps"] is None or attack["eps"] > 0 else 0
    return sum(1 for step in range(steps) if warmup_eps(attack["eps"], step, start, end) > 0)


def training_work(train: Mapping, layout: DatasetLayout, model: ModelKey, where: str = "train") -> Work:
    """The passes of one training run (robinterp.training.loop) with the merged train section ``train``.

    The run takes ``epochs · ⌈n / batch_size⌉ · replays`` optimisation steps (``replays`` > 1 for free adversarial
    training only), each running the objective's passes (:data:`OBJECTIVE_PASSES`) on its minibatch; after every
    epoch the validation split goes through the accuracy loop with the validation attack. ``train`` is the JSON the
    workflow gives the job (:func:`robinterp.training.settings.method_train_section`).
    """
    epochs, batch, val = train["epochs"], train["batch_size"], train.get("val_size", 0)
    n = layout.n_train - val
    name = objective_name(train)
    if name not in OBJECTIVE_PASSES:
        raise ValueError(f"{where}.objective: no cost model for objective {name!r}; known: {sorted(OBJECTIVE_PASSES)}")
    attack = from_dict(AttackSpec, train["attack"], f"{where}.attack") if train.get("attack") else None
    values = {"K": (attack.steps or 1) if attack else 0}
    per_step = replays(train)
    steps = epochs * math.ceil(n / batch) * per_step
    images = n * epochs * per_step  # images through the objective, summed over the optimisation steps
    moving = moving_steps(train, steps) / steps
    work = Work(model)
    for passes, share in zip(OBJECTIVE_PASSES[name], (moving, 1 - moving)):
        for kind, count in passes:
            times = values[count] if isinstance(count, str) else count
            work.add_calls(kind, images * share * times, steps * share * times)
        if attack is not None and attack.use_best and ("grad", "K") in passes:
            work.add_calls("fwd", images * share, steps * share)
    if val:
        val_attack = train.get("val_attack")
        attacks = {"adv": from_dict(AttackSpec, val_attack, f"{where}.val_attack")} if val_attack else {}
        for _ in range(epochs):
            accuracy_passes(work, attacks, val, batch, num_classes=layout.num_classes, robust_share=0.0)
    return work


# --- evaluation, curves, Etmann -----------------------------------------------------------------------------------------


def evaluation_work(section: Mapping, layout: DatasetLayout, model: ModelKey, robust: float,
                    where: str = "evaluation") -> Work:
    """``evaluate_model``: the accuracy loop over the evaluated test images with every evaluation attack."""
    s = from_dict(EvaluationSettings, section, where)
    n = min(layout.n_test, s.max_examples or layout.n_test)
    return accuracy_passes(Work(ModelKey(model.arch, model.shape, s.amp_bf16)), s.attacks, n, s.batch_size,
                           num_classes=layout.num_classes, robust_share=robust)


def curves_work(section: Mapping, layout: DatasetLayout, model: ModelKey, robust: float, where: str = "curves") -> Work:
    """``robustness_curves``: per curve and ε > 0 the accuracy loop with that attack; ε = 0 a clean pass."""
    s = from_dict(CurvesSettings, section, where)
    n = min(layout.n_test, s.max_examples or layout.n_test)
    work = Work(model)
    for curve in s.attacks.values():
        m = min(n, curve.attack.max_examples or n)
        for eps in curve.eps:
            attacks = {"attack": curve.attack.at_eps(eps)} if eps > 0 else {}
            accuracy_passes(work, attacks, m, s.batch_size, num_classes=layout.num_classes, robust_share=robust)
    return work


def etmann_work(section: Mapping, layout: DatasetLayout, model: ModelKey, where: str = "etmann") -> Work:
    """``etmann_analysis`` (robinterp.analysis.etmann.per_image_analysis) on its test images.

    Assumes every image is classified correctly and flipped at ``eps_max``, so that the bisection
    attacks all of them: per bisection step (and the first attack at ``eps_max``) PGD-L2 with the best
    iterate and a prediction; then the alignment (one gradient), ρ̃ (one forward and a batched backward
    per class: counted as one gradient per class) and the predictions.
    """
    s = from_dict(EtmannSettings, section, where)
    n, batch = min(layout.n_test, s.n_images), s.batch_size
    work = Work(model).add("fwd", n, batch, 2)
    for _ in range(1 + s.bisection_steps):
        work.add("grad", n, batch, s.steps).add("fwd", n, batch, 2)
    work.add("grad", n, batch)
    chunk = s.class_chunk or layout.num_classes
    return work.add_calls("grad", n * layout.num_classes, math.ceil(n / batch) * math.ceil(layout.num_classes / chunk))


# --- attribution -----------------------------------------------------------------------------------------------------


def _ig(work: Work, s: AttributionSettings, n: int) -> Work:
    """Integrated Gradients of ``n`` images in batches: per baseline, every path point of a batch in one pass."""
    baselines = s.ig.n_baselines if s.ig.baseline == "uniform" else 1
    per_pass = s.ig.internal_batch_size or s.batch_size * s.ig.n_points
    for lo in range(0, n, s.batch_size):
        images = min(s.batch_size, n - lo) * s.ig.n_points
        work.add("grad", images, per_pass, baselines)
    return work


def _shap(work: Work, s: AttributionSettings, n: int, ranked_in: int) -> Work:
    """shap's GradientExplainer: a forward of the explained images (in calls of ``ranked_in``), then per image
    its ``nsamples`` gradients in batches of ``batch_size``, and shap's own work per image and sample (:data:`SHAP`)."""
    work.add("fwd", n, ranked_in).add_calls(SHAP, n * s.shap.nsamples, n)
    return work.add_calls("grad", n * s.shap.nsamples, n * math.ceil(s.shap.nsamples / s.batch_size))


def attribution_metrics_work(section: Mapping, layout: DatasetLayout, model: ModelKey,
                             where: str = "attribution") -> Work:
    """``attribute_model`` (table 7): per batch of metric images the prediction, the robustness attack and three IG
    runs (at x, after the attack, after noise), SHAP, the alignment and the deletion curve."""
    s = from_dict(AttributionSettings, section, where)
    n, batch = s.n_metrics, s.batch_size
    work = Work(ModelKey(model.arch, model.shape, s.amp_bf16)).add("fwd", n, batch)
    attack_passes(work, s.robustness_attack, n, batch, num_classes=layout.num_classes, robust_share=0.0)
    for _ in range(3):
        _ig(work, s, n)
    _shap(work, s, n, batch)
    work.add("grad", n, batch)
    work.add("fwd", n * (s.deletion_steps + 1), batch * (s.deletion_steps + 1))
    return work


def explanation_work(section: Mapping, layout: DatasetLayout, model: ModelKey, where: str = "attribution") -> Work:
    """``explain_model`` (the figures' maps): the prediction, IG and SHAP of the explained images."""
    s = from_dict(AttributionSettings, section, where)
    n = s.n_explained
    work = Work(ModelKey(model.arch, model.shape, s.amp_bf16)).add("fwd", n, n)
    return _shap(_ig(work, s, n), s, n, n)


# --- synthesis -------------------------------------------------------------------------------------------------------


def _synthesis(section: Mapping, where: str) -> SynthesisSettings:
    return from_dict(SynthesisSettings, section, where)


def generation_work(section: Mapping, layout: DatasetLayout, model: ModelKey, where: str = "synthesis") -> Work:
    """``generate_classes``: ``per_class`` images of every class, one gradient per ascent step."""
    s = _synthesis(section, where)
    generation = s.need("generation")
    n = generation.per_class * layout.num_classes
    return Work(ModelKey(model.arch, model.shape, s.amp_bf16)).add("grad", n, s.batch_size, generation.attack.steps)


def inversion_work(section: Mapping, layout: DatasetLayout, model: ModelKey, where: str = "synthesis") -> Work:
    """``invert_representations``: two source sets, each R(targets), the ascent, and R(results)."""
    s = _synthesis(section, where)
    inversion = s.need("inversion")
    n = inversion.n_images
    work = Work(ModelKey(model.arch, model.shape, s.amp_bf16))
    for _ in range(2):
        work.add("fwd", n, s.batch_size, 2).add("grad", n, s.batch_size, inversion.attack.steps)
    return work


def visualisation_work(section: Mapping, layout: DatasetLayout, model: ModelKey, where: str = "synthesis") -> Work:
    """``visualise_features``: R(x) of the whole test set, then per coordinate entry two starts (noise, images)."""
    s = _synthesis(section, where)
    v = s.need("visualisation")
    work = Work(ModelKey(model.arch, model.shape, s.amp_bf16)).add("fwd", layout.n_test, s.batch_size)
    return work.add("grad", v.n_images, s.batch_size, 2 * len(v.coordinates) * v.attack.steps)


def synthesis_metrics_work(section: Mapping, layout: DatasetLayout, judge: ModelKey | None, replicates: int,
                           where: str = "synthesis") -> Work:
    """``synthesis_metrics``: the features (the judge's R(x), or Inception's) of the test set, of every replicate's
    generations, inversion originals and both inversions, and of as many training images as generations; with a
    judge also its predictions of the generated and the training images."""
    s = _synthesis(section, where)
    n_gen = s.need("generation").per_class * layout.num_classes
    n_inv = s.need("inversion").n_images
    b = s.feature_batch_size
    inception = s.features == "inception"
    work = Work(ModelKey(INCEPTION, INCEPTION_SHAPE) if inception else judge)
    work.add("fwd", layout.n_test, b).add("fwd", n_gen, b, replicates + 1).add("fwd", n_inv, b, 3 * replicates)
    return work if inception else work.add("fwd", n_gen, b, replicates + 1)
