"""What the commands share: argument groups, ``NAME=PATH`` pairs, the device, and loading a model job's inputs."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

from robinterp.base.errors import RobinterpError


def add_settings(sp: argparse.ArgumentParser, section: str, where: str) -> None:
    """``--settings`` (the JSON of a config section) and ``--where`` (its config path, for error messages)."""
    sp.add_argument("--settings", required=True, help=f"JSON of the dataset's {section} section")
    sp.add_argument("--where", default=where, help="config path of the settings, for error messages")


def add_compute(sp: argparse.ArgumentParser) -> None:
    """``--device`` and ``--threads`` of a job that computes with a model."""
    sp.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda or cuda:N")
    sp.add_argument("--threads", type=int, default=None, help="torch's intra-op threads (default: torch's)")


def add_model_job(sp: argparse.ArgumentParser) -> None:
    """The inputs of a job that runs one trained model on a prepared dataset."""
    sp.add_argument("--data", required=True, help="prepared dataset folder or its meta.json")
    sp.add_argument("--model", required=True, help="model file written by train")
    sp.add_argument("--model-settings", required=True, help="JSON: arch, mean, std (checked against the file)")
    add_compute(sp)


def add_outputs(sp: argparse.ArgumentParser, help_: str = "files to write (.png and/or .pdf)") -> None:
    """``--out`` taking several files: a figure's PNG and PDF."""
    sp.add_argument("--out", nargs="+", required=True, help=help_)


def pairs(items: list[str], what: str) -> dict[str, str]:
    """Parse ``name=path`` arguments (their order kept)."""
    out = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep:
            raise RobinterpError(f"{what} must be NAME=PATH, got {item!r}")
        out[name] = path
    return out


def replicate_pairs(items: list[str], what: str) -> dict[str, list[str]]:
    """Parse ``name=path`` arguments in which a name repeats once per replicate: name → its paths, in order.

    The workflow lists a model's replicates in order (replicate 0 first), so the first path of a name is
    replicate 0's; names keep the order of their first appearance.
    """
    out: dict[str, list[str]] = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep:
            raise RobinterpError(f"{what} must be NAME=PATH, got {item!r}")
        out.setdefault(name, []).append(path)
    return out


def device(name: str):
    """The torch device a job runs on: ``auto`` is CUDA where available, else the CPU."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RobinterpError(f"device {name!r} requested but CUDA is not available; set device: auto or cpu")
    return torch.device(name)


def set_threads(threads: int | None) -> None:
    """Use ``threads`` intra-op threads in torch (the job's CPUs); leave torch's default when not given."""
    if threads:
        import torch

        torch.set_num_threads(threads)


def model_settings(text: str) -> dict:
    """The dataset's ``model`` section given as ``--model-settings``, checked against the schema."""
    from robinterp.base.config import parse_json_argument, validate_section

    settings = parse_json_argument(text, "--model-settings")
    validate_section(settings, "model", "model")
    return settings


def load_classifier(path, model_settings_json: str, data, device_: Any):
    """The model file at ``path``, checked against the config's model settings and the dataset, in eval mode."""
    from robinterp.models.checkpoint import load_model

    model_cfg = model_settings(model_settings_json)
    expected = {"arch": model_cfg["arch"], "num_classes": data.num_classes, "in_channels": data.image_shape[0]}
    return load_model(path, expected_spec=expected).to(device_).eval()


@dataclass
class ModelJob:
    """The loaded inputs of a job that runs one model: the prepared dataset, the model (eval mode), the device."""

    data: Any
    model: Any
    device: Any


def load_model_job(args: argparse.Namespace) -> ModelJob:
    """Set the job's threads, load its dataset and its model on its device (arguments of :func:`add_model_job`)."""
    from robinterp.data.store import load_prepared

    set_threads(args.threads)
    data = load_prepared(args.data)
    device_ = device(args.device)
    return ModelJob(data, load_classifier(args.model, args.model_settings, data, device_), device_)


def add_run_settings(sp: argparse.ArgumentParser) -> None:
    """``--run-settings``: the JSON of the run's settings that decide comparability with the paper's numbers."""
    sp.add_argument("--run-settings", default=None,
                    help="JSON: arch, epochs and attack per model, evaluation attacks, generation, inversion, "
                         "features (robinterp.base.paper.PAPER_SETTINGS's shape); without it no number is "
                         "called like-for-like with the paper's")


def run_settings(args: argparse.Namespace) -> dict | None:
    """The parsed ``--run-settings``, or None."""
    from robinterp.base.config import parse_json_argument

    return None if args.run_settings is None else parse_json_argument(args.run_settings, "--run-settings")
