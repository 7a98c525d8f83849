"""The training loop: determinism, faults, interruption, and the run folder's statuses."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from relubench.config import merge
from relubench.nn.models import build_model
from relubench.runner.reporters import QuietReporter
from relubench.runner.smoke import smoke_runs
from relubench.runner.train import run


def metrics(cfg):
    with open(cfg.run_dir / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return [
        {k: v for k, v in r.items() if k not in ("epoch_seconds", "samples_per_s")} for r in rows
    ]


# The optimizer and the schedule are independent (the schedule scales every group's lr, whatever
# steps with it): each optimizer once and each schedule once, the default pairing (sgd with
# onecycle) among them
@pytest.mark.parametrize(
    ("optimizer", "schedule"), [("sgd", "onecycle"), ("adam", "cosine"), ("adamw", "none")]
)
def test_same_seed_on_cpu_gives_identical_metrics(tiny, tmp_path, optimizer, schedule):
    a = merge(
        {
            **tiny,
            "act": "prelu",
            "epochs": 2,
            "optimizer": optimizer,
            "schedule": schedule,
            "lr": 0.01,
        }
    )
    b = merge({**a.to_dict(), "out": str(tmp_path / "again")})
    run(a)
    run(b)
    assert metrics(a) == metrics(b)
    c = merge({**a.to_dict(), "seed": 1, "out": str(tmp_path / "other")})
    run(c)
    assert metrics(c) != metrics(a)


def test_loss_goes_down_on_real_digits(tmp_path):
    cfg = merge(
        {
            "train_size": 2000,
            "test_size": 500,
            "probe_size": 256,
            "epochs": 2,
            "width": 8,
            "out": str(tmp_path),
            "threads": 1,
        }
    )
    s = run(cfg)
    rows = metrics(cfg)
    assert float(rows[2]["train_loss"]) < float(rows[1]["train_loss"])
    assert s["final_test_acc"] > 0.75  # 2k real MNIST images, 2 epochs, width 8 (chance: 0.1)


class Interrupt(QuietReporter):
    def epoch(self, row, probe):
        if row["epoch"] == 1:
            raise KeyboardInterrupt


def test_ctrl_c_keeps_completed_epochs_with_status_interrupted(tiny):
    cfg = merge({**tiny, "epochs": 3})
    with pytest.raises(KeyboardInterrupt):
        run(cfg, Interrupt())
    summary = json.loads((cfg.run_dir / "summary.json").read_text())
    assert summary["status"] == "interrupted"
    assert [r["epoch"] for r in metrics(cfg)] == ["0", "1"]
    assert not list(cfg.run_dir.glob(".*.tmp"))  # no half-written file left behind


class Boom(QuietReporter):
    def step(self, epoch, step, loss, acc):
        raise RuntimeError("disk on fire")


def test_an_unexpected_error_is_recorded_as_failed(tiny):
    cfg = merge(tiny)
    with pytest.raises(RuntimeError):
        run(cfg, Boom())
    summary = json.loads((cfg.run_dir / "summary.json").read_text())
    assert summary["status"] == "failed" and "disk on fire" in summary["error"]


def test_smoke_run_checks_a_folder(tmp_path):
    (result,) = smoke_runs(tmp_path, acts=["prelu-shared"], models=["cnn"])
    assert result["ok"], result["problems"]
    assert result["loss"] > 0


def test_slopes_train_at_their_own_rate_and_nothing_else_changes(tiny):
    # the optimizer's groups: weights, norms and biases, then PReLU's slopes at lr x slope_lr
    from relubench.runner.loop import make_optimizer

    model = build_model(merge({**tiny, "act": "prelu"}), 1, 28, 10)
    groups = make_optimizer(merge({**tiny, "act": "prelu", "lr": 0.2}), model).param_groups
    assert [g["lr"] for g in groups] == pytest.approx([0.2, 0.2, 0.006])
    assert groups[2]["weight_decay"] == 0 and all(p.dim() == 1 for p in groups[2]["params"])
    # a run without learned slopes is the same run, bit for bit, whatever slope_lr says
    a = run(merge({**tiny, "act": "elu", "slope_lr": 1.0, "out": tiny["out"] + "/a"}))
    b = run(merge({**tiny, "act": "elu", "slope_lr": 0.01, "out": tiny["out"] + "/b"}))
    assert a["run_id"] == b["run_id"]
    files = [Path(tiny["out"]) / x / a["run_id"] / "metrics.csv" for x in ("a", "b")]
    strip = lambda f: [r.rsplit(",", 2)[0] for r in f.read_text().splitlines()]  # noqa: E731
    assert strip(files[0]) == strip(files[1])  # all but the timing columns


def test_a_diverged_run_says_what_ran_away(tiny):
    # slopes stepped by their gradient run away within an epoch at this lr
    s = run(merge({**tiny, "act": "prelu-shared", "lr": 50.0, "epochs": 2, "slope_update": "grad"}))
    assert s["status"] == "diverged"
    d = s["diverged"]
    assert d["epoch"] in (1, 2) and d["step"] >= 1 and d["lr"] > 0 and d["loss"] in ("nan", "inf")
    assert d["parameter"] and set(d["grad_norm"]) <= {"weights", "norms and biases", "slopes"}
    assert f"{d['parameter']} ran away first" in s["error"] and "try --lr 5" in s["error"]
    # the files hold every epoch before it, the last finite one included
    folder = Path(tiny["out"]) / s["run_id"]
    rows = (folder / "metrics.csv").read_text().splitlines()[1:]
    assert [int(r.split(",")[0]) for r in rows] == list(range(d["epoch"]))
    assert json.loads((folder / "summary.json").read_text())["diverged"] == d


def test_summary_says_where_the_processs_time_went(tiny):
    import time

    before = time.time()
    summary = run(merge({**tiny, "epochs": 2}))
    t = summary["timing"]
    assert before - 0.001 <= t["entered_ms"] / 1000 <= time.time()  # ms, floored
    assert [e["epoch"] for e in t["epochs"]] == [0, 1, 2]
    assert t["epochs"][0]["train_s"] == 0  # epoch 0 only evaluates
    epochs = [e[k] for e in t["epochs"] for k in ("train_s", "eval_s", "write_s")]
    assert all(p >= 0 for p in [t["setup_s"], t["data_s"], t["build_s"], *epochs])
    assert sum(epochs) <= summary["wall_seconds"] + 0.01  # inside the run's own clock
    with open(Path(tiny["out"]) / summary["run_id"] / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    for row, e in zip(rows[1:], t["epochs"][1:], strict=True):  # epoch_seconds = train + eval
        assert float(row["epoch_seconds"]) == pytest.approx(e["train_s"] + e["eval_s"], rel=1e-3)


def test_a_plain_run_writes_every_file(tiny):
    from relubench.runfolder import check_run_folder

    cfg = merge({**tiny, "model": "plain", "act": "prelu", "depth": 4, "dropout": 0.1})
    s = run(cfg)
    assert s["status"] == "complete" and check_run_folder(cfg.run_dir) == []
    with open(cfg.run_dir / "layers.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    names = [f"features.conv{i}.act" for i in range(1, 5)]
    assert [r["layer"] for r in rows] == names * 2  # epochs 0 and 1, the first conv first
    assert [int(r["units"]) for r in rows[:4]] == [8, 8, 16, 32]  # 4 = 2 + 1 + 1 layers


def probe_set_accuracy(cfg, folder: Path) -> tuple[float, float, int]:
    """Loss, accuracy and size of the probe set, recomputed from model.pt on the head of the
    training set as `relubench.data` loads it, in one batch (the run evaluates in its own)."""
    import torch
    import torch.nn.functional as F

    from relubench.data.load import load

    sizes = {k: getattr(cfg, k) for k in ("train_size", "test_size", "val_size")}
    data = load(cfg.dataset, **sizes, seed=cfg.seed)  # val_size held out, then train_size cut
    net = build_model(cfg, 1, 28, 10)
    net.load_state_dict(torch.load(folder / "model.pt", weights_only=True))
    x, y = data.x_train[: cfg.probe_size], data.y_train[: cfg.probe_size]
    with torch.no_grad():
        out = net.eval()(x)
    return F.cross_entropy(out, y).item(), (out.argmax(1) == y).float().mean().item(), len(y)


# 1000: more than the 256 training images; val_size: they are held out before the probe's head
@pytest.mark.parametrize(("probe_size", "val_size"), [(100, 0), (1000, 32)])
def test_probe_split_train_probes_training_images_and_scores_them(tiny, probe_size, val_size):
    from relubench.runfolder import check_run_folder

    base = {**tiny, "probe_size": probe_size, "val_size": val_size, "save_model": True}
    on_test = merge({**base, "out": tiny["out"] + "/test"})
    on_train = merge({**base, "probe_split": "train"})
    run(on_test)
    run(on_train)
    rows = metrics(on_train)  # without the timing columns
    val = ["val_loss", "val_acc"] if val_size else []
    probe, rest = ["probe_loss", "probe_acc"], ["test_loss", "test_acc", "dead_frac"]
    assert list(rows[0]) == ["epoch", "train_loss", "train_acc", *val, *probe, *rest,
                             "dormant_frac", "lr"]  # fmt: skip
    assert "probe_acc" not in metrics(on_test)[0]
    assert check_run_folder(on_train.run_dir) == [] == check_run_folder(on_test.run_dir)
    # the probe set's loss and accuracy are the final model's on the training set's head
    loss, acc, n = probe_set_accuracy(on_train, on_train.run_dir)
    assert n == min(probe_size, 256)
    assert float(rows[-1]["probe_acc"]) == pytest.approx(acc, abs=1e-6)
    assert float(rows[-1]["probe_loss"]) == pytest.approx(loss, rel=1e-4)
    # where the probe reads changes what it reads, never the training or the test set's scores
    keys = ("train_loss", "train_acc", "test_loss", "test_acc", *val)
    scores = lambda rows: [float(r[k] or "nan") for r in rows for k in keys]  # noqa: E731
    assert scores(rows) == pytest.approx(scores(metrics(on_test)), rel=1e-4, nan_ok=True)


def test_a_metrics_csv_with_one_probe_column_is_malformed(tiny):
    from relubench.runfolder import check_run_folder

    cfg = merge({**tiny, "probe_split": "train"})
    run(cfg)
    path = cfg.run_dir / "metrics.csv"
    lines = [line.split(",") for line in path.read_text().splitlines()]
    at = lines[0].index("probe_acc")
    path.write_text("\n".join(",".join(c[:at] + c[at + 1 :]) for c in lines) + "\n")
    (problem,) = check_run_folder(cfg.run_dir)
    assert problem.startswith("metrics.csv has columns [") and "'probe_loss'" in problem


def test_a_non_finite_probe_loss_ends_the_run_diverged(tiny, monkeypatch):
    import math

    from relubench.runner import loop

    evaluate, calls = loop.evaluate, []

    def probe_overflows(model, x, y, probe_size=0, *args, **kwargs):
        result, found = evaluate(model, x, y, probe_size, *args, **kwargs)
        if probe_size == len(x) == 100:  # the probe set of training images
            calls.append(1)
            if len(calls) == 2:  # after the first epoch
                result = {**result, "loss": math.inf}
        return result, found

    monkeypatch.setattr(loop, "evaluate", probe_overflows)
    s = run(merge({**tiny, "probe_split": "train", "probe_size": 100, "epochs": 2}))
    assert s["status"] == "diverged" and "probe_loss became inf at epoch 1" in s["error"]
    assert s["epochs_done"] == 0  # the epoch whose evaluation ran away is not kept
