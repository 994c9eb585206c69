"""``import-model``: a network from a model zoo (RobustBench, MadryLab, torchvision, timm) as a model file of ours."""

from __future__ import annotations

from pathlib import Path

from robinterp.cli.arguments import add_settings, set_threads


def register(add) -> None:
    sp = add("import-model", cmd_import_model, "write a pretrained network as a model file (no training)")
    sp.add_argument("--data", required=True, help="prepared dataset folder or its meta.json (its classes and size)")
    add_settings(sp, "method's pretrained", "pretrained")
    sp.add_argument("--threads", type=int, default=None, help="torch's intra-op threads (default: torch's)")
    sp.add_argument("--out", required=True, type=Path, help="the model file, where train would write it")
    sp.add_argument("--record", type=Path, default=None, help="JSON of what was imported (source, sha256, classes)")


def cmd_import_model(args) -> None:
    from robinterp.base.config import settings_from_json
    from robinterp.models.job import import_model
    from robinterp.models.settings import PretrainedSettings

    settings = settings_from_json(PretrainedSettings, args.settings, "--settings", args.where)
    set_threads(args.threads)
    import_model(args.data, settings, where=args.where, out=args.out, record=args.record)
