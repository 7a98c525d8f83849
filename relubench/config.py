"""RunConfig: one typed dataclass of defaults, merged from YAML and flags, validated, hashed.

Precedence: defaults < YAML file < `--set key=value` < plain flags. Unknown keys and wrong
types are errors (ConfigError), so a typo never silently trains the default.

Config evolution (DESIGN): every key is an experiment key (in the run id's hash) or a runtime
key (how or where a run trains: not in the hash). A key added after runs exist declares its
*neutral value*, the one that reproduces the behaviour from before it existed; at that value it
is left out of the hash, config.yaml and summary.json, so existing run ids, finished sweeps and
compare's groups survive every release, and old folders read with the neutral value filled in.
This module must not import torch: the CLI reads it to start fast.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from relubench.errors import ConfigError
from relubench.registry.activations import ACTS, act_names
from relubench.registry.datasets import DATASETS, dataset_names
from relubench.registry.models import MODELS, model_names

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("onecycle", "cosine", "none")
DEVICES = ("auto", "cpu", "cuda", "mps")


def runtime(default: Any) -> Any:
    """A runtime key: says where or how fast a run happens, not what it computes. Left out of
    the run id, so the same experiment on another machine or output folder keeps its id."""
    return field(default=default, metadata={"runtime": True})


def added(default: Any, neutral: Any = None) -> Any:
    """An experiment key added after runs existed; at `neutral` (default: its default) it is
    left out of the hash and the written config, so earlier run ids stay what they were."""
    return field(default=default, metadata={"neutral": default if neutral is None else neutral})


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
    celu_alpha: float = added(1.0)  # celu: saturation value, also the scale of x (Barron 2017)
    rrelu_lower: float = added(1 / 8)  # rrelu: negative slopes drawn from U(lower, upper)
    rrelu_upper: float = added(1 / 3)  # in training; (lower + upper) / 2 in eval (Xu et al.)
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
    data_dir: str = runtime("")  # downloadable datasets ("" = $RELUBENCH_DATA, else user cache)
    download: bool = runtime(False)  # fetch a missing dataset through torchvision (internet)
    augment: bool = False  # CIFAR: random crop (4 px padding) + horizontal flip, seeded
    # where and how
    device: str = runtime("auto")  # auto = cuda, else mps, else cpu
    threads: int = runtime(0)  # torch CPU threads (0 = torch's default)
    amp: bool = runtime(True)  # CUDA only: steps in bf16 (fp16 + loss scaling on older GPUs)
    out: str = runtime("results")  # parent folder of the run folder
    save_model: bool = runtime(False)  # also write model.pt with the final weights

    def to_dict(self) -> dict[str, Any]:
        """Every key, for code; `written()` is what goes into files."""
        return dataclasses.asdict(self)

    def written(self) -> dict[str, Any]:
        """The keys written to config.yaml and summary.json: added keys at their neutral value
        are left out (see the module docstring), in field order."""
        return {k: v for k, v in self.to_dict().items() if not _neutral(k, v)}

    @property
    def run_id(self) -> str:
        """`<dataset>-<model>-<act>-s<seed>-<hash8>`, the hash over the experiment keys."""
        ident = {k: v for k, v in sorted(self.written().items()) if k not in RUNTIME_KEYS}
        digest = hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:8]
        return f"{self.dataset}-{self.model}-{self.act}-s{self.seed}-{digest}"

    @property
    def run_dir(self) -> Path:
        return Path(self.out) / self.run_id


FIELD_TYPES = {f.name: f.type for f in fields(RunConfig)}
RUNTIME_KEYS = tuple(f.name for f in fields(RunConfig) if f.metadata.get("runtime"))
NEUTRAL = {f.name: f.metadata["neutral"] for f in fields(RunConfig) if "neutral" in f.metadata}


def _neutral(key: str, value: Any) -> bool:
    return key in NEUTRAL and value == NEUTRAL[key]


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
    cfg.model = _choice("model", cfg.model, model_names())
    cfg.dataset = _choice("dataset", cfg.dataset, dataset_names())
    cfg.optimizer = _choice("optimizer", cfg.optimizer, OPTIMIZERS)
    cfg.schedule = _choice("schedule", cfg.schedule, SCHEDULES)
    cfg.device = _choice("device", cfg.device, DEVICES)
    model = MODELS[cfg.model]  # width/depth 0 = the model's: config.yaml names the real net
    cfg.width = cfg.width or model.width
    cfg.depth = cfg.depth or model.depth
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
    for spec in ACTS.values():  # every activation's own parameters, whichever trains
        why = spec.check(cfg.to_dict())
        if why:
            raise ConfigError(why)
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
    return header + yaml.safe_dump(cfg.written(), sort_keys=False)
