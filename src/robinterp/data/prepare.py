"""Dispatch a dataset's ``prepare`` config section to the reader of its source."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from robinterp.base.errors import ConfigError


def prepare_dataset(settings: Mapping[str, Any], out_dir: str | Path, where: str = "prepare") -> Path:
    """Prepare one dataset into ``out_dir``; returns the path of its ``meta.json``.

    ``settings["source"]`` picks the reader; the other keys are its arguments:

    - ``demo_digits``: ``test_size``, ``seed`` → :func:`robinterp.data.demo.prepare_demo_digits`
    - ``cifar10``: ``archive``, ``download`` → :func:`robinterp.data.cifar10.prepare_cifar10`
    - ``cifar10_folder``: ``root``, ``max_corrupt``, ``workers`` →
      :func:`robinterp.data.cifar10_folder.prepare_cifar10_folder`
    - ``mnist``: ``root``, ``download`` → :func:`robinterp.data.mnist.prepare_mnist`
    - ``smallimagenet_build``: → :func:`robinterp.data.smallimagenet.build_small_imagenet`
    - ``smallimagenet_import``: → :func:`robinterp.data.smallimagenet.import_image_folder`
    """
    settings = dict(settings)
    source = settings.pop("source", None)
    if source == "demo_digits":
        from robinterp.data.demo import prepare_demo_digits as reader
    elif source == "cifar10":
        from robinterp.data.cifar10 import prepare_cifar10 as reader
    elif source == "cifar10_folder":
        from robinterp.data.cifar10_folder import prepare_cifar10_folder as reader
    elif source == "mnist":
        from robinterp.data.mnist import prepare_mnist as reader
    elif source == "smallimagenet_build":
        from robinterp.data.smallimagenet import build_small_imagenet as reader
    elif source == "smallimagenet_import":
        from robinterp.data.smallimagenet import import_image_folder as reader
    else:
        raise ConfigError(f"{where}.source is {source!r}; use one of demo_digits, cifar10, cifar10_folder, mnist, "
                          "smallimagenet_build, smallimagenet_import")
    try:
        return Path(reader(out_dir=Path(out_dir), **settings))
    except TypeError as exc:  # an unknown or missing keyword from the config
        raise ConfigError(f"{where} (source {source}): {exc}") from exc
