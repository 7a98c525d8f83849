"""Slow end-to-end checks of the two promises users rely on; CI runs them (pytest runs all)."""

from __future__ import annotations

import json
import statistics

import pytest
from typer.testing import CliRunner

from relubench.cli import app
from relubench.registry.activations import act_names
from relubench.registry.models import MODELS

runner = CliRunner()


@pytest.mark.slow
def test_default_prelu_run_reaches_97_percent(tmp_path):
    # the README's quick start: `relubench train --act prelu`, defaults, embedded MNIST, offline
    r = runner.invoke(app, ["train", "--act", "prelu", "--out", str(tmp_path)])
    assert r.exit_code == 0, r.output
    (folder,) = tmp_path.iterdir()
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["status"] == "complete" and summary["epochs_done"] == 5
    assert summary["final_test_acc"] >= 0.97
    assert all(layer["alpha_mean"] is not None for layer in summary["layers"])


@pytest.mark.slow
def test_smoke_command_passes_for_every_activation_and_model(tmp_path):
    r = runner.invoke(app, ["smoke", "--out", str(tmp_path)])
    assert r.exit_code == 0, r.output
    n = len(act_names()) * len(MODELS)  # every registry activation x model
    assert f"all {n} smoke runs passed" in r.output
    assert len(list(tmp_path.iterdir())) == n


def test_folders_made_by_train_feed_compare_plot_and_report(tmp_path):
    # the run-folder contract end to end: real `train` runs (tiny), then the analysis reads them
    out = tmp_path / "results"
    for act in ("relu", "prelu"):
        for seed in ("0", "1"):
            r = runner.invoke(
                app,
                ["train", "--act", act, "--seed", seed, "--dataset", "synthetic", "--width", "4",
                 "--epochs", "2", "--threads", "1", "--out", str(out), "--set", "train_size=256",
                 "--set", "test_size=128", "--set", "probe_size=64"],
            )  # fmt: skip
            assert r.exit_code == 0, r.output
    summaries = [json.loads(f.read_text()) for f in sorted(out.glob("*/summary.json"))]
    assert len(summaries) == 4
    r = runner.invoke(app, ["compare", str(out), "--format", "json"])
    assert r.exit_code == 0, r.output
    groups = {g["act"]: g for g in json.loads(r.output)["groups"]}
    for act, g in groups.items():
        mine = [s for s in summaries if s["config"]["act"] == act]
        finals = [100 * s["final_test_acc"] for s in mine]
        assert g["n"] == 2 and sorted(g["runs"]) == sorted(s["run_id"] for s in mine)
        assert g["final_acc_pct"] == pytest.approx(sum(finals) / 2, abs=0.006)
        assert g["final_acc_std_pct"] == pytest.approx(statistics.stdev(finals), abs=0.006)
        init_dead = [100 * s["init_dead_frac"] for s in mine]
        assert g["dead_init_pct"] == pytest.approx(sum(init_dead) / 2, abs=0.06)
    # PReLU's first and last layer slopes, as summary.json's per-layer table has them
    firsts = [s["layers"][0]["alpha_mean"] for s in summaries if s["config"]["act"] == "prelu"]
    assert groups["prelu"]["alpha_first"] == pytest.approx(sum(firsts) / 2, abs=6e-4)
    assert groups["relu"]["alpha_first"] is None
    r = runner.invoke(app, ["plot", str(out), "--out", str(tmp_path / "fig")])
    assert r.exit_code == 0, r.output
    assert {p.name for p in (tmp_path / "fig").iterdir()} >= {"accuracy.png", "slopes.svg"}
    r = runner.invoke(app, ["report", str(out), "--out", str(tmp_path / "r.html")])
    assert r.exit_code == 0, r.output
    page = (tmp_path / "r.html").read_text()
    assert all(s["run_id"] in page for s in summaries)
