"""The feature extractors behind the FID and the inversion distance (Boychev 2023, tables 2, 3, 5, 6).

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

The Fréchet distance of the features is :mod:`robinterp.synthesis.fid`.

References:
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

from robinterp.base.errors import CheckpointError, RobinterpError
from robinterp.base.io import atomic_path
from robinterp.data.batches import to_device_batch, to_uint8

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

    The file is written to a temporary name beside ``path`` (:func:`robinterp.base.io.atomic_path`), its hash
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
        fid, distance = self.net(to_uint8(x))
        return {"fid": fid, "distance": distance}


class JudgeFeatures(torch.nn.Module):
    """R(x) of a classifier (the "judge") as features for both the FID and the inversion distance.

    Args:
        model: a :class:`robinterp.models.architectures.Classifier` (anything with ``representation(x)`` taking
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
