"""AutoAttack (Croce & Hein 2020), the field's reference robustness evaluation, through ``torchattacks``."""

from __future__ import annotations

import torch
import torch.nn as nn

from robinterp.models.running import model_mode

AUTOATTACK_VERSIONS = ("standard", "plus", "rand")
# torchattacks spells the norms "Linf" and "L2".
_TORCHATTACKS_NORMS = {"linf": "Linf", "l2": "L2"}


def n_outputs(model: nn.Module, x: torch.Tensor) -> int:
    with torch.no_grad(), model_mode(model, False):
        return int(model(x[:1]).shape[1])


def autoattack(model: nn.Module, x: torch.Tensor, y: torch.Tensor, norm: str, eps: float, n_classes: int,
               version: str = "standard", seed: int = 0, square_queries: int | None = None) -> torch.Tensor:
    """AutoAttack (Croce & Hein 2020) through ``torchattacks.AutoAttack``.

    What ``torchattacks`` (3.5) runs, each attack only on the images all earlier ones
    failed to flip (``torchattacks.MultiAttack``), every one with one restart:

    - ``"standard"``: APGD-CE, APGD-T (targeted DLR loss, the ``n_classes − 1`` other
      classes as targets), FAB-T (multi-targeted, ``n_classes − 1`` targets), Square (5,000
      queries). These are the attacks of the reference ``auto-attack`` package and of
      RobustBench, but torchattacks gives APGD, APGD-T and FAB 10 iterations each where
      the reference uses 100 (and 9 targets for APGD-T/FAB-T), so its "standard" run is
      cheaper and can be somewhat weaker than RobustBench's.
    - ``"plus"``: APGD-CE and APGD-DLR (5 restarts), FAB (5 restarts), Square, APGD-T, FAB-T.
    - ``"rand"`` (for randomised defences): APGD-CE and APGD-DLR with 20 EOT samples each.

    torchattacks needs ``n_classes`` (it enumerates the target classes; a smaller number
    silently skips targets, a larger one fails), so it is checked against the model's
    number of outputs. It puts the model in eval mode (restored here too) and reseeds
    torch's *global* random generators with ``seed`` before each of its attacks; the
    global generator state is saved and restored around the call, so the caller's
    random stream is unchanged. It runs in float32 (no autocast: its step-size
    schedules and FAB's linearisations assume full precision).

    Args:
        model: classifier taking images in [0, 1] (torchattacks' convention too).
        x: clean images (B, C, H, W) in [0, 1], on the model's device.
        y: true labels (B,).
        norm: ``"linf"`` or ``"l2"``.
        eps: the budget ε in that norm.
        n_classes: number of classes (outputs) of the model.
        version: ``"standard"``, ``"plus"`` or ``"rand"`` (see above).
        seed: seed of the random starts of the attacks (torchattacks' ``seed``; ``None``
            there means the current time, not reproducible, so a number is required here).
        square_queries: queries of the Square attack (per restart); None: torchattacks' (and
            the reference's) 5,000. Square is the part of AutoAttack whose cost grows with the
            robust images, by far its largest on a CPU; fewer queries make it weaker, so a
            result with fewer must say so.

    Returns:
        Adversarial images, detached: for every image, the first successful attack's output,
        or the clean image where all of them failed.
    """
    import torchattacks

    if norm not in _TORCHATTACKS_NORMS:
        raise ValueError(f"norm: unknown norm {norm!r}; use 'l2' or 'linf'")
    if version not in AUTOATTACK_VERSIONS:
        raise ValueError(f"version: unknown AutoAttack version {version!r}; use one of {AUTOATTACK_VERSIONS}")
    outputs = n_outputs(model, x)
    if n_classes != outputs:
        raise ValueError(f"n_classes: the model has {outputs} outputs, got n_classes={n_classes}")
    cuda = [x.device.index if x.device.index is not None else torch.cuda.current_device()] \
        if x.device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda), model_mode(model, False):
        attack = torchattacks.AutoAttack(model, norm=_TORCHATTACKS_NORMS[norm], eps=eps, version=version,
                                         n_classes=n_classes, seed=seed)
        if square_queries is not None:
            if square_queries < 1:
                raise ValueError(f"square_queries: must be >= 1, got {square_queries}")
            squares = [a for a in attack._autoattack.attacks if isinstance(a, torchattacks.Square)]
            for square in squares:
                square.n_queries = int(square_queries)
        adv = attack(x.detach(), y.detach())
    return adv.detach()
