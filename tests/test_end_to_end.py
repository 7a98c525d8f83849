"""Slow end-to-end checks of the two promises users rely on; CI runs them (pytest runs all)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from relubench.activations import act_names
from relubench.cli import app
from relubench.config import MODELS

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
    n = len(act_names()) * len(MODELS)  # 6 activations x 4 models
    assert f"all {n} smoke runs passed" in r.output
    assert len(list(tmp_path.iterdir())) == n
