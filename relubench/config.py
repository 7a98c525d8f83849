"""RunConfig: one typed dataclass of defaults, merged from YAML and flags, validated, hashed.

Precedence: defaults < YAML file < `--set key=value` < plain flags. Unknown keys and wrong
types are errors (ConfigError), so a typo never silently trains the default.
This module must not import torch: the CLI reads it to start fast.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from relubench.activations import act_names
from relubench.data import DATASETS, dataset_names

MODELS = ("cnn", "mlp", "resnet20", "vgg")
# What width/depth = 0 resolves to, so config.yaml and the run id name the real architecture.
MODEL_DEFAULTS: dict[str, dict[str, int]] = {
    "cnn": {"width": 32},
    "mlp": {"width": 256, "depth": 4},
    "resnet20": {"width": 16},  # He et al. 2016: 16, 32, 64 channels
    "vgg": {"width": 32},
}
OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("onecycle", "cosine", "none")
DEVICES = ("auto", "cpu", "cuda", "mps")

# Fields that say where or how fast a run happens, not what it computes: left out of the run id
# so that the same experiment on another machine or output folder keeps its id.
RUNTIME_KEYS = ("device", "threads", "amp", "out", "data_dir", "download", "save_model")


class ConfigError(ValueError):
    """A user's mistake in a config: one line saying what is wrong and how to fix it."""


@dataclass
class RunConfig:
    # what to train
    dataset: str = "mnist-mini"  # see `relubench acts`/README: mnist-mini is embedded, offline
    model: str = "cnn"  # cnn: small BN conv net; mlp: plain MLP (SELU's self-normalizing setting)
    act: str = "relu"  # activation name from the registry (`relubench acts`)
    width: int = 0  # conv nets: first-stage channels (doubling); mlp: hidden units. 0 = default
    depth: int = 0  # mlp: hidden layers. 0 = the model's default (cnn ignores it)
    dropout: float = 0.0  # before the classifier (cnn, resnet20, vgg), after hidden layers (mlp)
    # activation parameters (each is read only by the activation that has it)
    leaky_slope: float = 0.01  # leaky: fixed negative slope
    prelu_init: float = 0.25  # prelu, prelu-shared: initial slope (He et al. 2015)
    elu_alpha: float = 1.0  # elu: saturation value for x -> -inf (Clevert et al. 2015)
    # optimisation
    epochs: int = 5  # passes over the training set
    batch_size: int = 128  # images per step
    lr: float = 0.1  # peak learning rate (onecycle) / initial learning rate (cosine, none)
    optimizer: str = "sgd"  # sgd (with momentum), adam, adamw
    momentum: float = 0.9  # sgd only
    weight_decay: float = 5e-4  # L2 on conv/linear weights only: never on slopes, norms, biases
    schedule: str = "onecycle"  # per-step schedule: onecycle, cosine, none
    seed: int = 0  # seeds init, shuffling and synthetic data; same seed on CPU = same metrics
    # data
    train_size: int = 0  # use the first N training images (0 = all)
    test_size: int = 0  # use the first N test images (0 = all)
    probe_size: int = 1024  # dead units are measured on the first N test images
    data_dir: str = ""  # where downloadable datasets live ("" = $RELUBENCH_DATA or user cache)
    download: bool = False  # fetch a missing dataset through torchvision (needs the internet)
    augment: bool = False  # CIFAR: random crop (4 px padding) + horizontal flip, seeded
    # where and how
    device: str = "auto"  # auto = cuda, else mps, else cpu
    threads: int = 0  # torch CPU threads (0 = torch's default)
    amp: bool = True  # CUDA only: train steps in bf16 (fp16 + loss scaling on older GPUs)
    out: str = "results"  # parent folder of the run folder
    save_model: bool = False  # also write model.pt with the final weights

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def run_id(self) -> str:
        """`<dataset>-<model>-<act>-s<seed>-<hash8>`, the hash over everything but runtime keys."""
        ident = {k: v for k, v in sorted(self.to_dict().items()) if k not in RUNTIME_KEYS}
        digest = hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:8]
        return f"{self.dataset}-{self.model}-{self.act}-s{self.seed}-{digest}"

    @property
    def run_dir(self) -> Path:
        return Path(self.out) / self.run_id


FIELD_TYPES = {f.name: f.type for f in fields(RunConfig)}


def _coerce(key: str, value: Any) -> Any:
    """Check one value against its field's type; ints are accepted where floats are expected."""
    kind = FIELD_TYPES[key]
    if kind == "bool":
        ok = isinstance(value, bool)
    elif kind == "int":
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind == "float":
        if isinstance(value, str):  # PyYAML (YAML 1.1) reads `1e-3` as a string
            try:
                value = float(value)
            except ValueError:
                pass
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    else:
        ok = isinstance(value, str)
    if not ok:
        raise ConfigError(f"{key} must be {kind}, got {value!r} ({type(value).__name__})")
    return value


def _choice(key: str, value: str, choices: tuple[str, ...] | list[str]) -> str:
    value = value.lower()
    if value not in choices:
        raise ConfigError(f"unknown {key} {value!r}; choose one of: {', '.join(choices)}")
    return value


def validate(cfg: RunConfig) -> RunConfig:
    """Raise ConfigError on the first invalid value; normalise names to lower case."""
    cfg.act = _choice("act", cfg.act, act_names())
    cfg.model = _choice("model", cfg.model, MODELS)
    cfg.dataset = _choice("dataset", cfg.dataset, dataset_names())
    cfg.optimizer = _choice("optimizer", cfg.optimizer, OPTIMIZERS)
    cfg.schedule = _choice("schedule", cfg.schedule, SCHEDULES)
    cfg.device = _choice("device", cfg.device, DEVICES)
    for key, value in MODEL_DEFAULTS.get(cfg.model, {}).items():
        if getattr(cfg, key) == 0:
            setattr(cfg, key, value)
    positive = ("epochs", "batch_size", "lr", "probe_size")
    non_negative = ("width", "depth", "train_size", "test_size", "threads", "weight_decay")
    for key in positive:
        if getattr(cfg, key) <= 0:
            raise ConfigError(f"{key} must be > 0, got {getattr(cfg, key)}")
    for key in non_negative:
        if getattr(cfg, key) < 0:
            raise ConfigError(f"{key} must be >= 0, got {getattr(cfg, key)}")
    if not 0.0 <= cfg.dropout < 1.0:
        raise ConfigError(f"dropout must be in [0, 1), got {cfg.dropout}")
    if not 0.0 <= cfg.momentum < 1.0:
        raise ConfigError(f"momentum must be in [0, 1), got {cfg.momentum}")
    if cfg.elu_alpha <= 0:
        raise ConfigError(f"elu_alpha must be > 0, got {cfg.elu_alpha}")
    if cfg.augment and not DATASETS[cfg.dataset].augment:
        with_aug = ", ".join(n for n, s in DATASETS.items() if s.augment)
        raise ConfigError(
            f"augment (crop + flip) is defined for {with_aug} only, not {cfg.dataset}; "
            f"drop --augment"
        )
    out = Path(cfg.out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {cfg.out} is a file; give a folder for the run folders")
    return cfg


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a config file into a dict; missing, unparsable or non-mapping files: ConfigError."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file {path} not found") from None
    except IsADirectoryError:
        raise ConfigError(f"config file {path} is a folder, not a YAML file") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        raise ConfigError(f"config file {path} is not valid YAML{where}: {e.problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"config file {path} must be a mapping of key: value, not a list or scalar"
        )
    return data


def parse_set(items: list[str]) -> dict[str, Any]:
    """`key=value` strings to a dict; values are parsed as YAML scalars (2 -> int, 0.1 -> float)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set expects key=value, got {item!r}")
        try:
            out[key.strip()] = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            out[key.strip()] = raw
    return out


def merge(*layers: dict[str, Any], source: str = "") -> RunConfig:
    """Build a validated RunConfig from dicts, later ones winning; unknown keys are errors."""
    values: dict[str, Any] = {}
    for layer in layers:
        for key, value in layer.items():
            if key not in FIELD_TYPES:
                near = difflib.get_close_matches(key, list(FIELD_TYPES), n=1)
                hint = f" (did you mean {near[0]}?)" if near else ""
                where = f" in {source}" if source else ""
                raise ConfigError(f"unknown config key {key!r}{where}{hint}")
            if value is None:
                continue
            values[key] = _coerce(key, value)
    return validate(RunConfig(**values))


def resolve(
    config_file: str | Path | None = None,
    sets: list[str] | None = None,
    flags: dict[str, Any] | None = None,
) -> RunConfig:
    """defaults < YAML < --set < flags (flags that are None were not given)."""
    file_values = load_yaml(config_file) if config_file else {}
    flag_values = {k: v for k, v in (flags or {}).items() if v is not None}
    return merge(file_values, parse_set(sets or []), flag_values, source=str(config_file or ""))


def to_yaml(cfg: RunConfig) -> str:
    """The resolved config, in field order, so `relubench train --config` reruns it."""
    header = f"# relubench run {cfg.run_id}\n# rerun: relubench train --config config.yaml\n"
    return header + yaml.safe_dump(cfg.to_dict(), sort_keys=False)
