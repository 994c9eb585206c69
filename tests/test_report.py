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
from robinterp.report.html import build_report, software_versions, table_rows_with_difference
from robinterp.base.tables import COLUMNS, write_table

DATA_URI = "data:image/png;base64,"
SCRIPT = "<script>alert('x')</script>"


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


def test_tables_show_value_paper_and_difference(report):
    parsed = parse(report)
    table1 = parsed.table("table1_accuracy")
    assert table1["header"] == [*COLUMNS, "difference"]
    assert table1["rows"] == [
        ["digits", "robust_l2", "clean_accuracy", "90.0000", "88.2500", "1.7500"],
        ["digits", "standard", "pgd_l2_accuracy", "12.3456", "", ""],
    ]
    table2 = parsed.table("table2_fid")
    assert table2["rows"][0] == ["cifar10", "standard", "fid", "150.0000", "152.2900", "-2.2900"]
    assert table2["rows"][1][1] == SCRIPT  # the model name, escaped in the file, reads back as text
    assert table2["rows"][1][5] == ""


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
    assert parse(out).table("table1_accuracy")["rows"] == [["d", "m", "acc", "nan", "1.0000", ""]]


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
    assert result[0] == {**rows[0], "value": 80.0, "paper": 88.25, "difference": pytest.approx(-8.25)}
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
