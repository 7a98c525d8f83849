"""compare: hand-made run folders with known numbers -> the statistics, grouping, formats, CLI."""

from __future__ import annotations

import io
import json
import math
import shutil
import subprocess
import sys

import pandas as pd
import pytest
from scipy import stats
from typer.testing import CliRunner

import relubench
from relubench.analysis.formats import render
from relubench.analysis.stats import build_comparison, group_keys, welch_p
from relubench.cli import app
from relubench.errors import CompareError
from relubench.testing import make_run

runner = CliRunner()

RELU = [0.90, 0.92, 0.94]  # final test accuracies over seeds 0, 1, 2
PRELU = [0.95, 0.96, 0.99]
ELU = [0.93]  # n = 1: std, CI and p must be missing, not invented


@pytest.fixture
def results(tmp_path):
    """relu x3, prelu x3, elu x1, with known accuracies, dead fractions and slopes."""
    root = tmp_path / "results"
    for seed, acc in enumerate(RELU):
        make_run(root, "relu", seed, final_acc=acc, init_dead=0.1, final_dead=0.3 + 0.1 * seed)
    for seed, acc in enumerate(PRELU):
        make_run(root, "prelu", seed, final_acc=acc, best_acc=0.995, alpha_first=0.5 + 0.1 * seed)
    make_run(root, "elu", 0, final_acc=ELU[0], seconds=2.0)
    return root


def by_group(comp):
    return {g["group"]: g for g in comp.groups}


def mean(xs):
    return sum(xs) / len(xs)


def test_means_stds_n_and_slopes(results):
    comp = build_comparison([results])
    assert comp.keys == ["act"]
    g = by_group(comp)
    assert {k: v["n"] for k, v in g.items()} == {"relu": 3, "prelu": 3, "elu": 1}
    assert g["relu"]["final_acc"] == pytest.approx(0.92)
    assert g["relu"]["final_acc_std"] == pytest.approx(0.02)  # sample std (ddof 1)
    assert g["prelu"]["final_acc"] == pytest.approx(mean(PRELU))
    assert g["prelu"]["final_acc_std"] == pytest.approx(stats.tstd(PRELU))
    assert g["prelu"]["best_acc"] == pytest.approx(0.995)  # the epoch before the last
    assert g["relu"]["best_acc"] == pytest.approx(0.92)  # climbs to the end: best = final
    assert g["relu"]["dead_init"] == pytest.approx(0.1)
    assert g["relu"]["dead_final"] == pytest.approx(0.4)  # mean of 0.3, 0.4, 0.5
    # first layer's slope goes to alpha_first (0.5, 0.6, 0.7), the last to alpha_last (0.1)
    assert g["prelu"]["alpha_first"] == pytest.approx(0.6)
    assert g["prelu"]["alpha_last"] == pytest.approx(0.1)
    assert g["relu"]["alpha_first"] is None
    assert g["elu"]["s_per_epoch"] == pytest.approx(2.0)
    assert g["relu"]["run_ids"] == sorted(r["run_id"] for r in comp.runs if r["act"] == "relu")


def test_same_seeds_are_paired_and_p_and_ci_match_scipy(results):
    g = by_group(build_comparison([results]))
    expected = stats.ttest_rel(PRELU, RELU).pvalue  # seeds 0-2 on both sides: paired
    assert g["prelu"]["p_welch"] == pytest.approx(expected, rel=1e-9)
    assert g["prelu"]["test"] == "paired" and g["relu"]["test"] is None
    assert g["prelu"]["vs"] == "relu"
    assert g["relu"]["vs"] == "baseline" and g["relu"]["p_welch"] is None
    lo, hi = stats.t.interval(0.95, df=2, loc=0.92, scale=stats.sem(RELU))
    assert (g["relu"]["final_acc_ci95_lo"], g["relu"]["final_acc_ci95_hi"]) == pytest.approx(
        (lo, hi)
    )
    # prelu's interval overshoots 100%: clipped, because accuracy cannot exceed 1
    assert g["prelu"]["final_acc_ci95_hi"] == 1.0


@pytest.mark.filterwarnings("ignore:Precision loss")  # scipy, on the side without spread
@pytest.mark.parametrize(
    ("a", "b"),
    [
        ([0.1, 0.2, 0.3, 0.4], [0.5, 0.55]),
        ([0.91, 0.915, 0.93], [0.9, 0.95, 0.97, 0.99, 0.91]),
        ([1.0, 2.0], [1.0, 2.0]),  # identical: p = 1
        ([0.5, 0.5, 0.6], [0.1, 0.1, 0.1]),  # one side without spread
    ],
)
def test_welch_p_equals_scipy_ttest_ind(a, b):
    assert welch_p(a, b) == pytest.approx(stats.ttest_ind(a, b, equal_var=False).pvalue, rel=1e-9)


def test_welch_p_is_missing_without_spread_or_with_one_value():
    assert welch_p([0.9], [0.8, 0.85]) is None
    assert welch_p([0.9, 0.9], [0.8, 0.8]) is None  # no variance at all: no test


def test_n_equal_1_shows_dashes_not_numbers(results):
    comp = build_comparison([results])
    g = by_group(comp)["elu"]
    assert g["final_acc_std"] is None and g["final_acc_ci95_lo"] is None and g["p_welch"] is None
    row = next(line for line in render(comp, "markdown").splitlines() if line.startswith("| elu"))
    assert "| 93.00 ± – | – |" in row
    assert row.rstrip(" |").endswith("–")  # the p column


def test_groups_sorted_by_mean_final_accuracy(results):
    assert [g["group"] for g in build_comparison([results]).groups] == ["prelu", "elu", "relu"]


def test_ties_sorted_by_best_accuracy_then_name(tmp_path):
    make_run(tmp_path, "selu", 0, final_acc=0.9)
    make_run(tmp_path, "elu", 0, final_acc=0.9)
    make_run(tmp_path, "leaky", 0, final_acc=0.9, best_acc=0.95)
    assert [g["group"] for g in build_comparison([tmp_path]).groups] == ["leaky", "elu", "selu"]


def test_groups_by_every_differing_key_but_seed_and_runtime_keys(tmp_path):
    for act in ("relu", "prelu"):
        for lr in (0.1, 0.05):
            for seed in (0, 1):
                # out and threads differ too, but say where a run ran, not what it is
                make_run(tmp_path / f"machine{seed}", act, seed, lr=lr, threads=seed + 1)
    comp = build_comparison([tmp_path])
    assert comp.keys == ["act", "lr"]
    assert sorted(g["group"] for g in comp.groups) == [
        "prelu, 0.05",
        "prelu, 0.1",
        "relu, 0.05",
        "relu, 0.1",
    ]
    assert all(g["n"] == 2 for g in comp.groups)
    by = build_comparison([tmp_path], by=["act"])
    assert by.keys == ["act"] and [g["n"] for g in by.groups] == [4, 4]


def test_one_activation_over_seeds_is_one_group_labelled_by_act(tmp_path):
    for seed in range(3):
        make_run(tmp_path, "prelu", seed)
    comp = build_comparison([tmp_path])
    assert comp.keys == ["act"] and [g["group"] for g in comp.groups] == ["prelu"]
    assert comp.baseline is None  # no relu here: no p-values, and no note (relu was the default)
    assert comp.notes == []


def test_baseline_is_matched_on_the_other_keys(tmp_path):
    accs = {("relu", "cnn"): [0.9, 0.91], ("prelu", "cnn"): [0.95, 0.97]}
    accs |= {("relu", "mlp"): [0.8, 0.82], ("prelu", "mlp"): [0.85, 0.84]}
    for (act, model), values in accs.items():
        for seed, acc in enumerate(values):
            make_run(tmp_path, act, seed, final_acc=acc, model=model)
    g = by_group(build_comparison([tmp_path], by=["act", "model"]))
    assert g["prelu, mlp"]["vs"] == "relu, mlp"
    assert g["prelu, mlp"]["p_welch"] == pytest.approx(
        stats.ttest_rel([0.85, 0.84], [0.8, 0.82]).pvalue  # seed by seed
    )
    assert g["prelu, cnn"]["vs"] == "relu, cnn"
    g2 = by_group(build_comparison([tmp_path], by=["act", "model"], baseline="model=mlp"))
    assert g2["prelu, cnn"]["vs"] == "prelu, mlp" and g2["prelu, mlp"]["vs"] == "baseline"


def test_unknown_baseline_leaves_p_out_with_a_note(results):
    comp = build_comparison([results], baseline="swish")
    assert all(g["p_welch"] is None for g in comp.groups)
    assert comp.notes == ["baseline 'swish' matches no group; p-values left out"]


def test_unknown_by_key_is_an_error_listing_the_keys(results):
    with pytest.raises(CompareError, match="--by colour: not a config key.*act, width"):
        build_comparison([results], by=["colour"])


def test_diverged_and_running_runs_are_apart_unless_asked(results):
    make_run(results, "relu", 7, final_acc=0.5, status="diverged", error="loss became nan")
    make_run(results, "relu", 8, final_acc=0.7, status="running", epochs_done=2)
    make_run(results, "relu", 9, status="failed", epochs_done=0, error="OSError: disk full")
    comp = build_comparison([results])
    assert by_group(comp)["relu"]["n"] == 3
    assert [(r["status"], r["seed"]) for r in comp.apart] == [
        ("diverged", 7),
        ("failed", 9),
        ("running", 8),
    ]
    md = render(comp, "markdown")
    assert "| diverged | 3/3 | 50.00 | loss became nan |" in md
    assert "| failed | 0/3 | – | OSError: disk full |" in md
    assert "| running | 2/3 | 70.00 |" in md
    inc = build_comparison([results], include_incomplete=True)
    # the failed run has no trained epoch: no accuracy to average, still apart
    assert by_group(inc)["relu"]["n"] == 5 and [r["seed"] for r in inc.apart] == [9]
    assert by_group(inc)["relu"]["final_acc"] == pytest.approx(mean([*RELU, 0.5, 0.7]))


def test_malformed_and_duplicate_folders_are_skipped_with_reasons(results, tmp_path):
    bad_json = results / "broken-run"
    bad_json.mkdir()
    (bad_json / "summary.json").write_text("{not json")
    config_only = results / "never-started"
    config_only.mkdir()
    (config_only / "config.yaml").write_text("act: relu\n")
    bad_acc = make_run(results, "selu", 0)
    summary = json.loads((bad_acc / "summary.json").read_text())
    (bad_acc / "summary.json").write_text(json.dumps({**summary, "final_test_acc": "high"}))
    (results / "notes").mkdir()  # not a run, holds none: silently not a run
    (results / "notes" / "todo.txt").write_text("more seeds")
    copy = tmp_path / "copy" / "same-run"
    shutil.copytree(next(results.glob("*-relu-s0-*")), copy)
    comp = build_comparison([results, tmp_path / "copy"])
    reasons = dict(comp.skipped)
    assert reasons[str(bad_json)].startswith("summary.json is not valid JSON")
    assert reasons[str(config_only)].startswith("summary.json missing")
    assert reasons[str(bad_acc)] == "summary.json: final_test_acc is 'high', not a number"
    assert reasons[str(copy)].startswith("same run id as ")
    assert len(comp.skipped) == 4
    assert by_group(comp)["relu"]["n"] == 3  # the copy is not a fourth seed


def test_paths_globs_and_missing_paths(results, tmp_path):
    (tmp_path / "empty").mkdir()
    comp = build_comparison(
        [str(results / "*-prelu-*"), tmp_path / "empty", tmp_path / "nope", str(tmp_path / "x*")]
    )
    assert [g["group"] for g in comp.groups] == ["prelu"]
    assert dict(comp.skipped) == {
        str(tmp_path / "empty"): "holds no run folders",
        str(tmp_path / "nope"): "no such file or folder",
        str(tmp_path / "x*"): "matches nothing",
    }
    one = next(results.glob("*-elu-*"))
    assert (
        build_comparison([one / "summary.json"]).groups[0]["group"] == "elu"
    )  # a run's file: its run


def test_nothing_to_compare_raises(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(CompareError, match="no runs to compare under") as e:
        build_comparison([tmp_path / "empty"])
    # the reason is in the one line; no separate warning repeats it
    assert f"{tmp_path / 'empty'} (holds no run folders)" in str(e.value)
    assert e.value.skipped == []


def test_group_keys_default_ignores_seed_and_runtime():
    runs = [
        {"act": "relu", "seed": 0, "device": "cpu", "lr": 0.1},
        {"act": "relu", "seed": 1, "device": "cuda", "lr": 0.1},
    ]
    assert group_keys(runs, ["act", "lr", "seed", "device"], None) == ["act"]


# --- formats -------------------------------------------------------------------------------


def test_csv_parses_back_with_stable_columns(results):
    table = pd.read_csv(io.StringIO(render(build_comparison([results]), "csv")))
    assert list(table.columns) == [
        "act",
        "n",
        "final_acc_pct",
        "final_acc_std_pct",
        "final_acc_ci95_lo_pct",
        "final_acc_ci95_hi_pct",
        "best_acc_pct",
        "best_acc_std_pct",
        "dead_init_pct",
        "dead_final_pct",
        "alpha_first",
        "alpha_last",
        "s_per_epoch",
        "p_welch",
        "vs",
        "flags",
        "best_epoch_on",
        "val_acc_pct",
        "val_acc_std_pct",
        "tuned",
        "tuned_val_acc_pct",
        "runner_up",
        "runner_up_val_acc_pct",
        "ineligible",
        "diff_pct",
        "diff_ci95_lo_pct",
        "diff_ci95_hi_pct",
        "hedges_g",
        "p_holm",
        "verdict",
        "detectable_pct",
        "p_tost",
        "p_tost_holm",
        "margin_pct",
        "test",
    ]
    assert list(table["act"]) == ["prelu", "elu", "relu"]
    assert list(table["n"]) == [3, 1, 3]
    relu = table.set_index("act").loc["relu"]
    assert relu["final_acc_pct"] == 92.0 and relu["final_acc_std_pct"] == 2.0
    assert relu["dead_final_pct"] == 40.0
    assert math.isnan(table.set_index("act").loc["elu", "final_acc_std_pct"])
    p = stats.ttest_rel(PRELU, RELU).pvalue  # seeds 0-2 on both sides: paired
    assert table.set_index("act").loc["prelu", "p_welch"] == float(f"{p:.4g}")
    assert table.set_index("act").loc["prelu", "test"] == "paired"


def test_json_parses_back(results):
    make_run(results, "relu", 7, final_acc=0.5, status="diverged", error="nan")
    doc = json.loads(render(build_comparison([results]), "json"))
    assert doc["by"] == ["act"] and doc["baseline"] == "relu"
    assert [g["act"] for g in doc["groups"]] == ["prelu", "elu", "relu"]
    relu = doc["groups"][2]
    assert relu["n"] == 3 and relu["final_acc_pct"] == 92.0 and relu["vs"] == "baseline"
    assert len(relu["runs"]) == 3
    assert doc["groups"][1]["final_acc_std_pct"] is None  # elu, n = 1
    assert [(a["status"], a["epochs_done"], a["error"]) for a in doc["apart"]] == [
        ("diverged", 3, "nan")
    ]


def test_markdown_and_latex_hold_the_rows(results):
    comp = build_comparison([results])
    md = render(comp, "markdown").splitlines()
    assert md[0].startswith("| act | n | final acc % | 95% CI | best acc % |")
    assert md[2].startswith("| prelu | 3 | 96.67 ± 2.08 |")
    assert md[4].startswith("| relu | 3 | 92.00 ± 2.00 | [87.03, 96.97] | 92.00 ± 2.00 |")
    assert md[4].endswith("| baseline |")
    tex = render(comp, "latex")
    assert "\\toprule" in tex and "\\midrule" in tex and "\\bottomrule" in tex
    assert "relu & 3 & 92.00 $\\pm$ 2.00 & [87.03, 96.97] &" in tex
    assert "final acc \\% &" in tex and "$\\alpha$ first" in tex
    assert tex.count("\\\\") == 4  # header + three groups


def test_output_does_not_depend_on_folder_order(results, tmp_path):
    folders = sorted(p for p in results.iterdir())
    one = render(build_comparison(folders), "csv")
    assert render(build_comparison(list(reversed(folders))), "csv") == one


# --- the CLI -------------------------------------------------------------------------------


def cli(*args: str):
    return runner.invoke(app, ["compare", *map(str, args)])


def test_cli_table(results):
    r = cli(results)
    assert r.exit_code == 0, r.output
    assert "grouped by act" in r.output and "prelu" in r.output and "92.00 ± 2.00" in r.output


def test_cli_formats_to_stdout_and_files(results, tmp_path):
    r = cli(results, "--format", "csv")
    assert r.exit_code == 0
    assert pd.read_csv(io.StringIO(r.stdout))["act"].tolist() == ["prelu", "elu", "relu"]
    r = cli(results, "--by", "act", "--baseline", "relu", "--out", tmp_path / "t" / "table.tex")
    assert r.exit_code == 0, r.output
    assert (tmp_path / "t" / "table.tex").read_text().startswith("% relubench compare")
    r = cli(results, "-f", "json", "-o", tmp_path / "table.txt")  # --format beats the suffix
    assert json.loads((tmp_path / "table.txt").read_text())["groups"]


def test_cli_warns_once_about_malformed_folders_and_goes_on(results):
    for name in ("bad1", "bad2"):
        (results / name).mkdir()
        (results / name / "summary.json").write_text("[]")
    r = cli(results, "-f", "csv")
    assert r.exit_code == 0
    assert r.stderr.count("warning:") == 1
    assert "skipped 2" in r.stderr and "bad1: summary.json is not a JSON object" in r.stderr


@pytest.mark.parametrize(
    ("make", "args", "message"),
    [
        ("none", ["{tmp}/nowhere"], "error: no runs to compare under"),
        ("empty", ["{tmp}/empty"], "error: no runs to compare under"),
        ("bad", ["{tmp}/bad"], "error: no runs to compare under"),
        ("runs", ["{tmp}/r", "--by", "colour"], "error: --by colour: not a config key"),
        ("runs", ["{tmp}/r", "--format", "xlsx"], "error: unknown format 'xlsx'"),
        ("runs", ["{tmp}/r", "--out", "{tmp}"], "is a folder; give a file name"),
    ],
)
def test_cli_user_errors_exit_2_with_one_line(tmp_path, make, args, message):
    if make == "empty":
        (tmp_path / "empty").mkdir()
    elif make == "bad":
        (tmp_path / "bad" / "run").mkdir(parents=True)
        (tmp_path / "bad" / "run" / "summary.json").write_text('{"status": "exploded"}')
    elif make == "runs":
        make_run(tmp_path / "r", "relu", 0)
    r = cli(*(a.format(tmp=tmp_path) for a in args))
    assert r.exit_code == 2, r.output
    assert message in r.stderr
    assert "Traceback" not in r.output
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1


def test_cli_only_incomplete_runs_show_apart_and_exit_0(tmp_path):
    make_run(tmp_path, "relu", 0, status="running", epochs=5, epochs_done=1)
    r = cli(tmp_path)
    assert r.exit_code == 0
    assert "runs not in the means" in r.stdout and "running" in r.stdout
    assert "no complete runs yet; pass --include-incomplete" in r.stderr
    r = cli(tmp_path, "--include-incomplete", "-f", "csv")
    assert pd.read_csv(io.StringIO(r.stdout))["n"].tolist() == [1]


PROBE = """
import sys
from relubench.cli import app
root, figures = sys.argv[1:]
for args in (["compare", root], ["plot", root, "--out", figures]):
    try:
        app(args)
    except SystemExit as e:
        assert not e.code, (args, e.code)
print("TORCH", "torch" in sys.modules, file=sys.stderr)
"""


def test_compare_and_plot_never_import_torch(tmp_path):
    """The start-up bar: reading results must not pay for torch (seconds to import)."""
    make_run(tmp_path / "r", "prelu", 0, epochs=2)  # one small run: every figure, drawn fast
    r = subprocess.run(
        [sys.executable, "-c", PROBE, str(tmp_path / "r"), str(tmp_path / "f")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "f" / "slopes.png").is_file()  # plot really ran
    assert "TORCH False" in r.stderr, r.stderr


def test_unstable_groups_are_flagged_not_read_as_verdicts(tmp_path):
    # selu: seeds far apart (std 6 vs ~0.5 for the others); prelu-shared: one run diverged
    for act, accs in {
        "relu": (0.95, 0.96, 0.955),
        "elu": (0.95, 0.955, 0.96),
        "selu": (0.75, 0.82, 0.87),
        "prelu-shared": (0.96, 0.965),
    }.items():
        for seed, acc in enumerate(accs):
            make_run(tmp_path, act, seed, final_acc=acc)
    make_run(tmp_path, "prelu-shared", 2, status="diverged", epochs_done=1, error="nan")
    comp = build_comparison([tmp_path])
    flags = {g["act"]: g["flags"] for g in comp.groups}
    assert flags == {"relu": [], "elu": [], "selu": ["spread"], "prelu-shared": ["diverged"]}
    records = {r["act"]: r["flags"] for r in json.loads(render(comp, "json"))["groups"]}
    assert records["selu"] == "spread" and records["relu"] is None
    md = render(comp, "markdown")
    assert "† not a verdict: " in md and "selu: seeds disagree" in md
    selu_row = next(line for line in md.splitlines() if line.startswith("| selu"))
    assert "±" in selu_row and "†" in selu_row


def test_leaky_at_another_slope_is_a_group_of_its_own_against_relu(tmp_path):
    # the fixed-slope control beside PReLU: leaky at 0.25 and at 0.01 are two groups, each
    # compared with relu (whose leaky_slope does not apply and is not part of its name)
    from relubench.testing import make_run

    for seed in range(3):
        make_run(tmp_path, "relu", seed, final_acc=0.900 + 0.002 * seed)
        make_run(tmp_path, "leaky", seed, final_acc=0.905 + 0.002 * seed)
        make_run(tmp_path, "leaky", seed, final_acc=0.920 + 0.002 * seed, leaky_slope=0.25)
        make_run(tmp_path, "prelu", seed, final_acc=0.930 + 0.002 * seed)
    table = relubench.compare(tmp_path).set_index("group")
    assert sorted(table.index) == ["leaky, 0.01", "leaky, 0.25", "prelu", "relu"]
    assert table.loc["leaky, 0.25", "diff"] == pytest.approx(0.02)
    assert table.loc["leaky, 0.01", "diff"] == pytest.approx(0.005)
    assert table.loc["prelu", "diff"] == pytest.approx(0.03)
    out = subprocess.run(
        [sys.executable, "-m", "relubench", "compare", str(tmp_path), "--format", "markdown"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "| relu | – | 3 |" in out and "| leaky | 0.25 | 3 |" in out and "None" not in out
