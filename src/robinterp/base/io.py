"""File input and output of every stage: atomic writes, JSON, array archives, torch files.

Every output is written to a temporary name in the same folder and renamed, so a
reader (or Snakemake) never sees a half-written file: either the old file, no
file, or the complete new one.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator, Mapping

from robinterp.base.errors import RobinterpError


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    The temporary file keeps ``path``'s suffix so libraries that infer the
    format from the extension (numpy, matplotlib) still do the right thing.
    On an exception the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp creates the file readable by its owner only; give it the permissions of a
        # normally created file, so that collaborators on a shared cluster can read results.
        os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _umask() -> int:
    mask = os.umask(0)  # the only portable way to read it is to set it
    os.umask(mask)
    return mask


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    with open(path) as f:
        return json.load(f)


def save_arrays(path: str | os.PathLike, arrays: Mapping[str, Any]) -> None:
    """Write named arrays to a compressed ``.npz`` archive atomically."""
    import numpy as np

    with atomic_path(path) as tmp:
        np.savez_compressed(tmp, **arrays)


def load_arrays(path: str | os.PathLike) -> dict:
    """All arrays of an ``.npz`` archive, read into memory; a missing file names the rule to run."""
    import numpy as np

    if not Path(path).exists():
        raise RobinterpError(f"{path} does not exist; run the workflow rule that makes it")
    with np.load(path) as f:
        return {k: f[k] for k in f.files}


def save_torch(path: str | os.PathLike, obj: Any) -> None:
    """``torch.save`` of ``obj`` to ``path``, atomically, with bytes that depend on ``obj`` alone.

    ``torch.save`` to a file names the archive's top folder after the file, so the
    temporary name of an atomic write would end up inside it; serialising to memory
    first gives the archive a fixed name, and identical objects identical files.
    """
    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getvalue())
