"""Attribution commands: which images to explain, IG/SHAP maps and table 7 per model, Figs. 2/6, 10/16, 13/17."""

from __future__ import annotations

import logging
from pathlib import Path

from robinterp.base.errors import RobinterpError
from robinterp.cli.arguments import (add_model_job, add_outputs, add_settings, load_model_job, pairs,
                                     replicate_pairs)

log = logging.getLogger("robinterp")


def register(add) -> None:
    sp = add("select-attribution-images", cmd_select_attribution_images,
             "draw the test images to explain (same for every model of a dataset)")
    sp.add_argument("--data", required=True, help="prepared dataset folder or its meta.json")
    add_settings(sp, "attribution", "attribution")
    sp.add_argument("--out", required=True, type=Path, help="selection JSON")

    sp = add("attribute", cmd_attribute, "IG and SHAP maps and table 7's metrics for one model")
    add_model_job(sp)
    add_settings(sp, "attribution", "attribution")
    sp.add_argument("--selection", required=True, help="JSON written by select-attribution-images")
    sp.add_argument("--out-arrays", type=Path, help=".npz: images, labels, predictions, ig, shap (the figures)")
    sp.add_argument("--out-metrics", type=Path, help="metrics JSON (table 7)")

    sp = add("plot-attributions", cmd_plot_attributions, "the 3-sample IG/SHAP figure (paper Fig. 2/6)")
    sp.add_argument("--arrays", nargs="+", required=True, help="MODEL=arrays.npz ... (column order)")
    sp.add_argument("--rows", required=True, help="comma-separated positions among the explained images")
    add_scale(sp)
    add_outputs(sp)

    sp = add("plot-attribution-grid", cmd_plot_attribution_grid, "the IG or SHAP grid (paper Figs. 10/13, 16/17)")
    sp.add_argument("--arrays", nargs="+", required=True, help="MODEL=arrays.npz ... (block order)")
    sp.add_argument("--method", required=True, choices=["ig", "shap"])
    add_scale(sp)
    add_outputs(sp)

    sp = add("attribution-table", cmd_attribution_table, "table 7: attribution metrics of every dataset and model")
    sp.add_argument("--metrics", nargs="+", required=True, help="DATASET:MODEL=metrics.json ..., once per replicate")
    sp.add_argument("--out", required=True, type=Path)


def add_scale(sp) -> None:
    sp.add_argument("--scale", choices=["per_map", "shared"], default="per_map",
                    help="each map on its own colour scale (default), or one scale shared by the models")


def _settings(args):
    from robinterp.attribution.settings import AttributionSettings
    from robinterp.base.config import settings_from_json

    return settings_from_json(AttributionSettings, args.settings, "--settings", args.where)


def cmd_select_attribution_images(args) -> None:
    from robinterp.attribution.selection import select_images
    from robinterp.base.io import write_json
    from robinterp.data.store import load_prepared

    s = _settings(args)
    test = load_prepared(args.data)["test"]
    selection = select_images(len(test), n_background=s.n_background, n_explained=s.n_explained,
                              n_metrics=s.n_metrics, seed=s.seed)
    write_json(args.out, selection)
    log.info("selected %d background, %d explained and %d metric images of %d", len(selection["background"]),
             len(selection["explained"]), len(selection["metrics"]), len(test))


def cmd_attribute(args) -> None:
    from robinterp.attribution.job import attribution_metrics, explain_figures
    from robinterp.attribution.maps import write_maps
    from robinterp.base.io import read_json, write_json

    if not (args.out_arrays or args.out_metrics):
        raise RobinterpError("attribute: give --out-arrays (the figures' maps), --out-metrics (table 7), or both")
    s = _settings(args)
    job = load_model_job(args)
    selection = read_json(args.selection)
    if args.out_arrays:
        write_maps(args.out_arrays, explain_figures(job.model, job.data["test"], selection, s, job.device),
                   job.data.classes)
    if args.out_metrics:
        metrics = attribution_metrics(job.model, job.data["test"], selection, s, job.device)
        write_json(args.out_metrics, metrics)
        log.info("metrics: %s", metrics)


def cmd_plot_attributions(args) -> None:
    from robinterp.attribution.figures import plot_attribution_samples
    from robinterp.attribution.maps import load_maps

    common, models = load_maps(pairs(args.arrays, "--arrays"))
    plot_attribution_samples(common["images"], common["labels"], list(common["class_names"]), models,
                             [int(r) for r in args.rows.split(",")], args.out, scale=args.scale)


def cmd_plot_attribution_grid(args) -> None:
    from robinterp.attribution.figures import plot_attribution_grid
    from robinterp.attribution.maps import load_maps

    common, models = load_maps(pairs(args.arrays, "--arrays"))
    plot_attribution_grid(common["images"], common["labels"], list(common["class_names"]), models, args.method,
                          args.out, scale=args.scale)


def cmd_attribution_table(args) -> None:
    from robinterp.attribution.maps import metric_names
    from robinterp.base.tables import write_metrics_table

    write_metrics_table(replicate_pairs(args.metrics, "--metrics"), None, ["clean_accuracy", *metric_names()], args.out)
