"""Studies: every study's verdicts on hand-made run folders with known numbers (a confirming, a
refuting and an inconclusive case each), the CLI, and one quick study end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from relubench.analysis.study import conclude, judge, verdicts
from relubench.analysis.study_runs import read_runs
from relubench.cli import app
from relubench.registry.studies import STUDIES, get_study
from relubench.testing import make_run

runner = CliRunner()
DEPTH32 = {"depth": 32}


def claim(study: str, cid: str):
    return next(c for c in get_study(study).claims if c.id == cid)


def runs_of(root: Path):
    runs, skipped = read_runs(sorted(p for p in root.iterdir() if p.is_dir()))
    assert not skipped
    return runs


def seeds(root: Path, act: str, per_seed: list[dict[str, list[float]]], **config) -> None:
    """One run per seed; per_seed[i] is seed i's layers.csv columns, one value per layer."""
    for seed, stats in enumerate(per_seed):
        make_run(root, act, seed, layer_stats=stats, **config)


def flat(value: float, jitter: float = 0.0, seed: int = 0) -> list[float]:
    return [value + jitter * ((seed + k) % 3 - 1) for k in range(4)]


# --- selu-init ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("means", "verdict"),
    [
        ([0.01, 0.012, 0.009, 0.011, 0.010], "confirmed"),  # well inside [-0.031, 0.068]
        ([0.30, 0.31, 0.29, 0.30, 0.30], "refuted"),  # well outside
        ([0.02, 0.12, 0.05, 0.09, 0.06], "inconclusive"),  # the seeds straddle 0.068
    ],
)
def test_selu_mean_every_layer_within_klambauer_bounds(tmp_path, means, verdict):
    per_seed = [{"out_mean": flat(m), "out_std": flat(1.0)} for m in means]
    seeds(tmp_path, "selu", per_seed, init="auto", **DEPTH32)
    record = judge(claim("selu-init", "selu-mean"), runs_of(tmp_path))
    assert record["verdict"] == verdict and record["n"] == 5
    assert len(record["per_layer"]) == 4


def test_selu_variance_and_the_torch_init_collapse(tmp_path):
    ok = [{"out_mean": flat(0.0), "out_std": flat(1.0, 0.01, s)} for s in range(5)]
    seeds(tmp_path / "a", "selu", ok, init="auto", **DEPTH32)
    assert judge(claim("selu-init", "selu-variance"), runs_of(tmp_path / "a"))["verdict"] == (
        "confirmed"
    )
    # init torch: variance 0.01 (std 0.1) in every layer: collapsed (< 0.05)
    gone = [{"out_mean": flat(0.0), "out_std": flat(0.1, 0.005, s)} for s in range(5)]
    seeds(tmp_path / "b", "selu", gone, init="torch", **DEPTH32)
    record = judge(claim("selu-init", "torch-init-collapse"), runs_of(tmp_path / "b"))
    assert record["verdict"] == "confirmed"
    assert record["value"] == pytest.approx(0.01, rel=0.1)  # std 0.1 squared
    seeds(tmp_path / "c", "selu", ok, init="torch", **DEPTH32)  # no collapse: refuted
    assert (
        judge(claim("selu-init", "torch-init-collapse"), runs_of(tmp_path / "c"))["verdict"]
        == "refuted"
    )


def test_relu_mean_shift_on_the_deeper_half(tmp_path):
    # layers 3-4 (the deeper half) carry the mean 0.5; layers 1-2 only 0.1
    per_seed = [{"out_mean": [0.1, 0.1, 0.5 + 0.01 * s, 0.5], "out_std": flat(1)} for s in range(3)]
    seeds(tmp_path, "relu", per_seed, init="auto", **DEPTH32)
    record = judge(claim("selu-init", "relu-mean-shift"), runs_of(tmp_path))
    assert record["verdict"] == "confirmed" and record["value"] == pytest.approx(0.5, abs=0.01)


# --- born-dead ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("deep", "shallow", "verdict"),
    [
        ([0.30, 0.32, 0.28], [0.05, 0.06, 0.04], "confirmed"),
        ([0.02, 0.03, 0.02], [0.20, 0.22, 0.21], "refuted"),
        ([0.10, 0.30, 0.05], [0.12, 0.10, 0.14], "inconclusive"),
    ],
)
def test_dead_units_grow_with_depth(tmp_path, deep, shallow, verdict):
    for seed, (d, s) in enumerate(zip(deep, shallow, strict=True)):
        make_run(tmp_path, "relu", seed, depth=32, layer_stats={"dead_frac": flat(d)})
        make_run(tmp_path, "relu", seed, depth=4, layer_stats={"dead_frac": flat(s)})
    record = judge(claim("born-dead", "grows-with-depth"), runs_of(tmp_path))
    assert record["verdict"] == verdict
    assert record["value"] == pytest.approx(sum(deep) / 3 - sum(shallow) / 3)


def test_dead_at_init_and_deep_layers_dying_more(tmp_path):
    for seed in range(3):
        stats = {"dead_frac": [0.0, 0.02, 0.2 + 0.01 * seed, 0.3]}
        make_run(tmp_path, "relu", seed, depth=32, layer_stats=stats)
    runs = runs_of(tmp_path)
    assert judge(claim("born-dead", "dead-at-init"), runs)["verdict"] == "confirmed"
    record = judge(claim("born-dead", "deep-layers-die"), runs)
    assert record["verdict"] == "confirmed"  # deeper half 0.25 vs all layers 0.13
    assert record["value"] == pytest.approx(0.255 - (0.0 + 0.02 + 0.21 + 0.3) / 4, abs=1e-6)


# --- elu-mean ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("elu", "relu", "verdict"),
    [
        ([0.05, 0.06, 0.04], [0.40, 0.42, 0.39], "confirmed"),
        ([0.50, 0.52, 0.49], [0.10, 0.12, 0.11], "refuted"),
        ([0.10, 0.40, 0.20], [0.25, 0.20, 0.30], "inconclusive"),
    ],
)
def test_elu_means_closer_to_zero_than_relu(tmp_path, elu, relu, verdict):
    for seed, (e, r) in enumerate(zip(elu, relu, strict=True)):
        make_run(tmp_path, "elu", seed, layer_stats={"out_mean": flat(-e)})  # |mean| is judged
        make_run(tmp_path, "relu", seed, layer_stats={"out_mean": flat(r)})
    record = judge(claim("elu-mean", "mean-closer-to-zero"), runs_of(tmp_path))
    assert record["verdict"] == verdict


def test_learns_faster_reads_the_first_epochs_training_loss(tmp_path):
    # make_run's training loss at epoch 1 of 3 epochs is 2.3 * (1 - 1/3) + 0.1, for all: equal
    for seed in range(3):
        make_run(tmp_path, "elu", seed)
        make_run(tmp_path, "relu", seed)
    record = judge(claim("elu-mean", "learns-faster"), runs_of(tmp_path))
    assert record["verdict"] == "refuted"  # no difference is not "lower"
    assert record["value"] == pytest.approx(0.0)


def test_one_run_against_three_is_never_a_verdict(tmp_path):
    make_run(tmp_path, "relu", 0, model="mlp", lr=0.1, final_dead=0.5)
    for seed in range(3):
        make_run(tmp_path, "relu", seed, model="mlp", lr=0.01, final_dead=0.01)
    record = judge(claim("dead-vs-lr", "relu-rises-with-lr"), runs_of(tmp_path))
    assert record["verdict"] == "inconclusive" and record["n"] == 1


def test_claims_without_runs_are_inconclusive_and_the_document_is_complete(tmp_path):
    make_run(tmp_path, "relu", 0, depth=4, layer_stats={"dead_frac": flat(0.1)})
    doc = verdicts(get_study("born-dead"), runs_of(tmp_path), quick=True)
    assert [c["verdict"] for c in doc["claims"]] == ["inconclusive"] * 3
    for c in doc["claims"]:
        assert {"claim", "source", "paper", "measured", "criterion", "verdict"} <= set(c)


def test_a_run_whose_tables_are_malformed_is_left_out_with_the_reason(tmp_path):
    root = tmp_path / "runs"
    good = [
        make_run(root, "relu", s, depth=32, layer_stats={"dead_frac": flat(0.2)}) for s in (0, 1)
    ]
    binary = make_run(root, "relu", 2, depth=32)
    (binary / "layers.csv").write_bytes(b"\xff\xfe\x00\x9c binary")
    missing = make_run(root, "relu", 3, depth=32)
    (missing / "metrics.csv").unlink()
    garbled = make_run(root, "relu", 4, depth=32)
    header, first, *rest = (garbled / "layers.csv").read_text().splitlines()
    cells = first.split(",")
    cells[header.split(",").index("units")] = "x"
    (garbled / "layers.csv").write_text("\n".join([header, ",".join(cells), *rest]) + "\n")
    runs, apart = read_runs(sorted(root.iterdir()), ["act", "depth"])
    assert sorted(r.run_id for r in runs) == sorted(p.name for p in good)
    why = {p.split("/")[-1]: w for p, w in apart}
    assert why[binary.name] == "layers.csv is not UTF-8 text (act relu, depth 32)"
    assert why[missing.name] == "metrics.csv missing (act relu, depth 32)"
    assert why[garbled.name].startswith("layers.csv line 2: units is not a number")
    doc = conclude(get_study("born-dead"), sorted(root.iterdir()), tmp_path, False, "cmd")
    assert doc["runs"] == 2 and len(doc["left_out"]) == 3
    assert doc["claims"][0]["n"] == 2 and doc["claims"][0]["value"] == pytest.approx(0.2)
    assert (
        "layers.csv is not UTF-8 text (act relu, depth 32): 1 run"
        in (tmp_path / "verdict.md").read_text()
    )


# --- the CLI -------------------------------------------------------------------------------


def test_study_list_and_an_unknown_study():
    r = runner.invoke(app, ["study", "list"], env={"COLUMNS": "300"})
    assert r.exit_code == 0 and all(name in r.output for name in STUDIES)
    r = runner.invoke(app, ["study", "run", "nonsense"])
    assert r.exit_code == 2 and "unknown study 'nonsense'" in r.stderr


@pytest.mark.slow
def test_a_quick_study_end_to_end_then_its_report(tmp_path):
    env = {**os.environ, "COLUMNS": "200"}
    cmd = [sys.executable, "-m", "relubench", "study", "run", "born-dead", "--quick", "--jobs",
           "2", "--out", str(tmp_path)]  # fmt: skip
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    folder = tmp_path / "born-dead"
    doc = json.loads((folder / "verdict.json").read_text())
    assert doc["quick"] and doc["runs"] == 24
    assert all(c["verdict"] in ("confirmed", "refuted", "inconclusive") for c in doc["claims"])
    assert (
        "| claim | paper | measured | criterion | verdict |" in (folder / "verdict.md").read_text()
    )
    assert list(folder.glob("*.png")) and list(folder.glob("*.svg"))
    again = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert again.returncode == 0 and "24 already complete" in again.stdout  # resumed: nothing run
    assert json.loads((folder / "verdict.json").read_text())["claims"] == doc["claims"]
    r = runner.invoke(app, ["report", str(folder), "--out", str(tmp_path / "r.html")])
    assert r.exit_code == 0, r.output
    page = (tmp_path / "r.html").read_text()
    assert page.index("Verdicts: born-dead") < page.index("<h2>Comparison</h2>")


# --- dead-vs-lr, prelu-slopes, seed-claims ------------------------------------------------


@pytest.mark.parametrize(
    ("high", "low", "verdict"),
    [(0.45, 0.05, "confirmed"), (0.05, 0.30, "refuted"), (None, 0.05, "inconclusive")],
)
def test_relu_dead_fraction_against_the_learning_rate(tmp_path, high, low, verdict):
    for seed in range(3):
        make_run(tmp_path, "relu", seed, model="mlp", lr=0.01, final_dead=low + 0.01 * seed)
        if high is not None:
            make_run(tmp_path, "relu", seed, model="mlp", lr=0.1, final_dead=high - 0.01 * seed)
        else:  # every high-lr run diverged: nothing to measure, said so
            make_run(tmp_path, "relu", seed, model="mlp", lr=0.1, status="diverged")
    runs, apart = read_runs(sorted(tmp_path.iterdir()), ["act", "model", "lr"])
    record = judge(claim("dead-vs-lr", "relu-rises-with-lr"), runs)
    assert record["verdict"] == verdict
    doc = verdicts(get_study("dead-vs-lr"), runs, False, apart)
    if high is None:
        assert [r["why"] for r in doc["left_out"]] == ["diverged (act relu, model mlp, lr 0.1)"] * 3


@pytest.mark.parametrize(
    ("first", "deep", "verdict"),
    [(0.6, 0.2, "confirmed"), (0.1, 0.4, "refuted"), (0.3, 0.3, "inconclusive")],
)
def test_prelu_first_layer_slope_against_the_deeper_ones(tmp_path, first, deep, verdict):
    for seed in range(3):
        noise = 0.05 * (seed - 1) if verdict == "inconclusive" else 0.0
        slopes = [first + noise, 0.3, deep - noise, deep + noise]
        make_run(tmp_path, "prelu", seed, layer_stats={"alpha_mean": slopes})
    record = judge(claim("prelu-slopes", "first-layer-largest-prelu"), runs_of(tmp_path))
    assert record["verdict"] == verdict


def test_seed_claims_on_time_gap_and_accuracy(tmp_path):
    for seed in range(3):
        make_run(tmp_path, "relu", seed, model="cnn", seconds=1.0 + 0.01 * seed, final_acc=0.97)
        make_run(tmp_path, "prelu", seed, model="cnn", seconds=1.3 + 0.01 * seed,
                 final_acc=0.975 + 0.001 * seed)  # fmt: skip
        make_run(tmp_path, "leaky", seed, model="cnn", final_acc=0.95 + 0.001 * seed)
    runs = runs_of(tmp_path)
    assert judge(claim("seed-claims", "prelu-costs-more"), runs)["verdict"] == "confirmed"
    assert judge(claim("seed-claims", "prelu-beats-leaky"), runs)["verdict"] == "confirmed"
    # make_run's train accuracy is test + 0.02 for every run: the gaps are equal
    gap = judge(claim("seed-claims", "prelu-overfits"), runs)
    assert gap["verdict"] == "refuted" and gap["value"] == pytest.approx(0.0, abs=1e-9)
