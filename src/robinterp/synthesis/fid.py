"""The Fréchet distance between two sets of features (Heusel et al. 2017), as small pure functions.

Follows pytorch-fid's ``fid_score.py`` (Seitzer 2020): features in float64, mean
and unbiased covariance (:func:`gaussian_statistics`), and
d² = ‖μ₁ − μ₂‖² + Tr(Σ₁ + Σ₂ − 2 (Σ₁ Σ₂)^½) with ``scipy.linalg.sqrtm``
(:func:`frechet_distance`, after ``calculate_frechet_distance``, "stable version
by Dougal J. Sutherland"). The features come from :mod:`robinterp.synthesis.features`.

References:
    Heusel et al. 2017, "GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash Equilibrium".
    https://github.com/mseitzer/pytorch-fid (``src/pytorch_fid/fid_score.py``).
"""

from __future__ import annotations

import logging

import numpy as np
from scipy import linalg

logger = logging.getLogger(__name__)


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
