"""Fair verdicts: the validation split, `compare --tune`, and the statistics against a baseline,
each checked on hand-made runs against an independent computation (scipy, statsmodels)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW, ttost_ind, ttost_paired
from typer.testing import CliRunner

from relubench.analysis.formats import render
from relubench.analysis.inference import (
    ALPHA,
    detectable_difference,
    hedges_g,
    holm,
    paired,
    tost,
    tost_p,
)
from relubench.analysis.stats import build_comparison
from relubench.cli import app
from relubench.config import merge
from relubench.data.load import load, val_split
from relubench.errors import CompareError
from relubench.runfolder import summarize
from relubench.testing import make_run

runner = CliRunner()


def group(comp, name: str) -> dict:
    return next(g for g in comp.groups if g["group"] == name)


# --- the validation split ------------------------------------------------------------------


def test_the_split_is_stratified_disjoint_and_seeded_by_dataset_and_seed_only():
    y = torch.arange(1000) % 10
    val, rest = val_split(y, 100, "mnist-mini", 0)
    assert len(val) == 100 and len(rest) == 900
    assert not set(val.tolist()) & set(rest.tolist())
    assert torch.bincount(y[val]).tolist() == [10] * 10  # every class its share
    assert torch.equal(val, val_split(y, 100, "mnist-mini", 0)[0])  # same seed: same images
    assert not torch.equal(val, val_split(y, 100, "mnist-mini", 1)[0])
    assert not torch.equal(val, val_split(y, 100, "fashion-mnist", 0)[0])
    uneven = torch.tensor([0] * 70 + [1] * 20 + [2] * 10)
    held, _ = val_split(uneven, 10, "x", 0)
    assert torch.bincount(uneven[held]).tolist() == [7, 2, 1]


def test_the_split_comes_out_before_train_size_and_never_changes_with_the_activation():
    whole = load("mnist-mini", val_size=1000, seed=3)
    assert len(whole.y_val) == 1000 and len(whole.y_train) == 9000
    cut = load("mnist-mini", val_size=1000, seed=3, train_size=500)
    assert torch.equal(cut.x_val, whole.x_val) and len(cut.y_train) == 500
    assert torch.equal(cut.x_train, whole.x_train[:500])
    assert merge({"act": "relu", "val_size": 1000}).run_id != merge({"act": "relu"}).run_id
    assert merge({"val_size": 0}).run_id == merge({}).run_id  # neutral: old ids stay


def test_a_run_with_a_split_records_it_and_picks_its_best_epoch_on_validation(tiny):
    from relubench.runner.train import run

    s = run(merge({**tiny, "epochs": 2, "val_size": 64}))
    assert s["split"] == {"train": 256, "val": 64, "test": 128}
    assert s["best_selected_on"] == "val" and s["final_val_acc"] is not None
    folder = merge({**tiny, "epochs": 2, "val_size": 64}).run_dir
    header = (folder / "metrics.csv").read_text().splitlines()[0]
    assert header.startswith("epoch,train_loss,train_acc,val_loss,val_acc,test_loss,test_acc")


def test_the_best_epoch_is_the_validation_best_not_the_test_best():
    rows = [
        {"epoch": 0, "test_acc": 0.1, "val_acc": 0.1, "test_loss": 2, "val_loss": 2},
        {"epoch": 1, "test_acc": 0.80, "val_acc": 0.95, "test_loss": 1, "val_loss": 1},
        {"epoch": 2, "test_acc": 0.90, "val_acc": 0.90, "test_loss": 1, "val_loss": 1},
    ]
    rows = [{"train_loss": 1.0, "dead_frac": 0.1, "epoch_seconds": 1.0, **r} for r in rows]
    s = summarize("r", "h", {"epochs": 2}, "complete", rows, [], {}, 0.0, 1)
    assert (s["best_epoch"], s["best_test_acc"], s["best_val_acc"]) == (1, 0.80, 0.95)
    plain = [{k: v for k, v in r.items() if not k.startswith("val")} for r in rows]
    s = summarize("r", "h", {"epochs": 2}, "complete", plain, [], {}, 0.0, 1)
    assert (s["best_epoch"], s["best_selected_on"], s["best_val_acc"]) == (2, "test", None)


# --- compare --tune ---------------------------------------------------------------------


@pytest.fixture
def lr_runs(tmp_path):
    """relu: lr 0.05 is the validation optimum, lr 0.1 the test optimum. prelu: lr 0.2 would
    win on validation but a seed diverged; 0.05 and 0.1 tie on validation."""
    root = tmp_path / "results"
    for seed in range(3):
        make_run(root, "relu", seed, lr=0.05, val_acc=0.95 + 0.001 * seed, final_acc=0.90)
        make_run(root, "relu", seed, lr=0.1, val_acc=0.93 + 0.001 * seed, final_acc=0.97)
        make_run(root, "prelu", seed, lr=0.05, val_acc=0.94, final_acc=0.91 + 0.01 * seed)
        make_run(root, "prelu", seed, lr=0.1, val_acc=0.94, final_acc=0.96)
        status = "diverged" if seed == 1 else "complete"
        make_run(root, "prelu", seed, lr=0.2, val_acc=0.99, final_acc=0.99, status=status)
    return root


def test_tune_picks_the_validation_optimum_never_the_test_optimum(lr_runs):
    comp = build_comparison([lr_runs], tune=["lr"])
    assert comp.keys == ["act"]
    relu = group(comp, "relu")
    assert relu["tuned"] == "0.05" and relu["n"] == 3
    assert relu["final_acc"] == pytest.approx(0.90)  # the test accuracy at the chosen lr
    assert relu["tuned_val_acc"] == pytest.approx(0.951)
    assert (relu["runner_up"], relu["runner_up_val_acc"]) == ("0.1", pytest.approx(0.931))


def test_a_tie_takes_the_smaller_value_and_a_diverged_seed_makes_a_value_ineligible(lr_runs):
    prelu = group(build_comparison([lr_runs], tune=["lr"]), "prelu")
    assert prelu["tuned"] == "0.05" and prelu["ineligible"] == ["0.2"]
    assert prelu["flags"] == []  # the diverged value is out, so the verdict is not flagged


def test_tuned_out_runs_are_not_listed_as_apart(lr_runs):
    comp = build_comparison([lr_runs], tune=["lr"])
    assert comp.apart == []
    assert len(comp.included) == 6


def test_tune_without_a_validation_split_is_refused_in_one_line(tmp_path):
    make_run(tmp_path, "relu", 0, lr=0.1)
    with pytest.raises(CompareError, match="no validation split .* --set val_size=1000"):
        build_comparison([tmp_path], tune=["lr"])
    r = runner.invoke(app, ["compare", str(tmp_path), "--tune", "lr"])
    assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1
    for key in ("nonsense", "seed"):
        r = runner.invoke(app, ["compare", str(tmp_path), "--tune", key])
        assert r.exit_code == 2 and f"--tune {key}: not a config key" in r.stderr


# --- the statistics against the baseline ---------------------------------------------------

ACCS = {  # final test accuracies over five seeds
    "relu": [0.950, 0.952, 0.948, 0.951, 0.949],
    "prelu": [0.962, 0.965, 0.960, 0.963, 0.961],  # clearly better
    "elu": [0.951, 0.947, 0.953, 0.950, 0.946],  # the same
    "selu": [0.940, 0.930, 0.945, 0.935, 0.938],  # clearly worse
    "leaky": [0.953, 0.955, 0.949, 0.952, 0.951],  # a little better, not detectably
}


@pytest.fixture
def five(tmp_path):
    for act, accs in ACCS.items():
        for seed, acc in enumerate(accs):
            make_run(tmp_path, act, seed, final_acc=acc)
    return tmp_path


@pytest.fixture
def apart(tmp_path_factory):
    """ACCS, but the baseline ran other seeds (10-14): nothing pairs, Welch's test it is."""
    root = tmp_path_factory.mktemp("apart")
    for act, accs in ACCS.items():
        for seed, acc in enumerate(accs):
            make_run(root, act, seed + (10 if act == "relu" else 0), final_acc=acc)
    return root


def test_the_same_seeds_pair_and_holm_matches_statsmodels(five):
    # runs of one seed share their data order and init seed: the test is on per-seed differences
    comp = build_comparison([five])
    others = [g for g in comp.groups if g["vs"] != "baseline"]
    assert {g["test"] for g in others} == {"paired"}
    rel = [stats.ttest_rel(ACCS[g["act"]], ACCS["relu"]).pvalue for g in others]
    assert [g["p_welch"] for g in others] == pytest.approx(rel, rel=1e-9)
    expected = multipletests(rel, method="holm")[1]
    assert [g["p_holm"] for g in others] == pytest.approx(list(expected), rel=1e-9)
    assert group(comp, "relu")["p_holm"] is None and group(comp, "relu")["test"] is None


def test_other_seeds_take_welch_and_holm_matches_statsmodels(apart):
    comp = build_comparison([apart])
    others = [g for g in comp.groups if g["vs"] != "baseline"]
    assert {g["test"] for g in others} == {"welch"}
    welch = [stats.ttest_ind(ACCS[g["act"]], ACCS["relu"], equal_var=False).pvalue for g in others]
    assert [g["p_welch"] for g in others] == pytest.approx(welch, rel=1e-9)
    expected = multipletests(welch, method="holm")[1]
    assert [g["p_holm"] for g in others] == pytest.approx(list(expected), rel=1e-9)


def test_holm_on_its_own_against_statsmodels():
    rng = np.random.default_rng(0)
    for _ in range(20):
        p = list(rng.uniform(0, 0.2, size=rng.integers(1, 8)))
        assert holm(p) == pytest.approx(list(multipletests(p, method="holm")[1]), rel=1e-12)
    assert holm([0.01, None, 0.04]) == pytest.approx([0.02, None, 0.04])


def test_difference_ci_and_effect_size_against_independent_code(five, apart):
    a, b = ACCS["prelu"], ACCS["relu"]
    prelu = group(build_comparison([apart]), "prelu")  # Welch's interval
    cm = CompareMeans(DescrStatsW(np.array(a)), DescrStatsW(np.array(b)))
    lo, hi = cm.tconfint_diff(usevar="unequal")
    assert (prelu["diff_ci95_lo"], prelu["diff_ci95_hi"]) == pytest.approx((lo, hi), rel=1e-9)
    prelu = group(build_comparison([five]), "prelu")  # the paired one: of the differences
    lo, hi = DescrStatsW(np.array(a) - np.array(b)).tconfint_mean()
    assert (prelu["diff_ci95_lo"], prelu["diff_ci95_hi"]) == pytest.approx((lo, hi), rel=1e-9)
    assert prelu["diff"] == pytest.approx(np.mean(a) - np.mean(b))
    # Hedges' g: Cohen's d on the pooled sd times the exact small-sample factor (gamma form)
    df = len(a) + len(b) - 2
    sd = math.sqrt(((len(a) - 1) * np.var(a, ddof=1) + (len(b) - 1) * np.var(b, ddof=1)) / df)
    exact = math.exp(math.lgamma(df / 2) - math.lgamma((df - 1) / 2)) / math.sqrt(df / 2)
    assert hedges_g(a, b) == pytest.approx(exact * (np.mean(a) - np.mean(b)) / sd, rel=2e-3)


def test_tost_matches_statsmodels_welch_version():
    rng = np.random.default_rng(3)
    for n1, n2, margin in ((3, 3, 0.005), (5, 3, 0.002), (10, 8, 0.01), (3, 4, 0.0005)):
        a, b = rng.normal(0.95, 0.003, n1), rng.normal(0.951, 0.002, n2)
        expected = ttost_ind(a, b, -margin, margin, usevar="unequal")[0]
        assert tost_p(list(a), list(b), margin) == pytest.approx(expected, rel=1e-9)
    assert tost_p([0.9, 0.9], [0.91, 0.91], 0.005) is None  # no spread: no test
    assert tost_p([0.9, 0.91], [0.91, 0.92], 0.0) is None  # no margin: no equivalence
    for n in (3, 5, 9):  # paired: statsmodels' ttost_paired
        a = rng.normal(0.95, 0.003, n)
        b = a + rng.normal(0.001, 0.002, n)
        expected = ttost_paired(a, b, -0.003, 0.003)[0]
        assert tost(paired(list(a), list(b)), 0.003) == pytest.approx(expected, rel=1e-9)
    assert paired([0.9, 0.92], [0.91, 0.93]) is None  # every pair 1 point apart: no spread


@pytest.mark.parametrize("n1,n2,tests", [(3, 3, 5), (3, 3, 1), (5, 4, 3), (10, 10, 5)])
def test_detectable_difference_has_its_power_in_a_direct_simulation(n1, n2, tests):
    # Welch's test at Holm's first-step level alpha / tests, on normal draws with the groups'
    # standard deviations and the detectable difference between their means: 20,000 draws
    # reject in 80% of them, within 2 points (the noncentral t with a fixed df says 80% where
    # the test, at three seeds, has about 58%)
    rng = np.random.default_rng(n1 * 100 + n2 * 10 + tests)
    a, b = list(rng.normal(0, 1.0, n1)), list(rng.normal(0, 1.7, n2))
    d = detectable_difference(a, b, tests)
    x = rng.normal(d, np.std(a, ddof=1), (20_000, n1))
    y = rng.normal(0, np.std(b, ddof=1), (20_000, n2))
    p = stats.ttest_ind(x, y, axis=1, equal_var=False).pvalue
    assert abs((p < ALPHA / tests).mean() - 0.8) < 0.02


def test_four_outcomes_against_the_margin(five, apart):
    comp = build_comparison([apart])  # Welch (other seeds), margin 0.5 points
    assert group(comp, "prelu")["verdict"] == "better"  # +1.2 points, its TOST p near 1
    assert group(comp, "selu")["verdict"] == "worse"
    elu = group(comp, "elu")  # -0.06 points, inside +-0.5 by TOST after Holm
    assert elu["verdict"] == "equivalent" and elu["p_tost_holm"] < 0.05 < elu["p_holm"]
    leaky = group(comp, "leaky")  # +0.16: neither test decides at five seeds
    assert leaky["verdict"] == "not determined" and leaky["detectable"] > abs(leaky["diff"])
    assert group(comp, "prelu")["detectable"] is None
    assert group(comp, "relu")["verdict"] is None
    # a margin too small to reach: elu is no longer equivalent, only undetermined
    assert group(build_comparison([apart], margin=0.002), "elu")["verdict"] == "not determined"
    # without a margin, no equivalence test at all
    tight = build_comparison([apart], margin=0.0)
    assert group(tight, "elu")["verdict"] == "not determined"
    assert group(tight, "elu")["p_tost"] is None
    with pytest.raises(CompareError, match="--margin must be a number of points >= 0"):
        build_comparison([apart], margin=-0.001)
    # paired by seed, leaky's +0.16 repeats on every seed: equivalent within 0.5 points, and
    # within 0.2 no longer: then its difference is real, "better"
    assert group(build_comparison([five]), "leaky")["verdict"] == "equivalent"
    assert group(build_comparison([five], margin=0.002), "leaky")["verdict"] == "better"


def test_the_paired_detectable_difference_is_statsmodels_one_sample_power(five):
    from statsmodels.stats.power import TTestPower

    a, b = ACCS["elu"], ACCS["relu"]
    d = np.array(a) - np.array(b)
    elu = group(build_comparison([five]), "elu")  # not determined, four groups compared
    effect = TTestPower().solve_power(nobs=5, alpha=0.05 / 4, power=0.8)
    assert elu["detectable"] == pytest.approx(effect * np.std(d, ddof=1), rel=1e-4)


def test_the_cli_takes_a_margin_in_points_and_says_it(five):
    r = runner.invoke(app, ["compare", str(five), "--format", "markdown", "--margin", "0.2"])
    assert r.exit_code == 0 and "inside ±0.20 points" in r.stdout
    assert "| elu |" in r.stdout and "equivalent" not in r.stdout.split("| elu |")[1].split("\n")[0]
    r = runner.invoke(app, ["compare", str(five), "--format", "markdown"])
    assert "inside ±0.50 points" in r.stdout and "equivalent |" in r.stdout
    r = runner.invoke(app, ["compare", str(five), "--margin", "-1"])
    assert r.exit_code == 2 and "--margin must be a number of points >= 0" in r.stderr


def test_every_format_carries_the_verdict_columns_and_the_legend(five):
    comp = build_comparison([five])
    csv = render(comp, "csv").splitlines()[0].split(",")
    for col in ("diff_pct", "diff_ci95_lo_pct", "hedges_g", "p_welch", "p_holm", "verdict"):
        assert col in csv
    doc = json.loads(render(comp, "json"))
    prelu = next(g for g in doc["groups"] if g["act"] == "prelu")
    assert prelu["verdict"] == "better" and prelu["p_holm"] < 0.05
    assert prelu["diff_pct"] == pytest.approx(100 * (np.mean(ACCS["prelu"]) - 0.95), abs=0.01)
    md = render(comp, "markdown")
    assert "p Holm" in md and "Holm-adjusted" in md and "not determined (detects ±" in md
    assert "TOST Holm" in md and "equivalent" in md
    tex = render(comp, "latex")
    assert "p Holm" in tex and "better" in tex
    table = render(comp, "table")
    assert "verdict" in table and "worse" in table


def test_the_tuned_table_in_markdown_names_the_choice(lr_runs):
    md = render(build_comparison([lr_runs], tune=["lr"]), "markdown")
    assert "lr (tuned)" in md and "runner-up (val %)" in md and "validation" in md
    assert "| relu | 0.05 | 3 |" in md
