"""The one table schema every output table uses: long CSV ``dataset,model,metric,value,paper``; and the one
standard deviation the tables report (:func:`sample_std`)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np

from robinterp.base.errors import RobinterpError
from robinterp.base.io import read_json, write_text
from robinterp.base.paper import paper_value

COLUMNS = ["dataset", "model", "metric", "value", "paper"]


def sample_std(values) -> float:
    """The standard deviation of every table (a ``*_std`` metric): the sample standard deviation.

    s = √( Σᵢ (xᵢ − x̄)² / (n − 1) ), numpy's ``std(ddof=1)`` and torch's default
    ``std``: the estimate of the spread of the population the n values (images,
    inversions) are drawn from. With fewer than two values it is undefined and
    reported as NaN (``nan`` in the CSV and the report), never as a 0 that would
    read as "no spread".

    Args:
        values: the per-item values (any array-like; flattened), in float64.
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    return float(v.std(ddof=1)) if len(v) >= 2 else float("nan")


def long_rows(dataset: str, model: str, metrics: Mapping[str, float], keep: Iterable[str]) -> list[dict]:
    """One row per metric in ``keep`` (in that order), with the paper's number where it has one.

    Raises KeyError naming the metric if ``metrics`` lacks one of ``keep``.
    """
    rows = []
    for metric in keep:
        if metric not in metrics:
            raise KeyError(f"metric {metric!r} missing for {dataset}/{model}; have {sorted(metrics)}")
        paper = paper_value(dataset, model, metric)
        rows.append({"dataset": dataset, "model": model, "metric": metric, "value": float(metrics[metric]),
                     "paper": "" if paper is None else paper})
    return rows


def write_table(path: str | Path, rows: Iterable[Mapping]) -> None:
    """Write rows in the long schema (atomically); values rounded to 4 decimals."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({**row, "value": f"{float(row['value']):.4f}"})
    write_text(path, buf.getvalue())


def read_table(path: str | Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def write_metrics_table(files: Mapping[str, str | Path], dataset: str | None, keep: Iterable[str],
                        out: str | Path) -> int:
    """Assemble metrics JSON files into one long table at ``out``; returns the number of rows.

    Args:
        files: ``"DATASET:MODEL"`` (or ``"MODEL"`` with ``dataset``) → metrics JSON, in table order.
        dataset: the dataset of entries named by model alone.
        keep: the metrics of the table, in column order.
        out: the CSV to write.
    """
    keep = list(keep)
    rows = []
    for name, path in files.items():
        table_dataset, sep, model = name.rpartition(":")
        table_dataset = table_dataset if sep else dataset
        if not table_dataset:
            raise RobinterpError(f"--metrics {name}=…: give DATASET:MODEL or --dataset")
        rows += long_rows(table_dataset, model, read_json(path), keep)
    write_table(out, rows)
    return len(rows)
