"""Build small fake datasets in the official on-disk formats, for tests.

Nothing here is downloaded: the files are written in the same layout and
encoding as the real ones (CIFAR-10 python tarball, ILSVRC folder tree,
ImageNetV2 "top-images" tree) so the readers are tested on real formats.
"""

from __future__ import annotations

import io
import pickle
import tarfile
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
from PIL import Image

CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def _add_bytes(tar: tarfile.TarFile, name: str, payload: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(payload)
    tar.addfile(info, io.BytesIO(payload))


def make_cifar10_archive(path: Path, n_per_batch: int = 20, n_test: int = 20, seed: int = 0,
                         skip_members: Iterable[str] = ()) -> dict[str, np.ndarray | list[str]]:
    """Write a ``cifar-10-python.tar.gz`` in the official format with random images.

    Five ``data_batch_*`` of ``n_per_batch`` images, a ``test_batch`` of
    ``n_test``, and ``batches.meta``; each a protocol-2 pickle with bytes
    keys, data uint8 (N, 3072) in CHW order. ``skip_members``: batch names
    to leave out (to make a broken archive). Returns what was written, in
    the prepared layout: ``train_images``/``test_images`` (N, 32, 32, 3),
    ``train_labels``/``test_labels`` and ``classes``.
    """
    rng = np.random.default_rng(seed)
    skip = set(skip_members)
    written: dict[str, list] = {"train_images": [], "train_labels": [], "test_images": [], "test_labels": []}
    batches = [(f"data_batch_{i}", "train", n_per_batch) for i in range(1, 6)] + [("test_batch", "test", n_test)]
    with tarfile.open(path, "w:gz") as tar:
        for name, split, count in batches:
            images_hwc = rng.integers(0, 256, size=(count, 32, 32, 3), dtype=np.uint8)
            labels = rng.integers(0, 10, size=count).tolist()
            written[f"{split}_images"].append(images_hwc)
            written[f"{split}_labels"].append(np.asarray(labels, dtype=np.int64))
            if name in skip:
                continue
            batch = {b"batch_label": name.encode(), b"labels": labels,
                     b"data": images_hwc.transpose(0, 3, 1, 2).reshape(count, 3072),
                     b"filenames": [f"img_{i}.png".encode() for i in range(count)]}
            _add_bytes(tar, f"cifar-10-batches-py/{name}", pickle.dumps(batch, protocol=2))
        if "batches.meta" not in skip:
            meta = {b"label_names": [c.encode() for c in CIFAR_CLASSES], b"num_cases_per_batch": n_per_batch,
                    b"num_vis": 3072}
            _add_bytes(tar, "cifar-10-batches-py/batches.meta", pickle.dumps(meta, protocol=2))
        _add_bytes(tar, "cifar-10-batches-py/readme.html", b"<html>fake</html>")
    result: dict[str, np.ndarray | list[str]] = {k: np.concatenate(v) for k, v in written.items()}
    result["classes"] = list(CIFAR_CLASSES)
    return result


def truncate_file(path: Path, keep_fraction: float = 0.5) -> None:
    """Cut ``path`` to ``keep_fraction`` of its bytes, as an interrupted copy would."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep_fraction)])


def write_random_jpeg(path: Path, rng: np.random.Generator, mode: str = "RGB", size=(40, 30)) -> None:
    """Write a small JPEG of random blocky colours (``mode``: "RGB", "L" or "CMYK"; ``size``: (w, h))."""
    blocks = rng.integers(0, 256, size=(size[1] // 5 + 1, size[0] // 5 + 1, 3), dtype=np.uint8)
    pixels = np.kron(blocks, np.ones((5, 5, 1), dtype=np.uint8))[: size[1], : size[0]]
    path.parent.mkdir(parents=True, exist_ok=True)
    # Blocky images survive JPEG with high quality, so they are also long enough to truncate meaningfully.
    Image.fromarray(pixels).convert(mode).save(path, format="JPEG", quality=95)


def _image_mode(index: int) -> str:
    # ImageNet mixes grayscale and CMYK JPEGs among the RGB ones; so does the fake.
    return {3: "L", 7: "CMYK"}.get(index % 8, "RGB")


def make_fake_ilsvrc(root: Path, wnids: list[str], n_train: int | Mapping[str, int], n_val: int | Mapping[str, int],
                     flat_val: bool = False, corrupt: Iterable[str] = (), seed: int = 0) -> dict:
    """Write an ILSVRC-style tree: ``train/<wnid>/<wnid>_<i>.JPEG`` and val images.

    ``n_train`` / ``n_val``: images per class (an int, or a dict per wnid).
    ``flat_val``: put val images directly in ``val/`` (named
    ``ILSVRC2012_val_<8 digits>.JPEG``) and write the ground truth as both
    ``LOC_val_solution.csv`` (Kaggle) and ``val_labels.txt`` (``<file> <wnid>``)
    in ``root``; otherwise ``val/<wnid>/``. ``corrupt``: paths relative to
    ``root`` to truncate after writing. Returns ``{"train": {wnid: [paths]},
    "val": {wnid: [paths]}, "csv": path, "txt": path}``.
    """
    rng = np.random.default_rng(seed)

    def per_class(count: int | Mapping[str, int], wnid: str) -> int:
        return count[wnid] if isinstance(count, Mapping) else count

    tree: dict = {"train": {}, "val": {}}
    for wnid in wnids:
        tree["train"][wnid] = [root / "train" / wnid / f"{wnid}_{i}.JPEG" for i in range(per_class(n_train, wnid))]
    val_number = 0
    csv_rows, txt_rows = ["ImageId,PredictionString"], []
    for wnid in wnids:
        tree["val"][wnid] = []
        for _ in range(per_class(n_val, wnid)):
            val_number += 1
            name = f"ILSVRC2012_val_{val_number:08d}"
            tree["val"][wnid].append(root / "val" / (f"{name}.JPEG" if flat_val else f"{wnid}/{name}.JPEG"))
            csv_rows.append(f"{name},{wnid} 1 2 30 25 {wnid} 3 4 20 20 ")
            txt_rows.append(f"{name}.JPEG {wnid}")
    for index, path in enumerate(p for split in tree.values() for paths in split.values() for p in paths):
        write_random_jpeg(path, rng, _image_mode(index))
    (root / "val").mkdir(parents=True, exist_ok=True)
    for relative in corrupt:
        truncate_file(root / relative)
    tree["csv"], tree["txt"] = root / "LOC_val_solution.csv", root / "val_labels.txt"
    if flat_val:
        tree["csv"].write_text("\n".join(csv_rows) + "\n")
        tree["txt"].write_text("\n".join(txt_rows) + "\n")
    return tree


def make_fake_imagenetv2(root: Path, n_classes_total: int, n_per_class: int, seed: int = 1) -> dict[int, list[Path]]:
    """Write an ImageNetV2 "top-images" tree: ``<k>/<hash-like name>.jpeg`` for k = 0..n_classes_total-1."""
    rng = np.random.default_rng(seed)
    tree = {}
    for k in range(n_classes_total):
        tree[k] = [root / str(k) / f"{rng.integers(1 << 40):010x}.jpeg" for _ in range(n_per_class)]
        for index, path in enumerate(tree[k]):
            write_random_jpeg(path, rng, _image_mode(index + k), size=(30, 40))
    return tree


def make_image_folder(root: Path, classes: list[str], counts: Mapping[str, int], seed: int = 2) -> dict:
    """Write an ImageFolder tree ``root/<split>/<class>/<i>.jpg`` with ``counts[split]`` images per class."""
    rng = np.random.default_rng(seed)
    tree: dict = {}
    for split, count in counts.items():
        tree[split] = {cls: [root / split / cls / f"{i}.jpg" for i in range(count)] for cls in classes}
        for cls in classes:
            for index, path in enumerate(tree[split][cls]):
                write_random_jpeg(path, rng, _image_mode(index))
    return tree


def write_cifar_image(path: Path, rng: np.random.Generator, kind: str, side: int = 32) -> np.ndarray | None:
    """Write one random ``side``×``side`` image at ``path`` and return the RGB pixels an exact decoder must give.

    ``kind``: "rgb_png", "gray_png" (mode L: gray copied to R, G, B), "rgba_png" (alpha dropped, as
    ``convert("RGB")`` drops it) or "jpeg" (lossy: returns None, the caller compares with Pillow's decode).
    """
    pixels = rng.integers(0, 256, size=(side, side, 4), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "rgb_png":
        Image.fromarray(pixels[..., :3]).save(path, format="PNG")
        return pixels[..., :3]
    if kind == "gray_png":
        Image.fromarray(pixels[..., 0]).save(path, format="PNG")
        return np.repeat(pixels[..., :1], 3, axis=2)
    if kind == "rgba_png":
        Image.fromarray(pixels).save(path, format="PNG")
        return pixels[..., :3]
    if kind == "jpeg":
        Image.fromarray(pixels[..., :3]).save(path, format="JPEG", quality=90)
        return None
    raise ValueError(f"unknown kind {kind!r}")


CIFAR_FOLDER_KINDS = (("rgb_png", ".png"), ("jpeg", ".jpg"), ("gray_png", ".png"), ("rgba_png", ".png"),
                      ("jpeg", ".jpeg"))


def make_cifar10_folder(root: Path, counts: Mapping[str, int], classes: Iterable[str] = CIFAR_CLASSES,
                        seed: int = 3) -> dict:
    """Write a CIFAR-10 image folder ``root/<split>/<class>/<k>.<suffix>`` with ``counts[split]`` images per class.

    The k-th image of a class is written as ``CIFAR_FOLDER_KINDS[k % 5]`` (RGB PNG, JPEG .jpg, grayscale PNG,
    RGBA PNG, JPEG .jpeg). Names are zero-padded so name order is k order. Returns ``{split: {class: [(path,
    pixels)]}}`` with the RGB pixels of each PNG (None for JPEGs).
    """
    rng = np.random.default_rng(seed)
    tree: dict = {}
    for split, count in counts.items():
        tree[split] = {}
        for cls in classes:
            entries = []
            for k in range(count):
                kind, suffix = CIFAR_FOLDER_KINDS[k % len(CIFAR_FOLDER_KINDS)]
                path = root / split / cls / f"{k:04d}{suffix}"
                entries.append((path, write_cifar_image(path, rng, kind)))
            tree[split][cls] = entries
    return tree
