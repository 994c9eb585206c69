"""One self-contained HTML report of a workflow run.

The report shows every table of the run (stored in the long schema, see :mod:`robinterp.base.tables`) as the
paper lays it out: one row per (dataset, model), one column per metric, and beside our value the paper's number
and the difference wherever the paper reports the metric (see :func:`paper_layout`). Where a model was trained
several times (replicates), our value is "mean ± sample std" and a column gives the number of replicates. It embeds every figure (PNG,
as a base64 data URI), and records the config and the software versions, so that a single file documents a run.
It needs no network, no JavaScript and no other file: images and styles are inline.
"""

from __future__ import annotations

import base64
import csv
import datetime
import html
import importlib.metadata
import logging
import math
import platform
import re
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml

from robinterp.base.errors import RobinterpError
from robinterp.base.io import write_text
from robinterp.base.tables import COLUMNS, ReplicateSummary, read_table

logger = logging.getLogger(__name__)

#: Distributions whose versions the report records, in this order (importlib.metadata names).
VERSIONED_PACKAGES = ("robinterp", "torch", "torchvision", "numpy", "scipy", "captum", "shap", "torch-fidelity",
                      "snakemake", "matplotlib")

NOT_INSTALLED = "not installed"

#: The columns that identify a row of a report table, in this order; ``dataset`` only where a table spans several.
KEY_COLUMNS = ("dataset", "model")

#: The header of the column of the number of replicates (only in tables where a model has several).
N_COLUMN = "n"
#: The last column of a table with the paper's numbers: whether each row compares like for like with them.
COMPARISON_COLUMN = "vs paper"

#: Suffix of a metric's standard deviation, and the suffix its metric may carry instead of none
#: (``alignment_std`` belongs to ``alignment_mean``, ``inception192_l2_inv1_std`` to ``inception192_l2_inv1``).
_STD_SUFFIX = "_std"
_MEAN_SUFFIX = "_mean"

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

_DECIMALS = 4

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2em auto; max-width: 70em;
       padding: 0 1em; color: #222; line-height: 1.4; }
h1 { border-bottom: 2px solid #444; padding-bottom: .2em; }
h2 { border-bottom: 1px solid #bbb; padding-bottom: .1em; margin-top: 2em; }
table { border-collapse: collapse; margin: .5em 0 1.5em; }
caption { text-align: left; font-weight: bold; padding: .3em 0; font-family: monospace; }
th, td { border: 1px solid #ccc; padding: .25em .7em; }
th { background: #f0f0f0; text-align: left; }
td.num { text-align: right; font-family: monospace; }
tbody tr:nth-child(even) { background: #fafafa; }
figure { margin: 1em 0 2em; }
figure img { max-width: 100%; height: auto; border: 1px solid #ddd; }
figcaption { font-family: monospace; font-weight: bold; margin-top: .3em; }
pre { background: #f6f6f6; border: 1px solid #ddd; padding: .8em; overflow-x: auto; }
nav ul { columns: 2; }
.meta { color: #666; }
""".strip()


def software_versions() -> dict[str, str]:
    """The versions of Python, the platform, robinterp and its main dependencies, and the CUDA device.

    Keys: ``python``, ``platform``, every name of :data:`VERSIONED_PACKAGES` (its installed version via
    :mod:`importlib.metadata`, or ``"not installed"``), and ``cuda`` (the name of the current CUDA device, or
    ``"none"`` where torch is missing or sees no CUDA device). For torch the version is ``torch.__version__``
    where torch imports, since it carries the build's local label (``+cpu``, ``+cu130``) that the wheel's
    metadata may lack.
    """
    versions = {"python": platform.python_version(), "platform": platform.platform()}
    for name in VERSIONED_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = NOT_INSTALLED
    try:
        import torch
    except ImportError:
        versions["cuda"] = "none"
    else:
        versions["torch"] = torch.__version__
        versions["cuda"] = torch.cuda.get_device_name() if torch.cuda.is_available() else "none"
    return versions


def table_rows_with_difference(rows: list[dict]) -> list[dict]:
    """Copies of long-schema rows with ``value``, ``std``, ``n`` and ``paper`` parsed and a ``difference`` added.

    Args:
        rows: rows as :func:`robinterp.base.tables.read_table` returns them (``value``, ``std``, ``n`` and ``paper``
            as strings or numbers; ``std`` and ``paper`` an empty string or None where there is no number; a row
            without ``std`` and ``n`` is one measurement).

    Returns:
        New dicts (the input is not modified): ``value`` a float (the mean over the replicates), ``std`` a float or
        None, ``n`` an int, ``paper`` a float or None, and ``difference`` = value − paper, or None where the paper
        has no number or the difference is not finite (a NaN value).

    Raises:
        ValueError: naming the row, if ``value``, a non-empty ``std`` or ``paper``, or ``n`` is not a number.
    """
    result = []
    for row in rows:
        value = _parse_number(row.get("value"), "value", row)
        if value is None:
            raise ValueError(f"row {row!r} has no value")
        std = _parse_number(row.get("std"), "std", row)
        n = _parse_number(row.get("n"), "n", row)
        if n is not None and (not math.isfinite(n) or n != int(n) or n < 1):
            raise ValueError(f"column 'n' of row {row!r} is not a number of replicates")
        paper = _parse_number(row.get("paper"), "paper", row)
        difference = None if paper is None else value - paper
        if difference is not None and not math.isfinite(difference):
            difference = None
        result.append({**row, "value": value, "std": std, "n": 1 if n is None else int(n), "paper": paper,
                       "difference": difference})
    return result


def paper_column(metric: str) -> str:
    """The header of the column holding the paper's number for ``metric``.

    Args:
        metric: the metric's name (a ``metric`` of the long schema).
    """
    return f"{metric} (paper)"


def difference_column(metric: str) -> str:
    """The header of the column holding ours − paper for ``metric``.

    Args:
        metric: the metric's name (a ``metric`` of the long schema).
    """
    return f"{metric} (ours − paper)"


def _metric_order(metrics: Sequence[str]) -> list[str]:
    """``metrics`` in column order: first appearance, except that a ``_std`` metric follows its metric.

    The metric of ``X_std`` is ``X`` where ``metrics`` has it, else ``X_mean`` where it has that; a ``_std`` metric
    without either keeps its own place.

    Args:
        metrics: the distinct metrics of a table, in order of first appearance.
    """
    present = set(metrics)
    followers: dict[str, list[str]] = {metric: [] for metric in metrics}
    leaders = []
    for metric in metrics:
        stem = metric[:-len(_STD_SUFFIX)] if metric.endswith(_STD_SUFFIX) else ""
        base = next((b for b in (stem, stem + _MEAN_SUFFIX) if stem and b in present), None)
        if base is None:
            leaders.append(metric)
        else:
            followers[base].append(metric)

    order: list[str] = []

    def place(metric: str) -> None:
        order.append(metric)
        for follower in followers[metric]:
            place(follower)

    for metric in leaders:
        place(metric)
    return order


def paper_layout(rows: Sequence[Mapping]) -> tuple[list[str], list[list[Any]]]:
    """A long table laid out as the paper does: one row per (dataset, model), one column per metric.

    Rows come in the order of the first appearance of their (dataset, model), metrics in the order of their first
    appearance, except that a ``_std`` metric's columns follow those of its metric (see :func:`_metric_order`).
    Every metric for which the paper has a number in at least one row gets three columns: our value, the paper's
    number (:func:`paper_column`) and ours − paper (:func:`difference_column`); every other metric gets our
    value only. Where some model of the table has several replicates (``n`` > 1), an ``n`` column follows the
    model, and our value of a cell with a std is a :class:`~robinterp.base.tables.ReplicateSummary` (mean ± std).
    Pure: no I/O, the input is not modified.

    Args:
        rows: rows as :func:`table_rows_with_difference` returns them (``value`` a float, ``std``, ``paper`` and
            ``difference`` floats or None, ``n`` an int), in the CSV's order.

    Returns:
        ``(header, body)``: ``header`` the column names, ``"dataset"`` (only where the rows span several datasets),
        ``"model"`` and ``"n"`` (only where a model has several replicates) first, then the metric columns, and
        last, where the paper has numbers, ``"vs paper"``: per row whether its numbers compare like for like with
        the paper's, or which settings differ (the rows' ``paper_comparison``, distinct ones joined);
        ``body`` one list of cells per (dataset, model), aligned with ``header``: the dataset and model as strings,
        the number of replicates as an int (or a string such as ``"1–2"`` where the model's metrics have different
        numbers), then numbers (floats, or summaries with their std), None where there is no number (a (dataset,
        model) without that metric, a paper without that cell, a difference that cannot be computed).

    Raises:
        ValueError: naming them, if two rows share dataset, model and metric.
    """
    datasets = list(dict.fromkeys(str(row["dataset"]) for row in rows))
    keys = list(dict.fromkeys((str(row["dataset"]), str(row["model"])) for row in rows))
    metrics = _metric_order(list(dict.fromkeys(str(row["metric"]) for row in rows)))
    cells: dict[tuple[str, str, str], Mapping] = {}
    for row in rows:
        key = (str(row["dataset"]), str(row["model"]), str(row["metric"]))
        if key in cells:
            raise ValueError(f"two rows for dataset {key[0]!r}, model {key[1]!r}, metric {key[2]!r}")
        cells[key] = row
    with_paper = {str(row["metric"]) for row in rows if row.get("paper") is not None}
    keep_dataset = len(datasets) > 1
    replicated = any(row.get("n", 1) > 1 for row in rows)

    header = [*KEY_COLUMNS] if keep_dataset else list(KEY_COLUMNS[1:])
    header += [N_COLUMN] if replicated else []
    for metric in metrics:
        header += [metric, paper_column(metric), difference_column(metric)] if metric in with_paper else [metric]
    header += [COMPARISON_COLUMN] if with_paper else []
    body = []
    for dataset, model in keys:
        line: list[Any] = [dataset, model] if keep_dataset else [model]
        if replicated:
            ns = sorted({row.get("n", 1) for (d, m, _), row in cells.items() if (d, m) == (dataset, model)})
            line.append(ns[0] if len(ns) == 1 else f"{ns[0]}–{ns[-1]}")
        for metric in metrics:
            row = cells.get((dataset, model, metric), {})
            value = row.get("value")
            if value is not None and row.get("std") is not None:
                value = ReplicateSummary(value, row["std"], row["n"])
            line.append(value)
            if metric in with_paper:
                line += [row.get("paper"), row.get("difference")]
        if with_paper:
            notes = [str(row.get("paper_comparison") or "") for (d, m, _), row in cells.items() if (d, m) == (dataset, model)]
            line.append("; ".join(dict.fromkeys(n for n in notes if n)))
        body.append(line)
    return header, body


def _parse_number(text: Any, column: str, row: Mapping) -> float | None:
    """``text`` as a float, or None where it is None or blank.

    Args:
        text: a cell of a row (string or number).
        column: the cell's column, for the error message.
        row: the whole row, for the error message.
    """
    if text is None or (isinstance(text, str) and not text.strip()):
        return None
    try:
        return float(text)
    except (TypeError, ValueError):
        raise ValueError(f"column {column!r} of row {row!r} is not a number: {text!r}") from None


def build_report(tables: Sequence[str | Path], figures: Sequence[str | Path], config: Mapping, out: str | Path,
                 *, title: str = "robinterp report", versions: Mapping[str, str] | None = None,
                 imported: Mapping[str, Mapping] | None = None) -> None:
    """Write one self-contained HTML report of a run to ``out`` (atomically).

    Every input is read and checked before anything is written, so a failure leaves no (partial) ``out``.

    Args:
        tables: long-schema CSV files (``dataset,model,metric,value,std,n,paper``), one report section each, in this
            order, captioned with the file's stem.
        figures: PNG files, one report section each, in this order, embedded as base64 data URIs and captioned
            with the file's stem.
        config: the run's configuration (the Snakemake config mapping), shown as YAML.
        out: the HTML file to write; its folder is created if needed.
        title: the report's title (``<title>`` and top heading).
        versions: software name → version for the versions table; None means :func:`software_versions`.
        imported: ``"dataset/model"`` → what the import job recorded of an imported network
            (:func:`robinterp.models.job.import_model`), listed in a table after the others; None or empty: none.

    Raises:
        RobinterpError: a table or figure file is missing (naming it and the workflow rule that makes it), a CSV
            lacks the long-schema columns or holds a non-number value, or a figure is not a PNG file.
    """
    table_sections = [_table_section(Path(p), c) for p, c in zip(tables, captions(tables))]
    if imported:
        table_sections.append(imported_models_html(imported))
    figure_sections = [_figure_section(Path(p), c) for p, c in zip(figures, captions(figures))]
    if versions is None:
        versions = software_versions()
    generated = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    document = _document(title, generated, tables, figures, table_sections, figure_sections,
                         _config_section(config), _versions_section(versions))
    # Non-ASCII characters become character references: the file is ASCII, whatever the locale's encoding.
    write_text(out, document.encode("ascii", "xmlcharrefreplace").decode("ascii"))
    logger.info("wrote report %s (%d tables, %d figures)", out, len(tables), len(figures))


# --- inputs -------------------------------------------------------------------------------------------------------

def _missing_file_error(path: Path, kind: str) -> RobinterpError:
    """The error for a ``kind`` (``"table"``/``"figure"``) file ``path`` that does not exist."""
    return RobinterpError(f"{kind} file {str(path)!r} does not exist: run the workflow target that makes it "
                          f"(snakemake ... {path}) before building the report")


def _read_long_table(path: Path) -> list[dict]:
    """The rows of the long-schema CSV ``path``, with ``difference`` added (see :func:`table_rows_with_difference`).

    Args:
        path: the CSV file.

    Raises:
        RobinterpError: ``path`` is missing, lacks a column of :data:`robinterp.base.tables.COLUMNS`, or a row's
            value/paper is not a number.
    """
    if not path.is_file():
        raise _missing_file_error(path, "table")
    with open(path, newline="") as f:
        header = next(csv.reader(f), [])
    missing = [column for column in COLUMNS if column not in header]
    if missing:
        raise RobinterpError(f"table {str(path)!r} is not in the long schema: it lacks column(s) {missing} "
                             f"(has {header}); expected the columns {','.join(COLUMNS)}")
    try:
        return table_rows_with_difference(read_table(path))
    except ValueError as error:
        raise RobinterpError(f"table {str(path)!r}: {error}") from None


def _read_png(path: Path) -> bytes:
    """The bytes of the PNG file ``path``.

    Raises:
        RobinterpError: ``path`` is missing or is not a PNG file.
    """
    if not path.is_file():
        raise _missing_file_error(path, "figure")
    data = path.read_bytes()
    if not data.startswith(_PNG_SIGNATURE):
        raise RobinterpError(f"figure {str(path)!r} is not a PNG file (the report embeds PNG figures only)")
    return data


# --- HTML pieces --------------------------------------------------------------------------------------------------

def _esc(text: Any) -> str:
    """``text`` as a string, escaped for HTML text and attribute values."""
    return html.escape(str(text), quote=True)


def _section_id(kind: str, stem: str) -> str:
    """An HTML id for the section of ``kind`` (``"table"``/``"figure"``) captioned ``stem``."""
    return f"{kind}-" + re.sub(r"[^A-Za-z0-9_-]", "-", stem)


def format_number(number: float | None) -> str:
    """``number`` with 4 decimals; an empty string where it is None, ``nan``/``inf``/``-inf`` where not finite.

    Args:
        number: the number to show; ``-0`` after rounding shows as ``0.0000``. A difference that cannot be computed
            is None (see :func:`table_rows_with_difference`), so its cell is empty, never ``nan``.
    """
    if number is None:
        return ""
    if not math.isfinite(number):
        return str(number)
    text = f"{number:.{_DECIMALS}f}"
    return text[1:] if float(text) == 0 and text.startswith("-") else text


def format_cell(cell: Any) -> str:
    """A numeric cell of :func:`paper_layout`: a number as :func:`format_number`, a number of replicates as an
    integer, a summary over replicates as "mean ± std" (each as :func:`format_number`)."""
    if isinstance(cell, ReplicateSummary):
        return f"{format_number(cell.value)} ± {format_number(cell.std)}"
    if isinstance(cell, int) and not isinstance(cell, bool):
        return str(cell)
    return format_number(cell)


def table_html(caption: str, rows: Sequence[Mapping]) -> str:
    """An HTML ``<table>`` of report rows in the paper's layout (see :func:`paper_layout`).

    Args:
        caption: the table's caption (escaped here).
        rows: rows as :func:`table_rows_with_difference` returns them.

    Raises:
        ValueError: if two rows share dataset, model and metric.
    """
    header, body = paper_layout(rows)
    head = "".join(f"<th>{_esc(column)}</th>" for column in header)
    lines = []
    for line in body:
        cells = [f"<td>{_esc(cell)}</td>" if isinstance(cell, str) else f'<td class="num">{format_cell(cell)}</td>'
                 for cell in line]
        lines.append(f"<tr>{''.join(cells)}</tr>")
    return (f"<table>\n<caption>{_esc(caption)}</caption>\n<thead><tr>{head}</tr></thead>\n"
            f"<tbody>\n" + "\n".join(lines) + "\n</tbody>\n</table>")


def imported_models_html(records: Mapping[str, Mapping]) -> str:
    """A section listing the imported networks: source, architecture, file and SHA-256, classes and resizing.

    Args:
        records: ``"dataset/model"`` → the ``"imported"`` record of its model file.
    """
    def classes(r: Mapping) -> str:
        c = r.get("class_restriction")
        return (f"all {r.get('source_classes')} outputs" if not c else
                f"{c['kept']} of {c['network_outputs']} outputs, by {c['by']}")

    def files(r: Mapping) -> str:
        return "<br>".join(f"{_esc(f['path'])}<br><code>sha256 {_esc(f['sha256'])}</code>"
                           for f in r.get("files", [])) or "(no file)"

    lines = [f"<tr><td>{_esc(name)}</td><td>{_esc(r.get('source'))}</td><td>{_esc(r.get('arch'))}</td>"
             f"<td>{files(r)}</td><td>{_esc(classes(r))}</td><td>{_esc(r.get('resize') or 'none')}</td></tr>"
             for name, r in records.items()]
    head = "".join(f"<th>{c}</th>" for c in ("model", "source", "architecture", "weights file", "classes", "resize"))
    return (f'<section id="table-imported-models">\n<table>\n<caption>imported models</caption>\n'
            f"<thead><tr>{head}</tr></thead>\n<tbody>\n" + "\n".join(lines) + "\n</tbody>\n</table>\n</section>")


def figure_html(caption: str, png: bytes) -> str:
    """An HTML ``<figure>`` embedding ``png`` as a base64 data URI.

    Args:
        caption: the figure's caption and alt text (escaped here).
        png: the bytes of a PNG file.
    """
    payload = base64.b64encode(png).decode("ascii")
    return (f'<figure>\n<img src="data:image/png;base64,{payload}" alt="{_esc(caption)}">\n'
            f"<figcaption>{_esc(caption)}</figcaption>\n</figure>")


def captions(paths: Sequence[str | Path]) -> list[str]:
    """Each file's caption: its stem, or ``folder/stem`` where several files share the stem
    (``results/cifar10/methods_matrix.csv`` and ``results/smallimagenet150/methods_matrix.csv``)."""
    stems = [Path(p).stem for p in paths]
    return [f"{Path(p).parent.name}/{stem}" if stems.count(stem) > 1 else stem for p, stem in zip(paths, stems)]


def _table_section(path: Path, caption: str) -> str:
    """The report section of the long-schema CSV ``path`` (reads and checks it), in the paper's layout.

    A table of one dataset has no dataset column (see :func:`paper_layout`); a line above it names the dataset.

    Args:
        path: the CSV file.
        caption: the table's caption, which also names the section (``table-…`` id).

    Raises:
        RobinterpError: as :func:`_read_long_table`, or two rows of ``path`` share dataset, model and metric.
    """
    rows = _read_long_table(path)
    try:
        table = table_html(caption, rows)
    except ValueError as error:
        raise RobinterpError(f"table {str(path)!r}: {error}") from None
    datasets = list(dict.fromkeys(str(row["dataset"]) for row in rows))
    note = f'<p class="meta">Dataset: {_esc(datasets[0])}</p>\n' if len(datasets) == 1 else ""
    return f'<section id="{_section_id("table", caption)}">\n{note}{table}\n</section>'


def _figure_section(path: Path, caption: str) -> str:
    """The report section of the PNG figure ``path`` (reads and checks it)."""
    png = _read_png(path)
    return f'<section id="{_section_id("figure", caption)}">\n{figure_html(caption, png)}\n</section>'


def _plain(obj: Any) -> Any:
    """``obj`` with every mapping turned into a dict, every list/tuple into a list and every path into a string.

    Args:
        obj: a config value (Snakemake's config may hold mapping types :func:`yaml.safe_dump` refuses).
    """
    if isinstance(obj, Mapping):
        return {_plain(key): _plain(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(item) for item in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj


def config_yaml(config: Mapping) -> str:
    """``config`` as YAML (:func:`yaml.safe_dump`, keys in their given order).

    Args:
        config: the nested configuration mapping.
    """
    return yaml.safe_dump(_plain(config), sort_keys=False, default_flow_style=False, allow_unicode=True)


def _config_section(config: Mapping) -> str:
    """The report section showing ``config`` as YAML in a ``<pre>``."""
    return f'<section id="config">\n<h2>Config</h2>\n<pre>{_esc(config_yaml(config))}</pre>\n</section>'


def versions_html(versions: Mapping[str, str]) -> str:
    """An HTML ``<table>`` of software name → version.

    Args:
        versions: software name → version, in display order (escaped here).
    """
    body = "\n".join(f"<tr><td>{_esc(name)}</td><td>{_esc(version)}</td></tr>" for name, version in versions.items())
    return (f"<table>\n<caption>software versions</caption>\n<thead><tr><th>software</th><th>version</th></tr>"
            f"</thead>\n<tbody>\n{body}\n</tbody>\n</table>")


def _versions_section(versions: Mapping[str, str]) -> str:
    """The report section of the software versions."""
    return f'<section id="versions">\n<h2>Software versions</h2>\n{versions_html(versions)}\n</section>'


def _contents(tables: Sequence[str | Path], figures: Sequence[str | Path]) -> str:
    """A ``<nav>`` linking to every section.

    Args:
        tables: the table files, in report order.
        figures: the figure files, in report order.
    """
    def links(kind: str, paths: Sequence[str | Path]) -> str:
        return "".join(f'<li><a href="#{_section_id(kind, c)}">{_esc(c)}</a></li>' for c in captions(paths))

    return (f'<nav>\n<h2>Contents</h2>\n<ul>{links("table", tables)}{links("figure", figures)}'
            f'<li><a href="#config">config</a></li><li><a href="#versions">software versions</a></li></ul>\n</nav>')


def _document(title: str, generated: str, tables: Sequence[str | Path], figures: Sequence[str | Path],
              table_sections: Sequence[str], figure_sections: Sequence[str], config: str, versions: str) -> str:
    """The whole HTML document.

    Args:
        title: the report's title (escaped here).
        generated: the generation timestamp (ISO 8601).
        tables: the table files, in report order (for the contents).
        figures: the figure files, in report order (for the contents).
        table_sections: the HTML of each table section.
        figure_sections: the HTML of each figure section.
        config: the HTML of the config section.
        versions: the HTML of the versions section.
    """
    note = ("Each table is laid out as in the paper: one row per model (and dataset, where a table spans several), "
            "one column per metric. Columns: our value, the paper's number (Boychev 2023) where it reports one, and "
            "ours − paper; a metric the paper reports for no row has our value only. An empty cell means there "
            "is no number (the paper has none for that row, or the run has no such metric for it). Where a model "
            "was trained several times (replicates), our value is the mean ± the sample standard deviation "
            "(ddof 1) over them, ours − paper uses the mean, and the n column gives their number.")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        f'<head>\n<meta charset="utf-8">\n<title>{_esc(title)}</title>\n<style>\n{_CSS}\n</style>\n</head>',
        "<body>",
        f"<header>\n<h1>{_esc(title)}</h1>\n"
        f'<p class="meta">Generated <time datetime="{_esc(generated)}">{_esc(generated)}</time></p>\n</header>',
        _contents(tables, figures),
        f'<section id="tables">\n<h2>Tables</h2>\n<p class="meta">{_esc(note)}</p>',
        *table_sections,
        "</section>",
        '<section id="figures">\n<h2>Figures</h2>',
        *figure_sections,
        "</section>",
        config,
        versions,
        "</body>",
        "</html>",
        "",
    ]
    return "\n".join(parts)
