"""``plan`` (the cost of a run before it starts, and after it against the measurement) and ``probe`` (this
machine's throughputs for the plan): :mod:`robinterp.analysis.plan`, :mod:`robinterp.analysis.probe`."""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger("robinterp")

CONFIG_HELP = "the config: a YAML file's path or the JSON of the whole config"


def register(add) -> None:
    sp = add("plan", cmd_plan, "estimate every job's compute, per rule and in total, in GPU-hours (CPU-hours on cpu)")
    sp.add_argument("config", help=CONFIG_HELP)
    sp.add_argument("--probe", type=Path, default=None,
                    help="a probe's JSON (`robinterp probe`; default: <results>/probe.json if it exists, else the "
                         "table shipped with the package)")
    sp.add_argument("--compare", type=Path, default=None, metavar="RESULTS",
                    help="a finished run's results folder: per rule the estimate against its benchmark files "
                         "(<RESULTS>/benchmarks/<rule>/...tsv): their wall-clock s, and the error "
                         "(estimate - measured) / measured of each")
    sp.add_argument("--jobs", action="store_true", help="also list every job's estimate")

    sp = add("probe", cmd_probe, "time each pass of each model on this machine (under a minute) for `plan`")
    sp.add_argument("--config", default=None, help=CONFIG_HELP + "; probes the models it runs")
    sp.add_argument("--model", action="append", default=[], metavar="ARCH@CxHxW",
                    help="a model to probe besides the config's, e.g. resnet18_cifar@3x32x32 (repeatable)")
    sp.add_argument("--classes", type=int, default=10, help="classes of the --model models (default 10)")
    sp.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    sp.add_argument("--threads", type=int, default=None,
                    help="torch threads (default: the config's threads_per_job on cpu, else torch's default)")
    sp.add_argument("--batches", type=int, nargs=2, default=None, metavar=("SMALL", "LARGE"),
                    help="the two batch sizes timed (default 8 64 on cpu, 32 256 on cuda)")
    sp.add_argument("--budget", type=float, default=0.5, help="seconds per timing (default 0.5)")
    sp.add_argument("--out", type=Path, default=None,
                    help="the JSON to write (default: <results>/probe.json of the config, else probe.json)")
    sp.add_argument("--repeat", type=int, default=1,
                    help="probe this many times and keep each number's median (steadier on a shared machine; "
                         "the shipped table: 3)")


def cmd_plan(args) -> None:
    from robinterp.analysis.plan import run_plan
    from robinterp.base.config import read_config

    config = read_config(args.config)
    title = "the given config" if args.config.lstrip().startswith("{") else args.config
    print(run_plan(config, title=title, probe=args.probe, results=args.compare, per_job=args.jobs))


def cmd_probe(args) -> None:
    from robinterp.analysis.plan import PROBE_FILE, dataset_layout
    from robinterp.analysis.probe import config_models, format_probe, parse_model_key, run_probe
    from robinterp.base.config import read_config
    from robinterp.base.errors import ConfigError
    from robinterp.cli.arguments import device

    models, threads, out = {}, args.threads, args.out
    if args.config:
        config = read_config(args.config)
        models = config_models(config, {name: dataset_layout(config, name) for name in config["datasets"]})
        if threads is None and args.device == "cpu":
            threads = config.get("threads_per_job", 2)
        out = out or Path(config["results"]) / PROBE_FILE
    try:
        models |= {parse_model_key(text): args.classes for text in args.model}
    except ValueError as exc:
        raise ConfigError(f"--model {exc}") from exc
    if not models:
        raise ConfigError("probe: give --config or at least one --model")
    dev = device(args.device)
    batches = tuple(args.batches or ((32, 256) if dev.type == "cuda" else (8, 64)))
    result = run_probe(models, dev, batches=batches, budget=args.budget, threads=threads, out=out or PROBE_FILE,
                       repeat=args.repeat)
    print(format_probe(result))
    log.info("probe written to %s", out or PROBE_FILE)
