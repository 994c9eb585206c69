"""The one table schema every output table uses: long CSV ``dataset,model,metric,value,std,n,paper,
paper_comparison``; and the one standard deviation the tables report (:func:`sample_std`).

A model may be trained ``n`` times from different seeds (replicates, see
:func:`robinterp.base.seeds.replicate_seeds`); each row then summarises the
metric over them: ``value`` is the mean over the replicates, ``std`` their
sample standard deviation (ddof 1; empty when n = 1) and ``n`` their number.
``paper`` is the paper's number for the cell, or empty; ``paper_comparison`` says
whether our number compares like for like with it, or which of the settings that
decide it differ (:func:`robinterp.base.paper.paper_comparison`).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from robinterp.base.errors import RobinterpError
from robinterp.base.io import read_json, write_text
from robinterp.base.paper import paper_comparison, paper_value

COLUMNS = ["dataset", "model", "metric", "value", "std", "n", "paper", "paper_comparison"]


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


@dataclass(frozen=True)
class ReplicateSummary:
    """A metric over a model's replicates.

    Args:
        value: the mean over the replicates.
        std: the sample standard deviation (ddof 1), or None for one replicate.
        n: the number of replicates.
    """

    value: float
    std: float | None
    n: int


def summarise_replicates(values: Sequence[float]) -> ReplicateSummary:
    """Mean, sample standard deviation (ddof 1) and number of ``values``, as numpy computes them.

    The std of one value is None (undefined), not 0. A non-finite value gives numpy's answer
    (``inf`` mean, NaN std), without its warning.

    Raises:
        ValueError: no values.
    """
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1 or len(array) == 0:
        raise ValueError(f"need a non-empty list of replicate values, got {values!r}")
    with np.errstate(invalid="ignore"):
        mean = float(array.mean())
        std = sample_std(array) if len(array) > 1 else None
    return ReplicateSummary(mean, std, len(array))


def summarise_metrics(replicates: Sequence[Mapping[str, float]], keep: Iterable[str],
                      where: str = "") -> dict[str, ReplicateSummary]:
    """Each metric of ``keep`` (in that order) summarised over ``replicates`` (one metrics mapping per replicate).

    Raises:
        KeyError: naming the metric (and ``where``) if a replicate lacks one of ``keep``.
        ValueError: no replicates.
    """
    if not replicates:
        raise ValueError(f"no replicates{' of ' + where if where else ''}")
    out = {}
    for metric in keep:
        for k, metrics in enumerate(replicates):
            if metric not in metrics:
                raise KeyError(f"metric {metric!r} missing for {where or 'a model'} (replicate {k}); "
                               f"have {sorted(metrics)}")
        out[metric] = summarise_replicates([metrics[metric] for metrics in replicates])
    return out


def long_rows(dataset: str, model: str, replicates: Sequence[Mapping[str, float]], keep: Iterable[str],
              run: Mapping | None = None) -> list[dict]:
    """One row per metric in ``keep`` (in that order): its mean, std and n over ``replicates``, the paper's number,
    and whether the two compare like for like.

    Args:
        dataset, model: the row's keys.
        replicates: the model's metrics, one mapping per replicate (replicate 0 first).
        keep: the metrics of the table, in column order.
        run: the run's settings that decide comparability with the paper (the shape of
            :data:`robinterp.base.paper.PAPER_SETTINGS`); None: unknown, so no number is called like for like.

    Raises:
        KeyError: naming the metric if a replicate lacks one of ``keep``.
    """
    rows = []
    for metric, s in summarise_metrics(replicates, keep, f"{dataset}/{model}").items():
        paper = paper_value(dataset, model, metric)
        rows.append({"dataset": dataset, "model": model, "metric": metric, "value": s.value, "std": s.std, "n": s.n,
                     "paper": "" if paper is None else paper,
                     "paper_comparison": paper_comparison(dataset, model, metric, run)})
    return rows


def _number(value) -> str:
    """A value or std cell: 4 decimals; empty for None or an empty string."""
    return "" if value is None or value == "" else f"{float(value):.4f}"


def write_table(path: str | Path, rows: Iterable[Mapping]) -> None:
    """Write rows in the long schema (atomically); value and std rounded to 4 decimals.

    A row without ``std`` and ``n`` is one measurement (n 1, no std).
    """
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({**row, "value": _number(row["value"]), "std": _number(row.get("std")),
                         "n": int(row.get("n", 1)), "paper_comparison": row.get("paper_comparison", "")})
    write_text(path, buf.getvalue())


def read_table(path: str | Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def write_metrics_table(files: Mapping[str, Sequence[str | Path]], dataset: str | None, keep: Iterable[str],
                        out: str | Path, run: Mapping | None = None) -> int:
    """Assemble metrics JSON files into one long table at ``out``; returns the number of rows.

    Args:
        files: ``"DATASET:MODEL"`` (or ``"MODEL"`` with ``dataset``) → its replicates' metrics JSONs (replicate 0
            first), in table order.
        dataset: the dataset of entries named by model alone.
        keep: the metrics of the table, in column order.
        out: the CSV to write.
        run: the run's settings, for :func:`long_rows`.
    """
    keep = list(keep)
    rows = []
    for name, paths in files.items():
        table_dataset, sep, model = name.rpartition(":")
        table_dataset = table_dataset if sep else dataset
        if not table_dataset:
            raise RobinterpError(f"--metrics {name}=…: give DATASET:MODEL or --dataset")
        rows += long_rows(table_dataset, model, [read_json(p) for p in paths], keep, run)
    write_table(out, rows)
    return len(rows)
