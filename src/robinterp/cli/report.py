"""``table`` (metrics JSONs → one long-format table) and ``report`` (the run's HTML report)."""

from __future__ import annotations

import logging
from pathlib import Path

from robinterp.cli.arguments import add_run_settings, pairs, replicate_pairs, run_settings

log = logging.getLogger("robinterp")


def register(add) -> None:
    sp = add("table", cmd_table, "assemble metrics JSONs into a long-format table")
    sp.add_argument("--dataset", default=None, help="dataset of MODEL=… entries")
    sp.add_argument("--metrics", nargs="+", required=True, help="[DATASET:]MODEL=metrics.json ..., once per replicate (replicate 0 first)")
    sp.add_argument("--keep", required=True, help="comma-separated metrics, in table order")
    add_run_settings(sp)
    sp.add_argument("--out", required=True, type=Path)

    sp = add("report", cmd_report, "one HTML file: every table beside the paper's numbers, every figure")
    sp.add_argument("--tables", nargs="*", default=[], help="long-format CSVs")
    sp.add_argument("--figures", nargs="*", default=[], help="PNGs")
    sp.add_argument("--imported", nargs="*", default=[],
                    help="DATASET/MODEL=import.json ... of the imported networks (import-model --record)")
    sp.add_argument("--config", required=True, help="JSON of the run's config")
    sp.add_argument("--title", default="robinterp report")
    sp.add_argument("--out", required=True, type=Path)


def cmd_table(args) -> None:
    from robinterp.base.tables import write_metrics_table

    n = write_metrics_table(replicate_pairs(args.metrics, "--metrics"), args.dataset, args.keep.split(","), args.out,
                            run=run_settings(args))
    log.info("wrote %s (%d rows)", args.out, n)


def cmd_report(args) -> None:
    from robinterp.base.config import parse_json_argument
    from robinterp.base.io import read_json
    from robinterp.report.html import build_report

    imported = {name: read_json(path) for name, path in pairs(args.imported, "--imported").items()}
    build_report(args.tables, args.figures, parse_json_argument(args.config, "--config"), args.out,
                 title=args.title, imported=imported)
    log.info("wrote %s", args.out)
