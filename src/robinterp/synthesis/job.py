"""The workflow's synthesis jobs: from a prepared dataset and a model to stored images and metrics.

Each function is one job (one rule): it draws its inputs reproducibly from
the settings' seed (so every model of a dataset starts from the same seeds,
targets, sources and noise), runs a procedure of :mod:`robinterp.synthesis` (seeds, generation, inversion, visualisation),
and returns plain arrays (images as uint8 (N, H, W, C)) for the CLI to store.
:func:`synthesis_metrics` turns the stored images of every model (every replicate
of it) into the numbers of tables 2/5 (FID) and 3/6 (inversion distance).
"""

from __future__ import annotations

import logging
from typing import Mapping, Sequence

import numpy as np
import torch

from robinterp.base.seeds import stream_seed
from robinterp.base.tables import sample_std
from robinterp.data.batches import load_batch, to_device_batch, to_stored_images
from robinterp.data.store import Split
from robinterp.models.architectures import Classifier
from robinterp.synthesis.ascent import noise_images, representations
from robinterp.synthesis.columns import SOURCES, metric_names
from robinterp.synthesis.features import FeatureExtractor, extract_features
from robinterp.synthesis.fid import fid_from_features
from robinterp.synthesis.generation import generate_classes
from robinterp.synthesis.inversion import inversion_pairs, invert_representations
from robinterp.synthesis.seeds import class_seeds
from robinterp.synthesis.settings import SynthesisSettings
from robinterp.synthesis.visualisation import extreme_activations, visualise_features

log = logging.getLogger(__name__)


def _generator(s: SynthesisSettings, stream: str) -> torch.Generator:
    """A CPU generator of the settings' seed for one purpose (:data:`robinterp.base.seeds.STREAMS`)."""
    return torch.Generator().manual_seed(stream_seed(s.seed, stream))


_CPU = torch.device("cpu")  # images wait on the CPU; the procedures move each batch to the model's device


def _images(split: Split, idx: np.ndarray) -> torch.Tensor:
    return load_batch(split, np.asarray(idx), _CPU)[0]


def make_seeds(test: Split, num_classes: int, s: SynthesisSettings) -> dict[str, np.ndarray]:
    """Seeds of class generation, ``generation.per_class`` per class (class-major): ``{images, targets}``."""
    seed_settings, generation = s.need("seeds", "generation")
    images = torch.from_numpy(np.array(test.images)).permute(0, 3, 1, 2)  # uint8 copy; converted per class
    labels = torch.from_numpy(np.asarray(test.labels).astype(np.int64))
    seeds, targets = class_seeds(images, labels, range(num_classes), generation.per_class, grain=seed_settings.grain,
                                 ridge=seed_settings.ridge, generator=_generator(s, "class_seeds"))
    return {"images": to_stored_images(seeds), "targets": targets.numpy()}


def run_generation(model: Classifier, seeds: Mapping[str, np.ndarray], s: SynthesisSettings) -> dict[str, np.ndarray]:
    """Class generation from stored seeds, on the model's device: ``{images, targets}``."""
    start = to_device_batch(seeds["images"], _CPU)
    targets = torch.from_numpy(seeds["targets"].astype(np.int64))
    a = s.need("generation").attack
    log.info("generating %d images (%d classes) with %s", len(start), len(torch.unique(targets)), a)
    images = generate_classes(model, start, targets, a.threat, a.steps, batch_size=s.batch_size, amp=s.amp_bf16,
                              log_every=s.log_every)
    return {"images": to_stored_images(images), "targets": seeds["targets"]}


def run_inversion(model: Classifier, test: Split, s: SynthesisSettings) -> dict[str, np.ndarray]:
    """Both inversions of ``inversion.n_images`` test images, on the model's device.

    Returns:
        ``target_idx``, ``source_idx`` (test indices), ``originals``, and per source
        set ("inv1": another class's image, "inv2": noise) ``sources_<set>``,
        ``inverted_<set>`` (uint8 images) and ``distance_<set>`` (the final
        normalised representation distance of eq. 15).
    """
    inversion, noise = s.need("inversion", "noise")
    target_idx, source_idx = inversion_pairs(np.asarray(test.labels), inversion.n_images,
                                             stream_seed(s.seed, "inversion_pairs"))
    originals = _images(test, target_idx)
    starts = {"inv1": _images(test, source_idx),
              "inv2": noise_images(len(target_idx), originals.shape[1:], noise.mean, noise.std,
                                   _generator(s, "inversion_noise"))}
    out = {"target_idx": target_idx, "source_idx": source_idx, "originals": to_stored_images(originals)}
    a = inversion.attack
    for source, start in starts.items():
        log.info("inverting %d representations from %s with %s", len(start), source, a)
        inverted, distance = invert_representations(model, start, originals, a.threat, a.steps,
                                                    batch_size=s.batch_size, amp=s.amp_bf16, log_every=s.log_every)
        out |= {f"sources_{source}": to_stored_images(start), f"inverted_{source}": to_stored_images(inverted),
                f"distance_{source}": distance.cpu().numpy()}
        log.info("%s: mean normalised distance %.4f", source, float(distance.mean()))
    return out


def run_visualisation(model: Classifier, test: Split, s: SynthesisSettings) -> dict[str, np.ndarray]:
    """Feature visualisation of every configured coordinate (set), from noise and from test images.

    Returns:
        ``start_noise``, ``start_images`` (shared by every model), and per entry j
        of ``visualisation.coordinates``: ``c<j>_noise``, ``c<j>_images``
        (visualisations), ``c<j>_most``, ``c<j>_least`` (the test images that
        activate it most and least) and ``c<j>_most_idx``, ``c<j>_least_idx``.
    """
    v, noise = s.need("visualisation", "noise")
    g = _generator(s, "visualisation")
    image_idx = np.sort(torch.randperm(len(test), generator=g)[:v.n_images].numpy())
    shape = (test.images.shape[3], *test.images.shape[1:3])  # stored (N, H, W, C) → (C, H, W)
    starts = {"noise": noise_images(v.n_images, shape, noise.mean, noise.std, g),
              "images": _images(test, image_idx)}
    test_r = torch.cat([representations(model, _images(test, np.arange(lo, min(lo + s.batch_size, len(test)))),
                                        s.batch_size, s.amp_bf16) for lo in range(0, len(test), s.batch_size)])
    out = {"start_noise": to_stored_images(starts["noise"]), "start_images": to_stored_images(starts["images"]),
           "start_images_idx": image_idx}
    a = v.attack
    for j, coordinates in enumerate(v.coordinates):
        if max(coordinates) >= test_r.shape[1]:
            raise ValueError(f"coordinate {max(coordinates)} of visualisation.coordinates is outside R(x), which "
                             f"has {test_r.shape[1]} coordinates")
        for kind, start in starts.items():
            images = visualise_features(model, start, coordinates, a.threat, a.steps, batch_size=s.batch_size,
                                        amp=s.amp_bf16, log_every=s.log_every)
            stuck = int((images == start).flatten(1).all(dim=1).sum())
            if stuck:  # e.g. a ReLU coordinate that is 0 at the start: no gradient, no step
                log.warning("coordinate(s) %s: %d of %d visualisations from %s did not move (zero gradient at the "
                            "start); choose another coordinate in visualisation.coordinates", list(coordinates),
                            stuck, len(start), kind)
            out[f"c{j}_{kind}"] = to_stored_images(images)
        most, least = extreme_activations(test_r[:, list(coordinates)].mean(dim=1), v.n_extremes)
        for kind, idx in (("most", most), ("least", least)):
            out[f"c{j}_{kind}_idx"] = idx.cpu().numpy()
            out[f"c{j}_{kind}"] = np.asarray(test.images[out[f"c{j}_{kind}_idx"]])
    return out


def real_data_sample(train: Split, n: int, s: SynthesisSettings) -> np.ndarray:
    """Indices of ``n`` training images (the "real data" row: FID of train vs test images)."""
    if n > len(train):
        raise ValueError(f"the real-data row needs {n} training images (as many as generated); the split has "
                         f"{len(train)}")
    return np.sort(torch.randperm(len(train), generator=_generator(s, "real_data"))[:n].numpy())


def synthesis_metrics(extractor: FeatureExtractor, test: Split, train: Split,
                      generated: Mapping[str, Sequence[Mapping]], inversions: Mapping[str, Sequence[Mapping]],
                      s: SynthesisSettings, device: torch.device,
                      judge: Classifier | None = None) -> dict[str, list[dict[str, float]]]:
    """FID of each model's generated images against the test set, the real-data row, and inversion distances.

    Args:
        extractor: Inception (the paper) or the judge's features (the offline demo).
        test, train: the dataset's splits; FID's real set is the test set.
        generated: model → its replicates' stored generations (``images``, ``targets``), replicate 0 first.
        inversions: model → its replicates' stored inversions (see :func:`run_inversion`), in the same order.
        s: the settings (feature batch size, seed of the real-data sample).
        device: where the extractor runs.
        judge: the judge classifier, to report ``judge_accuracy`` (share of
            generated images it assigns to their target class).

    Returns:
        model → one metrics dict per replicate, plus ``"real_data"`` → [its metrics] (one: the real data
        has no replicates). A distance's ``_std`` is the sample standard deviation over the inversions
        (:func:`robinterp.base.tables.sample_std`, n − 1).
    """
    fid_name, distance_name = metric_names(extractor.name)

    def features(images: np.ndarray) -> dict[str, np.ndarray]:
        return extract_features(extractor, images, batch_size=s.feature_batch_size, device=device)

    def judge_accuracy(images: np.ndarray, targets: np.ndarray) -> float:
        with torch.no_grad():
            predicted = torch.cat([judge(to_device_batch(images[i:i + s.feature_batch_size], device)).argmax(1).cpu()
                                   for i in range(0, len(images), s.feature_batch_size)])
        return 100.0 * float((predicted.numpy() == targets).mean())

    def replicate_metrics(g: Mapping, inv: Mapping) -> dict[str, float]:
        out = {fid_name: fid_from_features(features(g["images"])["fid"], test_features)}
        if judge is not None:
            out["judge_accuracy"] = judge_accuracy(g["images"], g["targets"])
        originals = features(inv["originals"])["distance"]
        for source in SOURCES:
            d = np.linalg.norm(features(inv[f"inverted_{source}"])["distance"] - originals, axis=1)
            difference = (inv[f"inverted_{source}"].astype(np.float64) - inv["originals"]) / 255.0
            pixels = np.linalg.norm(difference.reshape(len(difference), -1), axis=1)
            out |= {f"{distance_name}_{source}": float(d.mean()), f"{distance_name}_{source}_std": sample_std(d),
                    f"pixel_l2_{source}": float(pixels.mean())}
        return out

    if set(generated) != set(inversions):
        raise ValueError(f"generated has models {sorted(generated)} but inversions {sorted(inversions)}")
    test_features = features(np.asarray(test.images))["fid"]
    out: dict[str, list[dict[str, float]]] = {}
    n_generated = None
    for model, replicates in generated.items():
        if len(replicates) != len(inversions[model]) or not replicates:
            raise ValueError(f"{model}: {len(replicates)} replicates generated, {len(inversions[model])} inverted")
        out[model] = []
        for k, (g, inv) in enumerate(zip(replicates, inversions[model])):
            n_generated = len(g["images"])
            out[model].append(replicate_metrics(g, inv))
            log.info("%s (replicate %d): %s", model, k, out[model][-1])
    idx = real_data_sample(train, n_generated, s)
    real = np.asarray(train.images[idx])
    real_data = {fid_name: fid_from_features(features(real)["fid"], test_features)}
    if judge is not None:
        real_data["judge_accuracy"] = judge_accuracy(real, np.asarray(train.labels[idx]))
    out["real_data"] = [real_data]
    log.info("real_data: %s", real_data)
    return out
