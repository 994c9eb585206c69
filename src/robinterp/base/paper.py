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
