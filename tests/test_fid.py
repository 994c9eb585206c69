"""Tests of robinterp.synthesis.fid and robinterp.synthesis.features: the Fréchet distance against closed forms and pytorch-fid, the Inception weights
check/fetch, and the feature extractors.

No test uses the real Inception weights (they cannot be downloaded here): the Inception tests build a
state dict with *random* weights for torch-fidelity's network, so they check loading, shapes and the input
conversion, never an FID value.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import linalg

from robinterp.data.batches import to_uint8
from robinterp.synthesis import features, fid
from robinterp.data.batches import to_device_batch
from robinterp.base.errors import CheckpointError, RobinterpError
from robinterp.models.architectures import build_model

CPU = torch.device("cpu")


def _random_spd(rng: np.random.Generator, dim: int) -> np.ndarray:
    a = rng.normal(size=(dim, dim))
    return a @ a.T + 0.1 * np.eye(dim)


def _sym_sqrt(a: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh(a)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------- Fréchet distance


def test_equal_covariances_give_squared_mean_distance():
    rng = np.random.default_rng(0)
    sigma = _random_spd(rng, 6)
    mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
    assert fid.frechet_distance(mu1, sigma, mu2, sigma) == pytest.approx(np.sum((mu1 - mu2) ** 2), rel=1e-7)


def test_diagonal_covariances_closed_form():
    rng = np.random.default_rng(1)
    a, b = rng.uniform(0.1, 3.0, size=5), rng.uniform(0.1, 3.0, size=5)
    mu1, mu2 = rng.normal(size=5), rng.normal(size=5)
    expected = np.sum((np.sqrt(a) - np.sqrt(b)) ** 2) + np.sum((mu1 - mu2) ** 2)
    assert fid.frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, rel=1e-9)


def test_one_dimensional_gaussians():
    # W2² between N(m1, s1²) and N(m2, s2²) is (m1 − m2)² + (s1 − s2)²; scalars are accepted.
    assert fid.frechet_distance(1.0, 4.0, -2.0, 9.0) == pytest.approx(9.0 + 1.0)


def test_symmetric_and_zero_for_identical_statistics():
    rng = np.random.default_rng(2)
    mu1, mu2 = rng.normal(size=8), rng.normal(size=8)
    s1, s2 = _random_spd(rng, 8), _random_spd(rng, 8)
    d12, d21 = fid.frechet_distance(mu1, s1, mu2, s2), fid.frechet_distance(mu2, s2, mu1, s1)
    assert d12 > 1.0
    assert d12 == pytest.approx(d21, rel=1e-9)
    assert fid.frechet_distance(mu1, s1, mu1, s1) == pytest.approx(0.0, abs=1e-9 * np.trace(s1))


@pytest.mark.parametrize("seed", [3, 4, 5])
def test_matches_direct_sqrtm_and_symmetric_form(seed):
    rng = np.random.default_rng(seed)
    mu1, mu2 = rng.normal(size=10), rng.normal(size=10)
    s1, s2 = _random_spd(rng, 10), _random_spd(rng, 10)
    diff = mu1 - mu2
    direct = diff @ diff + np.trace(s1 + s2 - 2 * np.real(linalg.sqrtm(s1 @ s2)))
    # Tr (Σ1 Σ2)^½ = Tr (Σ1^½ Σ2 Σ1^½)^½: an independent computation through symmetric eigendecompositions.
    r1 = _sym_sqrt(s1)
    symmetric = diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.trace(_sym_sqrt(r1 @ s2 @ r1))
    got = fid.frechet_distance(mu1, s1, mu2, s2)
    assert got == pytest.approx(direct, rel=1e-8)
    assert got == pytest.approx(symmetric, rel=1e-6)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # pytorch-fid passes scipy's deprecated `disp`
@pytest.mark.parametrize("n_samples", [500, 4])  # 4 samples of 6-d features: rank-deficient covariances, for
# which scipy 1.17's sqrtm returns a complex root whose negligible imaginary part must be dropped
def test_matches_pytorch_fid(n_samples):
    from pytorch_fid.fid_score import calculate_frechet_distance

    rng = np.random.default_rng(6)
    a = rng.normal(size=(n_samples, 6))
    b = rng.normal(size=(n_samples, 6)) @ rng.normal(size=(6, 6)) + 0.5
    stats = (*fid.gaussian_statistics(a), *fid.gaussian_statistics(b))
    expected = calculate_frechet_distance(*stats)
    assert np.isfinite(expected)
    assert fid.frechet_distance(*stats) == pytest.approx(expected, rel=1e-7)
    assert fid.fid_from_features(a, b) == pytest.approx(expected, rel=1e-7)


def test_non_psd_covariance_is_rejected():
    with pytest.raises(ValueError, match="imaginary"):
        fid.frechet_distance(np.zeros(2), np.eye(2), np.zeros(2), np.diag([-1.0, 1.0]))


def test_mismatched_or_non_finite_statistics_are_rejected():
    with pytest.raises(ValueError, match="covariances"):
        fid.frechet_distance(np.zeros(2), np.eye(2), np.zeros(2), np.eye(3))
    with pytest.raises(ValueError, match="means"):
        fid.frechet_distance(np.zeros(2), np.eye(2), np.zeros(3), np.eye(2))
    with pytest.raises(ValueError, match="NaN"):
        fid.frechet_distance(np.array([np.nan, 0.0]), np.eye(2), np.zeros(2), np.eye(2))


# --------------------------------------------------------------------------- statistics


def test_gaussian_statistics_matches_numpy():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(50, 4)).astype(np.float32)
    mu, sigma = fid.gaussian_statistics(x)
    assert mu.dtype == np.float64 and sigma.dtype == np.float64
    np.testing.assert_allclose(mu, np.mean(x.astype(np.float64), axis=0), rtol=1e-12)
    np.testing.assert_allclose(sigma, np.cov(x.astype(np.float64), rowvar=False), rtol=1e-12)
    # unbiased (N − 1) normalisation, as pytorch-fid
    np.testing.assert_allclose(sigma[0, 0], np.var(x[:, 0].astype(np.float64), ddof=1), rtol=1e-12)


def test_gaussian_statistics_of_one_dimensional_features_is_a_matrix():
    mu, sigma = fid.gaussian_statistics(np.array([[1.0], [3.0]]))
    assert mu.shape == (1,) and sigma.shape == (1, 1)
    assert sigma[0, 0] == pytest.approx(2.0)


@pytest.mark.parametrize("bad", [np.zeros((1, 3)), np.zeros(5), np.array([[0.0, 1.0], [np.inf, 2.0]])])
def test_gaussian_statistics_rejects_bad_input(bad):
    with pytest.raises(ValueError):
        fid.gaussian_statistics(bad)


def test_fid_from_samples_approaches_closed_form():
    rng = np.random.default_rng(8)
    mu1, mu2 = np.array([0.0, 1.0, -1.0]), np.array([0.5, 1.0, 0.0])
    a, b = np.array([1.0, 2.0, 0.5]), np.array([2.0, 0.5, 0.5])
    n = 200_000
    x = mu1 + np.sqrt(a) * rng.normal(size=(n, 3))
    y = mu2 + np.sqrt(b) * rng.normal(size=(n, 3))
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)  # = 1.25 + 0.8579
    assert fid.fid_from_features(x, y) == pytest.approx(expected, abs=0.02)


def test_fid_from_features_rejects_different_dimensions():
    with pytest.raises(ValueError, match="same D"):
        fid.fid_from_features(np.zeros((4, 2)), np.zeros((4, 3)))


# --------------------------------------------------------------------------- Inception weights file


def test_inception_constants_match_torch_fidelity_and_torch_hub():
    from torch.hub import HASH_REGEX
    from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3

    assert features.INCEPTION_URL == URL_INCEPTION_V3
    assert features.INCEPTION_FILENAME == URL_INCEPTION_V3.rsplit("/", 1)[-1]
    assert features.INCEPTION_SHA256_PREFIX == HASH_REGEX.search(features.INCEPTION_FILENAME).group(1)


def test_check_missing_weights_says_where_and_how(tmp_path):
    path = tmp_path / "weights" / features.INCEPTION_FILENAME
    with pytest.raises(CheckpointError) as info:
        features.check_inception_weights(path)
    message = str(info.value)
    assert isinstance(info.value, RobinterpError)
    assert str(path) in message and features.INCEPTION_URL in message
    assert "snakemake fetch_inception_weights" in message
    assert "\n" not in message


def test_check_weights_with_wrong_hash(tmp_path):
    path = tmp_path / features.INCEPTION_FILENAME
    path.write_bytes(b"not the inception weights")
    assert not _sha256(path).startswith(features.INCEPTION_SHA256_PREFIX)
    with pytest.raises(CheckpointError, match="sha256") as info:
        features.check_inception_weights(path)
    assert str(path) in str(info.value)


def test_check_weights_with_matching_hash_returns_path(tmp_path):
    path = tmp_path / "w.pth"
    path.write_bytes(b"some weights")
    prefix = _sha256(path)[:8]
    assert features.check_inception_weights(str(path), sha256_prefix=prefix) == path
    assert features.check_inception_weights(path, sha256_prefix=prefix.upper()) == path


def test_fetch_from_file_url(tmp_path):
    source = tmp_path / "server" / "weights.pth"
    source.parent.mkdir()
    source.write_bytes(b"\x00\x01weights" * 1000)
    dest = tmp_path / "out" / features.INCEPTION_FILENAME
    got = features.fetch_inception_weights(dest, url=source.as_uri(), sha256_prefix=_sha256(source)[:8])
    assert got == dest
    assert dest.read_bytes() == source.read_bytes()
    assert sorted(p.name for p in dest.parent.iterdir()) == [dest.name]  # no temporary file left


def test_fetch_with_wrong_hash_leaves_nothing(tmp_path):
    source = tmp_path / "weights.pth"
    source.write_bytes(b"truncated")
    dest = tmp_path / "out" / features.INCEPTION_FILENAME
    with pytest.raises(CheckpointError, match="sha256"):
        features.fetch_inception_weights(dest, url=source.as_uri())  # default prefix: the official file's
    assert not dest.exists()
    assert list(dest.parent.iterdir()) == []


def test_fetch_failure_names_url_and_path(tmp_path):
    url = (tmp_path / "no-such-file.pth").as_uri()
    dest = tmp_path / "out" / features.INCEPTION_FILENAME
    with pytest.raises(RobinterpError) as info:
        features.fetch_inception_weights(dest, url=url)
    assert url in str(info.value) and str(dest) in str(info.value)
    assert list(dest.parent.iterdir()) == []


# --------------------------------------------------------------------------- InceptionFeatures


@pytest.fixture(scope="module")
def random_inception_weights(tmp_path_factory) -> tuple[Path, str]:
    """A state dict for torch-fidelity's Inception with RANDOM weights, saved to a file; (path, sha256 prefix).

    torch-fidelity's constructor always loads weights (from a path, or else from the internet), so the state
    dict is taken from a subclass whose ``load_state_dict`` keeps the random initialisation: its module tree,
    and so its keys and shapes, are exactly torch-fidelity's. Convolutions get He-normal weights so that the
    activations stay of order one through the network.
    """
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    class RandomInceptionV3(FeatureExtractorInceptionV3):
        def load_state_dict(self, state_dict, strict=True, assign=False):
            return None  # keep the random initialisation

    folder = tmp_path_factory.mktemp("inception")
    dummy = folder / "empty.pth"
    torch.save({}, dummy)  # the constructor torch.loads its path before calling load_state_dict
    torch.manual_seed(0)
    net = RandomInceptionV3("inception-v3-compat", ["2048"], feature_extractor_weights_path=str(dummy))
    for module in net.modules():
        if isinstance(module, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
    path = folder / "random-inception.pth"
    torch.save(net.state_dict(), path)
    return path, _sha256(path)[:8]


@pytest.fixture(scope="module")
def inception(random_inception_weights) -> features.InceptionFeatures:
    path, prefix = random_inception_weights
    return features.InceptionFeatures(path, sha256_prefix=prefix)


def test_inception_features_load_without_network(random_inception_weights, monkeypatch):
    import torch_fidelity.feature_extractor_inceptionv3 as tfi

    def no_network(*args, **kwargs):
        raise AssertionError("InceptionFeatures tried to download weights")

    monkeypatch.setattr(tfi, "load_state_dict_from_url", no_network)
    path, prefix = random_inception_weights
    extractor = features.InceptionFeatures(path, sha256_prefix=prefix)
    assert extractor.name == "inception"
    assert not extractor.training and not extractor.net.training
    reference = torch.load(path, weights_only=True)
    loaded = extractor.net.state_dict()
    assert loaded.keys() == reference.keys()
    assert all(torch.equal(loaded[k], reference[k]) for k in reference)


def test_inception_features_reject_file_with_other_hash(random_inception_weights):
    path, _ = random_inception_weights
    with pytest.raises(CheckpointError, match="sha256"):
        features.InceptionFeatures(path)  # the official prefix: the random file is not the official one


def test_inception_features_reject_unloadable_file(tmp_path):
    path = tmp_path / "garbage.pth"
    path.write_bytes(b"this is not a torch file")
    with pytest.raises(CheckpointError, match="cannot load"):
        features.InceptionFeatures(path, sha256_prefix=_sha256(path)[:8])


@pytest.mark.parametrize("channels, size", [(1, 28), (3, 32)])
def test_inception_features_shapes_and_input_dependence(inception, channels, size):
    torch.manual_seed(1)
    x = torch.rand(2, channels, size, size)
    out = inception(x)
    assert set(out) == {"fid", "distance"}
    assert out["fid"].shape == (2, 2048) and out["distance"].shape == (2, 192)
    assert all(torch.isfinite(v).all() for v in out.values())
    for key in out:  # two different images give different features
        assert not torch.allclose(out[key][0], out[key][1])


def test_inception_features_are_torch_fidelity_on_uint8(inception):
    """Grayscale uint8 NHWC → extract_features equals torch-fidelity's network on the RGB uint8 tensor."""
    rng = np.random.default_rng(9)
    images = rng.integers(0, 256, size=(3, 20, 20, 1), dtype=np.uint8)
    got = features.extract_features(inception, images, batch_size=2, device=CPU)
    rgb = torch.from_numpy(images).permute(0, 3, 1, 2).repeat(1, 3, 1, 1)
    fid_ref, distance_ref = inception.net(rgb)
    np.testing.assert_allclose(got["fid"], fid_ref.double().numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got["distance"], distance_ref.double().numpy(), rtol=1e-4, atol=1e-5)


def test_inception_network_stays_in_eval_mode(inception):
    inception.train()
    try:
        assert inception.training and not inception.net.training
        assert not any(m.training for m in inception.net.modules())
    finally:
        inception.eval()


def test_uint8_quantisation_round_trips_stored_images():
    values = np.arange(256, dtype=np.uint8).reshape(1, 16, 16, 1)
    x = to_device_batch(values, CPU)
    assert torch.equal(to_uint8(x).permute(0, 2, 3, 1), torch.from_numpy(values))
    assert to_uint8(torch.tensor([-0.5, 0.4 / 255, 0.6 / 255, 1.5])).tolist() == [0, 0, 1, 255]


# --------------------------------------------------------------------------- JudgeFeatures and extract_features


def _tiny_judge() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model("resnet_small", 10, 1, [0.5], [0.5])


def test_judge_features_are_the_representation():
    model = _tiny_judge().eval()
    judge = features.JudgeFeatures(model)
    x = torch.rand(4, 1, 12, 12)
    out = judge(x)
    expected = model.representation(x)
    assert judge.name == "judge"
    assert out["fid"].shape == (4, 64)
    assert torch.equal(out["fid"], expected) and torch.equal(out["distance"], expected)
    # R(x) written out: the trunk on the image normalised with the model's mean and std (0.5, 0.5); it
    # depends on the image
    torch.testing.assert_close(out["fid"], model.trunk((x - 0.5) / 0.5))
    assert not torch.allclose(out["fid"][0], out["fid"][1])


def test_extract_features_batching_does_not_change_values():
    model = _tiny_judge()
    judge = features.JudgeFeatures(model)
    rng = np.random.default_rng(10)
    images = rng.integers(0, 256, size=(7, 12, 12, 1), dtype=np.uint8)
    model.eval()
    with torch.no_grad():
        whole = judge(to_device_batch(images, CPU))
    model.train()  # extract_features must run it in eval mode (BN running statistics) and restore the mode
    got = features.extract_features(judge, images, batch_size=3, device=CPU)
    assert model.training and all(m.training for m in model.modules())
    assert set(got) == {"fid", "distance"}
    for key in got:
        assert got[key].dtype == np.float64 and got[key].shape == (7, 64)
        np.testing.assert_allclose(got[key], whole[key].double().numpy(), rtol=1e-5, atol=1e-6)
    # The reference above converts the images with the same helper and calls the same extractor; here the
    # conversion (uint8 NHWC → float NCHW in [0, 1]) and R(x) = trunk((x − 0.5)/0.5) are written out, in eval mode.
    model.eval()
    with torch.no_grad():
        by_hand = model.trunk((torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255 - 0.5) / 0.5).double().numpy()
    np.testing.assert_allclose(got["fid"], by_hand, rtol=1e-5, atol=1e-6)
    assert np.abs(np.diff(got["fid"], axis=0)).max() > 1e-3  # one row per image, not one image repeated


@pytest.mark.parametrize("images, batch_size", [(np.zeros((2, 4, 4, 1), np.float32), 2),
                                                (np.zeros((0, 4, 4, 1), np.uint8), 2),
                                                (np.zeros((2, 4, 4, 1), np.uint8), 0)])
def test_extract_features_rejects_bad_input(images, batch_size):
    with pytest.raises(ValueError):
        features.extract_features(features.JudgeFeatures(_tiny_judge()), images, batch_size=batch_size, device=CPU)
