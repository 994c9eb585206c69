"""CIFAR-10 preparation from a small archive in the official format, and from an image-folder tree."""

from __future__ import annotations

import collections
import io
import json
import logging
import pickle
import tarfile
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torchvision.datasets.utils
from fakedata import CIFAR_CLASSES, make_cifar10_archive, make_cifar10_folder, truncate_file
from PIL import Image

from robinterp.data import cifar10
from robinterp.base.errors import DataError
from robinterp.base.io import read_json
from robinterp.cli.main import main
from robinterp.data.cifar10 import ARCHIVE_NAME, CIFAR10_URL, file_md5, prepare_cifar10
from robinterp.data.cifar10_folder import prepare_cifar10_folder
from robinterp.data.image_files import MANIFEST_FILE
from robinterp.data.store import load_prepared

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


# --- CIFAR-10 as an image-folder tree ------------------------------------------------------------------------------

FOLDER_COUNTS = {"train": 5, "test": 2}  # 5 train images per class: one of each kind of file fakedata writes


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "cifar10-images"
    return root, make_cifar10_folder(root, FOLDER_COUNTS)


def test_folder_round_trip_is_pixel_exact_for_pngs_and_follows_pillow_for_jpegs(folder, tmp_path, caplog):
    root, tree = folder
    with caplog.at_level(logging.INFO, logger="robinterp.data"):
        dataset = load_prepared(prepare_cifar10_folder(root, tmp_path / "out", workers=2))
    assert dataset.classes == CIFAR_CLASSES
    assert dataset.image_shape == (3, 32, 32)
    manifest = read_json(tmp_path / "out" / MANIFEST_FILE)
    checked_pngs = 0
    for split, per_class in tree.items():
        expected = [(path, label, pixels) for label, cls in enumerate(CIFAR_CLASSES) for path, pixels in per_class[cls]]
        assert dataset[split].labels.tolist() == [label for _, label, _ in expected]
        assert manifest["files"][split] == [[f"image_folder/{path.relative_to(root).as_posix()}", label]
                                            for path, label, _ in expected]
        for stored, (path, _, pixels) in zip(dataset[split].images, expected):
            if pixels is None:  # JPEG: the pixels Pillow decodes, as torchvision's ImageFolder loader gives them
                np.testing.assert_array_equal(stored, np.asarray(Image.open(path).convert("RGB")))
            else:  # PNG (RGB, grayscale, RGBA): exactly the pixels that were written
                np.testing.assert_array_equal(stored, pixels)
                checked_pngs += 1
    assert checked_pngs == 10 * (3 + 1)  # per class: 3 PNGs in train, 1 in test
    assert dataset.meta["class_counts"] == {"train": [5] * 10, "test": [2] * 10}
    provenance = dataset.meta["provenance"]
    assert provenance["source"] == "cifar10_folder" and provenance["matches_official_counts"] is False
    assert provenance["files_found"]["test"] == dict.fromkeys(CIFAR_CLASSES, 2)
    assert provenance["roots"] == {"image_folder": str(root.resolve())}
    assert "prepared CIFAR-10 train: 50 images (airplane 5, automobile 5," in caplog.text
    assert "does not hold the official 5,000 train / 1,000 test images per class" in caplog.text


def test_folder_source_through_the_prepare_command(folder, tmp_path):
    root, _ = folder
    settings = {"source": "cifar10_folder", "root": str(root), "workers": 1}
    assert main(["prepare", "--settings", json.dumps(settings), "--out", str(tmp_path / "out")]) == 0
    assert load_prepared(tmp_path / "out").meta["splits"] == {"train": 50, "test": 20}


def test_folder_source_refuses_the_archives_keys(tmp_path, caplog):
    settings = {"source": "cifar10_folder", "archive": "raw/cifar-10-python.tar.gz"}
    assert main(["prepare", "--settings", json.dumps(settings), "--out", str(tmp_path / "out"),
                 "--where", "datasets.cifar10.prepare"]) == 1
    assert "datasets.cifar10.prepare: Additional properties are not allowed ('archive' was unexpected)" in caplog.text
    caplog.clear()
    assert main(["prepare", "--settings", json.dumps({"source": "cifar10_folder"}), "--out", str(tmp_path / "out"),
                 "--where", "datasets.cifar10.prepare"]) == 1
    assert "datasets.cifar10.prepare: 'root' is a required property" in caplog.text
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("rename, expected", [
    ({"automobile": "automobil"}, "'automobil' is not a CIFAR-10 class: rename it to 'automobile'"),
    ({"airplane": "Airplane"}, "'Airplane' is not a CIFAR-10 class: rename it to 'airplane'"),
    ({"truck": None}, "'truck' is missing: add"),
    ({"unicorn": "unicorn"}, "'unicorn' is not a CIFAR-10 class: remove it"),
])
def test_folder_with_a_wrong_class_names_it_and_the_fix(folder, tmp_path, rename, expected):
    root, _ = folder
    for old, new in rename.items():
        if new is None:
            for path in (root / "test" / old).iterdir():
                path.unlink()
            (root / "test" / old).rmdir()
        elif old == new:
            (root / "test" / new).mkdir()
        else:
            (root / "test" / old).rename(root / "test" / new)
    with pytest.raises(DataError, match="must be CIFAR-10's ten classes") as excinfo:
        prepare_cifar10_folder(root, tmp_path / "out")
    assert str(root / "test") in str(excinfo.value) and expected in str(excinfo.value)
    assert not (tmp_path / "out").exists()


def test_folder_image_of_another_size_is_named_not_resized(folder, tmp_path):
    root, tree = folder
    small = tree["train"]["frog"][2][0]
    Image.fromarray(np.zeros((28, 28, 3), dtype=np.uint8)).save(small)
    with pytest.raises(DataError, match="is 28×28 pixels; CIFAR-10 images are 32×32") as excinfo:
        prepare_cifar10_folder(root, tmp_path / "out", max_corrupt=5, workers=2)
    assert str(small) in str(excinfo.value)
    assert not (tmp_path / "out" / "meta.json").exists()


def test_folder_corrupt_image_is_named_or_skipped_when_tolerated(folder, tmp_path):
    root, tree = folder
    bad = tree["test"]["ship"][1][0]  # a JPEG
    truncate_file(bad)
    with pytest.raises(DataError, match="max_corrupt") as excinfo:
        prepare_cifar10_folder(root, tmp_path / "strict")
    assert str(bad) in str(excinfo.value)
    assert not (tmp_path / "strict" / "meta.json").exists()

    dataset = load_prepared(prepare_cifar10_folder(root, tmp_path / "tolerant", max_corrupt=1))
    assert dataset.meta["class_counts"]["test"] == [2] * 8 + [1, 2]
    skipped = read_json(tmp_path / "tolerant" / MANIFEST_FILE)["skipped_corrupt"]
    assert [entry["path"] for entry in skipped] == ["image_folder/test/ship/0001.jpg"]


def test_folder_missing_split_or_empty_class_is_named(folder, tmp_path):
    root, tree = folder
    for path, _ in tree["test"]["cat"]:
        path.unlink()
    (root / "test" / "cat" / "notes.txt").write_text("not an image")
    with pytest.raises(DataError, match="holds no images") as excinfo:
        prepare_cifar10_folder(root, tmp_path / "out")
    assert str(root / "test" / "cat") in str(excinfo.value)
    with pytest.raises(DataError, match="does not exist") as excinfo:
        prepare_cifar10_folder(tmp_path / "elsewhere", tmp_path / "out")
    assert str(tmp_path / "elsewhere" / "train") in str(excinfo.value)
