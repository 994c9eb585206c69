"""``prepare``: a dataset's raw files → the stored uint8 format (:mod:`robinterp.data`)."""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger("robinterp")


def register(add) -> None:
    sp = add("prepare", cmd_prepare, "prepare a dataset into the stored uint8 format")
    sp.add_argument("--settings", required=True, help="JSON of the dataset's prepare section")
    sp.add_argument("--out", required=True, type=Path, help="output folder")
    sp.add_argument("--where", default="prepare", help="config path of the section, for error messages")


def cmd_prepare(args) -> None:
    from robinterp.base.config import parse_json_argument, validate_section
    from robinterp.data.prepare import prepare_dataset

    settings = parse_json_argument(args.settings, "--settings")
    validate_section(settings, "prepare", args.where)
    meta = prepare_dataset(settings, args.out, where=args.where)
    log.info("prepared dataset written: %s", meta)
