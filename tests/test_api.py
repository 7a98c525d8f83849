"""The Python API for notebooks: relubench.train / load_runs / compare, and a light import."""

from __future__ import annotations

import math
import subprocess
import sys

import pandas as pd
import pytest

import relubench
from relubench.analysis.stats import build_comparison
from relubench.config import merge
from relubench.errors import ConfigError
from relubench.testing import make_run


def test_import_relubench_loads_neither_torch_nor_pandas():
    code = (
        "import sys, relubench; assert callable(relubench.train); "
        "assert relubench.Run.__name__ == 'Run'; "
        "print(sorted(m for m in ('torch', 'pandas', 'torchvision') if m in sys.modules))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "[]"
    with pytest.raises(AttributeError, match="no attribute 'trian'"):
        relubench.trian  # noqa: B018


def test_train_returns_the_run_with_its_files(tiny, tmp_path):
    run = relubench.train(**tiny, act="prelu", progress=False)
    cfg = merge({**tiny, "act": "prelu"})
    assert run.folder == cfg.run_dir and run.run_id == cfg.run_id
    assert run.status == "complete" and run.config["act"] == "prelu"
    assert isinstance(run.metrics, pd.DataFrame)
    assert run.metrics["epoch"].tolist() == list(range(cfg.epochs + 1))
    assert run.final_test_acc == pytest.approx(run.metrics["test_acc"].iloc[-1], abs=1e-6)
    assert set(run.layers["layer"]) and len(run.alphas) > 0  # prelu: slopes per channel
    assert repr(run).startswith(f"Run('{cfg.run_id}', complete, test acc ")
    with pytest.raises(ConfigError, match="already holds a complete run.*--force.*force=True"):
        relubench.train(**tiny, act="prelu", progress=False)
    again = relubench.train(**tiny, act="prelu", progress=False, force=True)
    assert again.metrics.drop(columns=["epoch_seconds", "samples_per_s"]).equals(
        run.metrics.drop(columns=["epoch_seconds", "samples_per_s"])
    )  # the same numbers: seeded


def test_train_takes_a_recipe_file_or_a_config_and_settings_win(tiny, tmp_path):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("act: elu\nepochs: 3\n")
    run = relubench.train(recipe, **tiny, progress=False)
    assert run.config["act"] == "elu" and run.config["epochs"] == tiny["epochs"]
    cfg = merge({**tiny, "act": "leaky"})
    assert relubench.train(cfg, progress=False).config["act"] == "leaky"
    assert relubench.train(cfg, seed=1, progress=False).config["seed"] == 1
    with pytest.raises(ConfigError, match="unknown"):
        relubench.train(actt="relu", progress=False)


@pytest.fixture
def results(tmp_path):
    for seed, (acc, up) in enumerate(zip((0.91, 0.93, 0.92), (0.01, 0.012, 0.008), strict=True)):
        make_run(tmp_path, "relu", seed, final_acc=acc)
        make_run(tmp_path, "prelu", seed, final_acc=acc + up, best_acc=0.97)
    make_run(tmp_path, "elu", 0, status="interrupted", epochs_done=1)
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "summary.json").write_text("{not json")
    return tmp_path


def same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b or (a is None and isinstance(b, float) and math.isnan(b))


def test_load_runs_is_a_row_per_run_equal_to_the_rows_compare_groups(results):
    df = relubench.load_runs(results)
    comp = build_comparison([results])
    assert len(df) == len(comp.runs) == 7
    assert sorted(df["run_id"]) == sorted(r["run_id"] for r in comp.runs)
    by_id = df.set_index("run_id", drop=False).to_dict("index")
    for row in comp.runs:
        mine = by_id[row["run_id"]]
        added_by_compare = {"in_means", "group", "tuned_out"}
        assert set(row) - added_by_compare == set(mine)
        for key in set(row) - added_by_compare:
            assert same(row[key], mine[key]), (key, row[key], mine[key])
    assert [path for path, _ in df.attrs["skipped"]] == [str(results / "junk")]
    assert "act" in df.attrs["config_keys"]


def test_compare_is_the_table_as_a_dataframe(results):
    table = relubench.compare(results)
    assert table["act"].tolist() == ["prelu", "relu"]  # best first; elu is not complete
    prelu = table.iloc[0]
    assert prelu["final_acc"] == pytest.approx((0.92 + 0.94 + 0.93) / 3, abs=1e-9)
    assert prelu["best_acc"] == pytest.approx(0.97) and prelu["n"] == 3
    assert prelu["vs"] == "relu" and prelu["diff"] == pytest.approx(0.01, abs=1e-9)
    # +1.0 point, +-0.2 from seed to seed, paired by seed: clearly not 0, and past the margin
    assert prelu["verdict"] == "better" and table.attrs["baseline"] == "relu"
    runs = relubench.load_runs(results)
    assert table.attrs["apart"] == runs.loc[runs["act"] == "elu", "run_id"].tolist()
    with_elu = relubench.compare(results, include_incomplete=True)
    assert "elu" in set(with_elu["act"])
    by_seed = relubench.compare(results, by="act,seed")
    assert len(by_seed) == 6


def test_the_cli_train_and_compare_go_through_the_api(tiny, monkeypatch):
    from typer.testing import CliRunner

    from relubench import api
    from relubench.cli import app

    calls = []
    real_train, real_comparison = api.train, api.comparison
    monkeypatch.setattr(api, "train", lambda *a, **k: calls.append("train") or real_train(*a, **k))
    monkeypatch.setattr(
        api, "comparison", lambda *a, **k: calls.append("compare") or real_comparison(*a, **k)
    )
    args = [f"--set={k}={v}" for k, v in tiny.items()]
    assert CliRunner().invoke(app, ["train", *args]).exit_code == 0
    assert CliRunner().invoke(app, ["compare", tiny["out"]]).exit_code == 0
    assert calls == ["train", "compare"]


def test_compare_takes_the_margin_in_points(results):
    from relubench.errors import CompareError

    wide = relubench.compare(results, margin=5.0).set_index("act")  # +1 point: inside +-5
    narrow = relubench.compare(results).set_index("act")  # +1 point, not inside +-0.5
    assert wide.loc["prelu", "verdict"] == "equivalent"
    assert narrow.loc["prelu", "verdict"] == "better"
    assert wide.loc["prelu", "p_tost"] < narrow.loc["prelu", "p_tost"]
    with pytest.raises(CompareError, match="margin must be a number of points"):
        relubench.compare(results, margin="wide")
