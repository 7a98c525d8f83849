"""Studies are checked data: the registry's words and measures agree with the run folder and
the analysis, every selection names runs the study makes, and a misspelt word fails when the
spec is built, with a ConfigError naming it."""

from __future__ import annotations

import dataclasses
import re
import sys
import textwrap

import pytest

from relubench.analysis import study_figures
from relubench.analysis.study_runs import DERIVE, StudyRun, read_runs, value
from relubench.errors import ConfigError
from relubench.registry.studies import (
    MODULES,
    STUDIES,
    Claim,
    Criterion,
    Figure,
    Measure,
    Study,
    get_study,
    load,
)
from relubench.registry.studies.measures import MEASURES
from relubench.registry.studies.spec import Check
from relubench.registry.studies.words import CRITERIA, FIGURE_KINDS, LAYERS
from relubench.runfolder import LAYERS_COLUMNS, METRICS_COLUMNS, PROBE_COLUMNS, VAL_COLUMNS
from relubench.testing import make_run

KEYS = {"epoch", "layer"}  # the tables' row keys, not measures


# --- one table of measures, agreeing with the run folder and the analysis -----------------


def test_every_measure_names_a_column_the_run_folder_writes():
    metrics = set(METRICS_COLUMNS + VAL_COLUMNS + PROBE_COLUMNS) - KEYS
    layers = set(LAYERS_COLUMNS) - KEYS
    for name, m in MEASURES.items():
        assert m.name == name and m.label and (m.per_layer or m.whole_net)
        if m.status:  # the run's status: summary.json, no table's column
            assert m.whole_net and not m.derived and name not in metrics
            continue
        for column in m.source or (name,):
            assert not m.per_layer or column in layers, (name, column)
            assert not m.whole_net or column in metrics, (name, column)
        if m.derived:
            assert name not in metrics | layers, name  # derived names are not columns
    # and the other way round: every column the run folder writes is a measure, in its file
    assert {n for n, m in MEASURES.items() if m.per_layer and not m.derived} == layers
    assert {n for n, m in MEASURES.items() if m.whole_net and not (m.derived or m.status)} == (
        metrics
    )


def test_the_analysis_derives_exactly_the_registrys_derived_measures():
    derived = {n: m for n, m in MEASURES.items() if m.derived}
    assert set(DERIVE) == set(derived)
    for name, m in derived.items():  # one value per source column (and at init), in order
        assert isinstance(DERIVE[name](*[0.5] * (len(m.source) + m.since_init)), float)
    assert DERIVE["out_var"](0.5) == 0.25 and DERIVE["pre_var"](2.0) == 4.0
    assert DERIVE["abs_out_mean"](-0.3) == 0.3 and DERIVE["gap"](0.9, 0.85) == 0.9 - 0.85
    assert DERIVE["alpha_change"](0.2, 0.25) == pytest.approx(0.05)


def test_figures_and_verdicts_take_their_words_from_the_registry():
    assert set(study_figures.DRAW) == set(FIGURE_KINDS)
    assert set(CRITERIA) == {"between", "above", "below", "less_than", "greater_than"}
    for name, m in MEASURES.items():
        assert study_figures.label(name) == m.label
    # the labels of the figures the studies draw today
    assert study_figures.label("out_var") == "activation variance"
    assert study_figures.label("gap") == "train - test accuracy"


def test_every_layers_word_is_measured(tmp_path):
    make_run(tmp_path, "relu", 0, layer_stats={"out_mean": [1.0, 2.0, 3.0, 4.0]})
    (run,) = read_runs(sorted(tmp_path.iterdir()))[0]
    expected = {"each": [1.0, 2.0, 3.0, 4.0], "all": 2.5, "deep": 3.5, "shallow": 1.5,
                "first": 1.0, "rest": 3.0, "rank": 1.0}  # fmt: skip
    assert set(expected) == set(LAYERS)
    for word, want in expected.items():
        assert value(run, Measure(metric="out_mean", epoch="last", layers=word)) == want
    assert isinstance(run, StudyRun) and isinstance(run.metrics[0]["epoch"], int)


# --- every selection names runs the study makes --------------------------------------------

# claims --quick cannot decide: their runs (or the runs they compare with) are only in the
# full study; they come out "no complete runs", inconclusive
QUICK_UNTESTED = {
    ("dead-vs-lr", "prelu-stays-lower"),
    ("dead-vs-lr", "elu-stays-lower"),
    ("dead-vs-lr", "batch-norm-keeps-units"),
    # the regime studies' quick versions run a few settings (each claim's own in the full one)
    ("depth", "prelu-beats-relu-deep-cnn"),
    ("depth", "elu-lower-early-loss"),
    ("depth", "prelu-gap-grows-plain-cnn"),
    ("high-lr", "relu-40-percent-dead"),
    *(("high-lr", f"{act}-keeps-units") for act in ("leaky", "prelu", "prelu-shared", "selu")),
    ("small-data", "rrelu-beats-relu"),
}


@pytest.mark.parametrize("name", list(STUDIES))
def test_every_selection_uses_the_studys_keys_and_values(name):
    study = STUDIES[name]
    for quick in (False, True):
        spec = study.spec(quick)
        for c in study.claims:
            selections = [c.select, *([c.criterion.select] if c.criterion.compares else [])]
            selections += [c.relative_to] if c.relative_to else []
            selections += [check.select for check in c.checks]
            assert c.selections == selections
            problems = [p for select in selections for p in study.unproduced(select, quick)]
            if quick and (name, c.id) in QUICK_UNTESTED:
                assert problems, f"{c.id} is testable --quick now: update QUICK_UNTESTED"
                continue
            assert problems == [], (quick, c.id)
            values = {k: [v] for k, v in spec["base"].items()} | spec["grid"]
            for run in spec.get("runs", []):  # the controls' runs
                values = {**values, **{k: [*values.get(k, []), v] for k, v in run.items()}}
            for select in selections:  # the same, said directly
                assert all(k in values and v in values[k] for k, v in select.items()), c.id
        for f in study.figures:
            assert set(f.by) <= {*spec["grid"], *spec["base"]}
            assert study.unproduced(f.where, quick) == []
            assert f.x is None or f.x in spec["grid"]


def test_quick_is_a_subset_of_the_full_grid():
    for study in STUDIES.values():
        full, quick = study.spec(False)["grid"], study.spec(True)["grid"]
        assert list(quick) == list(full)
        for k, values in quick.items():
            assert set(values) <= set(full[k]), (study.name, k)


# --- a misspelt word fails when the spec is built ------------------------------------------


def _claim(**change) -> Claim:
    fields = dict(
        id="c",
        claim="ReLU dies",
        paper="it does",
        select={"act": "relu"},
        measure=Measure(metric="dead_frac", layers="all", epoch=0),
        criterion=Criterion(kind="above", bound=0.01),
    )
    return Claim(**{**fields, **change})


def _study(**change) -> Study:
    fields = dict(
        name="tiny",
        title="t",
        source="s",
        cost="c",
        base={"dataset": "mnist-mini"},
        grid={"act": ["relu", "elu"], "seed": [0, 1]},
        claims=(_claim(),),
        n_why="two seeds: a test of the spec",
    )
    return Study(**{**fields, **change})


def _less_than(other: dict, **more) -> Claim:
    crit = Criterion(kind="less_than", select=other, layers=more.pop("layers", None))
    return _claim(criterion=crit, margin=0.0, why="any difference", **more)


@pytest.mark.parametrize(
    ("build", "word"),
    [
        (lambda: Measure(metric="dead_frac", layers="frist", epoch=0), "frist"),
        (lambda: Measure(metric="out_maen", layers="all", epoch=0), "out_maen"),
        (lambda: Measure(metric="dead_frac", epoch="lsat"), "lsat"),
        (lambda: Measure(metric="out_mean", epoch=0), "out_mean"),  # per layer: needs layers
        (lambda: Measure(metric="train_loss", layers="all", epoch=0), "train_loss"),
        (lambda: Criterion(kind="greter_than", select={"act": "relu"}), "greter_than"),
        (lambda: Criterion(kind="abov", bound=0.1), "abov"),
        (lambda: Criterion(kind="between", bound=(1.0, 0.0)), "between"),
        (lambda: Criterion(kind="less_than", select={"act": "relu"}, layers="deeep"), "deeep"),
        (lambda: Figure(kind="layer", metrics=("dead_frac",), by=("act",)), "layer"),
        (lambda: Figure(kind="layers", metrics=("dead_frak",), by=("act",)), "dead_frak"),
        (lambda: Figure(kind="versus", metric="test_acc", x="lr", by=("act",), layers="al"), "al"),
        (lambda: Figure(kind="epochs", metric="gap", by=("act",)), "gap"),  # not a column
        (lambda: Figure(kind="epochs", metric="train_loss", by=("act",), x="lr"), "x"),
    ],
)
def test_a_misspelt_word_raises_a_config_error_naming_it(build, word):
    with pytest.raises(ConfigError, match=re.escape(word)):
        build()


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"claims": (_claim(select={"actt": "relu"}),)}, ["'tiny'", "'c'", "'actt'"]),
        ({"claims": (_claim(select={"act": "relux"}),)}, ["'tiny'", "'c'", "'relux'"]),
        ({"claims": (_less_than({"act": "selu"}),)}, ["'tiny'", "'c'", "'selu'"]),
        ({"claims": (_claim(), _claim())}, ["'tiny'", "'c'", "twice"]),
        ({"quick_grid": {"seed": [7]}}, ["'tiny'", "quick_grid", "7"]),
        ({"quick_grid": {"depth": [4]}}, ["'tiny'", "'depth'"]),
        ({"base": {"act": "relu"}}, ["'tiny'", "act", "both"]),
        (
            {"figures": (Figure(kind="layers", metrics=("dead_frac",), by=("acts",)),)},
            ["'tiny'", "'figure1-layers'", "'acts'"],
        ),
        (
            {"figures": (Figure(kind="versus", metric="test_acc", x="lr", by=("act",)),)},
            ["'tiny'", "'lr'"],
        ),
    ],
)
def test_a_selection_the_study_never_runs_names_the_study_the_claim_and_the_word(change, words):
    with pytest.raises(ConfigError) as e:
        _study(**change)
    for w in words:
        assert w in str(e.value)


def test_a_claims_own_checks_name_it():
    with pytest.raises(ConfigError, match="claim 'c'.*'each'"):
        _less_than({"act": "elu"}, measure=Measure(metric="dead_frac", layers="each", epoch=0))
    with pytest.raises(ConfigError, match="claim 'c'.*'train_loss'"):  # no per-layer loss
        _less_than({"act": "elu"}, layers="all", measure=Measure(metric="train_loss", epoch=1))
    with pytest.raises(ConfigError, match="'Bad_Id'"):
        _claim(id="Bad_Id")


def test_a_bad_study_module_fails_at_import_naming_its_file_and_line(tmp_path, monkeypatch):
    (tmp_path / "badstudy.py").write_text(
        textwrap.dedent("""
        from relubench.registry.studies.spec import Measure

        OK = 1
        STUDY = Measure(metric="dead_frac", layers="frist", epoch=0)
        """)
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ConfigError, match=r"badstudy\.py line 5: .*'frist'"):
        load("badstudy")
    sys.modules.pop("badstudy", None)


# --- the definitions: frozen, keyword-only, one module per study ----------------------------


def test_specs_are_frozen_and_built_by_keyword():
    study = get_study("born-dead")
    with pytest.raises(dataclasses.FrozenInstanceError):
        study.name = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        study.claims[0].select["act"] = "elu"  # type: ignore[index]
    with pytest.raises(TypeError):
        Measure("dead_frac", 0)  # type: ignore[misc]
    spec = study.spec()
    spec["grid"]["seed"].append(99)  # a copy: the study is unchanged
    assert 99 not in study.spec()["grid"]["seed"] and 99 not in study.sweep["grid"]["seed"]


def test_the_registry_lists_one_module_per_study_and_finds_names_in_any_case():
    assert [m.replace("_", "-") for m in MODULES] == list(STUDIES)
    assert get_study("SELU-Init") is STUDIES["selu-init"]
    with pytest.raises(ConfigError, match=r"unknown study 'nonsense'; choose one of: .*study list"):
        get_study("nonsense")


def test_a_control_runs_beside_the_grid_and_claims_tell_it_apart():
    # seed-claims: leaky fixed at PReLU's initial slope, crossed with the grid's models and
    # seeds; the grid's leaky keeps its own slope (and its run ids)
    study = STUDIES["seed-claims"]
    runs = study.spec(False)["runs"]
    assert len(runs) == 2 * 5 and all(
        r["act"] == "leaky" and r["leaky_slope"] == 0.25 for r in runs
    )
    assert {(r["model"], r["seed"]) for r in runs} == {
        (m, s) for m in ("cnn", "mlp") for s in range(5)
    }
    assert len(study.spec(True)["runs"]) == 2 * 2
    fixed = next(c for c in study.claims if c.id == "prelu-beats-fixed-slope")
    beats = next(c for c in study.claims if c.id == "prelu-beats-leaky")
    assert (
        fixed.criterion.select["leaky_slope"] == 0.25
        and beats.criterion.select["leaky_slope"] == 0.01
    )
    with pytest.raises(ConfigError, match="control key 'prelu_init' is not in base or grid"):
        dataclasses.replace(study, controls=({"act": "prelu", "prelu_init": 0.5},))


# --- margins, checks and n: fixed in the definition, before the data ------------------------


def test_a_comparison_needs_a_margin_with_its_reason_and_a_bound_takes_none():
    relu = {"act": "relu"}
    with pytest.raises(ConfigError, match="claim 'c': less_than needs margin"):
        _claim(criterion=Criterion(kind="less_than", select={"act": "elu"}))
    with pytest.raises(ConfigError, match="margin 0.01 needs why"):
        _claim(criterion=Criterion(kind="less_than", select={"act": "elu"}), margin=0.01)
    with pytest.raises(ConfigError, match="needs margin"):  # a negative margin is no margin
        _claim(criterion=Criterion(kind="less_than", select={"act": "elu"}), margin=-1, why="w")
    with pytest.raises(ConfigError, match="a bound criterion takes no margin"):
        _claim(select=relu, margin=0.01, why="w")
    assert _less_than({"act": "elu"}).margin == 0.0


def test_a_group_is_never_compared_with_a_superset_of_itself():
    # the same runs: only layer sets of which neither contains the other
    with pytest.raises(ConfigError, match="one contains the other"):
        _less_than({"act": "relu"}, layers="all", measure=Measure(metric="dead_frac",
                   layers="deep", epoch=0))  # fmt: skip
    ok = _less_than({"act": "relu"}, layers="shallow",
                    measure=Measure(metric="dead_frac", layers="deep", epoch=0))  # fmt: skip
    assert ok.same_runs
    # runs no key tells apart: {act relu} holds every {act relu, depth 4} run
    with pytest.raises(ConfigError, match="overlap the claim's runs"):
        _less_than({"act": "relu"}, select={"act": "relu", "depth": 4})
    assert not _less_than({"act": "elu"}).same_runs


def test_checks_and_n_why_are_checked_when_built():
    dead = Measure(metric="dead_frac", epoch="last")
    with pytest.raises(ConfigError, match="give least and/or most"):
        Check(what="ReLU dies", select={"act": "relu"}, measure=dead)
    with pytest.raises(ConfigError, match="one number a run"):
        Check(what="w", select={"act": "relu"}, least=0.1,
              measure=Measure(metric="dead_frac", layers="each", epoch=0))  # fmt: skip
    check = Check(what="w", select={"act": "relux"}, measure=dead, least=0.1)
    with pytest.raises(ConfigError, match="'tiny'.*'c'.*'relux'"):  # its runs must exist
        _study(claims=(_claim(checks=(check,)),))
    with pytest.raises(ConfigError, match="n_why is its text"):
        _study(n_why="")
    for study in STUDIES.values():  # every study says why its seeds are enough
        n = len(study.grid["seed"])
        assert f"{n} seeds" in study.n_why and "Holm" in study.n_why, study.name
