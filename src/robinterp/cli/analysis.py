"""Analysis commands: robustness-curve figures, Etmann et al.'s analysis and figures, the methods × metrics matrix."""

from __future__ import annotations

from pathlib import Path

from robinterp.cli.arguments import add_model_job, add_outputs, add_settings, load_model_job, replicate_pairs


def register(add) -> None:
    sp = add("plot-robustness-curves", cmd_plot_robustness_curves,
             "robustness curves, one line per method (the mean over its replicates)")
    sp.add_argument("--curves", nargs="+", required=True,
                    help="MODEL=curves.json ... (robustness-curves' output), once per replicate")
    sp.add_argument("--title", required=True)
    add_outputs(sp)

    sp = add("etmann", cmd_etmann, "alignment, linearised robustness and boundary distance per test image")
    add_model_job(sp)
    add_settings(sp, "etmann", "etmann")
    sp.add_argument("--out-arrays", required=True, type=Path, help=".npz of the per-image values")
    sp.add_argument("--out-summary", required=True, type=Path, help="JSON of medians and means")

    sp = add("plot-etmann", cmd_plot_etmann, "Etmann et al. Figs. 2-5: alignment vs robustness")
    sp.add_argument("--analyses", nargs="+", required=True,
                    help="MODEL=etmann.npz ..., once per replicate (replicate 0 first: the scatter shows it)")
    sp.add_argument("--gradnorm-order", default="", help="comma-separated gradnorm methods, by weight")
    sp.add_argument("--title", required=True)
    sp.add_argument("--out-summary", nargs="+", required=True, type=Path)
    sp.add_argument("--out-scatter", nargs="+", required=True, type=Path)

    sp = add("methods-matrix", cmd_methods_matrix, "the methods x metrics matrix of one dataset (CSV and figure)")
    sp.add_argument("--dataset", required=True)
    sp.add_argument("--evaluation", nargs="+", required=True,
                    help="MODEL=eval.json ..., once per replicate (row order)")
    sp.add_argument("--attribution", nargs="+", required=True, help="MODEL=attribution.json ..., as --evaluation")
    sp.add_argument("--etmann", nargs="+", required=True, help="MODEL=etmann summary.json ..., as --evaluation")
    sp.add_argument("--synthesis", required=True, help="metrics JSON of synthesis-metrics")
    sp.add_argument("--out-csv", required=True, type=Path)
    sp.add_argument("--out-figure", nargs="+", required=True, type=Path)

    sp = add("plot-robustness-interpretability", cmd_plot_robustness_interpretability,
             "robust accuracy against each interpretability metric of the methods matrix")
    sp.add_argument("--matrix", required=True, type=Path, help="the dataset's methods_matrix.csv")
    sp.add_argument("--robust-metric", required=True, help="the accuracy on the x axis, e.g. pgd_l2_accuracy")
    sp.add_argument("--title", required=True)
    add_outputs(sp)


def cmd_plot_robustness_curves(args) -> None:
    from robinterp.analysis.figures import plot_robustness_curves
    from robinterp.base.io import read_json

    plot_robustness_curves({m: [read_json(p)["curves"] for p in paths]
                            for m, paths in replicate_pairs(args.curves, "--curves").items()}, args.title, args.out)


def cmd_etmann(args) -> None:
    from robinterp.analysis.job import etmann
    from robinterp.analysis.settings import EtmannSettings
    from robinterp.base.config import settings_from_json

    settings = settings_from_json(EtmannSettings, args.settings, "--settings", args.where)
    job = load_model_job(args)
    etmann(job.model, job.data["test"], settings, device=job.device, out_arrays=args.out_arrays,
           out_summary=args.out_summary)


def cmd_plot_etmann(args) -> None:
    from robinterp.analysis.etmann_summary import summary
    from robinterp.analysis.figures import plot_alignment_vs_robustness, plot_per_image_scatter
    from robinterp.base.io import load_arrays

    analyses = {m: [load_arrays(p) for p in paths]
                for m, paths in replicate_pairs(args.analyses, "--analyses").items()}
    order = [m for m in args.gradnorm_order.split(",") if m] if args.gradnorm_order else None
    plot_alignment_vs_robustness({m: [summary(a) for a in replicates] for m, replicates in analyses.items()},
                                 args.out_summary, gradnorm_order=order,
                                 title=f"{args.title}: median alignment vs robustness")
    plot_per_image_scatter({m: replicates[0] for m, replicates in analyses.items()}, args.out_scatter,
                           title=f"{args.title}: per test image" + (
                               " (replicate 0)" if any(len(r) > 1 for r in analyses.values()) else ""))


def cmd_methods_matrix(args) -> None:
    from robinterp.analysis.job import methods_matrix

    methods_matrix(args.dataset, replicate_pairs(args.evaluation, "--evaluation"),
                   replicate_pairs(args.attribution, "--attribution"), replicate_pairs(args.etmann, "--etmann"),
                   args.synthesis, args.out_csv, args.out_figure)


def cmd_plot_robustness_interpretability(args) -> None:
    from robinterp.analysis.figures import plot_robustness_vs_interpretability
    from robinterp.analysis.matrix import read_matrix

    plot_robustness_vs_interpretability(read_matrix(args.matrix), args.robust_metric, args.title, args.out)
