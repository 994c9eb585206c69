"""Seeds of the package's random streams, derived from one config seed and a purpose.

Every random draw of a run (shuffling, augmentation, attack starts, image
selections, noise, SHAP's sampling) comes from a generator seeded by
:func:`stream_seed`, so each purpose has its own reproducible stream and a
change to how much one stream draws leaves the others unchanged. The table
:data:`STREAMS` is the only place where these derivations are written.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Stream:
    """Seed of a stream: ``multiplier`` · seed + ``offset`` + ``stride`` · index.

    Args:
        multiplier: spreads the streams of different config seeds apart.
        offset: separates streams that share a multiplier.
        purpose: what the stream draws (and what its index counts, if any).
        stride: the step between consecutive indices (1 but where the index must land far from other seeds).
    """

    multiplier: int
    offset: int
    purpose: str
    stride: int = 1


STREAMS: dict[str, Stream] = {
    "train_val_split": Stream(1, 0, "which training images are held out for checkpoint selection"),
    "training_epoch": Stream(1_000_003, 0, "shuffle, augmentation and attack starts of epoch `index` (a prime "
                                           "multiplier: the epochs of two seeds never share a stream)"),
    "validation": Stream(1, 0, "attack starts of the validation after epoch `index`"),
    "attribution_selection": Stream(1, 0, "which test images are SHAP background, explained and measured"),
    "attribution_figures": Stream(1, 0, "IG baselines and SHAP sampling of the figures' maps"),
    "attribution_metrics": Stream(1, 1, "IG baselines and attack starts of table 7's metrics"),
    "attribution_metrics_shap": Stream(1, 0, "SHAP sampling of table 7's metric batch `index` (counted from 1)"),
    "class_seeds": Stream(1000, 0, "draws from the per-class normals (seeds of class generation)"),
    "inversion_pairs": Stream(1, 0, "inversion targets and their sources of another class"),
    "inversion_noise": Stream(1000, 1, "the noise images inversion 2 starts from"),
    "visualisation": Stream(1000, 2, "the noise and test images feature visualisation starts from"),
    "real_data": Stream(1000, 3, "the training images of the FID table's real-data row"),
    "test_subset": Stream(1000, 4, "the class-stratified order of the test images whose prefixes are the "
                                   "evaluation, curve and Etmann subsets"),
    "replicate": Stream(1, 0, "the training seed of replicate `index` of a method (replicate 0: the config seed "
                              "itself; the stride keeps the others clear of nearby seeds, such as a judge's)",
                        stride=1000),
}


def stream_seed(seed: int, purpose: str, index: int = 0) -> int:
    """The seed of the stream ``purpose`` (a key of :data:`STREAMS`) for config seed ``seed``.

    Args:
        seed: the config's seed (or a section's own seed).
        purpose: which stream.
        index: what the stream counts, where it counts something (an epoch, a batch, a replicate); else 0.
    """
    if purpose not in STREAMS:
        raise KeyError(f"unknown random stream {purpose!r}; known: {sorted(STREAMS)}")
    stream = STREAMS[purpose]
    return stream.multiplier * seed + stream.offset + stream.stride * index


def replicate_seeds(seed: int, n: int) -> list[int]:
    """The training seeds of ``n`` replicates of a method: :func:`stream_seed` ``(seed, "replicate", k)``, k < n.

    Replicate 0 trains from ``seed`` itself, so one replicate is the run of a config without replicates.
    """
    if n < 1:
        raise ValueError(f"replicates: need at least 1, got {n}")
    return [stream_seed(seed, "replicate", k) for k in range(n)]
