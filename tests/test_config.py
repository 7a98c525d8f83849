"""RunConfig: precedence, validation, run ids, and the shipped recipes."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from relubench.config import (
    NEUTRAL,
    RUNTIME_KEYS,
    RunConfig,
    load_yaml,
    merge,
    resolve,
    to_yaml,
)
from relubench.errors import ConfigError
from relubench.runner.smoke import SMOKE

# a prelu run from before slope_lr and slope_update existed: both at their neutral values
OLD_PRELU = {"act": "prelu", "slope_lr": 1.0, "slope_update": "grad"}

CONFIGS = Path(__file__).parents[1] / "configs"


def test_precedence_defaults_yaml_set_flags(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("epochs: 7\nlr: 0.3\nact: elu\nseed: 4\n")
    cfg = resolve(f, ["lr=0.2", "act=leaky"], {"act": "prelu", "seed": None})
    assert (cfg.epochs, cfg.lr, cfg.act, cfg.seed) == (7, 0.2, "prelu", 4)
    assert cfg.batch_size == RunConfig().batch_size


def test_set_values_are_typed():
    cfg = resolve(None, ["epochs=3", "lr=1e-2", "save_model=true", "act=PReLU"])
    assert (cfg.epochs, cfg.lr, cfg.save_model, cfg.act) == (3, 0.01, True, "prelu")
    assert isinstance(cfg.lr, float)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"act": "swish"}, "unknown act 'swish'; choose one of: relu, leaky, prelu, prelu-shared"),
        ({"epcohs": 3}, "unknown config key 'epcohs' (did you mean epochs?)"),
        ({"epochs": "ten"}, "epochs must be int, got 'ten' (str)"),
        ({"epochs": 2.5}, "epochs must be int"),
        ({"lr": "fast"}, "lr must be float"),
        ({"save_model": 1}, "save_model must be bool"),
        ({"epochs": 0}, "epochs must be > 0, got 0"),
        ({"lr": -1}, "lr must be > 0"),
        ({"dropout": 1.0}, "dropout must be in [0, 1)"),
        ({"model": "resnet"}, "unknown model 'resnet'; choose one of: cnn, mlp"),
        ({"dataset": "imagenet"}, "unknown dataset 'imagenet'"),
        ({"norm": "layer"}, "unknown norm 'layer'; choose one of: auto, batch, none"),
        ({"probe_split": "val"}, "unknown probe_split 'val'; choose one of: test, train"),
        (
            {"model": "mlp", "norm": "batch"},
            "model mlp has no normalisation layers to switch: norm applies to cnn, resnet20, vgg, "
            "plain; drop norm (or set norm=auto)",
        ),
        (
            {"model": "plain", "depth": 2},
            "model plain needs depth >= 3, got 2; give --set depth=3 or more (0 = its default, 8)",
        ),
    ],
)
def test_bad_values_are_rejected_with_a_clear_message(values, message):
    with pytest.raises(ConfigError) as e:
        merge(values)
    assert message in str(e.value)


def test_out_that_is_a_file_is_rejected(tmp_path):
    f = tmp_path / "file"
    f.write_text("")
    with pytest.raises(ConfigError, match="is a file"):
        merge({"out": str(f)})


@pytest.mark.parametrize(
    ("text", "message"),
    [("epochs: [1, 2\n", "is not valid YAML (line 2)"), ("- 1\n- 2\n", "must be a mapping")],
)
def test_bad_yaml_files(tmp_path, text, message):
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_yaml(f)
    with pytest.raises(ConfigError, match="not found"):
        load_yaml(tmp_path / "missing.yaml")


def test_run_id_is_readable_stable_and_ignores_runtime_keys():
    cfg = merge({"act": "prelu", "seed": 3})
    assert cfg.run_id.startswith("mnist-mini-cnn-prelu-s3-") and len(cfg.run_id.split("-")[-1]) == 8
    assert merge({"act": "prelu", "seed": 3, "device": "cpu", "out": "x", "threads": 2}).run_id == (
        cfg.run_id
    )
    assert merge({"act": "prelu", "seed": 4}).run_id != cfg.run_id
    assert merge({"act": "prelu", "seed": 3, "lr": 0.05}).run_id != cfg.run_id
    # the hash is over content, not over the order keys were given in
    assert merge({"seed": 3, "act": "prelu"}).run_id == cfg.run_id


def test_config_yaml_round_trips(tmp_path):
    cfg = merge({"act": "elu", "epochs": 2, "elu_alpha": 0.5, "out": str(tmp_path)})
    f = tmp_path / "config.yaml"
    f.write_text(to_yaml(cfg))
    again = resolve(f)
    assert again == cfg and again.run_id == cfg.run_id


RECIPES = [p for p in sorted(CONFIGS.glob("*.yaml")) if "grid" not in yaml.safe_load(p.read_text())]


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.name)
def test_shipped_recipes_load(path):
    # every key the recipe sets is what the resolved config holds
    cfg, keys = resolve(path), yaml.safe_load(path.read_text())
    assert cfg.run_id.startswith(f"{cfg.dataset}-{cfg.model}-{cfg.act}-s{cfg.seed}-")
    assert all(getattr(cfg, k) == pytest.approx(v) for k, v in keys.items())


def test_added_keys_at_their_neutral_value_keep_old_run_ids():
    # the config-evolution rule (docs/architecture.md): the ids below were made before
    # celu_alpha, rrelu_lower and rrelu_upper existed (the README's study and every finished
    # sweep use them)
    assert merge({}).run_id == "mnist-mini-cnn-relu-s0-ead83933"
    # PReLU's slopes train at lr x slope_lr (0.03, by sign) now: a new experiment, a new id; at
    # the neutral values it is the old experiment, with its old id
    assert merge(OLD_PRELU).run_id == "mnist-mini-cnn-prelu-s0-c0a070ae"
    assert merge({"act": "prelu"}).run_id != "mnist-mini-cnn-prelu-s0-c0a070ae"
    # a key for learned slopes leaves runs without them alone, whatever its value
    assert merge({"slope_lr": 0.5}).run_id == merge({}).run_id
    # config.yaml holds every key, so a file means the same wherever it is read; the hash
    # (and `written`, what summary.json records) leaves neutral values out
    assert "slope_lr: 0.03" in to_yaml(merge({})) and "slope_lr: 0.03" in to_yaml(
        merge({"act": "prelu"})
    )
    assert "celu_alpha: 1.0" in to_yaml(merge({})) and "celu_alpha" not in merge({}).written()
    # off its neutral value an added key is part of the experiment: a new id, and written
    moved = merge({"act": "celu", "celu_alpha": 0.5})
    assert moved.run_id != merge({"act": "celu"}).run_id
    assert moved.written()["celu_alpha"] == 0.5 and "celu_alpha: 0.5" in to_yaml(moved)
    # runtime keys never enter the id; added keys declare a neutral value
    assert set(RUNTIME_KEYS) == {"device", "threads", "amp", "out", "data_dir", "download",
                                 "save_model", "checkpoint"}  # fmt: skip
    assert NEUTRAL == {
        "celu_alpha": 1.0, "rrelu_lower": 1 / 8, "rrelu_upper": 1 / 3, "slope_lr": 1.0,
        "val_size": 0, "dormant_tau": 0.1, "slope_decay": False, "init": "auto",
        "label_smoothing": 0.0, "data_id": "", "slope_update": "grad", "norm": "auto",
        "probe_split": "test",
    }  # fmt: skip
    assert merge({"label_smoothing": 0.0}).run_id == merge({}).run_id
    assert merge({"label_smoothing": 0.1}).run_id != merge({}).run_id


def test_norm_keeps_the_run_ids_of_the_runs_before_it():
    # norm came after runs existed: at auto (its neutral value) the ids, the hash and
    # summary.json's config are what they were
    for values, rid in (({}, "mnist-mini-cnn-relu-s0-ead83933"),
                        ({"act": "prelu"}, "mnist-mini-cnn-prelu-s0-562a50b4")):  # fmt: skip
        assert merge(values).run_id == rid
        assert merge({**values, "norm": "auto"}).run_id == rid
        # a norm equal to the model's own is stored as auto: the same run, the same id
        assert merge({**values, "norm": "batch"}).norm == "auto"
        assert merge({**values, "norm": "batch"}).run_id == rid
        # off its neutral value it is another experiment: a new id, and written
        assert merge({**values, "norm": "none"}).run_id != rid
    cfg = merge({})
    assert "norm" not in cfg.written() and "\nnorm: auto\n" in to_yaml(cfg)
    assert merge({"norm": "none"}).written()["norm"] == "none"
    # plain and mlp have no batch norm of their own: none is theirs, so stored as auto
    assert merge({"model": "plain", "norm": "none"}).run_id == merge({"model": "plain"}).run_id
    assert merge({"model": "plain", "norm": "batch"}).run_id != merge({"model": "plain"}).run_id
    assert merge({"model": "mlp", "norm": "none"}).norm == "auto"
    assert merge({"model": "plain"}).depth == 8 and merge({"model": "plain"}).width == 16


def test_probe_split_keeps_the_run_ids_of_the_runs_before_it():
    # probe_split came after runs existed: at test (its neutral value) the ids, the hash and
    # summary.json's config are what they were; at train it is another experiment
    for values, rid in (({}, "mnist-mini-cnn-relu-s0-ead83933"),
                        ({"act": "prelu"}, "mnist-mini-cnn-prelu-s0-562a50b4")):  # fmt: skip
        assert merge({**values, "probe_split": "test"}).run_id == rid
        assert merge({**values, "probe_split": "train"}).run_id != rid
    cfg = merge({})
    assert "probe_split" not in cfg.written() and "\nprobe_split: test\n" in to_yaml(cfg)
    assert merge({"probe_split": "train"}).written()["probe_split"] == "train"


def test_zero_width_resolves_to_the_model_default():
    assert merge({}).width == 32 and merge({"width": 32}).run_id == merge({}).run_id
    assert (merge({"model": "mlp"}).width, merge({"model": "mlp"}).depth) == (256, 4)


def test_lr_0_is_the_models_default_lr_written_as_the_number():
    # the mlp at 0.1 diverged (docs/stability.md): its default is 0.05, a new mlp experiment;
    # the cnn's stays 0.1 and so do its run ids
    assert merge({}).lr == 0.1 and merge({"lr": 0.1}).run_id == merge({}).run_id
    assert merge({}).run_id == "mnist-mini-cnn-relu-s0-ead83933"
    mlp = merge({"model": "mlp"})
    assert mlp.lr == 0.05 and mlp.run_id == merge({"model": "mlp", "lr": 0.05}).run_id
    assert "\nlr: 0.05\n" in to_yaml(mlp)
    assert [merge({"model": m}).lr for m in ("resnet20", "vgg")] == [0.1, 0.1]
    # plain diverged at 0.01 and above (docs/stability.md)
    assert merge({"model": "plain"}).lr == 0.005
    with pytest.raises(ConfigError, match="lr must be > 0, got -0.1"):
        merge({"lr": -0.1})


def test_smoke_recipe_matches_the_smoke_command():
    assert yaml.safe_load((CONFIGS / "smoke.yaml").read_text()) == SMOKE


def test_a_run_folder_reruns_at_the_values_it_ran_with(tmp_path):
    # a prelu run made before slope_lr existed ran at its neutral value (1.0), not today's
    # default: its config.yaml reruns as that run, and compare reads it so
    from relubench.analysis.load import load_run

    old = merge({**OLD_PRELU, "out": str(tmp_path)})
    text = to_yaml(old).replace("slope_lr: 1.0\n", "")  # as written before the keys existed
    text = text.replace("slope_update: grad\n", "")
    f = tmp_path / "config.yaml"
    f.write_text(text)
    assert resolve(f).slope_lr == 1.0 and resolve(f).slope_update == "grad"
    assert resolve(f).run_id == old.run_id
    plain = tmp_path / "recipe.yaml"  # a recipe (no run header) gets today's default
    plain.write_text("act: prelu\n")
    assert resolve(plain).slope_lr == 0.03 and resolve(plain).slope_update == "sign"
    from relubench.testing import make_run

    folder = make_run(tmp_path / "r", "relu", 0)
    assert load_run(folder)["slope_lr"] is None  # relu has no slopes: the key does not apply


def test_unknown_keys_are_blamed_on_where_they_came_from(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("act: relu\n")
    with pytest.raises(ConfigError, match="unknown config key 'epoch' in --set"):
        resolve(f, ["epoch=2"])
