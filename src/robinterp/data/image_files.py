"""Image files → prepared arrays: the one decoder of every image-folder source.

Every source that reads image files (Small ImageNet 150 built from ILSVRC and
ImageNetV2 or imported from an ImageFolder copy, CIFAR-10 from an image-folder
tree) decodes them here, on a thread pool, and writes the prepared format and
a ``manifest.json`` that lists, per split, the file behind every stored image.

Images are decoded as torchvision's ``ImageFolder`` loader decodes them
(``torchvision.datasets.folder.pil_loader``: ``PIL.Image.open(f).convert("RGB")``),
so a model trained here and one trained with torchvision on the same files see
the same pixels: grayscale, palette and CMYK images become RGB through Pillow's
conversions, PNGs and JPEGs are told apart by their content, not their suffix,
and an EXIF orientation tag is ignored (the stored pixels are not rotated).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import numpy as np
from PIL import Image

from robinterp.base.errors import DataError
from robinterp.base.io import write_json
from robinterp.data.store import Split, write_prepared

logger = logging.getLogger("robinterp.data")

IMAGE_SUFFIXES = frozenset({".jpeg", ".jpg", ".png", ".bmp", ".webp"})
MANIFEST_FILE = "manifest.json"
PROGRESS_EVERY = 5000
MAX_LISTED_FAILURES = 20
DECODE_METHOD = ("PIL.Image.open(path).convert('RGB'), as torchvision's ImageFolder loader: "
                 "format from the content, EXIF orientation ignored, grayscale/CMYK/palette converted to RGB")
# Pillow signals undecodable input with all of these (SyntaxError and
# ValueError for some malformed headers, OSError for truncated data).
DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError)

ImageLoader = Callable[[Path], np.ndarray]


def list_images(folder: Path) -> list[Path]:
    """Image files directly in ``folder`` (by suffix, any case), sorted by name.

    ``folder``: the folder to list. Sorted by name as torchvision's
    ``ImageFolder`` sorts them, so position k here is sample k of a class there.
    """
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def open_rgb(path: Path) -> Image.Image:
    """Decode the image at ``path`` completely and return it as an RGB ``PIL.Image``.

    ``path``: an image file in any format Pillow reads. This is torchvision's
    ``ImageFolder`` loader (``Image.open(f).convert("RGB")``), with the file
    decoded by ``load()`` first so that a truncated file raises here rather
    than yielding a half-grey picture. The EXIF orientation is not applied.
    """
    with Image.open(path) as img:
        img.load()
        return img.convert("RGB")


def _try_load(load: ImageLoader, path: Path) -> np.ndarray | str:
    try:
        return load(path)
    except DECODE_ERRORS as exc:
        return f"{type(exc).__name__}: {exc}"


def decode_images(files: Sequence[tuple[Path, int]], load: ImageLoader, image_shape: tuple[int, int, int],
                  workers: int | None, description: str) -> tuple[Split, list[int], list[tuple[int, str]]]:
    """Decode ``files`` with ``load`` on a thread pool; skip the undecodable ones.

    Args:
        files: (path, class index) pairs, in the order the split is to have.
        load: returns the uint8 H×W×C pixels of a path (e.g. :func:`open_rgb`
            then a resize or a size check). A Pillow decoding error marks the
            file unreadable; any other exception (e.g. a ``DataError`` for an
            image of the wrong size) stops the whole decode and is raised.
        image_shape: (H, W, C) that ``load`` returns.
        workers: threads (``None``: the executor's default); Pillow releases
            the GIL while decoding, so threads scale.
        description: names the split in progress logs.

    Returns:
        The split of the images that decoded, the positions in ``files`` of
        those images, and (position, error) for each file that did not decode.
    """
    images = np.empty((len(files), *image_shape), dtype=np.uint8)
    labels = np.empty(len(files), dtype=np.int64)
    kept: list[int] = []
    failed: list[tuple[int, str]] = []
    pool = ThreadPoolExecutor(max_workers=workers)
    try:
        results = pool.map(partial(_try_load, load), (path for path, _ in files))
        for position, ((path, label), result) in enumerate(zip(files, results)):
            if isinstance(result, str):
                failed.append((position, result))
            else:
                # Fill from the front so skipping a file never needs a second copy of the array.
                images[len(kept)], labels[len(kept)] = result, label
                kept.append(position)
            if (position + 1) % PROGRESS_EVERY == 0 or position + 1 == len(files):
                logger.info("%s: read %d/%d images: %d decoded, %d unreadable", description, position + 1,
                            len(files), len(kept), len(failed))
    finally:
        # On an error, do not decode the rest of the split before reporting it.
        pool.shutdown(wait=True, cancel_futures=True)
    return Split(images[:len(kept)], labels[:len(kept)]), kept, failed


def check_corrupt(failures: Sequence[tuple[str, str]], max_corrupt: int) -> None:
    """Raise ``DataError`` listing the unreadable files if there are more than ``max_corrupt``.

    ``failures``: (path, error) pairs. ``max_corrupt``: how many may be
    skipped; those are logged as warnings instead.
    """
    if len(failures) <= max_corrupt:
        for path, error in failures:
            logger.warning("skipping unreadable image %s (%s)", path, error)
        return
    listed = "\n".join(f"  {path}: {error}" for path, error in failures[:MAX_LISTED_FAILURES])
    more = f"\n  ... and {len(failures) - MAX_LISTED_FAILURES} more" if len(failures) > MAX_LISTED_FAILURES else ""
    raise DataError(f"{len(failures)} images cannot be decoded (max_corrupt={max_corrupt}):\n{listed}{more}\n"
                    "Replace these files, or raise max_corrupt to skip them (they are recorded in the manifest).")


def source_name(root_key: str, root: Path, path: Path) -> str:
    """Name of ``path`` in the manifest: ``<root_key>/<path relative to root>`` (the roots are listed there)."""
    return f"{root_key}/{path.relative_to(root).as_posix()}"


def prepare_image_files(out_dir: Path, name: str, classes: list[str], split_files: Mapping[str, list[tuple[Path, int]]],
                        sources: Mapping[str, list[str]], summary: dict, *, load: ImageLoader,
                        image_shape: tuple[int, int, int], max_corrupt: int, workers: int | None) -> Path:
    """Decode every split, check the corrupt count, write ``manifest.json`` then the prepared arrays.

    Args:
        out_dir: the prepared dataset's folder.
        name: the dataset's name in ``meta.json``.
        classes: class names; labels index this list.
        split_files: per split, (path, class index) pairs in stored order.
        sources: per split, the name each file has in the manifest
            (:func:`source_name`).
        summary: what the source records (roots, seed, ...); it goes into
            both the manifest and the provenance in ``meta.json`` with the
            classes, the decoding, the counts and the skipped files added. The
            per-file lists go only into the manifest (99,000 entries would
            bloat ``meta.json``).
        load, image_shape, workers: as for :func:`decode_images`.
        max_corrupt: how many undecodable images may be skipped (and listed
            in the manifest) before it is an error naming them.

    Returns:
        The path of ``meta.json``. Nothing is written when an image fails.
    """
    decoded, written, skipped, failures = {}, {}, [], []
    for split_name, files in split_files.items():
        split, kept, failed = decode_images(files, load, image_shape, workers, split_name)
        decoded[split_name] = split
        written[split_name] = [[sources[split_name][i], files[i][1]] for i in kept]
        failures += [(str(files[i][0]), error) for i, error in failed]
        skipped += [{"split": split_name, "path": sources[split_name][i], "error": error} for i, error in failed]
    check_corrupt(failures, max_corrupt)
    summary = {**summary, "decode": DECODE_METHOD, "classes": classes,
               "counts": {split_name: len(split) for split_name, split in decoded.items()}, "skipped_corrupt": skipped}
    write_json(out_dir / MANIFEST_FILE, {**summary, "files": written})
    return write_prepared(out_dir, name, classes, decoded, provenance={**summary, "manifest": MANIFEST_FILE})
