"""plot and report on hand-made run folders: every figure written, of the expected size; the
report is one self-contained page holding the table, every figure, the configs, the environment.
"""

from __future__ import annotations

import base64
import re
import struct
import xml.etree.ElementTree as ET

import pytest
from typer.testing import CliRunner

from relubench.analysis.plots import draw_all, load_curves, save_figures
from relubench.analysis.stats import build_comparison
from relubench.cli import app
from relubench.testing import make_run

runner = CliRunner()
FIGURES = ["accuracy", "dead_units", "dead_layers", "slopes", "activations"]
# Pixels at 150 dpi, from the figure sizes in plots.py, for 3 groups (one with slopes) of 5
# epochs: accuracy has its zoomed panel (>= 4 epochs) and a legend column, grids 3 panels.
SIZES = {
    "accuracy": (1890, 675),
    "dead_units": (1365, 675),
    "dead_layers": (1980, 555),
    "slopes": (1125, 555),
    "activations": (1980, 555),
}


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs") / "results"
    for seed in range(2):
        make_run(root, "relu", seed, final_acc=0.9 + 0.01 * seed, epochs=5, final_dead=0.4)
        make_run(root, "prelu", seed, final_acc=0.95, epochs=5, final_dead=0.05)
    make_run(root, "elu", 0, final_acc=0.93, epochs=5)
    make_run(root, "relu", 9, final_acc=0.3, epochs=5, status="diverged", error="loss nan")
    return root


@pytest.fixture(scope="module")
def figures(results, tmp_path_factory):
    out = tmp_path_factory.mktemp("figures")
    r = runner.invoke(app, ["plot", str(results), "--out", str(out)])
    assert r.exit_code == 0, r.output
    return out, r


def test_plot_writes_every_figure_as_png_and_svg(figures):
    out, r = figures
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"{name}.{ext}" for name in FIGURES for ext in ("png", "svg")
    )
    for name in FIGURES:
        assert f"{name}.{{png,svg}}" in r.stdout


@pytest.mark.parametrize("name", FIGURES)
def test_figure_is_a_valid_png_of_the_expected_size_and_an_svg(figures, name):
    out, _ = figures
    assert png_size((out / f"{name}.png").read_bytes()) == SIZES[name]
    svg = ET.parse(out / f"{name}.svg").getroot()
    assert svg.tag.endswith("svg")
    width_pt = float(svg.attrib["width"].removesuffix("pt"))
    assert width_pt == pytest.approx(SIZES[name][0] / 150 * 72, abs=1)  # 72 pt per inch


def test_svg_is_reproducible(tmp_path):
    """No dates, fixed ids: the same runs give the same SVG bytes (figures diff cleanly)."""
    comp = build_comparison([make_run(tmp_path / "r", "prelu", 0, epochs=2)])
    one, _ = save_figures(comp, tmp_path / "one", formats=("svg",))
    two, _ = save_figures(comp, tmp_path / "two", formats=("svg",))
    assert [p.read_bytes() for p in one] == [p.read_bytes() for p in two]


def drawn(comp) -> list[str]:
    return [spec.name for spec, _ in draw_all(load_curves(comp))]


def test_no_slopes_figure_without_learned_slopes(tmp_path):
    for act in ("relu", "elu"):
        make_run(tmp_path, act, 0, epochs=2)
    assert drawn(build_comparison([tmp_path])) == [f for f in FIGURES if f != "slopes"]


def test_a_run_with_unreadable_csv_is_left_out_with_the_reason(tmp_path):
    make_run(tmp_path, "relu", 0, epochs=2)
    bad = make_run(tmp_path, "relu", 1, epochs=2)
    (bad / "metrics.csv").write_text("epoch,loss\n1,2\n")
    no_layers = make_run(tmp_path, "relu", 2, epochs=2)
    (no_layers / "layers.csv").unlink()
    curves = load_curves(build_comparison([tmp_path]))
    assert dict(curves.skipped) == {
        str(bad): "not plotted: metrics.csv lacks columns test_acc, dead_frac",
        str(no_layers): "no per-layer figures: layers.csv missing",
    }
    assert curves.sizes == {"relu": 2}
    assert set(curves.layers["run_id"]) == {r for r in curves.metrics["run_id"] if "-s0-" in r}


def test_plot_user_errors_exit_2(tmp_path):
    (tmp_path / "file").write_text("x")
    make_run(tmp_path / "r", "relu", 0, epochs=2)
    r = runner.invoke(app, ["plot", str(tmp_path / "r"), "--out", str(tmp_path / "file")])
    assert r.exit_code == 2 and "is a file; give a folder" in r.stderr
    r = runner.invoke(app, ["plot", str(tmp_path / "nothing-here")])
    assert r.exit_code == 2 and "error: no runs to compare" in r.stderr
    assert "Traceback" not in r.output


# --- report --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def report(results, tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "sub" / "report.html"
    r = runner.invoke(app, ["report", str(results), "--out", str(out), "--title", "acts & seeds"])
    assert r.exit_code == 0, r.output
    return out.read_text()


def test_report_holds_the_table(report):
    assert "<title>acts &amp; seeds</title>" in report
    assert "<th>Δ vs relu [95% CI]</th>" in report and "<th>p Holm</th>" in report
    rows = re.findall(r"<tr[^>]*><td class=\"key\">(\w+)</td><td>(\d+)</td>", report)
    assert rows[:3] == [("prelu", "2"), ("elu", "1"), ("relu", "2")]  # sorted by accuracy
    assert "<td>95.00 ± 0.00</td>" in report
    assert "runs not in the means" in report.lower() and "loss nan" in report  # the diverged run


def test_report_embeds_every_figure_as_a_valid_png(report):
    images = re.findall(r'<figure id="fig-(\w+)">.*?src="data:image/png;base64,([^"]+)"', report)
    assert [name for name, _ in images] == FIGURES
    for name, data in images:
        assert png_size(base64.b64decode(data)) == SIZES[name]


def test_report_has_configs_and_environment_and_is_self_contained(report):
    for section in ("Configuration per group", "Environment", "Runs"):
        assert f"<h2>{section}</h2>" in report
    assert '<tr class="differs"><td class="key">act</td>' in report
    assert "<td>0, 1</td>" in report  # each group's seeds
    assert "<td>2.14.1</td>" in report and "<td>Linux-test</td>" in report  # torch, platform
    # opens offline: nothing fetched from anywhere
    assert not re.search(r"(src|href)=\"(https?:)?//", report)
    assert "<script" not in report and "<link" not in report


def test_report_nothing_to_compare_exits_2(tmp_path):
    r = runner.invoke(app, ["report", str(tmp_path), "--out", str(tmp_path / "r.html")])
    assert r.exit_code == 2 and "error: no runs to compare" in r.stderr
    assert not (tmp_path / "r.html").exists()


def test_plot_with_only_incomplete_runs_says_how_to_include_them(tmp_path):
    make_run(tmp_path / "r", "relu", 0, epochs=3, epochs_done=1, status="running")
    r = runner.invoke(app, ["plot", str(tmp_path / "r"), "--out", str(tmp_path / "f")])
    assert r.exit_code == 2 and "pass --include-incomplete" in r.stderr
    ok = runner.invoke(
        app, ["plot", str(tmp_path / "r"), "-o", str(tmp_path / "f"), "--include-incomplete"]
    )
    assert ok.exit_code == 0, ok.output
    assert (tmp_path / "f" / "accuracy.png").is_file()
