"""Fréchet Inception Distance (FID) and the feature extractors behind it (SPEC §5).

Boychev (2023) measures how natural the images of class-specific generation
are with the FID (Heusel et al. 2017) between generated and real test images
(tables 2 and 5), and how close a representation inversion comes to its
target by their distance in Inception feature space (tables 3 and 6). Both
need features; this module provides two extractors behind one
:class:`FeatureExtractor` protocol:

- :class:`InceptionFeatures` (``name = "inception"``): torch-fidelity's
  ``FeatureExtractorInceptionV3`` ("inception-v3-compat"), a port of the
  TensorFlow Inception network of the original FID code, the same network that
  ``torchmetrics.image.fid.FrechetInceptionDistance`` uses. Its weights are a
  file checked by :func:`check_inception_weights` and never downloaded on the
  fly: compute nodes have no internet, so :func:`fetch_inception_weights` (the
  ``fetch_inception_weights`` Snakemake rule) fetches them once beforehand.
- :class:`JudgeFeatures` (``name = "judge"``): R(x) of one of our own
  classifiers, giving the "FID under a judge model" variant (``fid_judge``).

The statistics follow pytorch-fid's ``fid_score.py`` (Seitzer 2020): features
in float64, mean and unbiased covariance (:func:`gaussian_statistics`), and
d² = ‖μ₁ − μ₂‖² + Tr(Σ₁ + Σ₂ − 2 (Σ₁ Σ₂)^½) with ``scipy.linalg.sqrtm``
(:func:`frechet_distance`, after ``calculate_frechet_distance``, "stable version
by Dougal J. Sutherland").

References:
    Heusel et al. 2017, "GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash Equilibrium".
    https://github.com/mseitzer/pytorch-fid (``src/pytorch_fid/fid_score.py``).
    https://github.com/toshas/torch-fidelity (``torch_fidelity/feature_extractor_inceptionv3.py``).
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import math
import os
import shutil
import urllib.error
import urllib.request
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from scipy import linalg

from robinterp.data.batches import to_device_batch
from robinterp.errors import CheckpointError, RobinterpError
from robinterp.io import atomic_path

logger = logging.getLogger(__name__)

#: torch-fidelity's ``URL_INCEPTION_V3`` (torch_fidelity/feature_extractor_inceptionv3.py, v0.2.0 release asset):
#: the TensorFlow FID Inception weights of 2015-12-05 converted to PyTorch.
INCEPTION_URL = (
    "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth"
)
#: The file name of :data:`INCEPTION_URL`.
INCEPTION_FILENAME = "weights-inception-2015-12-05-6726825d.pth"
#: The hash in :data:`INCEPTION_FILENAME`: by the torch.hub convention (``torch.hub.HASH_REGEX``,
#: ``check_hash=True``) the first hex digits of the file's SHA-256.
INCEPTION_SHA256_PREFIX = "6726825d"

_FETCH_HINT = "run `snakemake fetch_inception_weights` (or download {url} on a machine with internet) to create {path}"


# --------------------------------------------------------------------------- statistics


def gaussian_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of a set of feature vectors, as pytorch-fid's ``calculate_activation_statistics``.

    Args:
        features: (N, D) array, one feature vector per row, N ≥ 2. Converted to float64.

    Returns:
        ``(mu, sigma)``: the (D,) mean and the (D, D) unbiased covariance (``np.cov(features, rowvar=False)``,
        normalised by N − 1), both float64.

    Raises:
        ValueError: ``features`` is not 2-D, has fewer than 2 rows, or holds NaN/inf.
    """
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2:
        raise ValueError(f"features must be a 2-D (N, D) array, got shape {features.shape}")
    if features.shape[0] < 2:
        raise ValueError(f"a covariance needs at least 2 feature vectors, got {features.shape[0]}")
    if not np.isfinite(features).all():
        raise ValueError("features contain NaN or inf")
    mu = features.mean(axis=0)
    sigma = np.atleast_2d(np.cov(features, rowvar=False))  # np.cov returns a 0-d array when D == 1
    return mu, sigma


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray,
                     eps: float = 1e-6) -> float:
    """Squared Fréchet (2-Wasserstein) distance between N(μ₁, Σ₁) and N(μ₂, Σ₂).

    d² = ‖μ₁ − μ₂‖² + Tr(Σ₁ + Σ₂ − 2 (Σ₁ Σ₂)^½), computed as pytorch-fid's ``calculate_frechet_distance``:
    ``scipy.linalg.sqrtm`` of Σ₁Σ₂; if that is not finite (a singular product), ε·I is added to both
    covariances and the root taken again; a negligible imaginary part of the root (numerical error, every
    diagonal entry within 1e-3 of real) is dropped.

    Args:
        mu1: (D,) mean of the first set (e.g. generated or inverted images).
        sigma1: (D, D) covariance of the first set.
        mu2: (D,) mean of the second set (e.g. real images).
        sigma2: (D, D) covariance of the second set.
        eps: the diagonal offset used only when Σ₁Σ₂ has no finite square root.

    Returns:
        d² as a Python float (the FID when the statistics are those of Inception features).

    Raises:
        ValueError: the shapes do not match, an input is NaN/inf, or the root has a non-negligible
            imaginary part (the covariances are not positive semi-definite).
    """
    mu1, mu2 = (np.atleast_1d(np.asarray(m, dtype=np.float64)) for m in (mu1, mu2))
    sigma1, sigma2 = (np.atleast_2d(np.asarray(s, dtype=np.float64)) for s in (sigma1, sigma2))
    dim = mu1.shape[0]
    if mu1.shape != (dim,) or mu2.shape != (dim,):
        raise ValueError(f"means must be vectors of one length, got shapes {mu1.shape} and {mu2.shape}")
    if sigma1.shape != (dim, dim) or sigma2.shape != (dim, dim):
        raise ValueError(f"covariances must be {dim}×{dim}, got shapes {sigma1.shape} and {sigma2.shape}")
    if not all(np.isfinite(a).all() for a in (mu1, mu2, sigma1, sigma2)):
        raise ValueError("Gaussian statistics contain NaN or inf")

    diff = mu1 - mu2
    covmean = linalg.sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():
        logger.warning("FID: singular product of covariances; adding %g to their diagonals", eps)
        offset = np.eye(dim) * eps
        covmean = linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError(f"matrix square root has an imaginary component of {np.max(np.abs(covmean.imag)):g}; "
                             "the covariances are not positive semi-definite")
        covmean = covmean.real
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean))


def fid_from_features(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """Fréchet distance between the Gaussians fitted to two feature sets.

    Args:
        features_a: (N_a, D) features of the first image set, N_a ≥ 2.
        features_b: (N_b, D) features of the second image set, N_b ≥ 2, same D.

    Returns:
        :func:`frechet_distance` of the two :func:`gaussian_statistics`. With N < D the covariance is
        rank-deficient and the estimate strongly biased upwards (logged as a warning); compare FIDs only
        between runs that use the same numbers of images.
    """
    features_a, features_b = np.asarray(features_a), np.asarray(features_b)
    if features_a.ndim != 2 or features_b.ndim != 2 or features_a.shape[1] != features_b.shape[1]:
        raise ValueError(f"feature sets must be (N, D) arrays with the same D, got {features_a.shape} "
                         f"and {features_b.shape}")
    n_min, dim = min(len(features_a), len(features_b)), features_a.shape[1]
    if n_min < dim:
        logger.warning("FID from %d samples of %d-d features: the covariance is rank-deficient and the "
                       "estimate biased", n_min, dim)
    return frechet_distance(*gaussian_statistics(features_a), *gaussian_statistics(features_b))


# --------------------------------------------------------------------------- Inception weights


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_inception_weights(path: str | os.PathLike, sha256_prefix: str = INCEPTION_SHA256_PREFIX) -> Path:
    """Check that the Inception weights file exists and is the expected one.

    Args:
        path: where the weights file (:data:`INCEPTION_FILENAME`) should be.
        sha256_prefix: the leading hex digits its SHA-256 must have; defaults to
            :data:`INCEPTION_SHA256_PREFIX` (torch.hub's convention for the hash in the file name).

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        CheckpointError: the file is missing (the message says where to put it, the URL to fetch it from
            and the Snakemake rule that does it) or its hash does not match (truncated or another file).
    """
    path = Path(path)
    hint = _FETCH_HINT.format(url=INCEPTION_URL, path=path)
    if not path.is_file():
        raise CheckpointError(f"Inception weights {path} are missing (no internet on compute nodes); {hint}")
    digest = _sha256(path)
    if not digest.startswith(sha256_prefix.lower()):
        raise CheckpointError(f"Inception weights {path} have sha256 {digest[:16]}…, expected it to start with "
                              f"{sha256_prefix} (truncated or a different file); delete it and {hint}")
    return path


def fetch_inception_weights(path: str | os.PathLike, url: str = INCEPTION_URL,
                            sha256_prefix: str = INCEPTION_SHA256_PREFIX, timeout: float = 60.0) -> Path:
    """Download the Inception weights to ``path`` atomically (the ``fetch_inception_weights`` rule).

    The file is written to a temporary name beside ``path`` (:func:`robinterp.io.atomic_path`), its hash
    checked, and only then renamed onto ``path``: a failed or corrupt download leaves nothing behind.

    Args:
        path: destination file.
        url: where to fetch from; any URL ``urllib.request.urlopen`` opens (``https://``, ``file://``).
        sha256_prefix: leading hex digits the SHA-256 of the download must have.
        timeout: seconds to wait for the server to answer (per blocking socket operation).

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        RobinterpError: the download failed (the message names the URL and the path).
        CheckpointError: the downloaded file has the wrong hash.
    """
    path = Path(path)
    logger.info("downloading %s to %s", url, path)
    with atomic_path(path) as tmp:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response, open(tmp, "wb") as f:
                shutil.copyfileobj(response, f, length=1 << 20)
        except (OSError, ValueError, http.client.HTTPException) as exc:  # URLError and timeouts are OSErrors
            raise RobinterpError(f"cannot download {url} to {path} ({exc}); on a machine without internet "
                                 f"download it elsewhere and copy it to {path}") from exc
        digest = _sha256(tmp)
        if not digest.startswith(sha256_prefix.lower()):
            raise CheckpointError(f"download of {url} has sha256 {digest[:16]}…, expected it to start with "
                                  f"{sha256_prefix}; {path} was not written, retry or fetch the file by hand")
    logger.info("wrote %s (%d bytes, sha256 %s…)", path, path.stat().st_size, digest[:16])
    return path


# --------------------------------------------------------------------------- feature extractors


class FeatureExtractor(Protocol):
    """What the metrics code needs from a feature extractor.

    Attributes:
        name: ``"inception"`` or ``"judge"``; names the metrics (``fid`` vs ``fid_judge``).
    """

    name: str

    def __call__(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Features of a batch.

        Args:
            x: float images in [0, 1], shape (B, C, H, W), C = 1 or 3, on the extractor's device.

        Returns:
            ``{"fid": (B, D) features for the FID, "distance": (B, d) features for the inversion distance}``.
        """
        ...


def _to_uint8(x: torch.Tensor) -> torch.Tensor:
    """[0, 1] floats → uint8 by rounding, so that uint8 → :func:`to_device_batch` → uint8 is the identity.

    (torchmetrics' FID with ``normalize=True`` truncates, ``(x * 255).byte()``; for images that came from uint8
    both agree, for optimised float images rounding is the unbiased quantisation.)
    """
    return x.detach().clamp(0.0, 1.0).mul(255.0).round_().to(torch.uint8)


class InceptionFeatures(torch.nn.Module):
    """The FID Inception network (torch-fidelity's "inception-v3-compat"), loaded from a local weights file.

    The features are those of torch-fidelity's ``FeatureExtractorInceptionV3`` with
    ``features_list=["2048", "192"]``: ``"fid"`` is the 2048-d pool3 feature of the standard FID,
    ``"distance"`` the 192-d feature after the second max-pool (``Conv2d_4a_3x3`` → ``MaxPool_2``),
    globally average-pooled. torch-fidelity itself resizes every input to 299×299 (bilinear, as TensorFlow 1.x)
    and maps uint8 to [−1, 1]; it accepts only uint8 RGB tensors, so :meth:`forward` repeats grayscale channels
    and quantises [0, 1] floats to uint8. The quantisation makes these features non-differentiable in ``x``.

    Args:
        weights_path: the weights file (:data:`INCEPTION_FILENAME`), checked by :func:`check_inception_weights`
            before anything is loaded; nothing is ever downloaded.
        sha256_prefix: the hash prefix the file must have; the default is the official file's. Tests pass the
            prefix of a file they made themselves.

    Raises:
        CheckpointError: the file is missing, has the wrong hash, or does not load into the network.
    """

    name = "inception"

    def __init__(self, weights_path: str | os.PathLike, *, sha256_prefix: str = INCEPTION_SHA256_PREFIX):
        super().__init__()
        path = check_inception_weights(weights_path, sha256_prefix=sha256_prefix)
        from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

        try:
            self.net = FeatureExtractorInceptionV3("inception-v3-compat", ["2048", "192"],
                                                   feature_extractor_weights_path=str(path))
        except Exception as exc:  # torch.load / load_state_dict raise several types for foreign files
            raise CheckpointError(f"cannot load Inception weights {path} ({exc}); delete it and "
                                  + _FETCH_HINT.format(url=INCEPTION_URL, path=path)) from exc
        self.eval()

    def train(self, mode: bool = True) -> InceptionFeatures:
        """Set the mode of the wrapper; the Inception network always stays in eval mode (fixed BN statistics)."""
        super().train(mode)
        self.net.eval()
        return self

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Features of float images in [0, 1], (B, C, H, W), C = 1 or 3; see the class docstring."""
        if x.dim() != 4 or x.shape[1] not in (1, 3):
            raise ValueError(f"expected images of shape (B, 1 or 3, H, W), got {tuple(x.shape)}")
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        fid, distance = self.net(_to_uint8(x))
        return {"fid": fid, "distance": distance}


class JudgeFeatures(torch.nn.Module):
    """R(x) of a classifier (the "judge") as features for both the FID and the inversion distance.

    Args:
        model: a :class:`robinterp.models.Classifier` (anything with ``representation(x)`` taking
            images in [0, 1] and returning (B, D) penultimate, globally pooled features).
    """

    name = "judge"

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model
        self.training = model.training  # mirror the model's mode without changing its submodules

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """``{"fid": R(x), "distance": R(x)}`` for float images in [0, 1], (B, C, H, W)."""
        representation = self.model.representation(x)
        return {"fid": representation, "distance": representation}


@torch.no_grad()
def extract_features(extractor: FeatureExtractor, images: np.ndarray, *, batch_size: int,
                     device: torch.device) -> dict[str, np.ndarray]:
    """Run ``extractor`` over a stored image array in batches.

    Args:
        extractor: a :class:`FeatureExtractor`, already on ``device``. An ``nn.Module`` is put in eval mode
            while it runs and every submodule's mode is restored afterwards.
        images: uint8 (N, H, W, C) as stored by the package, N ≥ 1; each batch is converted with
            :func:`robinterp.data.batches.to_device_batch`.
        batch_size: images per forward pass; does not change the result beyond float rounding.
        device: where the batches go.

    Returns:
        ``{key: float64 (N, D_key) array}`` for every key the extractor returns, concatenated over batches.
    """
    if images.dtype != np.uint8 or images.ndim != 4 or len(images) == 0:
        raise ValueError(f"expected a non-empty uint8 (N, H, W, C) array, got {images.dtype} {images.shape}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    modules = list(extractor.modules()) if isinstance(extractor, torch.nn.Module) else []
    modes = [m.training for m in modules]
    if isinstance(extractor, torch.nn.Module):
        extractor.eval()
    n_batches = math.ceil(len(images) / batch_size)
    chunks: dict[str, list[np.ndarray]] = {}
    try:
        for i, start in enumerate(range(0, len(images), batch_size)):
            features = extractor(to_device_batch(images[start:start + batch_size], device))
            for key, value in features.items():
                chunks.setdefault(key, []).append(value.detach().to("cpu", torch.float64).numpy())
            logger.debug("%s features: batch %d/%d", getattr(extractor, "name", "?"), i + 1, n_batches)
    finally:
        for module, mode in zip(modules, modes):
            module.training = mode
    return {key: np.concatenate(values) for key, values in chunks.items()}
