"""MNIST's IDX files: parsed, checked and prepared, on small files in the official format made here."""

import gzip

import numpy as np
import pytest

from robinterp.data.mnist import prepare_mnist, read_idx
from robinterp.data.prepare import prepare_dataset
from robinterp.data.store import load_prepared
from robinterp.base.errors import DataError

COUNTS = {"train": 12, "test": 5}


def write_idx(path, array, compress):
    magic = 2051 if array.ndim == 3 else 2049
    header = magic.to_bytes(4, "big") + b"".join(n.to_bytes(4, "big") for n in array.shape)
    payload = header + array.astype(np.uint8).tobytes()
    if compress:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(payload))
    else:
        path.write_bytes(payload)
    return path


def make_mnist(folder, rng, compress=True):
    folder.mkdir(parents=True, exist_ok=True)
    data = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        images = rng.integers(0, 256, (COUNTS[split], 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, COUNTS[split], dtype=np.uint8)
        write_idx(folder / f"{prefix}-images-idx3-ubyte", images, compress)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte", labels, compress)
        data[split] = (images, labels)
    return data


@pytest.mark.parametrize("compress", [True, False], ids=["gz", "plain"])
def test_prepared_mnist_holds_the_files_images_and_labels(tmp_path, compress):
    data = make_mnist(tmp_path / "raw" / "MNIST" / "raw", np.random.default_rng(0), compress)
    meta = prepare_mnist(tmp_path / "raw", tmp_path / "out", download=False, expected_counts=COUNTS)
    prepared = load_prepared(meta)
    assert prepared.classes == [str(d) for d in range(10)] and prepared.image_shape == (1, 28, 28)
    for split, (images, labels) in data.items():
        assert np.array_equal(prepared[split].images[..., 0], images)
        assert np.array_equal(prepared[split].labels, labels)


def test_missing_files_name_the_folder_and_the_fix(tmp_path):
    make_mnist(tmp_path / "MNIST" / "raw", np.random.default_rng(0))
    (tmp_path / "MNIST" / "raw" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte.*MNIST/raw.*download: true"):
        prepare_dataset({"source": "mnist", "root": str(tmp_path), "download": False}, tmp_path / "out")


def test_truncated_or_foreign_files_are_refused(tmp_path):
    array = np.zeros((3, 28, 28), dtype=np.uint8)
    good = write_idx(tmp_path / "images", array, compress=False)
    assert read_idx(good).shape == (3, 28, 28)
    good.write_bytes(good.read_bytes()[:-10])
    with pytest.raises(DataError, match="truncated"):
        read_idx(good)
    (tmp_path / "foreign").write_bytes((1234).to_bytes(4, "big") + bytes(8))
    with pytest.raises(DataError, match="magic number 1234"):
        read_idx(tmp_path / "foreign")


def test_counts_are_checked(tmp_path):
    make_mnist(tmp_path, np.random.default_rng(1))
    with pytest.raises(DataError, match="expected 60000"):
        prepare_mnist(tmp_path, tmp_path / "out", download=False)  # the official counts by default
    assert load_prepared(prepare_mnist(tmp_path, tmp_path / "out", download=False, expected_counts=COUNTS)).name \
        == "mnist"  # files directly in root are found too
