"""Write a model file of ours in the formats of the model zoos, to import it back (tests, README's round trip).

- :func:`to_madrylab`: a checkpoint of MadryLab's ``robustness`` library: ``{"model": state dict, "epoch": …}``
  with the classifier under ``module.model.``, its copy under ``module.attacker.model.`` and the input
  normalisation as ``module.normalizer.new_mean`` / ``new_std`` (and ``module.attacker.normalize.…``), shaped
  (C, 1, 1) as their ``InputNormalize`` stores them, as ``torch.nn.DataParallel`` saves an ``AttackerModel``.
- :func:`to_state_dict`: the state dict of the plain network (our classifier without its normalisation), as a
  torchvision or timm weights file holds one.

    python tests/zooformats.py MODEL.pt --madrylab OUT.pt --state-dict OUT.pt
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch


def _read(model_file: str | Path) -> tuple[dict, dict]:
    payload = torch.load(model_file, map_location="cpu", weights_only=True)
    return payload["spec"], payload["state_dict"]


def plain_state_dict(model_file: str | Path) -> tuple[dict, dict]:
    """(spec, the state dict of the network without the ``normalize.`` buffers) of a model file of ours."""
    spec, state = _read(model_file)
    return spec, {k: v for k, v in state.items() if not k.startswith("normalize.")}


def madrylab_checkpoint(state: dict, mean, std, epoch: int) -> dict:
    """A robustness-library checkpoint of a classifier with state dict ``state`` and input normalisation mean/std."""
    stats = {"new_mean": torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1),
             "new_std": torch.tensor(std, dtype=torch.float32).view(-1, 1, 1)}
    model = {f"module.normalizer.{k}": v for k, v in stats.items()}
    model.update({f"module.model.{k}": v for k, v in state.items()})
    model.update({f"module.attacker.normalize.{k}": v.clone() for k, v in stats.items()})
    model.update({f"module.attacker.model.{k}": v.clone() for k, v in state.items()})
    return {"model": model, "epoch": epoch, "optimizer": {"state": {}, "param_groups": []}, "schedule": None}


def to_madrylab(model_file: str | Path, out: str | Path, epoch: int = 0) -> dict:
    """Write our model file as a MadryLab checkpoint at ``out``; returns our spec."""
    spec, state = plain_state_dict(model_file)
    torch.save(madrylab_checkpoint(state, spec["mean"], spec["std"], epoch), out)
    return spec


def to_state_dict(model_file: str | Path, out: str | Path) -> dict:
    """Write the plain network's state dict of our model file at ``out``; returns our spec."""
    spec, state = plain_state_dict(model_file)
    torch.save(state, out)
    return spec


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model", type=Path, help="a model file of ours (train's output)")
    p.add_argument("--madrylab", type=Path, help="write a MadryLab robustness checkpoint here")
    p.add_argument("--state-dict", type=Path, help="write the plain network's state dict here")
    args = p.parse_args(argv)
    for out, export in ((args.madrylab, to_madrylab), (args.state_dict, to_state_dict)):
        if out:
            out.parent.mkdir(parents=True, exist_ok=True)
            spec = export(args.model, out)
            print(f"wrote {out} ({spec['arch']}, {spec['num_classes']} classes, mean {spec['mean']}, std {spec['std']})")


if __name__ == "__main__":
    main()
