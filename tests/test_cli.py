"""The CLI in-process: a real run writes the whole folder; each user mistake: one line, exit 2."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from relubench.cli import app
from relubench.registry.activations import act_names
from relubench.runfolder import ALPHAS_COLUMNS, LAYERS_COLUMNS, METRICS_COLUMNS
from relubench.runner.lock import held

runner = CliRunner()

# a slice of the real embedded MNIST: 512 train / 256 test images, a narrow CNN, one epoch
MINI = [
    "--set",
    "train_size=512",
    "--set",
    "test_size=256",
    "--set",
    "probe_size=128",
    "--width",
    "8",
]


def train(*args: str):
    return runner.invoke(app, ["train", *args])


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def only_run(out):
    (folder,) = [p for p in out.iterdir() if p.is_dir()]
    return folder


def test_one_epoch_run_writes_the_whole_folder(tmp_path):
    out = tmp_path / "results"
    r = train(
        "--act",
        "prelu",
        "--epochs",
        "1",
        "--threads",
        "1",
        "--out",
        str(out),
        *MINI,
    )
    assert r.exit_code == 0, r.output
    folder = only_run(out)
    assert folder.name.startswith("mnist-mini-cnn-prelu-s0-")
    assert str(folder) in r.output.replace("\n", "")
    assert {p.name for p in folder.iterdir()} == {
        "config.yaml",
        "metrics.csv",
        "layers.csv",
        "alphas.csv",
        "summary.json",
        ".lock",  # the claim: released when the run ended
    }
    assert not held(folder)
    metrics = read_csv(folder / "metrics.csv")
    assert list(metrics[0]) == METRICS_COLUMNS
    assert [m["epoch"] for m in metrics] == ["0", "1"]
    assert metrics[0]["train_loss"] == "" and metrics[1]["train_loss"] != ""
    assert 0.0 <= float(metrics[1]["test_acc"]) <= 1.0
    layers = read_csv(folder / "layers.csv")
    assert list(layers[0]) == LAYERS_COLUMNS
    assert [row["layer"] for row in layers[:4]] == [
        "block1.act",
        "block2.act",
        "block3.act",
        "dense.act",
    ]
    assert [row["units"] for row in layers[:4]] == ["8", "16", "32", "32"]
    alphas = read_csv(folder / "alphas.csv")
    assert list(alphas[0]) == ALPHAS_COLUMNS
    assert len(alphas) == 2 * (8 + 16 + 32 + 32)  # epochs 0 and 1, one slope per channel
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["status"] == "complete"
    assert summary["final_test_acc"] == float(metrics[1]["test_acc"])
    assert summary["init_dead_frac"] == float(metrics[0]["dead_frac"])
    assert summary["config"]["act"] == "prelu" and summary["torch"]
    # the terminal shows the per-layer table
    assert "dead at init" in r.output and "block3.act" in r.output


def test_rerun_from_config_yaml_reproduces_the_metrics(tmp_path):
    first = tmp_path / "a"
    assert (
        train(
            "--act", "elu", "--epochs", "2", "--out", str(first), "--threads", "1", *MINI
        ).exit_code
        == 0
    )
    folder = only_run(first)
    r = train("--config", str(folder / "config.yaml"), "--out", str(tmp_path / "b"))
    assert r.exit_code == 0, r.output
    again = only_run(tmp_path / "b")
    assert again.name == folder.name
    timing = ("epoch_seconds", "samples_per_s")

    def numbers(f):
        return [{k: v for k, v in row.items() if k not in timing} for row in read_csv(f)]

    assert numbers(again / "metrics.csv") == numbers(folder / "metrics.csv")
    assert (again / "layers.csv").read_text() == (folder / "layers.csv").read_text()


def test_a_complete_run_is_not_overwritten_without_force(tmp_path):
    args = ["--epochs", "1", "--out", str(tmp_path), "--threads", "1", *MINI]
    assert train(*args).exit_code == 0
    r = train(*args)
    assert r.exit_code == 2
    assert "already holds a complete run" in r.stderr and "--force" in r.stderr
    assert train(*args, "--force").exit_code == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--act", "swish"], "unknown act 'swish'; choose one of: " + ", ".join(act_names())),
        (["--epochs", "0"], "epochs must be > 0"),
        (["--lr", "-0.1"], "lr must be > 0"),
        (["--set", "epochs=many"], "epochs must be int, got 'many'"),
        (["--set", "lr"], "--set expects key=value"),
        (["--set", "colour=red"], "unknown config key 'colour'"),
        (["--config", "no/such.yaml"], "config file no/such.yaml not found"),
        (["--device", "tpu"], "unknown device 'tpu'"),
    ],
)
def test_user_mistakes_get_one_line_and_exit_2(tmp_path, args, message):
    r = train(*args, "--out", str(tmp_path / "r"))
    assert r.exit_code == 2
    assert message in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert "Traceback" not in r.output
    assert not (tmp_path / "r").exists()  # nothing was started


def test_bad_yaml_and_out_is_a_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("act: prelu\nepochs: [1\n")
    r = train("--config", str(bad))
    assert r.exit_code == 2 and "is not valid YAML" in r.stderr
    afile = tmp_path / "file"
    afile.write_text("x")
    r = train("--out", str(afile))
    assert r.exit_code == 2 and "is a file" in r.stderr


def test_cuda_requested_without_a_gpu(tmp_path, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    r = train("--device", "cuda", "--out", str(tmp_path), *MINI)
    assert r.exit_code == 2 and "sees no CUDA GPU; use --device cpu" in r.stderr


def test_divergence_stops_the_run_with_status_diverged(tmp_path):
    r = train(
        "--lr",
        "1000",
        "--schedule",
        "none",
        "--epochs",
        "3",
        "--out",
        str(tmp_path),
        "--dataset",
        "synthetic",
        *MINI,
    )
    assert r.exit_code == 1
    assert "diverged" in r.stderr and "ran away first" in r.stderr and "try --lr 100" in r.stderr
    folder = only_run(tmp_path)
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["status"] == "diverged" and "nan" in summary["error"].lower()
    assert read_csv(folder / "metrics.csv")[0]["epoch"] == "0"  # the files are intact


def test_acts_lists_the_registry_and_version():
    r = runner.invoke(app, ["acts"])
    assert r.exit_code == 0
    for name in ("relu", "leaky", "prelu", "prelu-shared", "elu", "selu", "LeCun"):
        assert name in r.output
    r = runner.invoke(app, ["--version"])
    assert r.exit_code == 0 and r.output.startswith("relubench 0.")


def test_help_starts_without_importing_torch():
    code = (
        "import sys; from relubench.cli import main; sys.argv=['relubench','--help']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\nassert 'torch' not in sys.modules"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "train" in r.stdout and "smoke" in r.stdout
    r = subprocess.run(
        [sys.executable, "-m", "relubench", "--help"], capture_output=True, text=True
    )
    assert r.returncode == 0 and "Usage" in r.stdout
