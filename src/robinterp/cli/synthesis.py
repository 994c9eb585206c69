"""Synthesis commands: class seeds, generation, inversion, feature visualisation, their metrics (tables 2/3, 5/6)
and figures (Figs. 3–5, 7–9, 11, 12, 14, 15, 18, 19)."""

from __future__ import annotations

import logging
from pathlib import Path

from robinterp.base.errors import RobinterpError
from robinterp.cli.arguments import (add_compute, add_model_job, add_outputs, add_run_settings, add_settings,
                                     load_model_job, pairs, replicate_pairs, run_settings)

log = logging.getLogger("robinterp")


def register(add) -> None:
    def settings(sp):
        add_settings(sp, "synthesis", "synthesis")

    sp = add("class-seeds", cmd_class_seeds, "seeds of class generation from per-class normals (Figs. 14/19)")
    sp.add_argument("--data", required=True, help="prepared dataset folder or its meta.json")
    settings(sp)
    sp.add_argument("--out", required=True, type=Path, help=".npz: images, targets")

    sp = add("generate", cmd_generate, "class-specific generation with one model (eq. 16)")
    add_model_job(sp)
    settings(sp)
    sp.add_argument("--seeds", required=True, help=".npz written by class-seeds")
    sp.add_argument("--out", required=True, type=Path, help=".npz: images, targets")

    sp = add("invert", cmd_invert, "representation inversion with one model (eq. 15)")
    add_model_job(sp)
    settings(sp)
    sp.add_argument("--out", required=True, type=Path, help=".npz: originals, sources, inversions, distances")

    sp = add("visualise", cmd_visualise, "direct feature visualisation with one model (eqs. 13-14)")
    add_model_job(sp)
    settings(sp)
    sp.add_argument("--out", required=True, type=Path, help=".npz: starts, visualisations, extreme test images")

    sp = add("fetch-inception", cmd_fetch_inception, "download the FID Inception-V3 weights and check their hash")
    sp.add_argument("--out", required=True, type=Path)

    sp = add("synthesis-metrics", cmd_synthesis_metrics, "FID (or fid_judge) and inversion distances of every model")
    sp.add_argument("--data", required=True, help="prepared dataset folder or its meta.json")
    settings(sp)
    sp.add_argument("--features-from", required=True, help="Inception weights file, or the judge's model file")
    sp.add_argument("--model-settings", required=True, help="JSON: arch, mean, std of the judge")
    add_compute(sp)
    sp.add_argument("--generated", nargs="+", required=True,
                    help="MODEL=generated.npz ..., once per replicate (replicate 0 first)")
    sp.add_argument("--inversions", nargs="+", required=True, help="MODEL=inversions.npz ..., as --generated")
    sp.add_argument("--out", required=True, type=Path,
                    help="JSON: model (and real_data) → one metrics object per replicate")

    sp = add("synthesis-table", cmd_synthesis_table, "tables 2/5 (FID) or 3/6 (inversion distance)")
    sp.add_argument("--kind", required=True, choices=["fid", "inversion"])
    sp.add_argument("--features", required=True, choices=["inception", "judge"])
    sp.add_argument("--dataset", required=True)
    sp.add_argument("--metrics", required=True, help="JSON written by synthesis-metrics")
    sp.add_argument("--models", required=True, help="comma-separated methods, in table order")
    add_run_settings(sp)
    sp.add_argument("--out", required=True, type=Path)

    sp = add("plot-seeds", cmd_plot_seeds, "the seeds of class generation (Figs. 14/19)")
    sp.add_argument("--data", required=True, help="prepared dataset folder or its meta.json")
    settings(sp)
    sp.add_argument("--seeds", required=True)
    add_outputs(sp)

    sp = add("plot-generation", cmd_plot_generation, "class generation, models side by side (Figs. 3/7)")
    sp.add_argument("--data", required=True, help="prepared dataset folder or its meta.json")
    settings(sp)
    sp.add_argument("--generated", nargs="+", required=True, help="MODEL=generated.npz ... (column order)")
    add_outputs(sp)

    sp = add("plot-inversions", cmd_plot_inversions, "representation inversion (Figs. 4, 11 / 8, 18)")
    settings(sp)
    sp.add_argument("--inversions", nargs="+", required=True, help="MODEL=inversions.npz ... (column order)")
    sp.add_argument("--block", type=int, required=True, help="which block of inversion_rows targets (0 = first)")
    add_outputs(sp)

    sp = add("plot-features", cmd_plot_features, "feature visualisation (Figs. 5, 12 / 9, 15)")
    settings(sp)
    sp.add_argument("--features", nargs="+", required=True, help="MODEL=features.npz ... (row order)")
    sp.add_argument("--entry", type=int, required=True, help="index into visualisation.coordinates")
    add_outputs(sp)


def _settings(args):
    from robinterp.base.config import settings_from_json
    from robinterp.synthesis.settings import SynthesisSettings

    return settings_from_json(SynthesisSettings, args.settings, "--settings", args.where)


def _stored(items: list[str], what: str) -> dict[str, dict]:
    """MODEL=file.npz … → model → its stored arrays, in the given order."""
    from robinterp.base.io import load_arrays

    return {model: load_arrays(path) for model, path in pairs(items, what).items()}


def _stored_replicates(items: list[str], what: str) -> dict[str, list[dict]]:
    """MODEL=file.npz …, a model once per replicate → model → its replicates' stored arrays, in the given order."""
    from robinterp.base.io import load_arrays

    return {model: [load_arrays(p) for p in paths] for model, paths in replicate_pairs(items, what).items()}


def _class_names(data_path) -> list[str]:
    from robinterp.data.store import load_prepared

    return list(load_prepared(data_path).classes)


def cmd_class_seeds(args) -> None:
    from robinterp.base.io import save_arrays
    from robinterp.data.store import load_prepared
    from robinterp.synthesis.job import make_seeds

    s = _settings(args)
    data = load_prepared(args.data)
    seeds = make_seeds(data["test"], data.num_classes, s)
    save_arrays(args.out, seeds)
    log.info("drew %d seeds (%d per class) into %s", len(seeds["targets"]), s.need("generation").per_class,
             args.out)


def _synthesis_job(args, run) -> None:
    """Load data, model (on the job's device) and settings, run ``run(model, data, settings)``, store its arrays."""
    from robinterp.base.io import save_arrays

    s = _settings(args)
    job = load_model_job(args)
    for p in job.model.parameters():  # gradients flow to the images only
        p.requires_grad_(False)
    save_arrays(args.out, run(job.model, job.data, s))
    log.info("wrote %s", args.out)


def cmd_generate(args) -> None:
    from robinterp.base.io import load_arrays
    from robinterp.synthesis.job import run_generation

    seeds = load_arrays(args.seeds)
    _synthesis_job(args, lambda model, data, s: run_generation(model, seeds, s))


def cmd_invert(args) -> None:
    from robinterp.synthesis.job import run_inversion

    _synthesis_job(args, lambda model, data, s: run_inversion(model, data["test"], s))


def cmd_visualise(args) -> None:
    from robinterp.synthesis.job import run_visualisation

    _synthesis_job(args, lambda model, data, s: run_visualisation(model, data["test"], s))


def cmd_fetch_inception(args) -> None:
    from robinterp.synthesis.features import fetch_inception_weights

    log.info("fetched %s", fetch_inception_weights(args.out))


def cmd_synthesis_metrics(args) -> None:
    from robinterp.base.io import write_json
    from robinterp.cli.arguments import device, load_classifier, set_threads
    from robinterp.data.store import load_prepared
    from robinterp.synthesis.features import InceptionFeatures, JudgeFeatures
    from robinterp.synthesis.job import synthesis_metrics

    set_threads(args.threads)
    s = _settings(args)
    data = load_prepared(args.data)
    device_ = device(args.device)
    judge = None
    if s.features == "judge":
        judge = load_classifier(args.features_from, args.model_settings, data, device_)
        extractor = JudgeFeatures(judge)
    else:
        extractor = InceptionFeatures(args.features_from)
    extractor = extractor.to(device_).eval()
    generated = _stored_replicates(args.generated, "--generated")
    inversions = _stored_replicates(args.inversions, "--inversions")
    if {m: len(g) for m, g in generated.items()} != {m: len(i) for m, i in inversions.items()}:
        raise RobinterpError(f"--generated has models (replicates) {({m: len(g) for m, g in generated.items()})} "
                             f"but --inversions {({m: len(i) for m, i in inversions.items()})}")
    write_json(args.out, synthesis_metrics(extractor, data["test"], data["train"], generated, inversions, s, device_,
                                           judge=judge))


def cmd_synthesis_table(args) -> None:
    from robinterp.base.io import read_json
    from robinterp.base.tables import long_rows, write_table
    from robinterp.synthesis.columns import table_metrics

    fid_metrics, distance_metrics = table_metrics(args.features, judge=args.features == "judge")
    metrics = read_json(args.metrics)
    models = args.models.split(",") + (["real_data"] if args.kind == "fid" else [])  # real data is not inverted
    missing = [m for m in models if m not in metrics]
    if missing:
        raise RobinterpError(f"{args.metrics} has no metrics for {missing}; re-run synthesis_metrics")
    keep = fid_metrics if args.kind == "fid" else distance_metrics
    run = run_settings(args)
    write_table(args.out, [row for m in models for row in long_rows(args.dataset, m, metrics[m], keep, run)])
    log.info("wrote %s", args.out)


def cmd_plot_seeds(args) -> None:
    from robinterp.base.io import load_arrays
    from robinterp.synthesis.figures import plot_seeds

    s = _settings(args)
    seeds = load_arrays(args.seeds)
    figures = s.need("figures")
    plot_seeds(seeds["images"], seeds["targets"], _class_names(args.data), figures.classes, figures.columns,
               args.out)


def _ascent(a) -> str:
    budget = "unconstrained" if a.eps is None else f"ε={a.eps:g}"
    return f"{a.norm.upper()} {budget}, σ={a.step_size:g}, {a.steps} steps"


def cmd_plot_generation(args) -> None:
    from robinterp.synthesis.figures import plot_generation

    s = _settings(args)
    models = _stored(args.generated, "--generated")
    figures, a = s.need("figures"), s.need("generation").attack
    plot_generation({m: (g["images"], g["targets"]) for m, g in models.items()}, _class_names(args.data),
                    figures.classes, figures.columns, f"class generation: {_ascent(a)}", args.out)


def cmd_plot_inversions(args) -> None:
    from robinterp.synthesis.figures import plot_inversions
    from robinterp.synthesis.columns import SOURCES

    s = _settings(args)
    models = _stored(args.inversions, "--inversions")
    first = next(iter(models.values()))
    per_figure, a = s.need("figures").inversion_rows, s.need("inversion").attack
    rows = range(args.block * per_figure, (args.block + 1) * per_figure)
    plot_inversions(first["originals"], {src: first[f"sources_{src}"] for src in SOURCES},
                    {m: {src: inv[f"inverted_{src}"] for src in SOURCES} for m, inv in models.items()}, rows,
                    f"representation inversion: {_ascent(a)} "
                    "(inv1: from another class's image, inv2: from noise)", args.out)


def cmd_plot_features(args) -> None:
    from robinterp.synthesis.figures import plot_feature_visualisation

    s = _settings(args)
    models = _stored(args.features, "--features")
    first = next(iter(models.values()))
    j = args.entry
    visualisation = s.need("visualisation")
    coordinates, a = visualisation.coordinates[j], visualisation.attack
    plot_feature_visualisation({kind: first[f"start_{kind}"] for kind in ("noise", "images")},
                               {m: {k: f[f"c{j}_{k}"] for k in ("noise", "images", "most", "least")}
                                for m, f in models.items()},
                               f"feature visualisation of R(x)[{', '.join(map(str, coordinates))}]: {_ascent(a)}",
                               args.out)
