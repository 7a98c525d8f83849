"""The RunConfig dataclass: its keys with defaults, units and neutral values, how a value is
checked, and the hash that names a run. Torch-free; the package docstring has the rules."""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from relubench.errors import ConfigError, short
from relubench.registry.activations import ACTS, act_names
from relubench.registry.datasets import DATASETS, dataset_names
from relubench.registry.limits import LIMITS, show
from relubench.registry.models import MODELS, model_names, norm_models
from relubench.yamlio import load_yaml as load_yaml  # callers import it from here
from relubench.yamlio import read_text, safe_yaml

SLOPE_LR = 0.03  # chosen by measurement: python -m experiments.slope_learning, docs/stability.md
OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("onecycle", "cosine", "none")
DEVICES = ("auto", "cpu", "cuda", "mps")
INITS = ("auto", "torch")
SLOPE_UPDATES = ("grad", "sign")
NORMS = ("auto", "batch", "none")
PROBE_SPLITS = ("test", "train")


def runtime(default: Any) -> Any:
    """A runtime key: says where or how fast a run happens, not what it computes. Left out of
    the run id, so the same experiment on another machine or output folder keeps its id."""
    return field(default=default, metadata={"runtime": True})


def added(default: Any, neutral: Any = None, slopes_only: bool = False) -> Any:
    """An experiment key added after runs existed; at `neutral` (default: its default) it is
    left out of the hash and the written config, so earlier run ids stay what they were.
    `slopes_only`: it acts on learned slopes alone, so for an activation without them it is
    left out too (a relu run is the same experiment whatever its value)."""
    neutral = default if neutral is None else neutral
    return field(default=default, metadata={"neutral": neutral, "slopes_only": slopes_only})


@dataclass
class RunConfig:
    # what to train
    dataset: str = "mnist-mini"  # see `relubench acts`/README: mnist-mini is embedded, offline
    model: str = "cnn"  # cnn: small BN conv net; mlp: plain MLP (SELU's self-normalizing setting)
    act: str = "relu"  # activation name from the registry (`relubench acts`)
    width: int = 0  # conv nets: first-stage channels (doubling); mlp: hidden units. 0 = default
    depth: int = 0  # mlp: hidden layers; plain: conv layers. 0 = the model's default (cnn,
    # resnet20 and vgg ignore it)
    dropout: float = 0.0  # before the classifier (conv nets), after hidden layers (mlp)
    # batch norm in the conv nets: auto (the model's own: cnn, resnet20, vgg have it, plain
    # not), batch or none; a value equal to the model's own is stored as auto (the same run)
    norm: str = added("auto")
    # activation parameters (each is read only by the activation that has it)
    leaky_slope: float = 0.01  # leaky: fixed negative slope
    prelu_init: float = 0.25  # prelu, prelu-shared: initial slope (He et al. 2015)
    elu_alpha: float = 1.0  # elu: saturation value for x -> -inf (Clevert et al. 2015)
    celu_alpha: float = added(1.0)  # celu: saturation value, also the scale of x (Barron 2017)
    rrelu_lower: float = added(1 / 8)  # rrelu: negative slopes drawn from U(lower, upper)
    rrelu_upper: float = added(1 / 3)  # in training; (lower + upper) / 2 in eval (torch)
    # learned slopes (prelu, prelu-shared): their learning rate is lr x slope_lr. A slope's
    # gradient sums over every unit and position it serves; see README "Stability"
    slope_lr: float = added(SLOPE_LR, neutral=1.0, slopes_only=True)
    # weight decay on learned slopes too (He et al. 2015 did not: it pulls them to 0, to ReLU)
    slope_decay: bool = added(False, slopes_only=True)
    # how a learned slope steps: sign (by the sign of its gradient, so the step no longer grows
    # with the units a slope serves) or grad (by its gradient, as every other parameter)
    slope_update: str = added("sign", neutral="grad", slopes_only=True)
    init: str = added("auto")  # auto: the activation's rule (registry); torch: torch's defaults
    # optimisation
    epochs: int = 5  # passes over the training set
    batch_size: int = 128  # images per step
    lr: float = 0.0  # peak lr (onecycle) / initial lr (cosine, none). 0 = the model's default
    optimizer: str = "sgd"  # sgd (with momentum), adam, adamw
    momentum: float = 0.9  # sgd only
    weight_decay: float = 5e-4  # L2 on conv/linear weights only: never on slopes, norms, biases
    schedule: str = "onecycle"  # per-step schedule: onecycle, cosine, none
    label_smoothing: float = added(0.0)  # training loss only; evaluation is plain cross-entropy
    seed: int = 0  # seeds init, shuffling and synthetic data; same seed on CPU = same metrics
    # data
    train_size: int = 0  # use the first N training images (0 = all)
    test_size: int = 0  # use the first N test images (0 = all)
    val_size: int = added(0)  # hold out N training images for validation (stratified, seeded
    # by dataset and seed only), before train_size cuts the rest; 0 = no validation split
    probe_size: int = 1024  # dead units are measured on the first N test images
    # ... or on the first N training images (train: in eval mode, never augmented; metrics.csv
    # then has probe_loss and probe_acc, and the test set is evaluated without the probe)
    probe_split: str = added("test")
    dormant_tau: float = added(0.1)  # a unit is dormant if E|h| <= tau x its layer's mean
    data_dir: str = runtime("")  # downloadable datasets ("" = $RELUBENCH_DATA, else user cache)
    download: bool = runtime(False)  # fetch a missing dataset through torchvision (internet)
    augment: bool = False  # CIFAR: random crop (4 px padding) + horizontal flip, seeded
    # where and how
    device: str = runtime("auto")  # auto = cuda, else mps, else cpu
    threads: int = runtime(0)  # torch CPU threads (0 = torch's default)
    amp: bool = runtime(True)  # CUDA only: steps in bf16 (fp16 + loss scaling on older GPUs)
    out: str = runtime("results")  # parent folder of the run folder
    save_model: bool = runtime(False)  # also write model.pt with the final weights
    checkpoint: bool = runtime(True)  # checkpoint.pt after each epoch: a killed run resumes
    # the data a run saw, when it is not the registry's: set by the runner from the files found
    # ("" = the registry's files, checksums matching; see relubench.data.identity)
    data_id: str = added("")

    def __post_init__(self) -> None:
        """Every field type-checked and every value range-checked, however the config was made
        (merge, a script, dataclasses.replace): names normalised, width/depth/lr 0 resolved."""
        for key in FIELD_TYPES:
            setattr(self, key, _coerce(key, getattr(self, key)))
        validate(self)

    def to_dict(self) -> dict[str, Any]:
        """Every key, for code; `written()` is what goes into files. (Values are scalars: no
        deep copy, which made dataclasses.asdict the cost of resolving a sweep.)"""
        return {k: getattr(self, k) for k in FIELD_TYPES}

    def written(self) -> dict[str, Any]:
        """The keys written to config.yaml and summary.json, in field order: all but added keys
        that do not apply, or that sit at a neutral value which is also their default (an
        added key whose default is not neutral, like slope_lr, is always written where it
        applies, so a reader never mistakes its neutral value for the default)."""
        config = self.to_dict()
        out = {k for k in _left_out(config) if not (k in NEUTRAL and config[k] != DEFAULTS[k])}
        return {k: v for k, v in config.items() if k not in out}

    @property
    def config_hash(self) -> str:
        """sha256 (hex) over the experiment keys: what makes two runs the same experiment."""
        return config_hash(self.to_dict())

    def run_ids(self) -> list[str]:
        """The ids this config may take, in order: `<dataset>-<model>-<act>-s<seed>-<hash8>`,
        then longer prefixes of the hash, for the rare folder whose 8 digits another config
        took (32 bits collide within tens of thousands of configs)."""
        stem, full = f"{self.dataset}-{self.model}-{self.act}-s{self.seed}-", self.config_hash
        return [stem + full[:n] for n in ID_DIGITS]

    @property
    def run_id(self) -> str:
        """The first of `run_ids()` whose folder under `out` is free or holds this config."""
        full = self.config_hash
        for rid in self.run_ids():
            if folder_hash(Path(self.out) / rid) in (None, full):
                return rid
        raise AssertionError("the full hash is this config's own")  # pragma: no cover

    @property
    def run_dir(self) -> Path:
        return Path(self.out) / self.run_id


FIELD_TYPES = {f.name: f.type for f in fields(RunConfig)}
RUNTIME_KEYS = tuple(f.name for f in fields(RunConfig) if f.metadata.get("runtime"))
DEFAULTS = {f.name: f.default for f in fields(RunConfig)}
NEUTRAL = {f.name: f.metadata["neutral"] for f in fields(RunConfig) if "neutral" in f.metadata}


ID_DIGITS = (8, 16, 32, 64)  # hex digits of the hash in a run id: 8 unless taken


SLOPES_ONLY = {f.name for f in fields(RunConfig) if f.metadata.get("slopes_only")}


def _left_out(config: dict[str, Any]) -> set[str]:
    """Added keys that leave the experiment as it was: at their neutral value, or acting on
    learned slopes in a run of an activation that has none."""
    act = ACTS.get(str(config.get("act", "")))
    no_slopes = act is not None and act.slope is None
    return {
        k
        for k, v in config.items()
        if k in NEUTRAL and (v == NEUTRAL[k] or (no_slopes and k in SLOPES_ONLY))
    }


def config_hash(config: dict[str, Any]) -> str:
    """The experiment's hash from a config dict (a RunConfig's, or one read from an old run
    folder, which lacks later keys: they are at their neutral value, left out here too)."""
    out = _left_out(config)
    ident = {
        k: v
        for k, v in sorted(config.items())
        if k not in RUNTIME_KEYS and k in FIELD_TYPES and k not in out
    }
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()


def folder_hash(folder: Path) -> str | None:
    """The config hash of the run in `folder` (summary.json, else config.yaml), or None when
    there is no readable run there (no folder, nothing written yet, or a file that is not a
    bounded regular file: a FIFO or /dev/zero in a run folder is no run)."""
    try:
        summary = json.loads(read_text(folder / "summary.json", "run file", SUMMARY_BYTES))
        if isinstance(summary.get("config_hash"), str):
            return summary["config_hash"]
        config = summary.get("config")
    except (ConfigError, ValueError, AttributeError, RecursionError):
        try:
            config = safe_yaml(read_text(folder / "config.yaml", "run file"))
        except (ConfigError, yaml.YAMLError, ValueError, RecursionError):
            return None
    try:
        return config_hash(config) if isinstance(config, dict) else None
    except (TypeError, ValueError):  # hand-edited: a key or value json cannot hold
        return None


SUMMARY_BYTES = 64 << 20  # a summary.json of a long run is well under a megabyte


def _coerce(key: str, value: Any) -> Any:
    """Check one value against its field's type; ints are accepted where floats are expected.
    Floats must be finite: a NaN learning rate is a typo, never an experiment."""
    kind = FIELD_TYPES[key]
    if kind == "bool":
        ok = isinstance(value, bool)
    elif kind == "int":
        ok = isinstance(value, int) and not isinstance(value, bool)
        if isinstance(value, str):
            raise ConfigError(
                f"{key} must be int, got {short(value)} (str): a whole number in plain decimal "
                "digits, like 10"
            )
    elif kind == "float":
        if isinstance(value, str) and "_" not in value:  # `1e-3` is a string in YAML 1.1;
            try:  # `1_0` is no plain decimal, though Python's float() would read 10
                value = float(value)
            except ValueError:
                pass
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        try:
            value = float(value) if ok else value
        except OverflowError:  # an int of hundreds of digits
            raise ConfigError(f"{key} must be a finite number, got {show(value)}") from None
    else:
        ok = isinstance(value, str)
    if not ok:
        raise ConfigError(f"{key} must be {kind}, got {show(value)} ({type(value).__name__})")
    if kind == "float" and not math.isfinite(value):
        raise ConfigError(f"{key} must be a finite number, got {value}")
    return value


def check_value(key: str, value: Any) -> Any:
    """One key's value on its own (its type, finiteness and, for names, the choices); what
    depends on other keys is checked when a whole config is resolved."""
    if key not in FIELD_TYPES:
        check_keys({key: value})
    value = _coerce(key, value)
    choices = CHOICES.get(key)
    return _choice(key, value, choices()) if choices else value


def _choice(key: str, value: str, choices: tuple[str, ...] | list[str]) -> str:
    value = value.lower()
    if value not in choices:
        raise ConfigError(f"unknown {key} {short(value)}; choose one of: {', '.join(choices)}")
    return value


CHOICES = {
    "act": act_names,
    "model": model_names,
    "dataset": dataset_names,
    "optimizer": lambda: OPTIMIZERS,
    "schedule": lambda: SCHEDULES,
    "slope_update": lambda: SLOPE_UPDATES,
    "device": lambda: DEVICES,
    "init": lambda: INITS,
    "norm": lambda: NORMS,
    "probe_split": lambda: PROBE_SPLITS,
}


def validate(cfg: RunConfig) -> RunConfig:
    """Raise ConfigError on the first invalid value; normalise names to lower case and `out`
    to one spelling (a, a/ and ./a are one folder). Every RunConfig runs it when made."""
    for key, choices in CHOICES.items():
        setattr(cfg, key, _choice(key, getattr(cfg, key), choices()))
    model = MODELS[cfg.model]  # width/depth/lr 0 = the model's: config.yaml names the real run
    cfg.width = cfg.width or model.width
    cfg.depth = cfg.depth or model.depth
    cfg.lr = cfg.lr or model.lr
    positive = ("epochs", "batch_size", "lr", "probe_size")
    non_negative = (
        "width", "depth", "train_size", "test_size", "val_size", "threads", "weight_decay",
        "slope_lr",
    )  # fmt: skip
    for key in positive:
        if getattr(cfg, key) <= 0:
            raise ConfigError(f"{key} must be > 0, got {show(getattr(cfg, key))}")
    for key in (*non_negative, "seed"):
        if getattr(cfg, key) < 0:
            raise ConfigError(f"{key} must be >= 0, got {show(getattr(cfg, key))}")
    for key, top in LIMITS.items():  # before anything is built from them
        if abs(getattr(cfg, key)) > top:
            bound = f"{top:,}" if isinstance(top, int) and top < 2**40 else f"{top:g}"
            raise ConfigError(f"{key} must be <= {bound}, got {show(getattr(cfg, key))}")
    _check_architecture(cfg)
    cores = os.cpu_count() or 1
    if cfg.threads > cores:
        raise ConfigError(
            f"threads {show(cfg.threads)} is more than this machine's {cores} logical cores; "
            f"use at most {cores} (0 = torch's choice)"
        )
    data = DATASETS[cfg.dataset]
    for key, have in (("train_size", data.train), ("test_size", data.test)):
        if data.kind != "generated" and getattr(cfg, key) > have:
            raise ConfigError(
                f"{key} {getattr(cfg, key):,} is larger than {data.name}'s {have:,} "
                f"{key.split('_')[0]} images; give at most {have} (0 = all)"
            )
    generates = data.kind == "generated" and cfg.train_size  # then val_size more are made
    if cfg.val_size and not generates and cfg.val_size + max(cfg.train_size, 1) > data.train:
        fit = f" + train_size {cfg.train_size:,}" if cfg.train_size else ""
        raise ConfigError(
            f"val_size {cfg.val_size:,}{fit} is more than {data.name}'s {data.train:,} training "
            f"images (the validation split comes out of them); lower val_size"
        )
    if not 0.0 <= cfg.label_smoothing < 1.0:
        raise ConfigError(f"label_smoothing must be in [0, 1), got {cfg.label_smoothing}")
    if not 0.0 <= cfg.dropout < 1.0:
        raise ConfigError(f"dropout must be in [0, 1), got {cfg.dropout}")
    if not 0.0 <= cfg.dormant_tau <= 1.0:
        raise ConfigError(f"dormant_tau must be in [0, 1], got {cfg.dormant_tau}")
    if not 0.0 <= cfg.momentum < 1.0:
        raise ConfigError(f"momentum must be in [0, 1), got {cfg.momentum}")
    values = cfg.to_dict()
    for spec in ACTS.values():  # every activation's own parameters, whichever trains
        why = spec.check(values)
        if why:
            raise ConfigError(why)
    if cfg.augment and not DATASETS[cfg.dataset].augment:
        with_aug = ", ".join(n for n, s in DATASETS.items() if s.augment)
        raise ConfigError(
            f"augment (crop + flip) is defined for {with_aug} only, not {cfg.dataset}; "
            f"drop --augment"
        )
    if len(cfg.data_id) > 200:
        raise ConfigError(f"data_id is set by the runner from the data; got {short(cfg.data_id)}")
    cfg.out = os.path.normpath(cfg.out) if cfg.out else cfg.out
    return cfg


def _check_architecture(cfg: RunConfig) -> None:
    """`norm` the model can take, stored as auto when it is the model's own (so cnn with norm
    batch is the default cnn run, with its id); a depth the model can be built at."""
    model = MODELS[cfg.model]
    if cfg.norm == model.norm:
        cfg.norm = "auto"
    if cfg.norm != "auto" and not model.norm_switch:
        raise ConfigError(
            f"model {model.name} has no normalisation layers to switch: norm applies to "
            f"{', '.join(norm_models())}; drop norm (or set norm=auto)"
        )
    if cfg.depth < model.min_depth:
        raise ConfigError(
            f"model {model.name} needs depth >= {model.min_depth}, got {cfg.depth}; give "
            f"--set depth={model.min_depth} or more (0 = its default, {model.depth})"
        )


def check_out(cfg: RunConfig) -> RunConfig:
    """ConfigError when `out`, where the run folders go, is a file (checked where a config is
    resolved to run, not whenever one is made: a file named like the default is no error then)."""
    out = Path(cfg.out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {cfg.out} is a file; give a folder for the run folders")
    if (out / "summary.json").is_file():  # a run's own folder, not one that holds runs
        raise ConfigError(
            f"--out {cfg.out} is a run folder; give the folder that holds run folders "
            f"(--out {out.parent})"
        )
    return cfg


def check_keys(layer: dict[str, Any], source: str = "") -> None:
    """ConfigError naming `source` for a key that is not a config key."""
    where = f" in {source}" if source else ""
    for key in layer:
        if not isinstance(key, str):
            raise ConfigError(f"config keys are names; {short(key)}{where} is not one")
        if key not in FIELD_TYPES:
            near = difflib.get_close_matches(key, list(FIELD_TYPES), n=1)
            hint = f" (did you mean {near[0]}?)" if near else ""
            raise ConfigError(f"unknown config key {short(key)}{where}{hint}")
