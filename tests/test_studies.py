"""Studies: every study's verdicts on hand-made run folders with known numbers (a confirming, a
refuting and an inconclusive case each), the CLI, and one quick study end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from scipy import stats as stats_t
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


def test_dead_at_init_and_deep_layers_dying_more_paired_by_run(tmp_path):
    deep = [0.25, 0.29, 0.27]
    for seed, d in enumerate(deep):
        stats = {"dead_frac": [0.0, 0.02 + 0.01 * seed, d - 0.01, d + 0.01]}
        make_run(tmp_path, "relu", seed, depth=32, layer_stats=stats)
    runs = runs_of(tmp_path)
    assert judge(claim("born-dead", "dead-at-init"), runs)["verdict"] == "confirmed"
    record = judge(claim("born-dead", "deep-layers-die"), runs)
    # the deeper half against the shallower half of the same runs: per-run differences
    diffs = [d - (0.0 + 0.02 + 0.01 * s) / 2 for s, d in enumerate(deep)]
    assert record["test"] == "paired by run" and record["verdict"] == "confirmed"
    assert record["value"] == pytest.approx(sum(diffs) / 3, abs=1e-6)
    t = stats_t.ttest_1samp(diffs, 0.02, alternative="greater")  # margin 0.02
    assert record["p_confirm"] == pytest.approx(2 * t.pvalue, rel=1e-6)


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


def test_learns_faster_reads_the_first_epochs_training_loss_and_zero_spread_is_no_test(
    tmp_path,
):
    # make_run's training loss at epoch 1 of 3 epochs is 2.3 * (1 - 1/3) + 0.1, for all: equal
    for seed in range(3):
        make_run(tmp_path, "elu", seed)
        make_run(tmp_path, "relu", seed)
    record = judge(claim("elu-mean", "learns-faster"), runs_of(tmp_path))
    # every seed the same on both sides: no noise measured, so no test, whatever the means
    assert record["verdict"] == "inconclusive" and record["p"] is None
    assert record["value"] == pytest.approx(0.0) and "no test: no spread" in record["measured"]


def test_one_run_against_three_is_never_a_verdict(tmp_path):
    make_run(tmp_path, "elu", 0, epochs=3, seconds=1.0)
    for seed in range(3):  # their training loss is make_run's, the same for every run
        make_run(tmp_path, "relu", seed, epochs=3, final_acc=0.9 + 0.01 * seed)
    record = judge(claim("elu-mean", "learns-faster"), runs_of(tmp_path))
    assert record["verdict"] == "inconclusive" and record["n"] == 1 and record["p"] is None


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
    assert "Var[w]" in r.output  # a claim's text is text, not Rich markup
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
    verdict_words = ("confirmed", "refuted", "inconclusive", "untestable here")
    assert all(c["verdict"] in verdict_words for c in doc["claims"])
    md = (folder / "verdict.md").read_text()
    assert "| claim | paper | measured | criterion | p (Holm) | verdict |" in md
    assert f"Seeds: {STUDIES['born-dead'].n_why}" in md
    assert list(folder.glob("*.png")) and list(folder.glob("*.svg"))
    again = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert again.returncode == 0 and "24 already complete" in again.stdout  # resumed: nothing run
    assert json.loads((folder / "verdict.json").read_text())["claims"] == doc["claims"]
    r = runner.invoke(app, ["report", str(folder), "--out", str(tmp_path / "r.html")])
    assert r.exit_code == 0, r.output
    page = (tmp_path / "r.html").read_text()
    assert page.index("Verdicts: born-dead") < page.index("<h2>Comparison</h2>")


# --- dead-vs-lr, prelu-slopes, seed-claims ------------------------------------------------

PLAIN = {"model": "cnn", "norm": "none", "probe_split": "train"}  # dead-vs-lr's no-BN cnn


@pytest.mark.parametrize(
    ("high", "low", "verdict"),
    [
        ([0.45, 0.40, 0.47], [0.05, 0.06, 0.04], "confirmed"),
        ([0.05, 0.06, 0.04], [0.30, 0.29, 0.33], "refuted"),
        ([0.055, 0.066, 0.067], [0.05, 0.06, 0.06], "refuted"),  # a rise short of the margin
        (None, [0.05, 0.06, 0.04], "untestable here"),  # every high-lr run diverged
    ],
)
def test_relu_dead_fraction_against_the_learning_rate(tmp_path, high, low, verdict):
    for seed in range(3):
        make_run(tmp_path, "relu", seed, lr=0.01, final_dead=low[seed], **PLAIN)
        if high is not None:
            make_run(tmp_path, "relu", seed, lr=0.3, final_dead=high[seed], **PLAIN)
        else:  # a diverged run: an outcome, counted, with no dead fraction
            make_run(tmp_path, "relu", seed, lr=0.3, status="diverged", **PLAIN)
    runs, apart = read_runs(sorted(tmp_path.iterdir()), ["act", "norm", "lr"])
    record = judge(claim("dead-vs-lr", "relu-rises-with-lr"), runs)
    assert record["verdict"] == verdict and not apart
    doc = verdicts(get_study("dead-vs-lr"), runs, False, apart)
    if high is None:
        assert "3 of 3 runs of its own diverged" in record["measured"]
        assert doc["diverged"] == [{"setting": "act relu, norm none, lr 0.3", "diverged": 3,
                                    "runs": 3}]  # fmt: skip
        return
    # paired by seed, against the margin 0.02: scipy's paired t on the same numbers
    assert record["test"] == "paired by seed" and doc["diverged"] == []
    shifted = stats_t.ttest_1samp([h - lo for h, lo in zip(high, low, strict=True)], 0.02,
                                  alternative="greater")  # fmt: skip
    assert record["value"] == pytest.approx(sum(high) / 3 - sum(low) / 3)
    assert record["p_confirm"] == pytest.approx(min(1.0, 2 * shifted.pvalue), rel=1e-6)


@pytest.mark.parametrize(("relu", "leaky", "verdict"), [
    ([0.30, 0.35, 0.28], [0.05, 0.04, 0.06], "confirmed"),
    ([0.03, 0.032, 0.028], [0.0, 0.001, 0.0], "untestable here"),  # ReLU loses < 5%: a floor
])  # fmt: skip
def test_a_claim_whose_setting_cannot_show_the_effect_is_untestable_here(
    tmp_path, relu, leaky, verdict
):
    for seed in range(3):
        make_run(tmp_path, "relu", seed, lr=0.3, final_dead=relu[seed], **PLAIN)
        make_run(tmp_path, "leaky", seed, lr=0.3, final_dead=leaky[seed], **PLAIN)
    runs = runs_of(tmp_path)
    record = judge(claim("dead-vs-lr", "leaky-stays-lower"), runs)
    assert record["verdict"] == verdict
    (check,) = record["checks"]
    assert check["value"] == pytest.approx(sum(relu) / 3) and check["passed"] == (
        verdict != "untestable here"
    )
    doc = verdicts(get_study("dead-vs-lr"), runs, False)
    counted = [c for c in doc["claims"] if c["verdict"] != "untestable here" and c["p"]]
    assert doc["tested"] == len(counted)  # an untestable claim takes no part in Holm
    if verdict == "untestable here":
        assert "ReLU loses at least 5% of its units here" in record["measured"]


def _slopes(root: Path, act: str, targets: list[list[float]]) -> None:
    for seed, t in enumerate(targets):
        make_run(root, act, seed, alpha_targets=t, model="plain", slope_update="grad",
                 slope_lr=1.0, epochs=8)  # fmt: skip


@pytest.mark.parametrize(
    ("targets", "verdict"),
    [
        ([[0.6, 0.3, 0.2, 0.1], [0.7, 0.2, 0.25, 0.1], [0.65, 0.3, 0.1, 0.2]], "confirmed"),
        ([[0.1, 0.3, 0.5, 0.6], [0.1, 0.2, 0.6, 0.5], [0.15, 0.3, 0.4, 0.6]], "refuted"),
        ([[0.25, 0.25, 0.25, 0.25]] * 3, "untestable here"),  # the slopes never moved
    ],
)
def test_prelu_first_layer_slope_against_the_deeper_ones(tmp_path, targets, verdict):
    _slopes(tmp_path, "prelu", targets)
    runs = runs_of(tmp_path)
    record = judge(claim("prelu-slopes", "first-layer-largest-prelu"), runs)
    assert record["verdict"] == verdict
    if verdict != "untestable here":
        assert record["test"] == "paired by run"
        rank = judge(claim("prelu-slopes", "falls-with-depth-prelu"), runs)
        rhos = [stats_t.spearmanr(range(4), t).statistic for t in targets]
        assert rank["value"] == pytest.approx(sum(rhos) / 3)
        assert rank["verdict"] == verdict


def test_seed_claims_on_time_gap_and_accuracy(tmp_path):
    for seed in range(3):
        make_run(tmp_path, "relu", seed, model="cnn", seconds=1.0 + 0.01 * seed, final_acc=0.97,
                 probe_split="train", leaky_slope=0.01)  # fmt: skip
        make_run(tmp_path, "prelu", seed, model="cnn", seconds=1.9 + 0.03 * seed,
                 final_acc=0.985 + 0.001 * seed, probe_split="train")  # fmt: skip
        make_run(tmp_path, "leaky", seed, model="cnn", final_acc=0.95 + 0.002 * seed,
                 probe_split="train", leaky_slope=0.01)  # fmt: skip
    runs = runs_of(tmp_path)
    assert judge(claim("seed-claims", "prelu-costs-more"), runs)["verdict"] == "confirmed"
    beats = judge(claim("seed-claims", "prelu-beats-leaky"), runs)
    assert beats["verdict"] == "confirmed" and beats["criterion"].startswith("difference > +0.005")
    # make_run's eval accuracy on the training probe is test + 0.01 for every run: no spread
    gap = judge(claim("seed-claims", "prelu-overfits"), runs)
    assert gap["verdict"] == "inconclusive" and gap["value"] == pytest.approx(0.0, abs=1e-9)


def test_holm_across_a_studys_claims_matches_statsmodels(tmp_path):
    from statsmodels.stats.multitest import multipletests

    for seed in range(3):
        make_run(tmp_path, "relu", seed, model="cnn", seconds=1.0 + 0.01 * seed,
                 final_acc=0.97 + 0.002 * seed, probe_split="train", leaky_slope=0.01)  # fmt: skip
        make_run(tmp_path, "prelu", seed, model="cnn", seconds=1.52 + 0.03 * seed,
                 final_acc=0.978 + 0.004 * seed, probe_split="train")  # fmt: skip
        make_run(tmp_path, "leaky", seed, model="cnn", final_acc=0.965 + 0.003 * seed,
                 probe_split="train", leaky_slope=0.01)  # fmt: skip
    doc = verdicts(get_study("seed-claims"), runs_of(tmp_path), False)
    tested = [c for c in doc["claims"] if c["p_holm"] is not None]
    assert len(tested) == doc["tested"] >= 2
    expected = multipletests([c["p"] for c in tested], method="holm")[1]
    assert [c["p_holm"] for c in tested] == pytest.approx(list(expected))
    for c in tested:  # the verdict is the side of the smaller p, when adjusted it is < 0.05
        assert c["verdict"] == (c["side"] if c["p_holm"] < 0.05 else "inconclusive")


def test_holm_takes_back_a_verdict_one_claim_alone_would_have(monkeypatch):
    from relubench.analysis import study as study_mod

    ps = iter([0.03, 0.04, 0.5])  # alone: two confirmed; Holm: 0.09, 0.09 (made monotone), 0.5

    def fake(claim, runs, val=None):
        p = next(ps)
        return {"id": claim.id, **study_mod._tested(p, 1.0)}

    monkeypatch.setattr(study_mod, "judge", fake)
    doc = study_mod.verdicts(get_study("born-dead"), [], False)
    assert [c["p_holm"] for c in doc["claims"]] == pytest.approx([0.09, 0.09, 0.5])
    assert [c["verdict"] for c in doc["claims"]] == ["inconclusive"] * 3
    assert study_mod._tested(0.03, 1.0)["verdict"] == "confirmed"  # what one claim would say
    # a missing p is no evidence; a tie speaks for neither side more: confirmed needs p < alpha
    assert study_mod._tested(None, 0.01)["side"] == "refuted"
    assert study_mod._tested(0.2, 0.2)["verdict"] == "inconclusive"


def test_bound_p_values_against_scipy():
    from relubench.analysis.inference import one_sample
    from relubench.analysis.study import _bound_p
    from relubench.registry.studies import Criterion

    values = [0.01, 0.03, 0.02, 0.05, 0.0]
    parts = one_sample(values)
    above = stats_t.ttest_1samp(values, -0.031, alternative="greater").pvalue
    below = stats_t.ttest_1samp(values, 0.068, alternative="less").pvalue
    p_confirm, p_refute = _bound_p(parts, Criterion(kind="between", bound=(-0.031, 0.068)))
    assert p_confirm == pytest.approx(2 * max(above, below), rel=1e-9)
    out_lo = stats_t.ttest_1samp(values, -0.031, alternative="less").pvalue
    out_hi = stats_t.ttest_1samp(values, 0.068, alternative="greater").pvalue
    assert p_refute == pytest.approx(min(1.0, 2 * min(out_lo, out_hi)), rel=1e-9)
    p_up, _ = _bound_p(parts, Criterion(kind="above", bound=0.0))
    assert p_up == pytest.approx(2 * stats_t.ttest_1samp(values, 0.0, alternative="greater").pvalue)


def test_welch_when_the_seeds_differ_and_pairs_over_the_common_seeds(tmp_path):
    # ELU ran seeds 0-2, ReLU seeds 1-3: paired over seeds 1 and 2; ReLU seeds 5-7: Welch
    for seed, e in enumerate([0.05, 0.06, 0.04]):
        make_run(tmp_path, "elu", seed, layer_stats={"out_mean": flat(e)})
    for seed, r in zip((1, 2, 3), [0.40, 0.45, 0.39], strict=True):
        make_run(tmp_path, "relu", seed, layer_stats={"out_mean": flat(r)})
    record = judge(claim("elu-mean", "mean-closer-to-zero"), runs_of(tmp_path))
    assert record["test"] == "paired by seed"
    assert record["value"] == pytest.approx((0.06 + 0.04) / 2 - (0.40 + 0.45) / 2)
    assert "2 run(s) without a partner seed left out of the pairs" in record["measured"]
    other = tmp_path / "welch"
    for seed, e in enumerate([0.05, 0.06, 0.04]):
        make_run(other, "elu", seed, layer_stats={"out_mean": flat(e)})
    relu = [0.40, 0.45, 0.39]
    for seed, r in zip((5, 6, 7), relu, strict=True):
        make_run(other, "relu", seed, layer_stats={"out_mean": flat(r)})
    record = judge(claim("elu-mean", "mean-closer-to-zero"), runs_of(other))
    assert record["test"] == "Welch"
    # less_than with margin 0.05: H1 diff < -0.05, i.e. (elu + 0.05) - relu < 0
    t = stats_t.ttest_ind([0.05 + 0.05, 0.06 + 0.05, 0.04 + 0.05], relu, equal_var=False,
                          alternative="less")  # fmt: skip
    assert record["p_confirm"] == pytest.approx(2 * t.pvalue, rel=1e-6)


def test_diverged_runs_on_the_compared_side_are_said(tmp_path):
    for seed in range(3):
        make_run(tmp_path, "leaky", seed, lr=0.3, final_dead=0.01 * seed, **PLAIN)
        if seed == 2:
            make_run(tmp_path, "relu", seed, lr=0.3, status="diverged", **PLAIN)
        else:
            make_run(tmp_path, "relu", seed, lr=0.3, final_dead=0.3 + 0.02 * seed, **PLAIN)
    record = judge(claim("dead-vs-lr", "leaky-stays-lower"), runs_of(tmp_path))
    assert record["against"]["diverged"] == 1
    assert (
        "1 of 3 runs of act relu, norm none, lr 0.3 diverged (not measured)" in (record["measured"])
    )
    assert record["test"] == "paired by seed" and record["n"] == 3


def test_a_study_keeps_a_diverged_run_where_a_sweep_tries_it_again(tmp_path):
    from relubench.runner.plan import plan_of

    folder = make_run(tmp_path, "relu", 0, status="diverged")
    spec = {"base": {"dataset": "synthetic", "act": "relu", "seed": 0, "epochs": 3, "width": 8,
                     "out": str(tmp_path)}}  # fmt: skip
    assert folder.name not in plan_of(spec, "sweep").complete  # a sweep runs it again
    study_plan = plan_of(spec, "study", done=("complete", "diverged"))
    assert folder.name in study_plan.complete and list(study_plan.todo) == []
