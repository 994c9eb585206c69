"""The HTML run report: tables beside the paper, embedded figures, config and versions; parsed, not grepped."""

from __future__ import annotations

import base64
import datetime
import math
from html.parser import HTMLParser
from pathlib import Path

import pytest
import torch
import yaml
from PIL import Image

from robinterp.base.errors import RobinterpError
from robinterp.report.html import (build_report, paper_layout, software_versions, table_html,
                                   table_rows_with_difference)
from robinterp.base.tables import COLUMNS, long_rows, read_table, write_table

DATA_URI = "data:image/png;base64,"
SCRIPT = "<script>alert('x')</script>"
MINUS = "\u2212"


class ReportParser(HTMLParser):
    """Collects the tables (caption, header, rows of cell texts), images, figcaptions, <pre> texts and tag names."""

    def __init__(self):
        super().__init__()
        self.tags: list[str] = []
        self.tables: list[dict] = []
        self.images: list[dict] = []
        self.figcaptions: list[str] = []
        self.pres: list[str] = []
        self.times: list[dict] = []
        self.links: list[str] = []
        self._text: list[str] | None = None
        self._row: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        if tag == "table":
            self.tables.append({"caption": None, "header": [], "rows": []})
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th", "caption", "figcaption", "pre"):
            self._text = []
        elif tag == "img":
            self.images.append(attrs)
        elif tag == "time":
            self.times.append(attrs)
        for name in ("href", "src"):
            if name in attrs:
                self.links.append(attrs[name])

    def handle_data(self, data):
        if self._text is not None:
            self._text.append(data)

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self._row.append("".join(self._text))
            self._text = None
        elif tag == "tr":
            table = self.tables[-1]
            if table["header"]:
                table["rows"].append(self._row)
            else:
                table["header"] = self._row
            self._row = None
        elif tag in ("caption", "figcaption", "pre"):
            text = "".join(self._text)
            self._text = None
            if tag == "caption":
                self.tables[-1]["caption"] = text
            else:
                (self.figcaptions if tag == "figcaption" else self.pres).append(text)

    def table(self, caption: str) -> dict:
        matches = [t for t in self.tables if t["caption"] == caption]
        captions = [t["caption"] for t in self.tables]
        assert len(matches) == 1, f"tables captioned {caption!r}: {len(matches)} of {captions}"
        return matches[0]


def parse(path: Path) -> ReportParser:
    parser = ReportParser()
    parser.feed(path.read_text())
    parser.close()
    return parser


def make_png(path: Path, color: tuple[int, int, int]) -> Path:
    Image.new("RGB", (6, 4), color).save(path)
    return path


@pytest.fixture
def run(tmp_path):
    """A run's outputs: two tables (one row with a paper number each, one without), two distinct PNGs, a config."""
    results = tmp_path / "results"
    results.mkdir()
    table1 = results / "table1_accuracy.csv"
    write_table(table1, [
        {"dataset": "digits", "model": "robust_l2", "metric": "clean_accuracy", "value": 90.0, "paper": 88.25},
        {"dataset": "digits", "model": "standard", "metric": "pgd_l2_accuracy", "value": 12.3456, "paper": ""},
    ])
    table2 = results / "table2_fid.csv"
    write_table(table2, [
        {"dataset": "cifar10", "model": "standard", "metric": "fid", "value": 150.0, "paper": 152.29},
        {"dataset": "cifar10", "model": SCRIPT, "metric": "fid", "value": 7.5, "paper": ""},
    ])
    fig1 = make_png(results / "fig02_digits_attributions.png", (255, 0, 0))
    fig2 = make_png(results / "fig_training_digits.png", (0, 0, 255))
    config = {"results": "results/demo", "seed": 7, "note": SCRIPT,
              "datasets": {"digits": {"train": {"epochs": 2, "lr": 0.05}, "methods": ["standard", "robust_l2"]}}}
    return {"tables": [table1, table2], "figures": [fig1, fig2], "config": config, "dir": tmp_path}


@pytest.fixture
def report(run):
    out = run["dir"] / "report" / "report.html"
    build_report(run["tables"], [str(p) for p in run["figures"]], run["config"], out, title="demo run")
    return out


def test_tables_show_value_paper_and_difference_in_the_papers_layout(report):
    parsed = parse(report)
    table1 = parsed.table("table1_accuracy")
    # one dataset: no dataset column; a metric the paper reports gets (paper) and (ours - paper), one it never does not
    assert table1["header"] == ["model", "clean_accuracy", "clean_accuracy (paper)",
                                f"clean_accuracy (ours {MINUS} paper)", "pgd_l2_accuracy", "vs paper"]
    assert table1["rows"] == [
        ["robust_l2", "90.0000", "88.2500", "1.7500", "", ""],
        ["standard", "", "", "", "12.3456", ""],
    ]
    table2 = parsed.table("table2_fid")
    assert table2["header"] == ["model", "fid", "fid (paper)", f"fid (ours {MINUS} paper)", "vs paper"]
    assert table2["rows"][0] == ["standard", "150.0000", "152.2900", "-2.2900", ""]
    assert table2["rows"][1][0] == SCRIPT  # the model name, escaped in the file, reads back as text
    assert table2["rows"][1][1:] == ["7.5000", "", "", ""]
    text = report.read_text()
    # the dataset a one-dataset table drops from its columns is named above it, inside the table's section
    assert '<section id="table-table1_accuracy">\n<p class="meta">Dataset: digits</p>\n<table>' in text
    assert '<section id="table-table2_fid">\n<p class="meta">Dataset: cifar10</p>\n<table>' in text


def test_tables_note_explains_the_columns_and_report_is_ascii(report):
    data = report.read_bytes()
    data.decode("ascii")  # raises on any non-ASCII byte
    text = report.read_text()
    assert ("Columns: our value, the paper&#x27;s number (Boychev 2023) where it reports one, and ours &#8722; paper"
            in text)
    assert "&#8722;" in text and MINUS not in text


def test_figures_are_embedded_byte_for_byte(run, report):
    parsed = parse(report)
    payloads = [img["src"] for img in parsed.images]
    assert all(src.startswith(DATA_URI) for src in payloads)
    decoded = [base64.b64decode(src[len(DATA_URI):], validate=True) for src in payloads]
    expected = [path.read_bytes() for path in run["figures"]]
    assert expected[0] != expected[1]
    assert decoded == expected
    assert parsed.figcaptions == ["fig02_digits_attributions", "fig_training_digits"]
    assert [img["alt"] for img in parsed.images] == parsed.figcaptions


def test_config_is_yaml_in_pre_and_round_trips(run, report):
    parsed = parse(report)
    assert len(parsed.pres) == 1
    text = parsed.pres[0]
    assert "results/demo" in text and "0.05" in text and "robust_l2" in text
    loaded = yaml.safe_load(text)
    assert loaded == run["config"]
    assert list(loaded) == list(run["config"])  # key order kept (sort_keys=False)


def test_user_text_is_escaped(report):
    parsed = parse(report)
    assert "script" not in parsed.tags
    assert SCRIPT in parsed.pres[0]
    assert SCRIPT not in report.read_text()


def test_report_is_self_contained_with_timestamp(report):
    parsed = parse(report)
    assert all(link.startswith(("#", DATA_URI)) for link in parsed.links), parsed.links
    assert not {"script", "link", "iframe"} & set(parsed.tags)
    assert len(parsed.times) == 1
    generated = datetime.datetime.fromisoformat(parsed.times[0]["datetime"])
    assert abs(datetime.datetime.now(datetime.timezone.utc) - generated) < datetime.timedelta(minutes=5)


def test_versions_table_defaults_to_installed_versions(report):
    versions = parse(report).table("software versions")
    assert versions["header"] == ["software", "version"]
    assert ["torch", torch.__version__] in versions["rows"]
    assert [name for name, _ in versions["rows"]] == list(software_versions())


def test_versions_given_are_shown(run, tmp_path):
    out = tmp_path / "r.html"
    build_report(run["tables"], [], run["config"], out, versions={"torch": "9.9.9", "cuda": "none"})
    assert parse(out).table("software versions")["rows"] == [["torch", "9.9.9"], ["cuda", "none"]]


def test_imported_models_are_listed_with_their_files_checksums_classes_and_resizing(run, tmp_path):
    record = {"source": "madrylab", "arch": "resnet50", "source_classes": 1000,
              "files": [{"path": "weights/imagenet_l2_3_0.pt", "sha256": "ab12" * 16}],
              "class_restriction": {"by": "wnid", "network_outputs": 1000, "kept": 150, "index": list(range(150))},
              "resize": "bilinear, antialiased, 128×128 → 224×224, inside the model"}
    out = tmp_path / "r.html"
    build_report(run["tables"], [], run["config"], out, versions={},
                 imported={"smallimagenet150/madry_l2_eps3": record,
                           "cifar10/rb_standard": {**record, "source": "robustbench", "arch": "Standard",
                                                   "class_restriction": None, "source_classes": 10, "resize": None}})
    table = parse(out).table("imported models")
    assert table["header"] == ["model", "source", "architecture", "weights file", "classes", "resize"]
    assert table["rows"][0][:3] == ["smallimagenet150/madry_l2_eps3", "madrylab", "resnet50"]
    assert "ab12" * 16 in table["rows"][0][3] and "weights/imagenet_l2_3_0.pt" in table["rows"][0][3]
    assert table["rows"][0][4:] == ["150 of 1000 outputs, by wnid", "bilinear, antialiased, 128×128 → 224×224, "
                                                                    "inside the model"]
    assert table["rows"][1][4:] == ["all 10 outputs", "none"]


def test_software_versions():
    versions = software_versions()
    expected = {"python", "platform", "robinterp", "torch", "torchvision", "numpy", "scipy", "captum", "shap",
                "torch-fidelity", "snakemake", "matplotlib", "cuda"}
    assert set(versions) == expected
    assert versions["torch"] == torch.__version__
    assert all(isinstance(v, str) and v for v in versions.values())
    assert versions["cuda"] == (torch.cuda.get_device_name() if torch.cuda.is_available() else "none")


def test_nan_value_leaves_difference_cell_empty(tmp_path):
    table = tmp_path / "table1_accuracy.csv"
    write_table(table, [{"dataset": "d", "model": "m", "metric": "acc", "value": math.nan, "paper": 1.0}])
    out = tmp_path / "r.html"
    build_report([table], [], {}, out, versions={})
    assert parse(out).table("table1_accuracy")["rows"] == [["m", "nan", "1.0000", "", ""]]


def assert_nothing_written(folder: Path):
    assert not folder.exists() or list(folder.iterdir()) == []


def test_missing_figure_names_it_and_writes_nothing(run):
    missing = run["dir"] / "results" / "fig_training_cifar10.png"
    out = run["dir"] / "report" / "report.html"
    with pytest.raises(RobinterpError) as error:
        build_report(run["tables"], [*run["figures"], missing], run["config"], out, versions={})
    assert str(missing) in str(error.value)
    assert "run the workflow target" in str(error.value)
    assert_nothing_written(out.parent)


def test_missing_table_names_it(run):
    missing = run["dir"] / "results" / "table4_accuracy.csv"
    out = run["dir"] / "report" / "report.html"
    with pytest.raises(RobinterpError, match="does not exist") as error:
        build_report([missing, *run["tables"]], run["figures"], run["config"], out, versions={})
    assert str(missing) in str(error.value)
    assert_nothing_written(out.parent)


def test_csv_with_wrong_columns_is_rejected(run):
    wrong = run["dir"] / "results" / "table9_wide.csv"
    wrong.write_text("model,clean_accuracy\nstandard,90.0\n")
    out = run["dir"] / "report" / "report.html"
    with pytest.raises(RobinterpError) as error:
        build_report([*run["tables"], wrong], run["figures"], run["config"], out, versions={})
    assert str(wrong) in str(error.value)
    assert ",".join(COLUMNS) in str(error.value)
    assert_nothing_written(out.parent)


def test_failure_keeps_an_earlier_report_and_leaves_no_temp_file(run):
    out = run["dir"] / "report.html"
    out.write_text("earlier report")
    with pytest.raises(RobinterpError):
        build_report(run["tables"], [run["dir"] / "nope.png"], run["config"], out, versions={})
    assert out.read_text() == "earlier report"
    assert sorted(p.name for p in run["dir"].iterdir()) == ["report.html", "results"]


def test_table_rows_with_difference():
    rows = [
        {"dataset": "d", "model": "a", "metric": "fid", "value": "80.0000", "paper": "88.25"},
        {"dataset": "d", "model": "b", "metric": "fid", "value": "3.5", "paper": ""},
        {"dataset": "d", "model": "c", "metric": "fid", "value": 2.0, "paper": 0.5},
    ]
    before = [dict(row) for row in rows]
    result = table_rows_with_difference(rows)
    assert rows == before  # the input is not modified
    assert result[0] == {**rows[0], "value": 80.0, "std": None, "n": 1, "paper": 88.25,
                         "difference": pytest.approx(-8.25)}
    assert result[0]["difference"] < 0
    assert result[1]["paper"] is None and result[1]["difference"] is None and result[1]["value"] == 3.5
    assert result[2]["difference"] == 1.5
    assert table_rows_with_difference([]) == []


def test_table_rows_with_difference_rejects_non_numbers():
    with pytest.raises(ValueError, match="abc"):
        table_rows_with_difference([{"dataset": "d", "model": "m", "metric": "x", "value": "abc", "paper": ""}])


def test_files_that_share_a_name_are_captioned_with_their_folder():
    from robinterp.report.html import captions

    assert captions(["r/cifar10/methods_matrix.csv", "r/mnist/methods_matrix.csv", "r/table2_fid.csv"]) == [
        "cifar10/methods_matrix", "mnist/methods_matrix", "table2_fid"]


# --- the paper's layout -------------------------------------------------------------------------------------------

def long_table(*cells: tuple) -> list[dict]:
    """Report rows (see table_rows_with_difference) of (dataset, model, metric, value, paper) cells, as the CSV has
    them (strings; an empty paper where the paper has no number; one replicate)."""
    return table_rows_with_difference([dict(zip(COLUMNS, (d, m, metric, str(v), "", "1", "" if p is None else str(p))))
                                       for d, m, metric, v, p in cells])


def test_paper_layout_two_models_three_metrics():
    rows = long_table(
        ("cifar10", "standard", "clean_accuracy", 93.0, 93.2),
        ("cifar10", "standard", "pgd_l2_accuracy", 0.5, None),
        ("cifar10", "robust_l2", "fid", 90.0, 88.25),  # the paper's fid only for robust_l2
        ("cifar10", "robust_l2", "clean_accuracy", 84.0, 85.0),
        ("cifar10", "robust_l2", "pgd_l2_accuracy", 60.0, None),
        ("cifar10", "standard", "fid", 150.0, None),
    )
    before = [dict(row) for row in rows]
    header, body = paper_layout(rows)
    assert rows == before  # the input is not modified
    # rows: first appearance of the model; columns: first appearance of the metric; pgd: never in the paper
    assert header == ["model",
                      "clean_accuracy", "clean_accuracy (paper)", f"clean_accuracy (ours {MINUS} paper)",
                      "pgd_l2_accuracy",
                      "fid", "fid (paper)", f"fid (ours {MINUS} paper)", "vs paper"]
    assert body == [
        ["standard", 93.0, 93.2, pytest.approx(-0.2), 0.5, 150.0, None, None, ""],
        ["robust_l2", 84.0, 85.0, -1.0, 60.0, 90.0, 88.25, 1.75, ""],
    ]
    assert all(len(line) == len(header) for line in body)


def test_paper_layout_puts_std_right_after_its_metric():
    metrics = ["alignment_mean", "ig_gini_mean", "alignment_std", "ig_gini_std",
               "inception192_l2_inv1_std", "inception192_l2_inv1", "lonely_std", "pixel_l2_inv1"]
    rows = long_table(*[("cifar10", "robust_l2", metric, float(i), 20.05 if metric == "inception192_l2_inv1" else None)
                        for i, metric in enumerate(metrics)])
    header, body = paper_layout(rows)
    assert header == ["model", "alignment_mean", "alignment_std", "ig_gini_mean", "ig_gini_std",
                      # the std follows its metric's paper and difference columns, even where it came first
                      "inception192_l2_inv1", "inception192_l2_inv1 (paper)",
                      f"inception192_l2_inv1 (ours {MINUS} paper)", "inception192_l2_inv1_std",
                      "lonely_std",  # no metric of its own: keeps its place
                      "pixel_l2_inv1", "vs paper"]
    assert body == [["robust_l2", 0.0, 2.0, 1.0, 3.0, 5.0, 20.05, pytest.approx(-15.05), 4.0, 6.0, 7.0, ""]]


def test_paper_layout_keeps_a_dataset_column_across_datasets():
    rows = long_table(
        ("cifar10", "standard", "alignment_mean", 0.1, None),
        ("cifar10", "robust_l2", "alignment_mean", 0.3, None),
        ("smallimagenet150", "standard", "alignment_mean", 0.2, None),
        ("cifar10", "standard", "alignment_std", 0.01, None),
        ("smallimagenet150", "standard", "alignment_std", 0.02, None),
    )
    header, body = paper_layout(rows)
    assert header == ["dataset", "model", "alignment_mean", "alignment_std"]
    assert body == [  # the same model name on two datasets: two rows
        ["cifar10", "standard", 0.1, 0.01],
        ["cifar10", "robust_l2", 0.3, None],
        ["smallimagenet150", "standard", 0.2, 0.02],
    ]


def test_the_comparison_with_the_paper_is_the_last_column():
    rows = long_table(("cifar10", "standard", "clean_accuracy", 93.0, 93.2),
                      ("cifar10", "robust_l2", "clean_accuracy", 80.0, 85.0))
    rows[0]["paper_comparison"] = "like-for-like"
    rows[1]["paper_comparison"] = "differs: epochs: ours 3 (paper 100)"
    header, body = paper_layout(rows)
    assert header[-1] == "vs paper"
    assert [line[-1] for line in body] == ["like-for-like", "differs: epochs: ours 3 (paper 100)"]


def test_paper_layout_of_no_rows_and_of_a_repeated_cell():
    assert paper_layout([]) == (["model"], [])
    rows = long_table(("d", "m", "acc", 1.0, None), ("d", "m", "acc", 2.0, None))
    with pytest.raises(ValueError, match="'m'.*'acc'"):
        paper_layout(rows)


def test_repeated_cell_fails_before_anything_is_written(run):
    table = run["dir"] / "results" / "table1_twice.csv"
    write_table(table, [{"dataset": "d", "model": "m", "metric": "acc", "value": v, "paper": ""} for v in (1, 2)])
    out = run["dir"] / "report" / "report.html"
    with pytest.raises(RobinterpError, match="two rows") as error:
        build_report([*run["tables"], table], run["figures"], run["config"], out, versions={})
    assert str(table) in str(error.value)
    assert_nothing_written(out.parent)


DEMO_MODELS = ["standard", "robust_l2", "robust_linf", "sgt", "asgt", "int", "gradnorm_0p1", "gradnorm_1"]
DEMO_METRICS = ["clean_accuracy", "pgd_l2_accuracy", "pgd_linf_accuracy", "autoattack_linf_accuracy",
                "mean_accuracy"]


def demo_like_rows(dataset: str) -> list[dict]:
    """The demo's table 1 in the long schema: 8 models x 5 metrics, the paper's numbers filled in by long_rows."""
    return [row for i, model in enumerate(DEMO_MODELS)
            for row in long_rows(dataset, model, [{m: 10.0 * i + j for j, m in enumerate(DEMO_METRICS)}], DEMO_METRICS)]


def test_demo_like_table_has_one_body_row_per_model(tmp_path):
    rows = demo_like_rows("digits")
    assert len(rows) == 40
    html = table_html("table1_accuracy", table_rows_with_difference(rows))
    tbody = html.split("<tbody>")[1].split("</tbody>")[0]
    assert tbody.count("<tr>") == len(DEMO_MODELS)

    table = tmp_path / "table1_accuracy.csv"
    write_table(table, rows)
    out = tmp_path / "r.html"
    build_report([table], [], {}, out, versions={})
    parsed = parse(out).table("table1_accuracy")
    assert parsed["header"] == ["model", *DEMO_METRICS]  # the paper has no digits numbers: our values only
    assert [line[0] for line in parsed["rows"]] == DEMO_MODELS
    assert parsed["rows"][2] == ["robust_linf", "20.0000", "21.0000", "22.0000", "23.0000", "24.0000"]


def test_cifar10_like_table_fills_the_papers_columns_of_the_models_it_reports(tmp_path):
    table = tmp_path / "table1_accuracy.csv"
    write_table(table, demo_like_rows("cifar10"))
    out = tmp_path / "r.html"
    build_report([table], [], {}, out, versions={})
    parsed = parse(out).table("table1_accuracy")
    assert parsed["header"][:5] == ["model", "clean_accuracy", "clean_accuracy (paper)",
                                    f"clean_accuracy (ours {MINUS} paper)", "pgd_l2_accuracy"]
    assert len(parsed["header"]) == 1 + 3 + 3 + 1 + 1 + 1 + 1  # clean and PGD-L2 in the paper; the other three not
    assert len(parsed["rows"]) == len(DEMO_MODELS)
    assert parsed["rows"][0][:4] == ["standard", "0.0000", "93.2000", "-93.2000"]
    assert parsed["rows"][1][1:7] == ["10.0000", "85.0000", "-75.0000", "11.0000", "64.6000", "-53.6000"]
    assert parsed["rows"][2][1:7] == ["20.0000", "", "", "21.0000", "", ""]  # robust_linf: not in the paper


def test_a_table_with_replicates_shows_mean_plus_minus_std_and_n(tmp_path):
    """value = mean, std = sample std over the replicates; n gets a column; ours − paper uses the mean."""
    table = tmp_path / "table1_accuracy.csv"
    rows = long_rows("cifar10", "standard", [{"clean_accuracy": 93.0, "pgd_l2_accuracy": 0.5},
                                             {"clean_accuracy": 94.0, "pgd_l2_accuracy": 0.7}],
                     ["clean_accuracy", "pgd_l2_accuracy"])
    rows += long_rows("cifar10", "robust_l2", [{"clean_accuracy": 84.0, "pgd_l2_accuracy": 60.0}],
                      ["clean_accuracy", "pgd_l2_accuracy"])
    write_table(table, rows)
    header, body = paper_layout(table_rows_with_difference(read_table(table)))
    assert header[:2] == ["model", "n"]
    assert [line[:2] for line in body] == [["standard", 2], ["robust_l2", 1]]
    out = tmp_path / "r.html"
    build_report([table], [], {}, out, versions={})
    parsed = parse(out).table("table1_accuracy")
    assert parsed["header"] == ["model", "n", "clean_accuracy", "clean_accuracy (paper)",
                                f"clean_accuracy (ours {MINUS} paper)", "pgd_l2_accuracy", "pgd_l2_accuracy (paper)",
                                f"pgd_l2_accuracy (ours {MINUS} paper)", "vs paper"]
    assert parsed["rows"][0] == ["standard", "2", "93.5000 \u00b1 0.7071", "93.2000", "0.3000",
                                 "0.6000 \u00b1 0.1414", "0.3600", "0.2400", "differs: settings unknown"]
    assert parsed["rows"][1][:3] == ["robust_l2", "1", "84.0000"]  # one replicate: no std
    assert "sample standard deviation" in out.read_text()
