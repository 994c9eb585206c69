"""The analysis jobs: Etmann et al.'s per-image analysis of one model, and a dataset's methods × metrics matrix."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Sequence

from robinterp.analysis.etmann_summary import summary
from robinterp.analysis.figures import plot_methods_matrix
from robinterp.analysis.matrix import matrix_metrics, matrix_rows, summarise_methods
from robinterp.analysis.settings import EtmannSettings
from robinterp.base.errors import RobinterpError
from robinterp.base.io import read_json, save_arrays, write_json
from robinterp.base.tables import write_table
from robinterp.data.store import Split
from robinterp.data.subsets import stratified_order, subset_record

if TYPE_CHECKING:  # torch is imported by etmann() only: the methods-matrix job starts without it
    import torch
    import torch.nn as nn

log = logging.getLogger(__name__)


def etmann(model: nn.Module, test: Split, s: EtmannSettings, *, device: torch.device, out_arrays: str | Path,
           out_summary: str | Path) -> dict:
    """α, ρ̃ and the boundary distance of ``s.n_images`` test images: arrays and their summary.

    The images are the first ``s.n_images`` of the seeded, class-stratified order of the test
    split (:func:`robinterp.data.subsets.stratified_order` with ``s.seed``; with the config's
    seed, the evaluation's order, so the subsets are nested), the same for every model.

    Args:
        model: the classifier.
        test: the test split.
        s: the config's ``etmann`` section.
        device: where to compute.
        out_arrays: ``.npz`` of :func:`robinterp.analysis.etmann.per_image_analysis`'s arrays plus
            ``index``, the test-split index of each row.
        out_summary: JSON of :func:`robinterp.analysis.etmann_summary.summary` plus ``"images"``, the record of
            the analysed images (:func:`robinterp.data.subsets.subset_record`).
    """
    from robinterp.analysis.etmann import per_image_analysis

    order = stratified_order(test.labels, s.seed)
    indices = order[:min(len(test), s.n_images)]
    analysis = per_image_analysis(model, test, indices, batch_size=s.batch_size, device=device, eps_max=s.eps_max,
                                  steps=s.steps, step_size_ratio=s.step_size_ratio,
                                  bisection_steps=s.bisection_steps, seed=s.seed,
                                  class_chunk=s.class_chunk)
    save_arrays(out_arrays, {**analysis, "index": indices})
    result = {**summary(analysis), "images": subset_record(order, s.seed, [len(indices)])}
    write_json(out_summary, result)
    return result


def methods_matrix(dataset: str, evaluation: Mapping[str, Sequence[str | Path]],
                   attribution: Mapping[str, Sequence[str | Path]], etmann_summaries: Mapping[str, Sequence[str | Path]],
                   synthesis: str | Path, out_csv: str | Path, out_figure: Sequence[str | Path]) -> None:
    """The methods × metrics matrix of one dataset from every method's analysis outputs (CSV and heat map).

    Args:
        dataset: the dataset's name.
        evaluation, attribution, etmann_summaries: method → its replicates' JSONs of that analysis (replicate 0
            first); the same methods in the same order in each (the matrix's row order), and as many replicates.
        synthesis: the dataset's synthesis metrics JSON (method → one metrics object per replicate).
        out_csv: the long-format table: mean, sample std and number of replicates of every cell.
        out_figure: the heat map's files.
    """
    sources = {"evaluation": evaluation, "attribution": attribution, "etmann": etmann_summaries}
    models = list(evaluation)
    for kind, paths in sources.items():
        if list(paths) != models:
            raise RobinterpError(f"--{kind} names methods {list(paths)}, --evaluation {models}")
        for m in models:
            if len(paths[m]) != len(evaluation[m]):
                raise RobinterpError(f"--{kind} has {len(paths[m])} replicates of {m}, --evaluation "
                                     f"{len(evaluation[m])}")
    synthesis_metrics = read_json(synthesis)
    replicates = {}
    for m in models:
        synthesis_rows = synthesis_metrics.get(m) or [{}] * len(evaluation[m])
        if len(synthesis_rows) != len(evaluation[m]):
            raise RobinterpError(f"{synthesis} has {len(synthesis_rows)} replicates of {m}, --evaluation "
                                 f"{len(evaluation[m])}; re-run synthesis_metrics")
        replicates[m] = [matrix_metrics(read_json(e), read_json(a), s, read_json(t))
                         for e, a, s, t in zip(evaluation[m], attribution[m], synthesis_rows, etmann_summaries[m])]
    summaries = summarise_methods(replicates)
    write_table(out_csv, matrix_rows(dataset, summaries))
    plot_methods_matrix(summaries, f"{dataset}: methods × metrics", out_figure)
    log.info("wrote %s (%d methods × %d metrics)", out_csv, len(summaries), len(next(iter(summaries.values()))))
