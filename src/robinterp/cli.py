"""``python -m robinterp <command>``: what the workflow's rules call.

Each command takes file paths and the JSON of the config sections it needs
(the workflow passes them), configures the library through arguments, and
writes its outputs atomically. Errors of the user's making (missing data,
bad config, foreign checkpoint, NaN loss) end with one line naming the file or
key and the fix, and exit status 1.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from pathlib import Path

from robinterp.errors import Preempted, RobinterpError

log = logging.getLogger("robinterp")


def _device(name: str):
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RobinterpError(f"device {name!r} requested but CUDA is not available; set device: auto or cpu")
    return torch.device(name)


def _set_threads(threads: int | None) -> None:
    if threads:
        import torch

        torch.set_num_threads(threads)


def _pairs(items: list[str], what: str) -> dict[str, str]:
    """Parse ``name=path`` arguments."""
    out = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep:
            raise RobinterpError(f"{what} must be NAME=PATH, got {item!r}")
        out[name] = path
    return out


def _load_classifier(path, model_settings: str, data, device):
    """The model file at ``path``, checked against the config's model settings and the dataset, in eval mode."""
    from robinterp.models import load_model
    from robinterp.settings import parse_json_argument

    model_cfg = parse_json_argument(model_settings, "--model-settings")
    expected = {"arch": model_cfg["arch"], "num_classes": data.num_classes, "in_channels": data.image_shape[0]}
    return load_model(path, expected_spec=expected).to(device).eval()


def cmd_prepare(args) -> None:
    from robinterp.data.prepare import prepare_dataset
    from robinterp.settings import parse_json_argument

    settings = parse_json_argument(args.settings, "--settings")
    meta = prepare_dataset(settings, args.out, where=args.where)
    log.info("prepared dataset written: %s", meta)


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


@contextlib.contextmanager
def _also_log_to(path: Path):
    """Append this process's log records to ``path`` as well (kept across attempts)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, mode="a", delay=True)  # no file unless something is logged
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    logging.getLogger().addHandler(handler)
    try:
        yield
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()


def cmd_train(args) -> None:
    from robinterp.preemption import StopRequest

    # Catch SLURM's stop signals before the slow imports: one arriving while torch loads
    # would otherwise kill the job before it can say so. Snakemake empties the rule's log
    # before every attempt; the log beside the checkpoint keeps all of them (why a
    # job stopped, where the next one resumed).
    with StopRequest() as stop, _also_log_to(args.checkpoint.with_suffix(".log")):
        try:
            _train(args, stop)
        except Preempted as exc:  # logged here so that the attempts log has it too
            log.warning("%s", exc)
            raise


def _train(args, stop) -> None:
    import torch

    from robinterp.data.store import load_prepared
    from robinterp.distributed import init_data_parallel, shutdown, sync_batchnorm
    from robinterp.io import write_text
    from robinterp.models import build_model, model_spec, save_model
    from robinterp.settings import TrainSettings, from_dict, parse_json_argument
    from robinterp.training import history_csv, train

    parallel, device = init_data_parallel(_device(args.device))
    _set_threads(args.threads and max(1, args.threads // parallel.world_size))  # the job's CPUs, shared
    if not parallel.is_main:  # one process reports progress; the others speak up only for problems
        logging.getLogger().setLevel(logging.WARNING)
    try:
        data = load_prepared(args.data)
        model_cfg = parse_json_argument(args.model_settings, "--model-settings")
        settings = from_dict(TrainSettings, parse_json_argument(args.train_settings, "--train-settings"), args.where)
        spec = model_spec(model_cfg["arch"], data.num_classes, data.image_shape[0], model_cfg["mean"],
                          model_cfg["std"])
        torch.manual_seed(args.seed)  # weight initialisation, identical on every process
        model = sync_batchnorm(build_model(**spec), parallel, device)
        log.info("training %s on %s (%s, %d classes) on %s, %d process(es)", spec["arch"], data.name,
                 "×".join(map(str, data.image_shape)), data.num_classes, device, parallel.world_size)
        result = train(model, data["train"], settings, seed=args.seed, device=device,
                       checkpoint_path=args.checkpoint, parallel=parallel, stop=stop)
    finally:
        shutdown(parallel)
    if parallel.is_main:
        # Outputs are written only now, so a job killed earlier (time limit, preemption) leaves none behind.
        write_text(args.history, history_csv(result.history))
        model.load_state_dict(result.best_state)
        save_model(args.out, model, spec, extra={"best_epoch": result.best_epoch})
        log.info("saved epoch %d (selected by %s) to %s", result.best_epoch, settings.selection, args.out)


def cmd_evaluate(args) -> None:
    import numpy as np

    from robinterp.data.store import load_prepared
    from robinterp.evaluation import evaluate_accuracy
    from robinterp.io import write_json
    from robinterp.attack_suite import SuiteAttack
    from robinterp.settings import from_dict, parse_json_argument

    _set_threads(args.threads)
    settings = parse_json_argument(args.settings, "--settings")
    attacks = {name: from_dict(SuiteAttack, {"kind": "pgd", **spec}, f"{args.where}.attacks.{name}")
               for name, spec in settings.get("attacks", {}).items()}
    data = load_prepared(args.data)
    test = data["test"]
    device = _device(args.device)
    model = _load_classifier(args.model, args.model_settings, data, device)
    n = len(test) if settings.get("max_examples") is None else min(len(test), settings["max_examples"])
    log.info("evaluating %s on %d test images of %s with attacks %s", args.model, n, data.name, sorted(attacks))
    metrics = evaluate_accuracy(model, test, attacks, batch_size=settings["batch_size"], device=device,
                                indices=np.arange(n), seed=args.seed, amp=settings.get("amp_bf16", False))
    write_json(args.out, metrics)
    log.info("metrics: %s", metrics)


def cmd_table(args) -> None:
    from robinterp.io import read_json
    from robinterp.tables import long_rows, write_table

    rows = []
    for name, path in _pairs(args.metrics, "--metrics").items():
        dataset, sep, model = name.rpartition(":")  # DATASET:MODEL, or MODEL with --dataset
        dataset = dataset if sep else args.dataset
        if not dataset:
            raise RobinterpError(f"--metrics {name}=…: give DATASET:MODEL or --dataset")
        rows += long_rows(dataset, model, read_json(path), args.keep.split(","))
    write_table(args.out, rows)
    log.info("wrote %s (%d rows)", args.out, len(rows))


def cmd_attribution_table(args) -> None:
    from robinterp.explanations import metric_names

    args.dataset, args.keep = None, ",".join(["clean_accuracy", *metric_names()])
    cmd_table(args)


def _attribution_settings(args):
    from robinterp.settings import AttributionSettings, from_dict, parse_json_argument

    return from_dict(AttributionSettings, parse_json_argument(args.settings, "--settings"), args.where)


def cmd_select_attribution_images(args) -> None:
    from robinterp.data.store import load_prepared
    from robinterp.explanations import select_images
    from robinterp.io import write_json

    s = _attribution_settings(args)
    test = load_prepared(args.data)["test"]
    selection = select_images(len(test), n_background=s.n_background, n_explained=s.n_explained,
                              n_metrics=s.n_metrics, seed=s.seed)
    write_json(args.out, selection)
    log.info("selected %d background, %d explained and %d metric images of %d", len(selection["background"]),
             len(selection["explained"]), len(selection["metrics"]), len(test))


def cmd_attribute(args) -> None:
    import numpy as np

    from robinterp.data.store import load_prepared
    from robinterp.explanations import attribution_metrics, explain_figures
    from robinterp.io import atomic_path, read_json, write_json

    _set_threads(args.threads)
    s = _attribution_settings(args)
    data = load_prepared(args.data)
    device = _device(args.device)
    model = _load_classifier(args.model, args.model_settings, data, device)
    selection = read_json(args.selection)
    if not (args.out_arrays or args.out_metrics):
        raise RobinterpError("attribute: give --out-arrays (the figures' maps), --out-metrics (table 7), or both")
    if args.out_arrays:
        arrays = explain_figures(model, data["test"], selection, s, device)
        with atomic_path(args.out_arrays) as tmp:
            np.savez_compressed(tmp, **arrays, class_names=np.asarray(data.classes))
    if args.out_metrics:
        metrics = attribution_metrics(model, data["test"], selection, s, device)
        write_json(args.out_metrics, metrics)
        log.info("metrics: %s", metrics)


def _load_attributions(pairs: list[str]) -> tuple[dict, dict]:
    """MODEL=arrays.npz … → (images, labels, class names of the first; per-model maps and predictions)."""
    import numpy as np

    models, common = {}, None
    for model, path in _pairs(pairs, "--arrays").items():
        with np.load(path) as f:
            arrays = {k: f[k] for k in f.files}
        if common is None:
            common = {k: arrays[k] for k in ("indices", "images", "labels", "class_names")}
        elif not np.array_equal(common["indices"], arrays["indices"]):
            raise RobinterpError(f"{path} explains other images than {pairs[0]}; re-run the attribute jobs")
        models[model] = {k: arrays[k] for k in ("ig", "shap", "predictions")}
    return common, models


def cmd_plot_attributions(args) -> None:
    from robinterp.attribution_figures import plot_attribution_samples

    common, models = _load_attributions(args.arrays)
    plot_attribution_samples(common["images"], common["labels"], list(common["class_names"]), models,
                             [int(r) for r in args.rows.split(",")], args.out)


def cmd_plot_attribution_grid(args) -> None:
    from robinterp.attribution_figures import plot_attribution_grid

    common, models = _load_attributions(args.arrays)
    plot_attribution_grid(common["images"], common["labels"], list(common["class_names"]), models, args.method,
                          args.out)


def cmd_plot_training(args) -> None:
    from robinterp.plots import plot_training_curves

    plot_training_curves(_pairs(args.history, "--history"), args.title, args.out)


# --- synthesis: class generation, inversion, feature visualisation, FID (tables 2, 3, 5, 6) -------------------------

def _synthesis_settings(args):
    from robinterp.settings import SynthesisSettings, from_dict, parse_json_argument

    return from_dict(SynthesisSettings, parse_json_argument(args.settings, "--settings"), args.where)


def _save_arrays(path, arrays: dict) -> None:
    import numpy as np

    from robinterp.io import atomic_path

    with atomic_path(path) as tmp:
        np.savez_compressed(tmp, **arrays)


def _load_arrays(path) -> dict:
    import numpy as np

    if not Path(path).exists():
        raise RobinterpError(f"{path} does not exist; run the workflow rule that makes it")
    with np.load(path) as f:
        return {k: f[k] for k in f.files}


def cmd_class_seeds(args) -> None:
    from robinterp.data.store import load_prepared
    from robinterp.synthesis_jobs import make_seeds

    s = _synthesis_settings(args)
    data = load_prepared(args.data)
    seeds = make_seeds(data["test"], data.num_classes, s)
    _save_arrays(args.out, seeds)
    log.info("drew %d seeds (%d per class) into %s", len(seeds["targets"]), s.need("generation").per_class,
             args.out)


def _synthesis_job(args, run) -> None:
    """Load data, model (on the job's device) and settings, run ``run(model, data, settings)``, store its arrays."""
    from robinterp.data.store import load_prepared

    _set_threads(args.threads)
    s = _synthesis_settings(args)
    data = load_prepared(args.data)
    device = _device(args.device)
    model = _load_classifier(args.model, args.model_settings, data, device)
    for p in model.parameters():  # gradients flow to the images only
        p.requires_grad_(False)
    _save_arrays(args.out, run(model, data, s))
    log.info("wrote %s", args.out)


def cmd_generate(args) -> None:
    from robinterp.synthesis_jobs import run_generation

    seeds = _load_arrays(args.seeds)
    _synthesis_job(args, lambda model, data, s: run_generation(model, seeds, s))


def cmd_invert(args) -> None:
    from robinterp.synthesis_jobs import run_inversion

    _synthesis_job(args, lambda model, data, s: run_inversion(model, data["test"], s))


def cmd_visualise(args) -> None:
    from robinterp.synthesis_jobs import run_visualisation

    _synthesis_job(args, lambda model, data, s: run_visualisation(model, data["test"], s))


def cmd_fetch_inception(args) -> None:
    from robinterp.fid import fetch_inception_weights

    log.info("fetched %s", fetch_inception_weights(args.out))


def cmd_synthesis_metrics(args) -> None:
    from robinterp.data.store import load_prepared
    from robinterp.fid import InceptionFeatures, JudgeFeatures
    from robinterp.io import write_json
    from robinterp.synthesis_jobs import synthesis_metrics

    _set_threads(args.threads)
    s = _synthesis_settings(args)
    data = load_prepared(args.data)
    device = _device(args.device)
    judge = None
    if s.features == "judge":
        judge = _load_classifier(args.features_from, args.model_settings, data, device)
        extractor = JudgeFeatures(judge)
    else:
        extractor = InceptionFeatures(args.features_from)
    extractor = extractor.to(device).eval()
    generated = {m: _load_arrays(p) for m, p in _pairs(args.generated, "--generated").items()}
    inversions = {m: _load_arrays(p) for m, p in _pairs(args.inversions, "--inversions").items()}
    if set(generated) != set(inversions):
        raise RobinterpError(f"--generated has models {sorted(generated)} but --inversions {sorted(inversions)}")
    write_json(args.out, synthesis_metrics(extractor, data["test"], data["train"], generated, inversions, s, device,
                                           judge=judge))


def cmd_synthesis_table(args) -> None:
    from robinterp.io import read_json
    from robinterp.synthesis_jobs import table_metrics
    from robinterp.tables import long_rows, write_table

    fid_metrics, distance_metrics = table_metrics(args.features, judge=args.features == "judge")
    metrics = read_json(args.metrics)
    models = args.models.split(",") + (["real_data"] if args.kind == "fid" else [])  # real data is not inverted
    missing = [m for m in models if m not in metrics]
    if missing:
        raise RobinterpError(f"{args.metrics} has no metrics for {missing}; re-run synthesis_metrics")
    keep = fid_metrics if args.kind == "fid" else distance_metrics
    write_table(args.out, [row for m in models for row in long_rows(args.dataset, m, metrics[m], keep)])
    log.info("wrote %s", args.out)


def _class_names(data_path) -> list[str]:
    from robinterp.data.store import load_prepared

    return list(load_prepared(data_path).classes)


def cmd_plot_seeds(args) -> None:
    from robinterp.synthesis_figures import plot_seeds

    s = _synthesis_settings(args)
    seeds = _load_arrays(args.seeds)
    figures = s.need("figures")
    plot_seeds(seeds["images"], seeds["targets"], _class_names(args.data), figures.classes, figures.columns,
               args.out)


def cmd_plot_generation(args) -> None:
    from robinterp.synthesis_figures import plot_generation

    s = _synthesis_settings(args)
    models = {m: _load_arrays(p) for m, p in _pairs(args.generated, "--generated").items()}
    figures, a = s.need("figures"), s.need("generation").attack
    plot_generation({m: (g["images"], g["targets"]) for m, g in models.items()}, _class_names(args.data),
                    figures.classes, figures.columns,
                    f"class generation: {a.norm.upper()} ε={a.eps:g}, σ={a.step_size:g}, {a.steps} steps", args.out)


def cmd_plot_inversions(args) -> None:
    from robinterp.synthesis_figures import plot_inversions
    from robinterp.synthesis_jobs import SOURCES

    s = _synthesis_settings(args)
    models = {m: _load_arrays(p) for m, p in _pairs(args.inversions, "--inversions").items()}
    first = next(iter(models.values()))
    per_figure, a = s.need("figures").inversion_rows, s.need("inversion").attack
    rows = range(args.block * per_figure, (args.block + 1) * per_figure)
    plot_inversions(first["originals"], {src: first[f"sources_{src}"] for src in SOURCES},
                    {m: {src: inv[f"inverted_{src}"] for src in SOURCES} for m, inv in models.items()}, rows,
                    f"representation inversion: {a.norm.upper()} ε={a.eps:g}, σ={a.step_size:g}, {a.steps} steps "
                    "(inv1: from another class's image, inv2: from noise)", args.out)


def cmd_plot_features(args) -> None:
    from robinterp.synthesis_figures import plot_feature_visualisation

    s = _synthesis_settings(args)
    models = {m: _load_arrays(p) for m, p in _pairs(args.features, "--features").items()}
    first = next(iter(models.values()))
    j = args.entry
    visualisation = s.need("visualisation")
    coordinates, a = visualisation.coordinates[j], visualisation.attack
    plot_feature_visualisation({kind: first[f"start_{kind}"] for kind in ("noise", "images")},
                               {m: {k: f[f"c{j}_{k}"] for k in ("noise", "images", "most", "least")}
                                for m, f in models.items()},
                               f"feature visualisation of R(x)[{', '.join(map(str, coordinates))}]: "
                               f"{a.norm.upper()} ε={a.eps:g}, σ={a.step_size:g}, {a.steps} steps", args.out)


def cmd_report(args) -> None:
    from robinterp.report import build_report
    from robinterp.settings import parse_json_argument

    build_report(args.tables, args.figures, parse_json_argument(args.config, "--config"), args.out,
                 title=args.title)
    log.info("wrote %s", args.out)


# --- the other seeds' analyses: robustness curves, Etmann's analysis, the methods matrix -----------------------------

def _eval_model(args):
    """Data, model (eval mode, on the job's device) and device of a per-model analysis job."""
    from robinterp.data.store import load_prepared

    _set_threads(args.threads)
    data = load_prepared(args.data)
    device = _device(args.device)
    return data, _load_classifier(args.model, args.model_settings, data, device), device


def _first_images(n_test: int, limit):
    """Indices of the first ``limit`` test images (all of them for None)."""
    import numpy as np

    return np.arange(n_test if limit is None else min(n_test, int(limit)))


def cmd_robustness_curves(args) -> None:
    from robinterp.attack_suite import SuiteAttack, robustness_curve
    from robinterp.io import write_json
    from robinterp.settings import from_dict, parse_json_argument

    settings = parse_json_argument(args.settings, "--settings")
    data, model, device = _eval_model(args)
    test = data["test"]
    indices = _first_images(len(test), settings.get("max_examples"))
    curves = {}
    for name, curve in settings["attacks"].items():
        attack = from_dict(SuiteAttack, {"kind": "pgd", **curve["attack"]}, f"{args.where}.attacks.{name}.attack")
        curves[name] = robustness_curve(model, test, attack, curve["eps"], batch_size=settings["batch_size"],
                                        device=device, indices=indices, seed=args.seed)
        log.info("%s: %s", name, ", ".join(f"ε {p['eps']:g}: {p['accuracy']:.1f}%" for p in curves[name]))
    write_json(args.out, curves)


def cmd_plot_robustness_curves(args) -> None:
    from robinterp.io import read_json
    from robinterp.matrix import plot_robustness_curves

    plot_robustness_curves({m: read_json(p) for m, p in _pairs(args.curves, "--curves").items()}, args.title,
                           args.out)


def cmd_etmann(args) -> None:
    from robinterp.etmann import per_image_analysis, summary
    from robinterp.io import write_json
    from robinterp.settings import parse_json_argument

    s = parse_json_argument(args.settings, "--settings")
    data, model, device = _eval_model(args)
    test = data["test"]
    analysis = per_image_analysis(model, test, _first_images(len(test), s["n_images"]), batch_size=s["batch_size"],
                                  device=device, eps_max=s["eps_max"], steps=s["steps"],
                                  step_size_ratio=s["step_size_ratio"], bisection_steps=s["bisection_steps"],
                                  seed=s.get("seed", 0))
    _save_arrays(args.out_arrays, analysis)
    write_json(args.out_summary, summary(analysis))


def cmd_plot_etmann(args) -> None:
    from robinterp.etmann import plot_alignment_vs_robustness, plot_per_image_scatter, summary

    analyses = {m: _load_arrays(p) for m, p in _pairs(args.analyses, "--analyses").items()}
    order = [m for m in args.gradnorm_order.split(",") if m] if args.gradnorm_order else None
    plot_alignment_vs_robustness({m: summary(a) for m, a in analyses.items()}, args.out_summary,
                                 gradnorm_order=order, title=f"{args.title}: median alignment vs robustness")
    plot_per_image_scatter(analyses, args.out_scatter, title=f"{args.title}: per test image")


def cmd_methods_matrix(args) -> None:
    from robinterp.io import read_json
    from robinterp.matrix import matrix_metrics, matrix_rows, plot_methods_matrix
    from robinterp.tables import write_table

    sources = {kind: _pairs(getattr(args, kind), f"--{kind}") for kind in ("evaluation", "attribution", "etmann")}
    synthesis = read_json(args.synthesis)
    models = list(sources["evaluation"])
    for kind, paths in sources.items():
        if list(paths) != models:
            raise RobinterpError(f"--{kind} names methods {list(paths)}, --evaluation {models}")
    rows = {m: matrix_metrics(read_json(sources["evaluation"][m]), read_json(sources["attribution"][m]),
                              synthesis.get(m, {}), read_json(sources["etmann"][m])) for m in models}
    write_table(args.out_csv, matrix_rows(args.dataset, rows))
    plot_methods_matrix(rows, f"{args.dataset}: methods × metrics", args.out_figure)
    log.info("wrote %s (%d methods × %d metrics)", args.out_csv, len(rows), len(next(iter(rows.values()))))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="robinterp", description=__doc__.split("\n\n")[0])
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True)

    def add(name, func, help_):
        sp = sub.add_parser(name, help=help_)
        sp.set_defaults(func=func)
        return sp

    sp = add("prepare", cmd_prepare, "prepare a dataset into the stored uint8 format")
    sp.add_argument("--settings", required=True, help="JSON of the dataset's prepare section")
    sp.add_argument("--out", required=True, type=Path, help="output folder")
    sp.add_argument("--where", default="prepare", help="config path of the section, for error messages")

    sp = add("train", cmd_train, "train one model, resuming from its checkpoint if present")
    sp.add_argument("--data", required=True, help="prepared dataset folder or its meta.json")
    sp.add_argument("--model-settings", required=True, help="JSON: arch, mean, std")
    sp.add_argument("--train-settings", required=True, help="JSON of the train section merged with the method")
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--device", default="auto")
    sp.add_argument("--threads", type=int, default=None)
    sp.add_argument("--checkpoint", required=True, type=Path, help="resumable per-epoch checkpoint")
    sp.add_argument("--history", required=True, type=Path, help="per-epoch CSV")
    sp.add_argument("--out", required=True, type=Path, help="final (selected) model")
    sp.add_argument("--where", default="train", help="config path of the settings, for error messages")

    sp = add("evaluate", cmd_evaluate, "clean and adversarial test accuracy of one model")
    sp.add_argument("--data", required=True)
    sp.add_argument("--model", required=True, help="model file written by train")
    sp.add_argument("--model-settings", required=True, help="JSON: arch, mean, std (checked against the file)")
    sp.add_argument("--settings", required=True, help="JSON of the evaluation section")
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--device", default="auto")
    sp.add_argument("--threads", type=int, default=None)
    sp.add_argument("--out", required=True, type=Path, help="metrics JSON")
    sp.add_argument("--where", default="evaluation")

    sp = add("select-attribution-images", cmd_select_attribution_images,
             "draw the test images to explain (same for every model of a dataset)")
    sp.add_argument("--data", required=True)
    sp.add_argument("--settings", required=True, help="JSON of the dataset's attribution section")
    sp.add_argument("--out", required=True, type=Path, help="selection JSON")
    sp.add_argument("--where", default="attribution")

    sp = add("attribute", cmd_attribute, "IG and SHAP maps and table 7's metrics for one model")
    sp.add_argument("--data", required=True)
    sp.add_argument("--model", required=True, help="model file written by train")
    sp.add_argument("--model-settings", required=True, help="JSON: arch, mean, std (checked against the file)")
    sp.add_argument("--settings", required=True, help="JSON of the dataset's attribution section")
    sp.add_argument("--selection", required=True, help="JSON written by select-attribution-images")
    sp.add_argument("--device", default="auto")
    sp.add_argument("--threads", type=int, default=None)
    sp.add_argument("--out-arrays", type=Path, help=".npz: images, labels, predictions, ig, shap (the figures)")
    sp.add_argument("--out-metrics", type=Path, help="metrics JSON (table 7)")
    sp.add_argument("--where", default="attribution")

    sp = add("plot-attributions", cmd_plot_attributions, "the 3-sample IG/SHAP figure (paper Fig. 2/6)")
    sp.add_argument("--arrays", nargs="+", required=True, help="MODEL=arrays.npz ... (column order)")
    sp.add_argument("--rows", required=True, help="comma-separated positions among the explained images")
    sp.add_argument("--out", nargs="+", required=True, type=Path)

    sp = add("plot-attribution-grid", cmd_plot_attribution_grid, "the IG or SHAP grid (paper Figs. 10/13, 16/17)")
    sp.add_argument("--arrays", nargs="+", required=True, help="MODEL=arrays.npz ... (block order)")
    sp.add_argument("--method", required=True, choices=["ig", "shap"])
    sp.add_argument("--out", nargs="+", required=True, type=Path)

    sp = add("attribution-table", cmd_attribution_table, "table 7: attribution metrics of every dataset and model")
    sp.add_argument("--metrics", nargs="+", required=True, help="DATASET:MODEL=metrics.json ...")
    sp.add_argument("--out", required=True, type=Path)

    sp = add("table", cmd_table, "assemble metrics JSONs into a long-format table")
    sp.add_argument("--dataset", default=None, help="dataset of MODEL=… entries")
    sp.add_argument("--metrics", nargs="+", required=True, help="[DATASET:]MODEL=metrics.json ...")
    sp.add_argument("--keep", required=True, help="comma-separated metrics, in table order")
    sp.add_argument("--out", required=True, type=Path)

    sp = add("plot-training", cmd_plot_training, "training curves of several models")
    sp.add_argument("--history", nargs="+", required=True, help="MODEL=history.csv ...")
    sp.add_argument("--title", required=True)
    sp.add_argument("--out", nargs="+", required=True, type=Path)

    def synthesis_args(sp, *, data: bool = True, model: bool = True):
        if data:
            sp.add_argument("--data", required=True, help="prepared dataset folder or its meta.json")
        if model:
            sp.add_argument("--model", required=True, help="model file written by train")
            sp.add_argument("--model-settings", required=True, help="JSON: arch, mean, std (checked against the file)")
            sp.add_argument("--device", default="auto")
            sp.add_argument("--threads", type=int, default=None)
        sp.add_argument("--settings", required=True, help="JSON of the dataset's synthesis section")
        sp.add_argument("--where", default="synthesis", help="config path of the settings, for error messages")

    sp = add("class-seeds", cmd_class_seeds, "seeds of class generation from per-class normals (Figs. 14/19)")
    synthesis_args(sp, model=False)
    sp.add_argument("--out", required=True, type=Path, help=".npz: images, targets")

    sp = add("generate", cmd_generate, "class-specific generation with one model (eq. 16)")
    synthesis_args(sp)
    sp.add_argument("--seeds", required=True, help=".npz written by class-seeds")
    sp.add_argument("--out", required=True, type=Path, help=".npz: images, targets")

    sp = add("invert", cmd_invert, "representation inversion with one model (eq. 15)")
    synthesis_args(sp)
    sp.add_argument("--out", required=True, type=Path, help=".npz: originals, sources, inversions, distances")

    sp = add("visualise", cmd_visualise, "direct feature visualisation with one model (eqs. 13-14)")
    synthesis_args(sp)
    sp.add_argument("--out", required=True, type=Path, help=".npz: starts, visualisations, extreme test images")

    sp = add("fetch-inception", cmd_fetch_inception, "download the FID Inception-V3 weights and check their hash")
    sp.add_argument("--out", required=True, type=Path)

    sp = add("synthesis-metrics", cmd_synthesis_metrics, "FID (or fid_judge) and inversion distances of every model")
    sp.add_argument("--data", required=True)
    sp.add_argument("--settings", required=True, help="JSON of the dataset's synthesis section")
    sp.add_argument("--where", default="synthesis")
    sp.add_argument("--features-from", required=True, help="Inception weights file, or the judge's model file")
    sp.add_argument("--model-settings", required=True, help="JSON: arch, mean, std of the judge")
    sp.add_argument("--device", default="auto")
    sp.add_argument("--threads", type=int, default=None)
    sp.add_argument("--generated", nargs="+", required=True, help="MODEL=generated.npz ...")
    sp.add_argument("--inversions", nargs="+", required=True, help="MODEL=inversions.npz ...")
    sp.add_argument("--out", required=True, type=Path, help="JSON: model (and real_data) → metrics")

    sp = add("synthesis-table", cmd_synthesis_table, "tables 2/5 (FID) or 3/6 (inversion distance)")
    sp.add_argument("--kind", required=True, choices=["fid", "inversion"])
    sp.add_argument("--features", required=True, choices=["inception", "judge"])
    sp.add_argument("--dataset", required=True)
    sp.add_argument("--metrics", required=True, help="JSON written by synthesis-metrics")
    sp.add_argument("--models", required=True, help="comma-separated methods, in table order")
    sp.add_argument("--out", required=True, type=Path)

    sp = add("plot-seeds", cmd_plot_seeds, "the seeds of class generation (Figs. 14/19)")
    synthesis_args(sp, model=False)
    sp.add_argument("--seeds", required=True)
    sp.add_argument("--out", nargs="+", required=True, type=Path)

    sp = add("plot-generation", cmd_plot_generation, "class generation, models side by side (Figs. 3/7)")
    synthesis_args(sp, model=False)
    sp.add_argument("--generated", nargs="+", required=True, help="MODEL=generated.npz ... (column order)")
    sp.add_argument("--out", nargs="+", required=True, type=Path)

    sp = add("plot-inversions", cmd_plot_inversions, "representation inversion (Figs. 4, 11 / 8, 18)")
    synthesis_args(sp, data=False, model=False)
    sp.add_argument("--inversions", nargs="+", required=True, help="MODEL=inversions.npz ... (column order)")
    sp.add_argument("--block", type=int, required=True, help="which block of inversion_rows targets (0 = first)")
    sp.add_argument("--out", nargs="+", required=True, type=Path)

    sp = add("plot-features", cmd_plot_features, "feature visualisation (Figs. 5, 12 / 9, 15)")
    synthesis_args(sp, data=False, model=False)
    sp.add_argument("--features", nargs="+", required=True, help="MODEL=features.npz ... (row order)")
    sp.add_argument("--entry", type=int, required=True, help="index into visualisation.coordinates")
    sp.add_argument("--out", nargs="+", required=True, type=Path)

    sp = add("report", cmd_report, "one HTML file: every table beside the paper's numbers, every figure")
    sp.add_argument("--tables", nargs="*", default=[], help="long-format CSVs")
    sp.add_argument("--figures", nargs="*", default=[], help="PNGs")
    sp.add_argument("--config", required=True, help="JSON of the run's config")
    sp.add_argument("--title", default="robinterp report")
    sp.add_argument("--out", required=True, type=Path)

    def per_model_args(sp):
        sp.add_argument("--data", required=True, help="prepared dataset folder or its meta.json")
        sp.add_argument("--model", required=True, help="model file written by train")
        sp.add_argument("--model-settings", required=True, help="JSON: arch, mean, std (checked against the file)")
        sp.add_argument("--settings", required=True, help="JSON of the config section")
        sp.add_argument("--device", default="auto")
        sp.add_argument("--threads", type=int, default=None)
        sp.add_argument("--where", default="", help="config path of the settings, for error messages")

    sp = add("robustness-curves", cmd_robustness_curves, "accuracy against ε under each configured attack")
    per_model_args(sp)
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--out", required=True, type=Path, help="JSON: attack → [{eps, accuracy}]")

    sp = add("plot-robustness-curves", cmd_plot_robustness_curves, "robustness curves, one line per method")
    sp.add_argument("--curves", nargs="+", required=True, help="MODEL=curves.json ...")
    sp.add_argument("--title", required=True)
    sp.add_argument("--out", nargs="+", required=True, type=Path)

    sp = add("etmann", cmd_etmann, "alignment, linearised robustness and boundary distance per test image")
    per_model_args(sp)
    sp.add_argument("--out-arrays", required=True, type=Path, help=".npz of the per-image values")
    sp.add_argument("--out-summary", required=True, type=Path, help="JSON of medians and means")

    sp = add("plot-etmann", cmd_plot_etmann, "Etmann et al. Figs. 2-5: alignment vs robustness")
    sp.add_argument("--analyses", nargs="+", required=True, help="MODEL=etmann.npz ...")
    sp.add_argument("--gradnorm-order", default="", help="comma-separated gradnorm methods, by weight")
    sp.add_argument("--title", required=True)
    sp.add_argument("--out-summary", nargs="+", required=True, type=Path)
    sp.add_argument("--out-scatter", nargs="+", required=True, type=Path)

    sp = add("methods-matrix", cmd_methods_matrix, "the methods x metrics matrix of one dataset (CSV and figure)")
    sp.add_argument("--dataset", required=True)
    sp.add_argument("--evaluation", nargs="+", required=True, help="MODEL=eval.json ... (row order)")
    sp.add_argument("--attribution", nargs="+", required=True, help="MODEL=attribution.json ...")
    sp.add_argument("--etmann", nargs="+", required=True, help="MODEL=etmann summary.json ...")
    sp.add_argument("--synthesis", required=True, help="metrics JSON of synthesis-metrics")
    sp.add_argument("--out-csv", required=True, type=Path)
    sp.add_argument("--out-figure", nargs="+", required=True, type=Path)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format=LOG_FORMAT, stream=sys.stderr)
    try:
        args.func(args)
    except RobinterpError as exc:
        log.error("%s", exc)
        return 1
    except Preempted as exc:
        return exc.exit_code
    return 0
