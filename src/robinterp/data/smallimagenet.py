"""Small ImageNet 150: built from ILSVRC + ImageNetV2, or imported from an ImageFolder copy.

Both routes write the prepared format (splits ``train`` and ``test``, uint8
N×S×S×3) and a ``manifest.json`` listing every source file written, the
files skipped as corrupt and the counts (:mod:`robinterp.data.image_files`).
Images are decoded as torchvision's ``ImageFolder`` decodes them
(``Image.open(f).convert("RGB")``: ImageNet's grayscale and CMYK JPEGs become
RGB, a PNG named ``.JPEG`` is read as a PNG, the EXIF orientation is
ignored); then they are resized and cropped exactly as torchvision's
``Resize(S)`` + ``CenterCrop(S)`` do (the shorter side to S with Pillow's
antialiased bilinear filter, the centre S×S square kept): the usual ImageNet
evaluation crop, which keeps the aspect ratio and loses the borders of the
longer side rather than distorting the object. Models trained here and models
imported from torchvision pipelines see the same pixels.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Mapping
from functools import partial
from pathlib import Path

import numpy as np
from PIL import Image

from robinterp.base.errors import DataError
from robinterp.base.io import read_json
from robinterp.data.image_files import list_images, open_rgb, prepare_image_files, source_name

logger = logging.getLogger("robinterp.data")

RESIZE_METHOD = ("RGB; torchvision Resize(image_size) + CenterCrop(image_size): shorter side to image_size "
                 "(PIL bilinear, antialiased), centre crop image_size x image_size")


def load_resized(path: Path, image_size: int) -> np.ndarray:
    """Decode the image at ``path`` and return it as uint8 ``image_size``×``image_size``×3 RGB.

    ``path``: an image file; decoded by :func:`robinterp.data.image_files.open_rgb`
    (torchvision ``ImageFolder``'s loader: grayscale and CMYK become RGB, a
    PNG under a ``.JPEG`` name is read as the PNG it is, the EXIF orientation
    is ignored). ``image_size``: side of the output. Resizing: see the
    module docstring.
    """
    rgb = open_rgb(path)
    width, height = rgb.size
    # torchvision's Resize(S) + CenterCrop(S) exactly: the longer side truncated, the crop offset rounded.
    short, long = sorted((width, height))
    new_long = int(image_size * long / short)
    new_size = (image_size, new_long) if width <= height else (new_long, image_size)
    rgb = rgb.resize(new_size, Image.Resampling.BILINEAR)
    left, top = int(round((new_size[0] - image_size) / 2.0)), int(round((new_size[1] - image_size) / 2.0))
    return np.asarray(rgb.crop((left, top, left + image_size, top + image_size)), dtype=np.uint8)


def _decode_and_write(out_dir: Path, classes: list[str], split_files: Mapping[str, list[tuple[Path, int]]],
                      sources: Mapping[str, list[str]], summary: dict, *, image_size: int,
                      max_corrupt: int, workers: int | None) -> Path:
    """Decode and resize every split and write it with its manifest (:func:`~robinterp.data.image_files.prepare_image_files`)."""
    return prepare_image_files(out_dir, "smallimagenet", classes, split_files, sources,
                               {**summary, "image_size": image_size, "resize": RESIZE_METHOD},
                               load=partial(load_resized, image_size=image_size),
                               image_shape=(image_size, image_size, 3), max_corrupt=max_corrupt, workers=workers)


def _draw(rng: np.random.Generator, pool: list[Path], count: int, what: str) -> list[Path]:
    """Draw ``count`` of ``pool`` without replacement (kept in pool order); ``what`` names the pool in errors."""
    if len(pool) < count:
        raise DataError(f"{what} holds {len(pool)} images, {count} are needed")
    if len(pool) == count:
        return list(pool)
    return [pool[i] for i in sorted(rng.choice(len(pool), size=count, replace=False))]


def read_val_labels(labels_file: Path) -> dict[str, str]:
    """Map ILSVRC val image names (without extension) to synset ids.

    Accepts Kaggle's ``LOC_val_solution.csv`` (header ``ImageId,PredictionString``,
    the prediction string starting with the wnid) or a text file of
    ``<filename> <wnid>`` lines.
    """
    if not labels_file.is_file():
        raise DataError(f"val labels file {labels_file} does not exist")
    lines = labels_file.read_text().splitlines()
    labels = {}
    if lines and lines[0].startswith("ImageId"):
        for row_number, row in enumerate(csv.DictReader(lines), start=2):
            words = (row.get("PredictionString") or "").split()
            if not row.get("ImageId") or not words:
                raise DataError(f"{labels_file}:{row_number}: expected 'ImageId,PredictionString' with a wnid")
            labels[Path(row["ImageId"]).stem] = words[0]
        return labels
    for line_number, line in enumerate(lines, start=1):
        words = line.split()
        if not words:
            continue
        if len(words) != 2:
            raise DataError(f"{labels_file}:{line_number}: expected '<filename> <wnid>', got {line!r}")
        labels[Path(words[0]).stem] = words[1]
    return labels


def _val_pools(val_dir: Path, val_labels: Path | None) -> tuple[dict[str, list[Path]], str]:
    """Val images per wnid (sorted) and a description of the layout, from synset folders or a flat folder."""
    if not val_dir.is_dir():
        raise DataError(f"ILSVRC val folder {val_dir} does not exist")
    synset_dirs = sorted(p for p in val_dir.iterdir() if p.is_dir())
    if synset_dirs:
        if val_labels is not None:
            logger.warning("%s has synset folders; ignoring val labels file %s", val_dir, val_labels)
        return {d.name: list_images(d) for d in synset_dirs}, "synset folders"
    if val_labels is None:
        raise DataError(f"{val_dir} holds val images without synset folders: pass the ground truth as val_labels "
                        "(Kaggle LOC_val_solution.csv, or a text file of '<filename> <wnid>' lines)")
    labels = read_val_labels(Path(val_labels))
    pools: dict[str, list[Path]] = {}
    unlabelled = []
    for path in list_images(val_dir):
        wnid = labels.get(path.stem)
        if wnid is None:
            unlabelled.append(path.name)
        else:
            pools.setdefault(wnid, []).append(path)
    if unlabelled:
        raise DataError(f"{len(unlabelled)} images in {val_dir} have no label in {val_labels} "
                        f"(first: {', '.join(unlabelled[:5])}); is it the right labels file?")
    return pools, f"flat, labels from {Path(val_labels).name}"


def build_small_imagenet(ilsvrc_root: str | Path, imagenetv2_root: str | Path, out_dir: str | Path, *,
                         num_classes: int = 150, train_per_class: int = 600, val_per_class: int = 50,
                         v2_per_class: int = 10, image_size: int = 128, seed: int = 0, max_corrupt: int = 0,
                         val_labels: str | Path | None = None, workers: int | None = None) -> Path:
    """Draw the Small ImageNet subset from local ILSVRC and ImageNetV2 trees; return ``meta.json``'s path.

    ``ilsvrc_root``: folder with ``train/<wnid>/*.JPEG`` and ``val/`` (synset
    folders, or flat with ``val_labels``: ``LOC_val_solution.csv`` or
    ``<filename> <wnid>`` lines). ``imagenetv2_root``: ImageNetV2 "top-images"
    folder, ``<k>/*.jpeg`` with k the index of the wnid among the sorted
    train synsets. ``out_dir``: prepared dataset folder (also gets
    ``manifest.json``). ``num_classes`` classes are drawn with
    ``numpy.random.default_rng(seed)``, then per class ``train_per_class``
    train and ``val_per_class`` val images; test = those val images plus
    ``v2_per_class`` ImageNetV2 images. ``image_size``: output side.
    ``max_corrupt``: how many undecodable images may be skipped (recorded
    in the manifest) before it is an error. ``workers``: decoding threads.
    """
    ilsvrc_root, imagenetv2_root, out_dir = Path(ilsvrc_root), Path(imagenetv2_root), Path(out_dir)
    train_dir = ilsvrc_root / "train"
    if not train_dir.is_dir():
        raise DataError(f"ILSVRC train folder {train_dir} does not exist (expected train/<wnid>/*.JPEG)")
    all_wnids = sorted(p.name for p in train_dir.iterdir() if p.is_dir())
    if len(all_wnids) != 1000:
        logger.warning("%s holds %d synsets, not 1000: ImageNetV2 folder k is read as the k-th of these",
                       train_dir, len(all_wnids))
    if len(all_wnids) < num_classes:
        raise DataError(f"{train_dir} holds {len(all_wnids)} synset folders, {num_classes} classes are to be drawn")
    val_pools, val_layout = _val_pools(ilsvrc_root / "val", Path(val_labels) if val_labels else None)

    roots = {"ilsvrc": ilsvrc_root, "imagenetv2": imagenetv2_root}
    rng = np.random.default_rng(seed)
    class_indices = sorted(int(i) for i in rng.choice(len(all_wnids), size=num_classes, replace=False))
    wnids = [all_wnids[i] for i in class_indices]
    split_files: dict[str, list[tuple[Path, int]]] = {"train": [], "test": []}
    sources: dict[str, list[str]] = {"train": [], "test": []}
    for label, (wnid, ilsvrc_index) in enumerate(zip(wnids, class_indices)):
        v2_dir = imagenetv2_root / str(ilsvrc_index)
        if not v2_dir.is_dir():
            raise DataError(f"ImageNetV2 folder {v2_dir} (class {ilsvrc_index}, {wnid}) does not exist")
        draws = {
            "train": [("ilsvrc", p) for p in _draw(rng, list_images(train_dir / wnid), train_per_class,
                                                   str(train_dir / wnid))],
            "test": [("ilsvrc", p) for p in _draw(rng, val_pools.get(wnid, []), val_per_class,
                                                  f"{ilsvrc_root / 'val'} (class {wnid}, {val_layout})")]
                    + [("imagenetv2", p) for p in _draw(rng, list_images(v2_dir), v2_per_class, str(v2_dir))],
        }
        for split_name, drawn in draws.items():
            split_files[split_name] += [(path, label) for _, path in drawn]
            sources[split_name] += [source_name(key, roots[key], path) for key, path in drawn]

    summary = {
        "source": "build", "seed": seed, "wnids": wnids, "ilsvrc_class_indices": class_indices,
        "per_class": {"train": train_per_class, "val": val_per_class, "imagenetv2": v2_per_class},
        "roots": {key: str(path.resolve()) for key, path in roots.items()},
        "val_layout": val_layout,
    }
    logger.info("Small ImageNet: %d classes drawn with seed %d; decoding the %d train / %d test images drawn "
                "(only these are read: an unreadable file elsewhere in the trees is not noticed)",
                num_classes, seed, len(split_files["train"]), len(split_files["test"]))
    return _decode_and_write(out_dir, wnids, split_files, sources, summary,
                             image_size=image_size, max_corrupt=max_corrupt, workers=workers)


def import_image_folder(root: str | Path, out_dir: str | Path, *, image_size: int = 128,
                        labels_json: str | Path | None = None, expected_classes: int = 150,
                        expected_counts: Mapping[str, int] | None = None, max_corrupt: int = 0,
                        workers: int | None = None) -> Path:
    """Import an ImageFolder copy of the subset (``root/train/<class>/*``, ``root/test/<class>/*``).

    Class order = sorted folder names of ``root/train``; ``root/test`` must
    have the same folders. ``labels_json``: optional JSON object mapping
    folder names to readable names (stored in the provenance).
    ``expected_classes`` / ``expected_counts`` ({"train": n, "test": m}):
    checked before decoding. ``image_size``, ``max_corrupt``, ``workers``:
    as for :func:`build_small_imagenet`. Returns ``meta.json``'s path.
    """
    root, out_dir = Path(root), Path(out_dir)
    split_dirs = {name: root / name for name in ("train", "test")}
    for split_dir in split_dirs.values():
        if not split_dir.is_dir():
            raise DataError(f"{split_dir} does not exist (expected {root}/train/<class>/* and {root}/test/<class>/*)")
    classes = sorted(p.name for p in split_dirs["train"].iterdir() if p.is_dir())
    test_classes = sorted(p.name for p in split_dirs["test"].iterdir() if p.is_dir())
    if test_classes != classes:
        raise DataError(f"{root}: train and test class folders differ "
                        f"(only in train: {sorted(set(classes) - set(test_classes))[:5]}, "
                        f"only in test: {sorted(set(test_classes) - set(classes))[:5]})")
    if len(classes) != expected_classes:
        raise DataError(f"{root} holds {len(classes)} classes, expected {expected_classes}")
    split_files = {name: [(path, label) for label, cls in enumerate(classes) for path in list_images(d / cls)]
                   for name, d in split_dirs.items()}
    for name, expected in (expected_counts or {}).items():
        if len(split_files.get(name, [])) != expected:
            raise DataError(f"{root}/{name} holds {len(split_files.get(name, []))} images, expected {expected}")
    sources = {name: [source_name("image_folder", root, path) for path, _ in files]
               for name, files in split_files.items()}

    summary = {"source": "image_folder", "roots": {"image_folder": str(root.resolve())}}
    if labels_json is not None:
        try:
            names = read_json(labels_json)
        except (OSError, ValueError) as exc:
            raise DataError(f"cannot read labels JSON {labels_json}: {exc}") from exc
        if not isinstance(names, dict):
            raise DataError(f"{labels_json} must hold a JSON object mapping class folder names to names")
        missing = [cls for cls in classes if cls not in names]
        if missing:
            logger.warning("%s has no name for %d classes (first: %s)", labels_json, len(missing), missing[0])
        summary.update(labels_json=str(labels_json), class_names={cls: names.get(cls) for cls in classes})
    return _decode_and_write(out_dir, classes, split_files, sources, summary,
                             image_size=image_size, max_corrupt=max_corrupt, workers=workers)
