"""The regime map's parts: a study's learning rate tuned on validation per setting, claims
relative to ReLU (differences of paired differences), the `failed` outcome, the map's cells
and figure, the definitions' checks; and the three regime studies' quick versions end to end
(slow)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from scipy import stats as st
from typer.testing import CliRunner

from relubench.analysis import regime
from relubench.analysis.study import verdicts
from relubench.analysis.study_runs import read_runs, value
from relubench.analysis.study_tune import tuned
from relubench.cli import app
from relubench.data.store import SYSTEM_ENV
from relubench.errors import ConfigError
from relubench.registry.studies import STUDIES, Claim, Criterion, Figure, Measure, Study
from relubench.testing import make_run

runner = CliRunner()
MLP = {"model": "mlp", "width": 128}


def runs_of(root: Path):
    runs, skipped = read_runs(sorted(p for p in root.iterdir() if p.is_dir()))
    assert not skipped
    return runs


def test_each_settings_lr_is_chosen_on_validation_and_a_diverged_seed_makes_it_ineligible(
    tmp_path,
):
    for seed in range(3):
        # relu: 0.02 validates better (0.80 vs 0.70) and is chosen
        make_run(tmp_path, "relu", seed, lr=0.02, val_acc=0.80, final_acc=0.79, **MLP)
        make_run(tmp_path, "relu", seed, lr=0.005, val_acc=0.70, final_acc=0.71, **MLP)
        # selu: 0.02 validates better but one seed diverged there: 0.005 is chosen
        status = "diverged" if seed == 1 else "complete"
        make_run(tmp_path, "selu", seed, lr=0.02, val_acc=0.9, status=status, **MLP)
        make_run(tmp_path, "selu", seed, lr=0.005, val_acc=0.6, **MLP)
        # elu: a diverged seed at both: the one with fewer diverged runs (0.005: one of three)
        make_run(tmp_path, "elu", seed, lr=0.02, val_acc=0.9,
                 status="complete" if seed == 0 else "diverged", **MLP)  # fmt: skip
        make_run(tmp_path, "elu", seed, lr=0.005, val_acc=0.5,
                 status="diverged" if seed == 2 else "complete", **MLP)  # fmt: skip
    kept, choices = tuned(runs_of(tmp_path), ["lr"], ["act", "lr"])
    chosen = {c["setting"]: c for c in choices}
    assert chosen["act relu"]["chosen"] == "0.02" and chosen["act relu"]["runner_up"] == "0.005"
    assert chosen["act relu"]["val_acc"] == pytest.approx(0.80)
    assert chosen["act selu"]["chosen"] == "0.005" and chosen["act selu"]["ineligible"] == ["0.02"]
    assert chosen["act elu"]["chosen"] == "0.005" and chosen["act elu"]["every_value_diverged"]
    assert len(kept) == 9
    assert {(r.config["act"], r.config["lr"]) for r in kept} == {
        ("relu", 0.02), ("selu", 0.005), ("elu", 0.005)}  # fmt: skip


def _depth_runs(root: Path, accs: dict[tuple[str, int], list[float]]) -> None:
    for (act, depth), per_seed in accs.items():
        for seed, acc in enumerate(per_seed):
            make_run(root, act, seed, final_acc=acc, val_acc=acc, lr=0.005, depth=depth, **MLP)


def test_a_claim_relative_to_relu_is_a_difference_of_paired_differences(tmp_path):
    accs = {
        ("relu", 4): [0.80, 0.81, 0.79, 0.80, 0.82],
        ("selu", 4): [0.81, 0.81, 0.80, 0.82, 0.82],
        ("relu", 32): [0.10, 0.12, 0.11, 0.10, 0.13],
        ("selu", 32): [0.70, 0.65, 0.72, 0.69, 0.71],
    }
    _depth_runs(tmp_path, accs)
    doc = verdicts(STUDIES["depth"], runs_of(tmp_path), quick=False)
    grows = next(c for c in doc["claims"] if c["id"] == "selu-gap-grows-mlp")
    # per seed: (selu - relu at depth 32) - (selu - relu at depth 4), against the 0.02 margin
    d = [
        (accs["selu", 32][i] - accs["relu", 32][i]) - (accs["selu", 4][i] - accs["relu", 4][i])
        for i in range(5)
    ]
    assert grows["value"] == pytest.approx(sum(d) / 5)
    assert grows["relative_to"] == {"act": "relu"} and grows["test"] == "paired by seed"
    p = 2 * st.ttest_1samp([x - 0.02 for x in d], 0.0, alternative="greater").pvalue
    assert grows["p"] == pytest.approx(p, rel=1e-6)
    assert grows["verdict"] == "confirmed" and grows["measured"].startswith("minus act relu")
    trains = next(c for c in doc["claims"] if c["id"] == "selu-trains-deep-mlp")
    assert trains["value"] == pytest.approx(sum(accs["selu", 32]) / 5 - sum(accs["relu", 32]) / 5)


def test_failed_counts_a_diverged_run_and_one_left_at_chance(tmp_path):
    at_chance = make_run(tmp_path, "relu", 0, final_acc=0.15)
    trained = make_run(tmp_path, "relu", 1, final_acc=0.5)
    gone = make_run(tmp_path, "relu", 2, status="diverged")
    runs, _ = read_runs([at_chance, trained, gone])
    failed = Measure(metric="failed", epoch="last")
    assert [value(r, failed) for r in runs] == [1.0, 0.0, 1.0]  # chance: 1/10; below 2/10 fails


def _study(**changes) -> Study:
    base = dict(
        name="t", title="t", source="s", cost="c", n_why="n",
        base={"val_size": 100}, grid={"act": ["relu", "elu"], "lr": [0.1, 0.2], "seed": [0, 1]},
        tune=("lr",),
        claims=(Claim(id="c", claim="c", paper="p", select={"act": "elu"},
                      measure=Measure(metric="test_acc", epoch="last"),
                      criterion=Criterion(kind="greater_than", select={"act": "relu"}),
                      margin=0.01, why="w"),),
    )  # fmt: skip
    return Study(**{**base, **changes})


def test_the_definitions_checks_for_tuning_relative_claims_and_figures():
    assert _study().tune == ("lr",)
    with pytest.raises(ConfigError, match="tune 'width' is not a grid key"):
        _study(tune=("width",))
    with pytest.raises(ConfigError, match="give base val_size"):
        _study(base={})
    select_lr = Claim(id="d", claim="d", paper="p", select={"act": "elu", "lr": 0.1},
                      measure=Measure(metric="test_acc", epoch="last"),
                      criterion=Criterion(kind="above", bound=0.5))  # fmt: skip
    with pytest.raises(ConfigError, match="selects lr, which the study tunes"):
        _study(claims=(select_lr,))
    with pytest.raises(ConfigError, match="relative_to runs themselves"):
        Claim(id="e", claim="e", paper="p", select={"act": "relu"}, relative_to={"act": "relu"},
              measure=Measure(metric="test_acc", epoch="last"),
              criterion=Criterion(kind="above", bound=0.0))  # fmt: skip
    with pytest.raises(ConfigError, match="relative needs metric, x"):
        Figure(kind="relative", metric="test_acc", x="lr", by=("act",))
    with pytest.raises(ConfigError, match="a run's outcome"):
        Claim(id="f", claim="f", paper="p", select={"act": "elu"},
              measure=Measure(metric="failed", epoch="last"),
              criterion=Criterion(kind="below", bound=0.5))  # fmt: skip


def test_the_map_against_a_hand_computed_paired_interval_and_its_cli(tmp_path):
    relu = [0.90, 0.91, 0.89, 0.90]
    elu = [0.93, 0.95, 0.92, 0.94]  # ahead by 3.5 points
    leaky = [0.901, 0.909, 0.891, 0.902]  # a tie within a point
    for seed in range(4):
        make_run(tmp_path, "relu", seed, final_acc=relu[seed], final_dead=0.3)
        make_run(tmp_path, "elu", seed, final_acc=elu[seed], final_dead=0.0)
        make_run(tmp_path, "leaky", seed, final_acc=leaky[seed], final_dead=0.1)
    cells = {c.act: c for c in regime.regime_map([tmp_path], 1.0)}
    d = [100 * (e - r) for e, r in zip(elu, relu, strict=True)]
    lo, hi = st.t.interval(0.95, 3, loc=sum(d) / 4, scale=st.sem(d))
    assert cells["elu"].diff == pytest.approx(3.5) and cells["elu"].n == 4
    assert (cells["elu"].low, cells["elu"].high) == (pytest.approx(lo), pytest.approx(hi))
    assert cells["elu"].outcome == "ahead"
    assert cells["elu"].dead == pytest.approx(0.0) and cells["elu"].relu_dead == pytest.approx(30)
    assert cells["leaky 0.01"].outcome.startswith("tie (within ±")
    assert cells["elu"].failed == "0/4" and cells["elu"].relu_failed == "0/4"
    out = tmp_path.parent / "map"
    r = runner.invoke(app, ["study", "map", str(tmp_path), "--out", str(out)])
    assert r.exit_code == 0, r.output
    md = (tmp_path.parent / "map.md").read_text()
    assert "| elu | 3.50 [" in md and "ahead" in md
    assert (tmp_path.parent / "map.png").stat().st_size > 0
    assert (tmp_path.parent / "map.svg").stat().st_size > 0
    bad = runner.invoke(app, ["study", "map", str(tmp_path / "nope")])
    assert bad.exit_code == 2 and "no such folder" in bad.output
    bad = runner.invoke(app, ["study", "map", str(tmp_path), "--margin", "-1"])
    assert bad.exit_code == 2 and "--margin -1" in bad.output


FASHION = Path("/usr/share/datasets/fashion-mnist")  # Debian's dataset-fashion-mnist


def _quick(tmp_path: Path, name: str) -> dict:
    """The study's --quick version in a process of its own, on the real Fashion-MNIST (the
    system package: CI installs it)."""
    if not FASHION.is_dir() and not os.environ.get("CI"):
        pytest.skip("needs Fashion-MNIST: apt-get install dataset-fashion-mnist")
    env = {**os.environ, "COLUMNS": "200"}
    env.pop(SYSTEM_ENV, None)  # the conftest hides the system datasets; these runs read one
    cmd = [sys.executable, "-m", "relubench", "study", "run", name, "--quick", "--jobs", "2",
           "--out", str(tmp_path)]  # fmt: skip
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    assert r.returncode == 0, r.stdout + r.stderr
    doc = json.loads((tmp_path / name / "verdict.json").read_text())
    words = ("confirmed", "refuted", "inconclusive", "untestable here")
    assert doc["quick"] and all(c["verdict"] in words for c in doc["claims"])
    assert [c["id"] for c in doc["claims"]] == [c.id for c in STUDIES[name].claims]
    margins = {c.id: c.margin for c in STUDIES[name].claims}  # fixed in the definition
    assert all(c.get("margin") == margins[c["id"]] for c in doc["claims"])
    return doc


@pytest.mark.slow
def test_the_depth_study_quick_end_to_end_and_its_report(tmp_path):
    doc = _quick(tmp_path, "depth")
    assert doc["runs"] == 24  # 48 run, half of them at the lr not chosen
    chosen = {t["setting"]: t for t in doc["tuned"]}
    assert len(chosen) == 12  # 2 models x 2 depths x (relu, selu, leaky 0.25)
    assert all(t["chosen"] in ("0.005", "0.02") for t in doc["tuned"])
    trains = next(c for c in doc["claims"] if c["id"] == "selu-trains-deep-mlp")
    # a 32-layer plain ReLU mlp stays near chance where SELU trains: tens of points apart
    assert trains["value"] > 0.2 and trains["n"] == 2
    folder = tmp_path / "depth"
    assert (folder / "accuracy-vs-relu-mlp.png").exists()
    md = (folder / "verdict.md").read_text()
    assert "Chosen per setting on validation accuracy" in md
    r = runner.invoke(app, ["report", str(folder), "--out", str(tmp_path / "r.html")])
    assert r.exit_code == 0, r.output
    assert "accuracy-vs-relu-mlp" in (tmp_path / "r.html").read_text()


def test_equal_differences_that_differ_only_in_the_csvs_7th_digit_are_no_test(tmp_path):
    """Two seeds whose dead fractions differ by the same 104 of 352 units: the CSVs' 6
    significant digits make the differences 0.2954545 and 0.2954542, and that is no spread."""
    for seed, (low, high) in enumerate(((28 / 352, 132 / 352), (24 / 352, 128 / 352))):
        make_run(tmp_path, "relu", seed, final_dead=low, lr=0.01, model="cnn", norm="none",
                 dataset="fashion-mnist", schedule="none", probe_split="train")  # fmt: skip
        make_run(tmp_path, "relu", seed, final_dead=high, lr=0.05, model="cnn", norm="none",
                 dataset="fashion-mnist", schedule="none", probe_split="train")  # fmt: skip
    doc = verdicts(STUDIES["high-lr"], runs_of(tmp_path), quick=True)
    dies = next(c for c in doc["claims"] if c["id"] == "relu-dies-with-lr")
    assert dies["value"] == pytest.approx(104 / 352, abs=1e-6)
    assert dies["verdict"] == "inconclusive" and "no test: no spread" in dies["measured"]


@pytest.mark.slow
def test_the_high_lr_study_quick_end_to_end(tmp_path):
    doc = _quick(tmp_path, "high-lr")
    dies = next(c for c in doc["claims"] if c["id"] == "relu-dies-with-lr")
    # one epoch at a constant lr 0.05 without batch norm kills a quarter of ReLU's units or
    # more (0.01: under a tenth): only training that really steps that hard does this
    assert dies["value"] > 0.1 and dies["test"] == "paired by seed"
    assert (tmp_path / "high-lr" / "dead-vs-lr.png").exists()


@pytest.mark.slow
def test_the_small_data_study_quick_end_to_end(tmp_path):
    doc = _quick(tmp_path, "small-data")
    assert doc["runs"] == 6  # relu and prelu x 2 seeds, and the leaky 0.18 control
    overfits = next(c for c in doc["claims"] if c["id"] == "prelu-overfits")
    assert overfits["n"] == 2 and overfits["test"] == "paired by seed"
    runs, _ = read_runs(sorted((tmp_path / "small-data" / "runs").iterdir()))
    gap = Measure(metric="eval_gap", epoch="last")
    # a net fits its 1,000 training images better than images it never saw, in eval mode
    assert all(value(r, gap) > 0 for r in runs)
