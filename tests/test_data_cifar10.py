"""CIFAR-10 preparation from a small archive in the official format."""

from __future__ import annotations

import collections
import io
import pickle
import tarfile
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torchvision.datasets.utils
from fakedata import make_cifar10_archive, truncate_file

from robinterp.data import cifar10
from robinterp.data.cifar10 import ARCHIVE_NAME, CIFAR10_URL, file_md5, prepare_cifar10
from robinterp.data.store import load_prepared
from robinterp.base.errors import DataError

SMALL_COUNTS = {"train": 100, "test": 20}


@pytest.fixture
def archive(tmp_path):
    path = tmp_path / "raw" / ARCHIVE_NAME
    path.parent.mkdir()
    return path, make_cifar10_archive(path, n_per_batch=20, n_test=20)


def test_round_trip_is_pixel_exact(archive, tmp_path):
    path, written = archive
    meta_path = prepare_cifar10(path, tmp_path / "out", download=False, expected_counts=SMALL_COUNTS)
    dataset = load_prepared(meta_path)
    assert dataset.classes == written["classes"]
    assert dataset.image_shape == (3, 32, 32)
    for split in ("train", "test"):
        assert dataset[split].images.dtype == np.uint8
        np.testing.assert_array_equal(dataset[split].images, written[f"{split}_images"])
        np.testing.assert_array_equal(dataset[split].labels, written[f"{split}_labels"])
    provenance = dataset.meta["provenance"]
    assert provenance["md5"] == file_md5(path)
    assert provenance["md5_matches_official"] is False
    assert provenance["downloaded"] is False


def test_channel_order_matches_the_official_chw_rows(tmp_path):
    # Independent of fakedata's transpose: a red image must come out red in HWC.
    data = np.zeros((1, 3072), dtype=np.uint8)
    data[0, :1024] = 255  # the first 1024 values are the red plane
    path = tmp_path / ARCHIVE_NAME
    with tarfile.open(path, "w:gz") as tar:
        for name, payload in [("data_batch_1", {b"data": data, b"labels": [3]}),
                              *[(f"data_batch_{i}", {b"data": data[:0], b"labels": []}) for i in range(2, 6)],
                              ("test_batch", {b"data": data, b"labels": [0]}),
                              ("batches.meta", {b"label_names": [str(i).encode() for i in range(10)]})]:
            raw = pickle.dumps(payload, protocol=2)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    dataset = load_prepared(prepare_cifar10(path, tmp_path / "out", download=False,
                                            expected_counts={"train": 1, "test": 1}))
    image = dataset["train"].images[0]
    assert (image[..., 0] == 255).all() and (image[..., 1:] == 0).all()
    assert dataset["train"].labels.tolist() == [3]


def test_missing_archive_without_download_names_the_path(tmp_path):
    missing = tmp_path / "nowhere" / ARCHIVE_NAME
    with pytest.raises(DataError) as excinfo:
        prepare_cifar10(missing, tmp_path / "out", download=False)
    assert str(missing) in str(excinfo.value)
    assert CIFAR10_URL in str(excinfo.value)


def test_failed_download_names_the_path(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torchvision.datasets.utils, "download_url", offline)
    missing = tmp_path / "raw" / ARCHIVE_NAME
    with pytest.raises(DataError, match="no network") as excinfo:
        prepare_cifar10(missing, tmp_path / "out", download=True)
    assert str(missing) in str(excinfo.value)
    assert not missing.exists() and list(missing.parent.iterdir()) == []


def fake_download_from(source):
    def download_url(url, root, filename, md5):
        assert url == CIFAR10_URL
        Path(root, filename).write_bytes(source.read_bytes())
    return download_url


def test_downloaded_archive_must_match_the_official_md5(archive, tmp_path, monkeypatch):
    source, _ = archive
    monkeypatch.setattr(torchvision.datasets.utils, "download_url", fake_download_from(source))
    target = tmp_path / "dl" / ARCHIVE_NAME
    with pytest.raises(DataError, match="md5"):
        prepare_cifar10(target, tmp_path / "out", expected_counts=SMALL_COUNTS)
    assert not target.exists()  # a bad download is never left where a later run would trust it


def test_download_with_matching_md5_is_used(archive, tmp_path, monkeypatch):
    source, written = archive
    monkeypatch.setattr(torchvision.datasets.utils, "download_url", fake_download_from(source))
    monkeypatch.setattr(cifar10, "CIFAR10_MD5", file_md5(source))
    target = tmp_path / "dl" / ARCHIVE_NAME
    dataset = load_prepared(prepare_cifar10(target, tmp_path / "out", expected_counts=SMALL_COUNTS))
    assert target.is_file()
    assert dataset.meta["provenance"]["downloaded"] is True
    np.testing.assert_array_equal(dataset["test"].images, written["test_images"])


def test_truncated_archive_is_named(archive, tmp_path):
    path, _ = archive
    truncate_file(path, 0.6)
    with pytest.raises(DataError, match="truncated or damaged") as excinfo:
        prepare_cifar10(path, tmp_path / "out", download=False, expected_counts=SMALL_COUNTS)
    assert str(path) in str(excinfo.value)
    assert not (tmp_path / "out" / "meta.json").exists()


def test_not_a_tar_is_named(tmp_path):
    path = tmp_path / ARCHIVE_NAME
    path.write_bytes(b"this is not a gzip file")
    with pytest.raises(DataError) as excinfo:
        prepare_cifar10(path, tmp_path / "out", download=False)
    assert str(path) in str(excinfo.value)


def test_missing_batch_is_named(tmp_path):
    path = tmp_path / ARCHIVE_NAME
    make_cifar10_archive(path, skip_members=["data_batch_3"])
    with pytest.raises(DataError, match="data_batch_3") as excinfo:
        prepare_cifar10(path, tmp_path / "out", download=False, expected_counts=SMALL_COUNTS)
    assert str(path) in str(excinfo.value)


def test_wrong_counts_are_named(archive, tmp_path):
    path, _ = archive
    with pytest.raises(DataError, match="50000") as excinfo:
        prepare_cifar10(path, tmp_path / "out", download=False)  # official counts expected
    assert str(path) in str(excinfo.value) and "100" in str(excinfo.value)


def test_pickle_with_foreign_globals_is_refused(tmp_path):
    path = tmp_path / ARCHIVE_NAME
    make_cifar10_archive(path)
    evil = tmp_path / "evil.tar.gz"
    with tarfile.open(path, "r:gz") as source, tarfile.open(evil, "w:gz") as target:
        for member in source:
            payload = source.extractfile(member).read()
            if member.name.endswith("test_batch"):
                payload = pickle.dumps({b"data": np.zeros((20, 3072), np.uint8), b"labels": [0] * 20,
                                        b"extra": collections.OrderedDict()}, protocol=2)
                member.size = len(payload)
            target.addfile(member, io.BytesIO(payload))
    with pytest.raises(DataError, match="refusing"):
        prepare_cifar10(evil, tmp_path / "out", download=False, expected_counts=SMALL_COUNTS)
