"""``python -m robinterp <command>``: what the workflow's rules call.

Each command takes file paths and the JSON of the config sections it needs
(the workflow passes them), configures the library through arguments, and
writes its outputs atomically. Errors of the user's making (missing data,
bad config, foreign checkpoint, NaN loss) end with one line naming the file or
key and the fix, and exit status 1. The commands are grouped by pipeline stage,
one module each.
"""

from __future__ import annotations

import argparse
import logging
import sys

from robinterp.base.errors import Preempted, RobinterpError
from robinterp.cli import analysis, attacks, attribution, data, models, plan, report, synthesis, training
from robinterp.cli.training import LOG_FORMAT

log = logging.getLogger("robinterp")

STAGES = (data, models, training, attacks, attribution, synthesis, analysis, report, plan)


def build_parser() -> argparse.ArgumentParser:
    """The parser of every command, each stage's commands added by its module's ``register``."""
    p = argparse.ArgumentParser(prog="robinterp", description=__doc__.split("\n\n")[0])
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True)

    def add(name, func, help_):
        sp = sub.add_parser(name, help=help_)
        sp.set_defaults(func=func)
        return sp

    for stage in STAGES:
        stage.register(add)
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
