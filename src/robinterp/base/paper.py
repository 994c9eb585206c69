"""The paper's numbers (Boychev 2023, Tables 1–6), keyed by (dataset, model, metric).

Used to fill the ``paper`` column of every table; a key absent here means the
paper reports no number for it (the whole demo, every method it did not train).
"""

PAPER_VALUES: dict[tuple[str, str, str], float] = {
    # Table 1: CIFAR-10 accuracy (%), PGD-L2 ε = 0.5
    ("cifar10", "standard", "clean_accuracy"): 93.2,
    ("cifar10", "standard", "pgd_l2_accuracy"): 0.36,
    ("cifar10", "robust_l2", "clean_accuracy"): 85.0,
    ("cifar10", "robust_l2", "pgd_l2_accuracy"): 64.6,
    # Table 2: CIFAR-10 FID of class generation (10,000 images)
    ("cifar10", "standard", "fid"): 152.29,
    ("cifar10", "robust_l2", "fid"): 88.25,
    ("cifar10", "real_data", "fid"): 5.39,
    # Table 3: CIFAR-10 Inception-192 distance, inversions 1 / 2
    ("cifar10", "standard", "inception192_l2_inv1"): 30.1,
    ("cifar10", "standard", "inception192_l2_inv2"): 30.07,
    ("cifar10", "robust_l2", "inception192_l2_inv1"): 20.05,
    ("cifar10", "robust_l2", "inception192_l2_inv2"): 21.18,
    # Table 4: Small ImageNet 150 accuracy (%), PGD-L2 ε = 1.5
    ("smallimagenet150", "standard", "clean_accuracy"): 70.1,
    ("smallimagenet150", "standard", "pgd_l2_accuracy"): 0.88,
    ("smallimagenet150", "robust_l2", "clean_accuracy"): 55.8,
    ("smallimagenet150", "robust_l2", "pgd_l2_accuracy"): 35.4,
    # Table 5: Small ImageNet FID (9,000 images)
    ("smallimagenet150", "standard", "fid"): 237.53,
    ("smallimagenet150", "robust_l2", "fid"): 81.2,
    ("smallimagenet150", "real_data", "fid"): 7.62,
    # Table 6: Small ImageNet Inception-192 distance, inversions 1 / 2
    ("smallimagenet150", "standard", "inception192_l2_inv1"): 23.3,
    ("smallimagenet150", "standard", "inception192_l2_inv2"): 26.75,
    ("smallimagenet150", "robust_l2", "inception192_l2_inv1"): 12.84,
    ("smallimagenet150", "robust_l2", "inception192_l2_inv2"): 14.91,
}


def paper_value(dataset: str, model: str, metric: str) -> float | None:
    """The paper's number for this cell, or None where the paper has none."""
    return PAPER_VALUES.get((dataset, model, metric))


# The settings behind the paper's numbers that decide whether a run's number is comparable (Boychev 2023, §3;
# docs/papers.md): the architecture, the training epochs, the robust model's training attack, the evaluation
# attack of an accuracy, the generation of the FID tables and the inversion of the distance tables, and the
# features both are measured with. A run that differs in any of them is not like for like.
PAPER_SETTINGS: dict[str, dict] = {
    "cifar10": {
        "arch": "resnet18_cifar", "epochs": 100,
        "attack": {"robust_l2": {"norm": "l2", "eps": 0.5, "steps": 20}, "standard": None},
        "evaluation": {"pgd_l2": {"norm": "l2", "eps": 0.5, "step_size": 0.1, "steps": 20}},
        "generation": {"eps": 30.0, "step_size": 0.5, "steps": 60, "per_class": 1000},
        "inversion": {"step_size": 1.0, "steps": 10000},
        "features": "inception",
    },
    "smallimagenet150": {
        "arch": "resnet50", "epochs": 100,
        "attack": {"robust_l2": {"norm": "l2", "eps": 1.5, "steps": 20}, "standard": None},
        "evaluation": {"pgd_l2": {"norm": "l2", "eps": 1.5, "step_size": 0.1875, "steps": 20}},
        "generation": {"eps": 40.0, "step_size": 1.0, "steps": 60, "per_class": 60},
        "inversion": {"step_size": 1.0, "steps": 10000},
        "features": "inception",
    },
}

LIKE_FOR_LIKE = "like-for-like"


def _differences(name: str, paper, run) -> list[str]:
    """``name: ours X (paper Y)`` for every key of the paper's setting that the run's differs in."""
    if paper is None or run is None:
        return [] if paper == run else [f"{name}: ours {run} (paper {paper})"]
    if isinstance(paper, dict):
        return [d for key in paper for d in _differences(f"{name}.{key}", paper[key], (run or {}).get(key))]
    if isinstance(paper, float) or isinstance(run, float):
        return [] if run is not None and abs(float(run) - float(paper)) <= 1e-9 * max(1.0, abs(paper)) \
            else [f"{name}: ours {run} (paper {paper})"]
    return [] if run == paper else [f"{name}: ours {run} (paper {paper})"]


def paper_comparison(dataset: str, model: str, metric: str, run: dict | None) -> str:
    """Whether our number for a cell compares like for like with the paper's, or which settings differ.

    Args:
        dataset, model, metric: the cell.
        run: the run's settings in the shape of :data:`PAPER_SETTINGS` (``arch``, ``epochs`` and ``attack`` per
            model, ``evaluation`` per attack, ``generation``, ``inversion``, ``features``); None when unknown.

    Returns:
        ``""`` where the paper has no number for the cell; :data:`LIKE_FOR_LIKE` where every setting that decides
        the number is the paper's; otherwise ``"differs: …"`` naming each differing setting, ours and the paper's
        (``"settings unknown"`` without ``run``).
    """
    if paper_value(dataset, model, metric) is None:
        return ""
    paper = PAPER_SETTINGS.get(dataset)
    if paper is None or run is None:
        return "differs: settings unknown"
    keys = [("arch", paper["arch"], run.get("arch")),
            ("epochs", paper["epochs"], (run.get("epochs") or {}).get(model)),
            ("training attack", paper["attack"].get(model), (run.get("attack") or {}).get(model))]
    attack = metric.removesuffix("_accuracy")
    if metric.endswith("_accuracy") and metric != "clean_accuracy":
        keys.append((f"{attack} attack", paper["evaluation"].get(attack), (run.get("evaluation") or {}).get(attack)))
    if metric.startswith("fid"):
        keys += [("generation", paper["generation"], run.get("generation")), ("features", paper["features"],
                                                                            run.get("features"))]
    if metric.startswith("inception192"):
        keys += [("inversion", paper["inversion"], run.get("inversion")), ("features", paper["features"],
                                                                          run.get("features"))]
    if model == "real_data":
        keys = [k for k in keys if k[0] in ("features",)]
    differences = [d for name, p, r in keys for d in _differences(name, p, r)]
    return "differs: " + "; ".join(differences) if differences else LIKE_FOR_LIKE
