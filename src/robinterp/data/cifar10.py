"""CIFAR-10 from the official ``cifar-10-python.tar.gz`` into the prepared format.

The archive (the file torchvision downloads) holds ``cifar-10-batches-py/``
with ``data_batch_1`` .. ``data_batch_5`` (10,000 images each), ``test_batch``
(10,000) and ``batches.meta`` (the ten class names). Each batch is a Python-2
pickle of a dict with ``b"data"`` (uint8, N×3072, channel-major: 1024 red,
1024 green, 1024 blue values, rows top to bottom) and ``b"labels"``.

The batches are read straight from the tar (no extraction), checked, and
written as ``train`` (50,000) and ``test`` (10,000) uint8 N×32×32×3 splits.
"""

from __future__ import annotations

import hashlib
import io
import logging
import pickle
import tarfile
import zlib
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

import numpy as np

from robinterp.data.store import Split, write_prepared
from robinterp.base.errors import DataError
from robinterp.base.io import atomic_path

logger = logging.getLogger("robinterp.data")

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"
ARCHIVE_NAME = "cifar-10-python.tar.gz"
BATCH_FOLDER = "cifar-10-batches-py"
SPLIT_BATCHES = MappingProxyType({
    "train": tuple(f"data_batch_{i}" for i in range(1, 6)),
    "test": ("test_batch",),
})
META_BATCH = "batches.meta"
OFFICIAL_COUNTS = MappingProxyType({"train": 50_000, "test": 10_000})
# The label names of the archive's batches.meta, in label order (label k is CLASSES[k]; also alphabetical).
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
NUM_CLASSES = len(CLASSES)
IMAGE_SIDE = 32

# The batches are pickles; an archive whose md5 is not the official one could
# carry a pickle that runs code on load, so only numpy's array reconstruction
# (all the official files need besides builtin containers) may be resolved,
# plus the two ways Python 3 pickles store bytes (``_codecs.encode``, and
# ``bytes()`` for empty ones).
_ALLOWED_PICKLE_GLOBALS = frozenset({
    ("_codecs", "encode"), ("__builtin__", "bytes"), ("builtins", "bytes"),
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
})


class _ArrayOnlyUnpickler(pickle.Unpickler):
    """Unpickler that resolves only the numpy globals a CIFAR batch needs."""

    def find_class(self, module, name):
        if (module, name) not in _ALLOWED_PICKLE_GLOBALS:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a CIFAR batch")
        return super().find_class(module, name)


def file_md5(path: str | Path, chunk_size: int = 1 << 20) -> str:
    """Return the hex md5 digest of the file at ``path`` (read in ``chunk_size`` chunks)."""
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _missing_archive_message(archive: Path) -> str:
    return (f"CIFAR-10 archive not found: put the official {ARCHIVE_NAME} at {archive} "
            f"(download it from {CIFAR10_URL}, md5 {CIFAR10_MD5})")


def download_cifar10(archive: Path) -> None:
    """Download the official archive to ``archive`` with torchvision and check its md5.

    The download goes to a temporary file beside ``archive`` that is renamed
    only after the md5 matches, so an interrupted or corrupted download never
    sits at ``archive``. Raises ``DataError`` (naming ``archive`` and the URL)
    when the download fails, e.g. on a machine without network access.
    """
    from torchvision.datasets.utils import download_url  # heavy import, needed only here

    logger.info("downloading %s to %s", CIFAR10_URL, archive)
    with atomic_path(archive) as tmp:
        try:
            download_url(CIFAR10_URL, root=str(tmp.parent), filename=tmp.name, md5=CIFAR10_MD5)
        except Exception as exc:  # urllib, socket and torchvision's RuntimeError all mean "no usable download"
            raise DataError(f"{_missing_archive_message(archive)}; the automatic download failed: {exc}") from exc
        md5 = file_md5(tmp)
        if md5 != CIFAR10_MD5:
            raise DataError(f"downloaded {CIFAR10_URL} has md5 {md5}, expected {CIFAR10_MD5}; "
                            f"nothing was written to {archive}. {_missing_archive_message(archive)}")


def _unpickle_batch(archive: Path, member_name: str, raw: bytes) -> dict:
    try:
        batch = _ArrayOnlyUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as exc:
        raise DataError(f"{archive}: member {member_name} is not a readable CIFAR batch ({exc})") from exc
    if not isinstance(batch, dict):
        raise DataError(f"{archive}: member {member_name} holds a {type(batch).__name__}, expected a dict")
    return batch


def _read_members(archive: Path, wanted: set[str]) -> dict[str, dict]:
    """Unpickle the members of ``archive`` named in ``wanted`` (names under ``BATCH_FOLDER``).

    The tar is read once front to back (a gzip stream does not seek cheaply).
    A truncated or damaged archive raises ``DataError`` naming it.
    """
    batches: dict[str, dict] = {}
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                name = member.name.removeprefix("./")
                folder, _, base = name.rpartition("/")
                if folder != BATCH_FOLDER or base not in wanted or not member.isfile():
                    continue
                raw = tar.extractfile(member).read()
                batches[base] = _unpickle_batch(archive, name, raw)
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise DataError(f"{archive} is not a complete {ARCHIVE_NAME} (truncated or damaged: {exc}); "
                        f"delete it and get it again from {CIFAR10_URL}") from exc
    missing = sorted(wanted - set(batches))
    if missing:
        raise DataError(f"{archive} lacks {', '.join(f'{BATCH_FOLDER}/{m}' for m in missing)}; "
                        f"it is not the official {ARCHIVE_NAME} ({CIFAR10_URL})")
    return batches


def _batch_arrays(archive: Path, name: str, batch: dict) -> tuple[np.ndarray, np.ndarray]:
    """Return (images N×32×32×3 uint8, labels int64) of one unpickled batch, checked."""
    data, labels = batch.get(b"data"), batch.get(b"labels")
    if not isinstance(data, np.ndarray) or labels is None:
        raise DataError(f"{archive}: {name} has no b'data' array or no b'labels'")
    labels = np.asarray(labels, dtype=np.int64)
    pixels = IMAGE_SIDE * IMAGE_SIDE * 3
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != pixels or labels.shape != (data.shape[0],):
        raise DataError(f"{archive}: {name} has data {data.dtype} {data.shape} and {labels.size} labels; "
                        f"expected uint8 (N, {pixels}) with N labels")
    if labels.size and (labels.min() < 0 or labels.max() >= NUM_CLASSES):
        raise DataError(f"{archive}: {name} has labels outside 0..{NUM_CLASSES - 1}")
    # Rows are channel-major (CHW); the prepared format is HWC.
    images = data.reshape(-1, 3, IMAGE_SIDE, IMAGE_SIDE).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels


def read_cifar10_archive(archive: str | Path, expected_counts: Mapping[str, int] = OFFICIAL_COUNTS,
                         ) -> tuple[list[str], dict[str, Split]]:
    """Read and check a ``cifar-10-python.tar.gz``; return (class names, {"train", "test"} splits).

    ``archive``: path of the tar.gz. ``expected_counts``: number of images
    each split must hold (the official 50,000/10,000 unless a test builds a
    small archive). Any deviation (missing batch, truncated tar, wrong
    count, not ten classes) raises ``DataError`` naming the archive.
    """
    archive = Path(archive)
    wanted = {META_BATCH, *(name for names in SPLIT_BATCHES.values() for name in names)}
    batches = _read_members(archive, wanted)
    label_names = batches[META_BATCH].get(b"label_names")
    if not isinstance(label_names, list) or len(label_names) != NUM_CLASSES:
        raise DataError(f"{archive}: {META_BATCH} must list {NUM_CLASSES} b'label_names', got {label_names!r:.200}")
    classes = [n.decode() if isinstance(n, bytes) else str(n) for n in label_names]

    splits = {}
    for split_name, batch_names in SPLIT_BATCHES.items():
        parts = [_batch_arrays(archive, name, batches[name]) for name in batch_names]
        split = Split(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
        expected = expected_counts[split_name]
        if len(split) != expected:
            raise DataError(f"{archive}: split {split_name} ({', '.join(batch_names)}) holds {len(split)} images, "
                            f"expected {expected}; the archive is not the official {ARCHIVE_NAME}")
        splits[split_name] = split
    return classes, splits


def prepare_cifar10(archive: str | Path, out_dir: str | Path, download: bool = True,
                    expected_counts: Mapping[str, int] = OFFICIAL_COUNTS) -> Path:
    """Turn the official CIFAR-10 archive into a prepared dataset; return its ``meta.json`` path.

    ``archive``: where ``cifar-10-python.tar.gz`` is (or is to be downloaded
    to). ``out_dir``: folder of the prepared dataset (``train``/``test``
    splits, uint8 N×32×32×3). ``download``: fetch the archive from the
    official URL when it is missing; without it (or when the download
    fails) a ``DataError`` says where to put the file. ``expected_counts``:
    images per split the archive must hold.

    A downloaded archive must match the official md5. A local archive is
    accepted on its content (structure and counts are checked); its md5 is
    recorded in the provenance with whether it matches the official one.
    """
    archive, out_dir = Path(archive), Path(out_dir)
    downloaded = False
    if not archive.is_file():
        if not download:
            raise DataError(_missing_archive_message(archive))
        download_cifar10(archive)
        downloaded = True
    classes, splits = read_cifar10_archive(archive, expected_counts)
    md5 = file_md5(archive)
    if md5 != CIFAR10_MD5:
        logger.warning("%s has md5 %s, not the official %s; using it because its content checks out",
                       archive, md5, CIFAR10_MD5)
    provenance = {
        "source": ARCHIVE_NAME,
        "archive": str(archive.resolve()),
        "md5": md5,
        "official_md5": CIFAR10_MD5,
        "md5_matches_official": md5 == CIFAR10_MD5,
        "url": CIFAR10_URL,
        "downloaded": downloaded,
        "layout": "HWC uint8 from the archive's CHW rows, batch order data_batch_1..5 / test_batch",
    }
    meta_path = write_prepared(out_dir, "cifar10", classes, splits, provenance=provenance)
    logger.info("prepared CIFAR-10 (%s) in %s", ", ".join(f"{k} {len(v)}" for k, v in splits.items()), out_dir)
    return meta_path
