"""export tensorboard: run folders -> event files, read back with TensorBoard's own reader.

The numbers are checked against the CSVs they came from (scalars exactly as float32, slope
histograms by count, min, max and sum), on hand-made folders and on one real tiny training.
"""

from __future__ import annotations

import builtins
import csv
import json
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.backend.event_processing.event_multiplexer import EventMultiplexer
from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData

from relubench.analysis.tensorboard import INSTALL, export_tensorboard
from relubench.errors import ExportError, RelubenchError
from relubench.testing import make_run

# the tags this test expects, written out here rather than taken from the module under test
METRIC_TAGS = {
    "train_loss": "loss/train",
    "val_loss": "loss/val",
    "probe_loss": "loss/probe",
    "test_loss": "loss/test",
    "train_acc": "acc/train",
    "val_acc": "acc/val",
    "probe_acc": "acc/probe",
    "test_acc": "acc/test",
    "dead_frac": "units/dead_frac",
    "dormant_frac": "units/dormant_frac",
    "lr": "opt/lr",
    "epoch_seconds": "time/epoch_seconds",
    "samples_per_s": "time/samples_per_s",
}
LAYER_COLUMNS = ("dead_frac", "dormant_frac", "pre_mean", "pre_std", "out_mean", "out_std")
FINAL = ["final/test_acc", "final/best_val_acc", "final/dead_frac", "final/dormant_frac"]
STATS = {"pre_mean": [-0.1, -0.2, -0.3, -0.4], "out_std": [1.0, 0.9, 0.8, 0.7]}


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    """relu, prelu with a validation split, prelu-shared still running, one real prelu run."""
    root = tmp_path_factory.mktemp("results")
    make_run(root, "relu", 0, layer_stats=STATS)
    make_run(root, "prelu", 1, val_acc=0.8, layer_stats=STATS)
    make_run(root, "prelu-shared", 0, status="running", epochs=4, epochs_done=2)
    from relubench.config import merge
    from relubench.runner.smoke import SMOKE
    from relubench.runner.train import run

    real = {**SMOKE, "threads": 1, "act": "prelu", "width": 4, "epochs": 2, "val_size": 64}
    run(merge({**real, "out": str(root / "real")}))
    return root


@pytest.fixture(scope="module")
def exported(runs, tmp_path_factory):
    out = tmp_path_factory.mktemp("tb")
    done = export_tensorboard([runs], out)
    return runs, out, done


def folders(root: Path) -> list[Path]:
    return sorted(p.parent for p in root.rglob("summary.json"))


def read_csv(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def accumulator(run_dir: Path) -> EventAccumulator:
    kinds = ("scalars", "histograms", "tensors", "compressedHistograms", "images", "audio")
    ea = EventAccumulator(str(run_dir), size_guidance=dict.fromkeys(kinds, 0))
    ea.Reload()
    return ea


def f32(text: str) -> float:
    return float(np.float32(float(text)))


def points(ea: EventAccumulator, tag: str) -> dict[int, float]:
    events = ea.Scalars(tag)
    steps = [e.step for e in events]
    assert len(steps) == len(set(steps)), f"{tag}: duplicated steps {steps}"
    return {e.step: e.value for e in events}


def hparams(ea: EventAccumulator) -> dict[str, HParamsPluginData]:
    content = ea.PluginTagToContent("hparams")
    return {tag.split("/")[-1]: HParamsPluginData.FromString(c) for tag, c in content.items()}


def test_one_tensorboard_run_per_run_folder(exported):
    root, out, done = exported
    ids = sorted(f.name for f in folders(root))
    assert len(ids) == 4 and done.skipped == []
    assert sorted(done.runs) == ids
    assert sorted(p.name for p in out.iterdir()) == ids
    for run_dir in out.iterdir():  # one event file, no timestamped hparams sub-run
        files = list(run_dir.iterdir())
        assert len(files) == 1 and files[0].is_file() and "tfevents" in files[0].name
    mux = EventMultiplexer().AddRunsFromDirectory(str(out))
    assert sorted(mux.Runs()) == ids  # what `tensorboard --logdir out` lists


def test_every_scalar_is_the_csv_value_at_its_epoch(exported):
    root, out, done = exported
    total = 0
    for folder in folders(root):
        expected: dict[str, dict[int, float]] = defaultdict(dict)
        for row in read_csv(folder / "metrics.csv"):
            for col, cell in row.items():
                if col != "epoch" and cell:
                    expected[METRIC_TAGS[col]][int(row["epoch"])] = f32(cell)
        for row in read_csv(folder / "layers.csv"):
            for col in (*LAYER_COLUMNS, "alpha_mean"):
                if row.get(col):
                    expected[f"{col}/{row['layer']}"][int(row["epoch"])] = f32(row[col])
        ea = accumulator(out / folder.name)
        tags = set(ea.Tags()["scalars"])
        assert tags - set(FINAL) == set(expected)
        for tag, by_epoch in expected.items():
            assert points(ea, tag) == by_epoch, tag
        total += sum(len(v) for v in expected.values()) + len(tags & set(FINAL))
        assert "units/dead_frac" in tags and "dead_frac/dense.act" in tags
    assert done.scalars == total


def test_slope_histograms_per_layer_and_epoch(exported):
    root, out, done = exported
    histograms = 0
    for folder in folders(root):
        slopes: dict[tuple[str, int], list[float]] = defaultdict(list)
        for row in read_csv(folder / "alphas.csv"):
            slopes[row["layer"], int(row["epoch"])].append(float(row["alpha"]))
        ea = accumulator(out / folder.name)
        layers = {layer for layer, _ in slopes}
        assert set(ea.Tags()["histograms"]) == {f"alpha/{layer}" for layer in layers}
        for layer in layers:
            events = ea.Histograms(f"alpha/{layer}")
            assert [e.step for e in events] == sorted(e for la, e in slopes if la == layer)
            for e in events:
                h, values = e.histogram_value, slopes[layer, e.step]
                assert h.num == len(values) == sum(h.bucket)
                assert (h.min, h.max) == (min(values), max(values))
                assert h.sum == pytest.approx(sum(values), rel=1e-12)
        histograms += len(slopes)
    assert histograms == done.histograms > 0
    for folder in folders(root):  # a slope per channel (prelu), or one per layer (shared)
        act = json.loads((folder / "summary.json").read_text())["config"]["act"]
        ea = accumulator(out / folder.name)
        for row in read_csv(folder / "layers.csv") if act.startswith("prelu") else []:
            h = ea.Histograms(f"alpha/{row['layer']}")[int(row["epoch"])].histogram_value
            assert h.num == (int(row["units"]) if act == "prelu" else 1)


def test_hparams_hold_the_config_and_the_final_results(exported):
    root, out, _ = exported
    experiments = set()
    for folder in folders(root):
        summary = json.loads((folder / "summary.json").read_text())
        ea = accumulator(out / folder.name)
        hp = hparams(ea)
        assert set(hp) == {"experiment", "session_start_info", "session_end_info"}
        start = hp["session_start_info"].session_start_info.hparams
        assert start["act"].string_value == summary["config"]["act"]
        assert start["seed"].number_value == summary["config"]["seed"]
        assert start["status"].string_value == summary["status"]
        assert "out" not in start and "threads" not in start  # runtime keys: not the experiment
        slope_lr = summary["config"]["act"] != "relu"  # relu has no slopes: left empty
        assert ("slope_lr" in start) == slope_lr
        experiment = hp["experiment"].experiment
        experiments.add(experiment.SerializeToString())
        assert [m.name.tag for m in experiment.metric_infos] == FINAL
        info = {i.name: i for i in experiment.hparam_infos}
        acts = {v.string_value for v in info["act"].domain_discrete.values}
        assert {"relu", "leaky", "prelu", "prelu-shared", "elu", "selu"} <= acts  # a filter
        assert [v.bool_value for v in info["augment"].domain_discrete.values] == [False, True]
        status = hp["session_end_info"].session_end_info.status
        assert status == (1 if summary["status"] == "complete" else 3)  # success, running

        final = {t: ea.Scalars(t)[-1].value for t in FINAL if t in ea.Tags()["scalars"]}
        assert final["final/test_acc"] == f32(str(summary["final_test_acc"]))
        assert final["final/dead_frac"] == f32(str(summary["final_dead_frac"]))
        if summary["best_val_acc"] is None:
            assert "final/best_val_acc" not in final
        else:
            assert final["final/best_val_acc"] == f32(str(summary["best_val_acc"]))
    assert len(experiments) == 1  # every run declares the same experiment


def test_reexport_replaces_the_run_and_a_running_run_has_what_it_has(tmp_path):
    out = tmp_path / "tb"
    folder = make_run(tmp_path / "r", "prelu", status="running", epochs=3, epochs_done=1)
    export_tensorboard([folder], out)
    assert sorted(points(accumulator(out / folder.name), "acc/test")) == [0, 1]
    stale = out / folder.name / "events.out.tfevents.1.host"  # an older export's file
    stale.write_bytes((next((out / folder.name).iterdir())).read_bytes())
    make_run(tmp_path / "r", "prelu", status="complete", epochs=3)  # the run went on
    for _ in range(2):
        done = export_tensorboard([tmp_path / "r"], out)
        assert done.runs == [folder.name]
        assert len(list((out / folder.name).iterdir())) == 1
        ea = accumulator(out / folder.name)
        assert sorted(points(ea, "acc/test")) == [0, 1, 2, 3]
        assert [e.step for e in ea.Histograms("alpha/dense.act")] == [0, 1, 2, 3]


def test_unreadable_and_duplicate_folders_are_skipped_with_the_reason(tmp_path):
    root = tmp_path / "results"
    good = make_run(root, "elu")
    shutil.copytree(good, tmp_path / "copy" / good.name)
    (root / "never-started").mkdir()
    (root / "never-started" / "config.yaml").write_text("act: relu\n")
    (root / "broken").mkdir()
    (root / "broken" / "summary.json").write_text("{not json")
    done = export_tensorboard([root, tmp_path / "copy", tmp_path / "nowhere"], tmp_path / "tb")
    assert done.runs == [good.name]
    why = dict(done.skipped)
    assert "summary.json missing" in why[str(root / "never-started")]
    assert "not valid JSON" in why[str(root / "broken")]
    assert "same run id" in why[str(tmp_path / "copy" / good.name)]
    assert why[str(tmp_path / "nowhere")] == "no such file or folder"
    assert sorted(p.name for p in (tmp_path / "tb").iterdir()) == [good.name]


def test_out_that_is_a_file_is_a_user_error(tmp_path):
    (tmp_path / "tb").write_text("")
    with pytest.raises(ExportError, match="is a file"):
        export_tensorboard([make_run(tmp_path / "r")], tmp_path / "tb")


def test_missing_tensorboardx_is_one_line_saying_how_to_install(tmp_path, monkeypatch):
    real_import = builtins.__import__

    def no_tensorboardx(name, *args, **kwargs):
        if name == "tensorboardX" or name.startswith("tensorboardX."):
            raise ModuleNotFoundError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tensorboardx)
    with pytest.raises(ExportError) as e:
        export_tensorboard([make_run(tmp_path / "r")], tmp_path / "tb")
    assert isinstance(e.value, RelubenchError)  # the CLI's one red line, exit 2
    assert str(e.value) == INSTALL
    assert str(e.value) == (
        "tensorboard export needs tensorboardX: pip install 'relubench[tensorboard]'"
    )
    assert not (tmp_path / "tb").exists()


def test_export_never_loads_torch(tmp_path):
    """tensorboardX imports torch when it can (seconds); the export keeps it out."""
    folder = make_run(tmp_path / "r", "prelu")
    code = (
        "import sys\n"
        "from relubench.analysis.tensorboard import export_tensorboard\n"
        f"done = export_tensorboard([{str(folder)!r}], {str(tmp_path / 'tb')!r})\n"
        "assert done.runs and 'torch' not in sys.modules, sorted(sys.modules)\n"
    )  # (not even as the None that hid it while tensorboardX loaded: torch still imports)
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_cli_exports_and_says_how_to_view(runs, tmp_path):
    from typer.testing import CliRunner

    from relubench.cli import app

    out = tmp_path / "tb"
    r = CliRunner().invoke(app, ["export", "tensorboard", str(runs), "--out", str(out)],
                           env={"COLUMNS": "300"})  # fmt: skip
    assert r.exit_code == 0, r.output
    n = len(folders(runs))
    assert f"exported {n} runs to {out}" in r.output and f"tensorboard --logdir {out}" in r.output
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in folders(runs))
    r = CliRunner().invoke(app, ["export", "tensorboard", str(tmp_path / "nothing")])
    assert r.exit_code == 2 and "no run folder could be exported" in r.output
