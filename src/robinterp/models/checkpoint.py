"""Model files: the final weights of a classifier with the arguments that rebuild it.

A trained model's spec is :func:`~robinterp.models.architectures.model_spec`'s; an imported network's
(:mod:`robinterp.models.imported`) names its source and architecture instead, and loads the same way.
"""

from __future__ import annotations

from pathlib import Path

import torch

from robinterp.base.errors import CheckpointError
from robinterp.base.io import save_torch
from robinterp.models.architectures import Classifier, build_model
from robinterp.models.imported import build_imported, is_imported_spec


def save_model(path: str | Path, model: Classifier, spec: dict, extra: dict | None = None) -> None:
    """Save final weights with their :func:`~robinterp.models.architectures.model_spec` (atomically).

    Identical weights, spec and ``extra`` give identical bytes (:func:`robinterp.base.io.save_torch`).
    """
    save_torch(path, {"spec": spec, "state_dict": model.state_dict(), **(extra or {})})


def load_model(path: str | Path, expected_spec: dict | None = None, map_location: str | torch.device = "cpu") -> Classifier:
    """Load a model saved by :func:`save_model`.

    Args:
        path: the checkpoint file.
        expected_spec: if given, the stored spec's architecture and class count
            must match; otherwise a :class:`CheckpointError` names the file and
            both specs (e.g. a CIFAR checkpoint offered to the ImageNet model).
            An imported network's file is checked for its classes and channels
            only: its architecture is its source's, not the dataset's ``model``.
        map_location: where to load the tensors.
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint {path} does not exist; run the training rule that makes it")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises several types for truncated or foreign files
        raise CheckpointError(f"cannot read checkpoint {path} ({exc}); delete it and re-run training") from exc
    spec = payload.get("spec") if isinstance(payload, dict) else None
    if spec is None or "state_dict" not in payload:
        raise CheckpointError(f"{path} is not a robinterp model checkpoint (no 'spec'/'state_dict')")
    if expected_spec is not None:
        keys = ("num_classes", "in_channels") if is_imported_spec(spec) else ("arch", "num_classes", "in_channels")
        if any(spec.get(k) != expected_spec.get(k) for k in keys):
            found = {k: spec.get(k) for k in keys}
            wanted = {k: expected_spec.get(k) for k in keys}
            raise CheckpointError(f"checkpoint {path} holds {found} but the config asks for {wanted}; "
                                  "delete the checkpoint to retrain, or fix the dataset's model settings")
    model = build_imported(spec) if is_imported_spec(spec) else build_model(**spec)
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as exc:
        raise CheckpointError(f"checkpoint {path} does not fit architecture {spec['arch']!r}: {exc}") from exc
    return model
