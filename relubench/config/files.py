"""Config from files and flags: `--set` values, YAML files and recipes, merging in order
(defaults < YAML < --set < flags), and a run folder's config.yaml written and read back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from relubench.config.schema import (
    NEUTRAL,
    SLOPES_ONLY,
    RunConfig,
    check_keys,
    check_out,
)
from relubench.errors import ConfigError
from relubench.registry.activations import ACTS
from relubench.registry.limits import show
from relubench.registry.recipes import locate
from relubench.yamlio import NumberTooLong, parse_yaml, read_text, safe_yaml
from relubench.yamlio import load_yaml as load_yaml  # callers import it from here


def parse_set(items: list[str]) -> dict[str, Any]:
    """`key=value` strings to a dict; values are parsed as YAML scalars (2 -> int, 0.1 -> float)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set expects key=value, got {item!r}")
        try:
            out[key.strip()] = safe_yaml(raw) if raw.strip() else ""
        except NumberTooLong as e:
            raise ConfigError(f"--set {key.strip()} {e}") from None
        except (yaml.YAMLError, ConfigError, ValueError, RecursionError):
            out[key.strip()] = raw
    return out


def merge(*layers: dict[str, Any], source: str = "") -> RunConfig:
    """Build a validated RunConfig from dicts, later ones winning; unknown keys are errors.
    (RunConfig checks every value as it is made; `out` is checked here, where runs start.)"""
    values: dict[str, Any] = {}
    for layer in layers:
        check_keys(layer, source)
        values.update((k, v) for k, v in layer.items() if v is not None)
    return check_out(RunConfig(**values))


def as_run(config: dict[str, Any]) -> dict[str, Any]:
    """A config read back from a run folder: a key it lacks was added to relubench after the
    run, which therefore ran at that key's neutral value (not at today's default); a key that
    does not apply to the run (slope_lr without learned slopes) is None."""
    filled = {**{k: v for k, v in NEUTRAL.items() if k not in config}, **config}
    act = ACTS.get(str(filled.get("act", "")))
    if act is not None and act.slope is None:
        filled.update(dict.fromkeys(SLOPES_ONLY))
    return filled


def resolve(
    config_file: str | Path | None = None,
    sets: list[str] | None = None,
    flags: dict[str, Any] | None = None,
) -> RunConfig:
    """defaults < YAML < --set < flags (flags that are None were not given). A run folder's
    config.yaml reruns that run (`load_config`)."""
    if config_file is not None and not isinstance(config_file, (str, Path)):
        raise ConfigError(
            f"config must be a recipe's name, a YAML file's path or a RunConfig, got "
            f"{show(config_file)} ({type(config_file).__name__})"
        )
    if config_file:
        config_file = locate(config_file)  # a path, or a recipe's name
    file_values = load_config(config_file) if config_file else {}
    if not isinstance(sets or [], list) or not all(isinstance(x, str) for x in sets or []):
        raise ConfigError(f"--set takes a list of key=value strings, got {show(sets)}")
    set_values = parse_set(sets or [])
    flag_values = {k: v for k, v in (flags or {}).items() if v is not None}
    check_keys(file_values, str(config_file or ""))  # unknown keys named with their source
    check_keys(set_values, "--set")
    return merge(file_values, set_values, flag_values)


def load_config(path: str | Path) -> dict[str, Any]:
    """A config file's keys, read the same way by `train --config` and a sweep's `base`: a run
    folder's config.yaml (its first line says so) is that run, so keys it lacks (written before
    config.yaml held every key) are at their neutral values (`as_run`)."""
    text = read_text(path)
    values = parse_yaml(text, Path(path))
    return as_run(values) if text.startswith(RUN_HEADER) else values


RUN_HEADER = "# relubench run "  # a run folder's config.yaml starts with it


def to_yaml(cfg: RunConfig) -> str:
    """The resolved config, in field order, so `relubench train --config` reruns it."""
    header = f"{RUN_HEADER}{cfg.run_id}\n# rerun: relubench train --config config.yaml\n"
    return header + yaml.safe_dump(cfg.to_dict(), sort_keys=False)  # every key: see the top
