"""Small ImageNet: building from fake ILSVRC + ImageNetV2 trees, and importing an ImageFolder."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
from fakedata import make_fake_ilsvrc, make_fake_imagenetv2, make_image_folder, truncate_file
from PIL import Image, ImageOps
from torchvision.datasets.folder import pil_loader

from robinterp.data.image_files import MANIFEST_FILE, list_images, open_rgb
from robinterp.data.smallimagenet import build_small_imagenet, import_image_folder, load_resized
from robinterp.data.store import load_prepared
from robinterp.base.errors import DataError
from robinterp.base.io import read_json

WNIDS = [f"n0{i}000000" for i in (5, 1, 4, 2, 6, 3)]  # unsorted on purpose: class index = sorted position
SORTED_WNIDS = sorted(WNIDS)
SMALL = {"num_classes": 3, "train_per_class": 4, "val_per_class": 2, "v2_per_class": 2, "image_size": 16,
         "workers": 2}


@pytest.fixture(scope="module")
def trees(tmp_path_factory):
    """A fake ILSVRC tree (6 synsets, 6 train + 3 val each, val in synset folders) and ImageNetV2 (2 each)."""
    root = tmp_path_factory.mktemp("sources")
    make_fake_ilsvrc(root / "ilsvrc", WNIDS, n_train=6, n_val=3)
    make_fake_imagenetv2(root / "imagenetv2", n_classes_total=len(WNIDS), n_per_class=2)
    return root / "ilsvrc", root / "imagenetv2"


def build(trees, out_dir, **overrides):
    ilsvrc, v2 = trees
    meta_path = build_small_imagenet(ilsvrc, v2, out_dir, **{**SMALL, **overrides})
    return load_prepared(meta_path), read_json(out_dir / MANIFEST_FILE)


def test_build_counts_and_manifest(trees, tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="robinterp.data"):
        dataset, manifest = build(trees, tmp_path / "out")
    assert "only these are read" in caplog.text and "train: read 12/12 images: 12 decoded, 0 unreadable" in caplog.text
    assert dataset.classes == manifest["wnids"] == sorted(manifest["wnids"])
    assert len(dataset.classes) == 3 and set(dataset.classes) <= set(WNIDS)
    assert dataset["train"].images.shape == (12, 16, 16, 3)
    assert dataset.meta["class_counts"] == {"train": [4, 4, 4], "test": [4, 4, 4]}
    assert manifest["counts"] == {"train": 12, "test": 12}
    assert manifest["seed"] == 0 and manifest["image_size"] == 16 and manifest["skipped_corrupt"] == []
    assert dataset.meta["provenance"]["wnids"] == manifest["wnids"]

    roots = {key: Path(path) for key, path in manifest["roots"].items()}
    for label, wnid in enumerate(dataset.classes):
        train = [name for name, index in manifest["files"]["train"] if index == label]
        test = [name for name, index in manifest["files"]["test"] if index == label]
        assert len(train) == 4 and all(name.startswith(f"ilsvrc/train/{wnid}/") for name in train)
        assert sum(name.startswith(f"ilsvrc/val/{wnid}/") for name in test) == 2
        # ImageNetV2 folder k is the wnid's position among all sorted synsets, not among the drawn ones.
        assert sum(name.startswith(f"imagenetv2/{SORTED_WNIDS.index(wnid)}/") for name in test) == 2
    for split in ("train", "test"):
        for position, (name, label) in enumerate(manifest["files"][split]):
            key, relative = name.split("/", 1)
            assert (roots[key] / relative).is_file()
            assert dataset[split].labels[position] == label
    first_name = manifest["files"]["test"][-1][0].split("/", 1)
    np.testing.assert_array_equal(dataset["test"].images[-1], load_resized(roots[first_name[0]] / first_name[1], 16))


def test_same_seed_same_manifest_other_seed_other_classes(trees, tmp_path):
    _, first = build(trees, tmp_path / "a", seed=0)
    _, again = build(trees, tmp_path / "b", seed=0)
    _, other = build(trees, tmp_path / "c", seed=1)
    assert first == again
    assert first["wnids"] != other["wnids"]
    assert (tmp_path / "a" / "train_x.npy").read_bytes() == (tmp_path / "b" / "train_x.npy").read_bytes()


@pytest.mark.parametrize("labels_key", ["csv", "txt"])
def test_flat_val_with_ground_truth_file(tmp_path, labels_key):
    tree = make_fake_ilsvrc(tmp_path / "ilsvrc", WNIDS[:3], n_train=4, n_val=2, flat_val=True)
    make_fake_imagenetv2(tmp_path / "v2", n_classes_total=3, n_per_class=2)
    assert not any(p.is_dir() for p in (tmp_path / "ilsvrc" / "val").iterdir())
    dataset, manifest = build((tmp_path / "ilsvrc", tmp_path / "v2"), tmp_path / "out",
                              val_labels=tree[labels_key])
    assert dataset.meta["class_counts"]["test"] == [4, 4, 4]
    val_names = {f"ilsvrc/val/{p.name}": sorted(WNIDS[:3]).index(wnid)
                 for wnid, paths in tree["val"].items() for p in paths}
    listed = {name: label for name, label in manifest["files"]["test"] if name.startswith("ilsvrc/val/")}
    assert listed == val_names


def test_flat_val_without_labels_says_what_is_needed(tmp_path):
    make_fake_ilsvrc(tmp_path / "ilsvrc", WNIDS[:3], n_train=4, n_val=2, flat_val=True)
    make_fake_imagenetv2(tmp_path / "v2", n_classes_total=3, n_per_class=2)
    with pytest.raises(DataError, match="val_labels.*LOC_val_solution.csv"):
        build((tmp_path / "ilsvrc", tmp_path / "v2"), tmp_path / "out")


def test_corrupt_image_is_an_error_or_skipped_when_tolerated(tmp_path, caplog):
    wnids = WNIDS[:3]
    bad = f"train/{wnids[0]}/{wnids[0]}_1.JPEG"
    make_fake_ilsvrc(tmp_path / "ilsvrc", wnids, n_train=3, n_val=1, corrupt=[bad])
    make_fake_imagenetv2(tmp_path / "v2", n_classes_total=3, n_per_class=1)
    trees = (tmp_path / "ilsvrc", tmp_path / "v2")
    settings = {"num_classes": 3, "train_per_class": 3, "val_per_class": 1, "v2_per_class": 1}
    with pytest.raises(DataError, match="max_corrupt") as excinfo:
        build(trees, tmp_path / "strict", **settings)
    assert str(tmp_path / "ilsvrc" / bad) in str(excinfo.value)
    assert not (tmp_path / "strict" / "meta.json").exists()

    with caplog.at_level(logging.INFO, logger="robinterp.data"):
        dataset, manifest = build(trees, tmp_path / "tolerant", max_corrupt=1, **settings)
    assert "train: read 9/9 images: 8 decoded, 1 unreadable" in caplog.text
    assert [entry["path"] for entry in manifest["skipped_corrupt"]] == [f"ilsvrc/{bad}"]
    assert manifest["counts"] == {"train": 8, "test": 6}
    assert f"ilsvrc/{bad}" not in [name for name, _ in manifest["files"]["train"]]
    expected_train = [2 if wnid == wnids[0] else 3 for wnid in sorted(wnids)]
    assert dataset.meta["class_counts"]["train"] == expected_train


def test_class_with_too_few_images_is_named(tmp_path):
    wnids = WNIDS[:3]
    make_fake_ilsvrc(tmp_path / "ilsvrc", wnids, n_train={wnids[0]: 4, wnids[1]: 2, wnids[2]: 4}, n_val=2)
    make_fake_imagenetv2(tmp_path / "v2", n_classes_total=3, n_per_class=2)
    with pytest.raises(DataError, match="holds 2 images, 4 are needed") as excinfo:
        build((tmp_path / "ilsvrc", tmp_path / "v2"), tmp_path / "out")
    assert str(tmp_path / "ilsvrc" / "train" / wnids[1]) in str(excinfo.value)


def test_too_few_imagenetv2_images_is_named(trees, tmp_path):
    with pytest.raises(DataError, match="holds 2 images, 3 are needed") as excinfo:
        build(trees, tmp_path / "out", v2_per_class=3)
    assert str(trees[1]) in str(excinfo.value)


def test_resize_keeps_the_centre_and_makes_rgb(tmp_path):
    # Three 16-pixel-wide vertical bands: red | green | blue; the centre crop keeps green only.
    bands = np.zeros((16, 48, 3), dtype=np.uint8)
    bands[:, :16, 0] = bands[:, 16:32, 1] = bands[:, 32:, 2] = 255
    Image.fromarray(bands).save(tmp_path / "bands.png")
    np.testing.assert_array_equal(load_resized(tmp_path / "bands.png", 16), bands[:, 16:32])
    Image.fromarray(bands[..., 1]).convert("L").save(tmp_path / "gray.jpg")
    Image.fromarray(bands).convert("CMYK").save(tmp_path / "cmyk.jpg")
    assert load_resized(tmp_path / "gray.jpg", 8).shape == (8, 8, 3)
    assert load_resized(tmp_path / "cmyk.jpg", 8).shape == (8, 8, 3)


def test_import_image_folder_round_trip(tmp_path):
    classes = ["zebra_cls", "ant_cls", "moth_cls"]
    tree = make_image_folder(tmp_path / "smallimagenet", classes, {"train": 3, "test": 2})
    labels_json = tmp_path / "labels.json"
    labels_json.write_text(json.dumps({"ant_cls": "ant", "moth_cls": "moth", "zebra_cls": "zebra"}))
    meta_path = import_image_folder(tmp_path / "smallimagenet", tmp_path / "out", image_size=16, labels_json=labels_json,
                                    expected_classes=3, expected_counts={"train": 9, "test": 6}, workers=2)
    dataset = load_prepared(meta_path)
    assert dataset.classes == sorted(classes)
    assert dataset.meta["class_counts"] == {"train": [3, 3, 3], "test": [2, 2, 2]}
    assert dataset.meta["provenance"]["class_names"] == {"ant_cls": "ant", "moth_cls": "moth", "zebra_cls": "zebra"}
    manifest = read_json(tmp_path / "out" / MANIFEST_FILE)
    assert manifest["files"]["test"][0] == ["image_folder/test/ant_cls/0.jpg", 0]
    np.testing.assert_array_equal(dataset["test"].images[0], load_resized(tree["test"]["ant_cls"][0], 16))


def test_import_image_folder_checks_classes_counts_and_images(tmp_path):
    root = tmp_path / "smallimagenet"
    tree = make_image_folder(root, ["a", "b"], {"train": 2, "test": 1})
    with pytest.raises(DataError, match="holds 2 classes, expected 150") as excinfo:
        import_image_folder(root, tmp_path / "out", image_size=8)
    assert str(root) in str(excinfo.value)
    with pytest.raises(DataError, match="holds 4 images, expected 90000"):
        import_image_folder(root, tmp_path / "out", image_size=8, expected_classes=2,
                            expected_counts={"train": 90000, "test": 2})
    truncate_file(tree["test"]["b"][0])
    with pytest.raises(DataError, match="max_corrupt") as excinfo:
        import_image_folder(root, tmp_path / "out", image_size=8, expected_classes=2)
    assert str(tree["test"]["b"][0]) in str(excinfo.value)
    with pytest.raises(DataError, match="does not exist"):
        import_image_folder(tmp_path / "nothing", tmp_path / "out")


EXIF_ORIENTATION = 0x0112


def write_real_world_cases(folder: Path) -> dict[str, Path]:
    """The kinds of file real ILSVRC holds besides RGB JPEGs, each 48 wide × 16 high (so a 16-pixel output is an
    unresized centre crop): a grayscale JPEG, a CMYK JPEG, a PNG under a ``.JPEG`` name, and a JPEG whose EXIF
    orientation is 6 (display rotated 90° clockwise). Images are blocky so that JPEG keeps their colours."""
    rng = np.random.default_rng(7)
    blocks = rng.integers(0, 256, size=(2, 6, 3), dtype=np.uint8)
    rgb = np.kron(blocks, np.ones((8, 8, 1), dtype=np.uint8))  # 16 × 48
    # The middle 16×16 square (what the crop keeps): white top half, green bottom half.
    rgb[:8, 16:32] = 255
    rgb[8:, 16:32] = (0, 200, 0)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {kind: folder / f"{kind}.JPEG" for kind in ("gray", "cmyk", "png", "exif")}
    Image.fromarray(rgb).convert("L").save(paths["gray"], format="JPEG", quality=95)
    Image.fromarray(rgb).convert("CMYK").save(paths["cmyk"], format="JPEG", quality=95)
    Image.fromarray(rgb).save(paths["png"], format="PNG")
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = 6
    Image.fromarray(rgb).save(paths["exif"], format="JPEG", quality=95, exif=exif.tobytes())
    return {**paths, "pixels": rgb}


def test_real_world_files_decode_as_torchvision_imagefolder_does(tmp_path):
    cases = write_real_world_cases(tmp_path / "images")
    original = cases["pixels"]
    with Image.open(cases["png"]) as img:
        assert img.format == "PNG" and img.mode == "RGB"
    with Image.open(cases["cmyk"]) as img:
        assert img.mode == "CMYK"
    with Image.open(cases["exif"]) as img:
        assert img.getexif()[EXIF_ORIENTATION] == 6
        assert ImageOps.exif_transpose(img).size == (16, 48)  # Pillow reads the tag: it could rotate
    for kind in ("gray", "cmyk", "png", "exif"):
        path = cases[kind]
        decoded = load_resized(path, 16)
        reference = np.asarray(pil_loader(path))  # torchvision's ImageFolder loader
        assert reference.shape == (16, 48, 3), kind
        np.testing.assert_array_equal(np.asarray(open_rgb(path)), reference, err_msg=kind)
        np.testing.assert_array_equal(decoded, reference[:, 16:32], err_msg=kind)
    np.testing.assert_array_equal(load_resized(cases["png"], 16), original[:, 16:32])  # a PNG is read losslessly
    gray = load_resized(cases["gray"], 16)
    assert (gray[..., 0] == gray[..., 1]).all() and (gray[..., 1] == gray[..., 2]).all()
    # CMYK comes back in its colours (not inverted), up to JPEG's loss.
    assert np.abs(load_resized(cases["cmyk"], 16).astype(int) - original[:, 16:32]).mean() < 8
    # The EXIF image is stored as its pixels lie in the file: white on top, not (rotated) on the right.
    exif = load_resized(cases["exif"], 16).astype(int)
    assert exif[:8].mean() > 230 and exif[8:, :, 1].mean() > 180 and exif[8:, :, 0].mean() < 40
    assert exif[:, 8:, 0].mean() < 150  # rotated, the right half would be white
    rotated = np.asarray(ImageOps.exif_transpose(Image.open(cases["exif"])).convert("RGB"))[16:32]
    assert np.abs(exif - rotated).mean() > 50


def test_real_world_files_go_through_the_import_unchanged(tmp_path):
    root = tmp_path / "folder"
    cases = write_real_world_cases(root / "train" / "a")
    write_real_world_cases(root / "test" / "a")
    assert [p.name for p in list_images(root / "train" / "a")] == ["cmyk.JPEG", "exif.JPEG", "gray.JPEG", "png.JPEG"]
    dataset = load_prepared(import_image_folder(root, tmp_path / "out", image_size=16, expected_classes=1, workers=2))
    for stored, kind in zip(dataset["train"].images, ("cmyk", "exif", "gray", "png")):
        np.testing.assert_array_equal(stored, np.asarray(pil_loader(cases[kind]))[:, 16:32], err_msg=kind)


@pytest.mark.parametrize("size", [(300, 200), (200, 300), (333, 129), (129, 333), (128, 128), (257, 255), (64, 90)])
def test_resize_equals_torchvision_resize_and_center_crop(tmp_path, size):
    """Pixel for pixel what torchvision's evaluation transform gives, for odd sizes, both orientations and upsizing."""
    from torchvision import transforms

    rng = np.random.default_rng(sum(size))
    path = tmp_path / "x.png"
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(path)
    expected = transforms.Compose([transforms.Resize(128), transforms.CenterCrop(128)])(Image.open(path).convert("RGB"))
    np.testing.assert_array_equal(load_resized(path, 128), np.asarray(expected))
