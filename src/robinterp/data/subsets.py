"""Which test images an evaluation uses: one seeded, class-stratified order whose prefixes are the subsets.

A test split is often stored class by class (Small ImageNet's is), so its first N
images cover only the first few classes: 500 of Small ImageNet's 150 × 50 test images
are classes 0–8. Every subset of the evaluation (``evaluation.max_examples``, an
attack's ``max_examples``, ``curves.max_examples``, ``etmann.n_images``) is instead a
prefix of :func:`stratified_order`, a random order of the whole split in which every
prefix is as class-balanced as the classes allow. The subsets are therefore nested
(AutoAttack's 100 images are among PGD's 1,000), the same for every model (the order
depends only on the labels and the seed), and each is recorded beside the outputs
that use it (:func:`subset_record`).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from robinterp.base.seeds import stream_seed


def stratified_order(labels: np.ndarray, seed: int) -> np.ndarray:
    """A seeded order of all of a split's indices whose every prefix is as class-balanced as possible.

    Round-robin over the classes in random order: each class's images are shuffled, and
    round r takes the r-th image of every class that still has one, the classes of the
    round in a fresh random order. So in any prefix the per-class counts of the classes
    not yet exhausted differ by at most one, and an exhausted class has all its images
    in it (the most balanced prefix the class sizes allow); no class is favoured in
    every round's partial tail. Computed as one sort: image k of class c in the shuffled
    order gets the key (its rank within c, a uniform random tie-breaker).

    Args:
        labels: the class of every image of the split (N,), any integer values.
        seed: the config seed; the draw uses its stream ``test_subset``
            (:func:`robinterp.base.seeds.stream_seed`), so it is the same for every model.

    Returns:
        A permutation of ``arange(N)`` (int64); its first n entries are the subset of size n.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels: expected one label per image (N,), got shape {labels.shape}")
    if len(labels) == 0:
        return np.empty(0, dtype=np.int64)
    rng = np.random.default_rng(stream_seed(seed, "test_subset"))
    shuffled = rng.permutation(len(labels))
    by_class = np.argsort(labels[shuffled], kind="stable")  # each class's images, in shuffled order
    sorted_labels = labels[shuffled][by_class]
    starts = np.flatnonzero(np.r_[True, sorted_labels[1:] != sorted_labels[:-1]])
    group_start = np.repeat(starts, np.diff(np.r_[starts, len(labels)]))
    rank = np.empty(len(labels), dtype=np.int64)
    rank[by_class] = np.arange(len(labels)) - group_start  # position of each (shuffled) image within its class
    tie = rng.random(len(labels))
    return shuffled[np.lexsort((tie, rank))].astype(np.int64)


def subset_record(order: np.ndarray, seed: int, sizes: Iterable[int]) -> dict:
    """What an output records about the images it used: the seed, and the indices where they are a subset.

    Args:
        order: :func:`stratified_order` of the split.
        seed: the seed it was drawn with.
        sizes: the length of every prefix of ``order`` the output uses (the evaluated images,
            an attack's subset, …).

    Returns:
        ``{"seed", "stratified": True, "n_split": N, "n": the largest size, "indices": …}``;
        ``indices`` (test-split indices, in order) is the longest prefix shorter than the
        split, so every subset of the output is its first so-many entries; it is left out
        when every size covers the whole split (then only the count and the seed say
        which images: all of them).
    """
    n_split = len(order)
    sizes = [min(int(s), n_split) for s in sizes]
    record = {"seed": int(seed), "stratified": True, "n_split": n_split, "n": max(sizes, default=n_split)}
    proper = [s for s in sizes if s < n_split]
    if proper:
        record["indices"] = np.asarray(order[:max(proper)]).tolist()
    return record
