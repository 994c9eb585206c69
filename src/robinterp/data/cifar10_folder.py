"""CIFAR-10 from an image-folder tree into the prepared format.

Many copies of CIFAR-10 are folders of image files rather than the official
archive (:mod:`robinterp.data.cifar10`)::

    <root>/train/<class>/*.png|jpg|jpeg
    <root>/test/<class>/*.png|jpg|jpeg

with ``<class>`` one of CIFAR-10's ten class names. Labels are the class's
index in the official archive (``batches.meta``): airplane 0, automobile 1,
bird 2, cat 3, deer 4, dog 5, frog 6, horse 7, ship 8, truck 9 (alphabetical,
so also torchvision ``ImageFolder``'s indices). Within a class the images are
stored in name order, as ``ImageFolder`` lists them. Each image is decoded as
``ImageFolder`` decodes it (:func:`robinterp.data.image_files.open_rgb`) and
must be 32×32: CIFAR-10 is never resized here, so an image of another size
is an error naming it. A copy held as JPEG is stored with its JPEG pixels,
which differ from the archive's; only a PNG copy reproduces the archive.
"""

from __future__ import annotations

import difflib
import logging
from pathlib import Path

import numpy as np

from robinterp.base.errors import DataError
from robinterp.base.io import read_json
from robinterp.data.cifar10 import CLASSES, IMAGE_SIDE, OFFICIAL_COUNTS
from robinterp.data.image_files import list_images, open_rgb, prepare_image_files, source_name

logger = logging.getLogger("robinterp.data")

SPLITS = ("train", "test")
ROOT_KEY = "image_folder"


def load_cifar_image(path: Path) -> np.ndarray:
    """Decode the image at ``path`` as ``ImageFolder`` does; return its uint8 32×32×3 RGB pixels.

    ``path``: an image file. Raises ``DataError`` naming ``path`` when the
    image is not 32×32 (it is not resized), and Pillow's error when it
    cannot be decoded.
    """
    rgb = open_rgb(path)
    if rgb.size != (IMAGE_SIDE, IMAGE_SIDE):
        width, height = rgb.size
        raise DataError(f"{path} is {width}×{height} pixels; CIFAR-10 images are {IMAGE_SIDE}×{IMAGE_SIDE} and "
                        "are not resized: replace it with the 32×32 original, or remove it")
    return np.asarray(rgb, dtype=np.uint8)


def check_class_folders(split_dir: Path) -> None:
    """Raise ``DataError`` unless the folders in ``split_dir`` are exactly CIFAR-10's ten class names.

    ``split_dir``: ``<root>/train`` or ``<root>/test``. The message names
    each missing and each unexpected folder, and for a misspelt one the
    class it should be renamed to.
    """
    present = sorted(p.name for p in split_dir.iterdir() if p.is_dir())
    missing = [c for c in CLASSES if c not in present]
    unexpected = [name for name in present if name not in CLASSES]
    if not missing and not unexpected:
        return
    problems, renamed = [], set()
    for name in unexpected:
        close = difflib.get_close_matches(name.lower(), [c for c in missing if c not in renamed], n=1, cutoff=0.6)
        if close:
            renamed.add(close[0])
            problems.append(f"'{name}' is not a CIFAR-10 class: rename it to '{close[0]}'")
        else:
            problems.append(f"'{name}' is not a CIFAR-10 class: remove it")
    problems += [f"'{name}' is missing: add {split_dir / name}/ with its images" for name in missing
                 if name not in renamed]
    raise DataError(f"{split_dir}: the class folders must be CIFAR-10's ten classes ({', '.join(CLASSES)}); "
                    + "; ".join(problems))


def _class_files(class_dir: Path) -> list[Path]:
    """The images of one class folder (sorted); warn about other entries, refuse an empty folder."""
    images = list_images(class_dir)
    if not images:
        raise DataError(f"{class_dir} holds no images (.png, .jpg or .jpeg): put the class's images there")
    listed = set(images)
    ignored = sorted(p.name for p in class_dir.iterdir() if p not in listed)
    if ignored:
        logger.warning("%s: ignoring %d entries that are not image files (first: %s)",
                       class_dir, len(ignored), ignored[0])
    return images


def prepare_cifar10_folder(root: str | Path, out_dir: str | Path, *, max_corrupt: int = 0,
                           workers: int | None = None) -> Path:
    """Turn a CIFAR-10 image-folder tree into a prepared dataset; return its ``meta.json`` path.

    Args:
        root: folder holding ``train/<class>/*`` and ``test/<class>/*`` (see
            the module docstring); class folders are checked against
            CIFAR-10's names before anything is decoded.
        out_dir: folder of the prepared dataset (``train``/``test`` splits,
            uint8 N×32×32×3, labels in the archive's class order) and its
            ``manifest.json`` (the file behind every stored image).
        max_corrupt: how many undecodable images may be skipped (named in
            the log and the manifest) before it is an error naming them.
        workers: decoding threads (``None``: Python's default).

    Counts per split and class are logged, stored in ``meta.json``
    (``class_counts``) and compared with the official 5,000 train and 1,000
    test images per class (a warning when they differ; the provenance
    records whether they match).
    """
    root, out_dir = Path(root), Path(out_dir)
    split_files: dict[str, list[tuple[Path, int]]] = {}
    found: dict[str, dict[str, int]] = {}
    for split_name in SPLITS:
        split_dir = root / split_name
        if not split_dir.is_dir():
            raise DataError(f"{split_dir} does not exist: a CIFAR-10 image folder holds {root}/train/<class>/*.png "
                            f"and {root}/test/<class>/*.png (.jpg and .jpeg too), <class> one of {', '.join(CLASSES)}")
        check_class_folders(split_dir)
        per_class = {cls: _class_files(split_dir / cls) for cls in CLASSES}
        found[split_name] = {cls: len(paths) for cls, paths in per_class.items()}
        split_files[split_name] = [(path, label) for label, cls in enumerate(CLASSES) for path in per_class[cls]]
    official = {split_name: OFFICIAL_COUNTS[split_name] // len(CLASSES) for split_name in SPLITS}
    matches_official = all(n == official[split_name] for split_name in SPLITS for n in found[split_name].values())
    if not matches_official:
        logger.warning("%s does not hold the official %s images per class; preparing what it holds", root,
                       " / ".join(f"{official[s]:,} {s}" for s in SPLITS))
    sources = {split_name: [source_name(ROOT_KEY, root, path) for path, _ in files]
               for split_name, files in split_files.items()}
    summary = {"source": "cifar10_folder", "roots": {ROOT_KEY: str(root.resolve())}, "files_found": found,
               "official_counts_per_class": official, "matches_official_counts": matches_official,
               "layout": "train/<class>/*, test/<class>/*; labels in the archive's class order; "
                         "images in name order within a class; 32x32, not resized"}
    logger.info("CIFAR-10 image folder %s: decoding %s images", root,
                " and ".join(f"{len(files)} {name}" for name, files in split_files.items()))
    meta_path = prepare_image_files(out_dir, "cifar10", list(CLASSES), split_files, sources, summary,
                                    load=load_cifar_image, image_shape=(IMAGE_SIDE, IMAGE_SIDE, 3),
                                    max_corrupt=max_corrupt, workers=workers)
    class_counts = read_json(meta_path)["class_counts"]
    for split_name in SPLITS:
        logger.info("prepared CIFAR-10 %s: %d images (%s)", split_name, sum(class_counts[split_name]),
                    ", ".join(f"{cls} {n}" for cls, n in zip(CLASSES, class_counts[split_name])))
    return meta_path
