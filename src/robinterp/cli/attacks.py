"""``evaluate`` (tables 1 and 4) and ``robustness-curves`` (Ismail et al. 2021, Figs. 2–5): accuracy under attack."""

from __future__ import annotations

from pathlib import Path

from robinterp.cli.arguments import add_model_job, add_settings, load_model_job


def register(add) -> None:
    sp = add("evaluate", cmd_evaluate, "clean and adversarial test accuracy of one model")
    add_model_job(sp)
    add_settings(sp, "evaluation", "evaluation")
    sp.add_argument("--seed", type=int, default=0, help="the config seed: the test images' order and attack starts")
    sp.add_argument("--out", required=True, type=Path, help="metrics JSON, with the evaluated images under 'images'")

    sp = add("robustness-curves", cmd_robustness_curves, "accuracy against ε under each configured attack")
    add_model_job(sp)
    add_settings(sp, "curves", "curves")
    sp.add_argument("--seed", type=int, default=0, help="the config seed: the test images' order and attack starts")
    sp.add_argument("--out", required=True, type=Path, help="JSON: {curves: attack → [{eps, accuracy}], images}")


def cmd_evaluate(args) -> None:
    from robinterp.attacks.job import evaluate
    from robinterp.attacks.settings import EvaluationSettings
    from robinterp.base.config import settings_from_json

    settings = settings_from_json(EvaluationSettings, args.settings, "--settings", args.where)
    job = load_model_job(args)
    evaluate(job.model, job.data["test"], settings, device=job.device, seed=args.seed, out=args.out)


def cmd_robustness_curves(args) -> None:
    from robinterp.attacks.job import robustness_curves
    from robinterp.attacks.settings import CurvesSettings
    from robinterp.base.config import settings_from_json

    settings = settings_from_json(CurvesSettings, args.settings, "--settings", args.where)
    job = load_model_job(args)
    robustness_curves(job.model, job.data["test"], settings, device=job.device, seed=args.seed, out=args.out)
