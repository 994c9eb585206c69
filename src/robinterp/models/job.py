"""The import job: a network from a model zoo written as a model file of ours, checked against its source."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from robinterp.base.errors import CheckpointError
from robinterp.base.io import write_json
from robinterp.data.batches import to_device_batch
from robinterp.data.store import load_prepared
from robinterp.models.checkpoint import save_model
from robinterp.models.imported import choose_trunk, imported_spec, wrap_network
from robinterp.models.settings import PretrainedSettings
from robinterp.models.zoo import file_sha256, load_network, network_classes, source_class_index

log = logging.getLogger(__name__)

#: Test images on which the written model must give the source network's logits.
PROBE_IMAGES = 8


def import_model(data_path: str | Path, settings: PretrainedSettings, *, where: str, out: str | Path,
                 record: str | Path | None = None) -> dict:
    """Write the network ``settings`` names as a model file at ``out``, for the prepared dataset at ``data_path``.

    The model takes the dataset's images in [0, 1] (resized to ``settings.input_size`` inside it), normalises
    them as the network expects and outputs the logits of the dataset's classes
    (:class:`robinterp.models.imported.ImportedClassifier`); its file holds the spec that rebuilds it
    (:func:`robinterp.models.imported.imported_spec`) and, under ``"imported"``, what was imported: the source,
    its file(s) with their SHA-256, the class restriction and the resizing. Before writing, the model's logits on
    the first :data:`PROBE_IMAGES` test images are checked against the network's own (on the same resized and
    normalised images, restricted to the dataset's classes).

    Args:
        data_path: the prepared dataset (folder or its meta.json).
        settings: the method's ``pretrained`` section.
        where: the section's config path, named in errors.
        out: the model file to write.
        record: where to write the ``"imported"`` metadata as JSON too (for the report); None: nowhere.

    Returns:
        The ``"imported"`` metadata.

    Raises:
        CheckpointError: a missing or foreign file, or a model that does not reproduce the network's logits;
            ConfigError: an unknown architecture, or classes the network cannot be mapped to.
    """
    data = load_prepared(data_path)
    in_channels, height, width = data.image_shape
    source_classes = network_classes(settings, data.num_classes)
    meta_path = Path(data_path) if Path(data_path).suffix == ".json" else Path(data_path) / "meta.json"
    class_index = source_class_index(settings.class_kind, data.classes, source_classes, where=str(meta_path),
                                     provenance=data.meta.get("provenance"))
    loaded = load_network(settings, source_classes, in_channels, where)
    if len(loaded.mean) != in_channels:
        if loaded.mean == [0.0] * 3 and loaded.std == [1.0] * 3:  # a network that normalises itself
            loaded.mean, loaded.std = [0.0] * in_channels, [1.0] * in_channels
        else:
            raise CheckpointError(f"{where}: the network normalises {len(loaded.mean)} channels, the images of "
                                  f"{meta_path} have {in_channels}")
    probe = _probe_images(data, PROBE_IMAGES)
    spec_args = dict(source_options=loaded.options, source_classes=loaded.num_classes, class_index=class_index,
                     input_size=settings.input_size, num_classes=data.num_classes, in_channels=in_channels,
                     mean=loaded.mean, std=loaded.std)
    with torch.no_grad():
        resized_probe = _resize(probe, settings.input_size)
        normalised = (resized_probe - torch.tensor(loaded.mean).view(1, -1, 1, 1)) / torch.tensor(
            loaded.std).view(1, -1, 1, 1)
        try:
            reference = loaded.net(normalised)
        except RuntimeError as exc:  # e.g. a 3-channel network on 1-channel images
            raise CheckpointError(f"{where}: {loaded.arch} cannot run on the images of {meta_path} "
                                  f"({in_channels}×{height}×{width}, resized to {settings.input_size}): "
                                  f"{' '.join(str(exc).split())[:300]}") from exc
        if reference.shape[1] != loaded.num_classes:
            raise CheckpointError(f"{where}: the network has {reference.shape[1]} outputs, {loaded.num_classes} "
                                  "were expected")
        trunk = choose_trunk(loaded.net, normalised)
        spec = imported_spec(loaded.source, loaded.arch, trunk=trunk, **spec_args)
        model = wrap_network(loaded.net, trunk, class_index=class_index, mean=loaded.mean, std=loaded.std,
                             input_size=settings.input_size)
        logits = model(probe)
    expected = reference if class_index is None else reference[:, class_index]
    error = float((logits - expected).abs().max())
    scale = float(expected.abs().max()) or 1.0
    if error > 1e-4 * scale + 1e-5:
        raise CheckpointError(f"{where}: the imported model's logits differ from the network's by {error:.3g} "
                              f"(largest logit {scale:.3g}) on {len(probe)} test images; the penultimate layer "
                              f"found ({trunk}) does not reproduce {loaded.arch}")
    imported = {
        "source": loaded.source, "arch": loaded.arch, "options": loaded.options,
        "files": [{"path": str(f), "sha256": file_sha256(f)} for f in loaded.files],
        "source_classes": loaded.num_classes,
        "class_restriction": None if class_index is None else {
            "by": "wnid", "network_outputs": loaded.num_classes, "kept": len(class_index), "index": class_index},
        "input_size": settings.input_size, "dataset_image_size": [height, width],
        "resize": None if settings.input_size is None or (height, width) == (settings.input_size,) * 2 else
        f"bilinear, antialiased, {height}×{width} → {settings.input_size}×{settings.input_size}, inside the model",
        "normalisation": {"mean": loaded.mean, "std": loaded.std},
        "representation": trunk, "probe_max_abs_logit_difference": error, **loaded.details,
    }
    save_model(out, model, spec, extra={"imported": imported})
    if record is not None:
        write_json(record, imported)
    for f in imported["files"]:
        log.info("imported %s %s from %s (sha256 %s)", loaded.source, loaded.arch, f["path"], f["sha256"])
    log.info("classes: %s", "all %d outputs of the network, in order" % loaded.num_classes if class_index is None
             else f"{len(class_index)} of the network's {loaded.num_classes} outputs, mapped by wnid "
                  f"({class_index[:5]} …)")
    log.info("resizing: %s; normalisation mean %s std %s; R(x): %s", imported["resize"] or "none", loaded.mean,
             loaded.std, trunk)
    log.info("logits checked on %d test images (largest difference %.3g); wrote %s", len(probe), error, out)
    return imported


def _probe_images(data, n: int) -> torch.Tensor:
    test = data["test"]
    return to_device_batch(np.array(test.images[:min(n, len(test))]), torch.device("cpu"))


def _resize(x: torch.Tensor, size: int | None) -> torch.Tensor:
    if size is None or tuple(x.shape[-2:]) == (size, size):
        return x
    return torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", align_corners=False,
                                           antialias=True)
