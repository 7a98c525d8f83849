"""RunConfig: one typed dataclass of defaults, merged from YAML and flags, validated, hashed.

Precedence: defaults < YAML file < `--set key=value` < plain flags. Unknown keys and wrong
types are errors (ConfigError), so a typo never silently trains the default.

Every RunConfig is validated when it is made (`__post_init__`), however it is made.

Config evolution (a contract, docs/architecture.md): every key is an experiment key (in the run
id's hash) or a runtime key (how or where a run trains: not in the hash). A key added after runs
exist declares its *neutral value*, the one that reproduces the behaviour from before it
existed; at that value it is left out of the hash and summary.json, so existing run ids,
finished sweeps and compare's groups survive every release, and old folders read with the
neutral value filled in. A run folder's config.yaml holds every key, so a file means the same
whichever key is edited in it, in `train --config` and as a sweep's `base` alike; a config.yaml
written before that (it lacks keys) reads its missing added keys at their neutral values, in
both. This package must not import torch: the CLI reads it to start fast. `schema` holds the
dataclass, its checks and its hash; `files` reads and writes config files and flags; every
name is importable from `relubench.config`.
"""

from __future__ import annotations

from relubench.config.files import (
    RUN_HEADER,
    as_run,
    load_config,
    merge,
    parse_set,
    resolve,
    to_yaml,
)
from relubench.config.schema import (
    CHOICES,
    DEFAULTS,
    DEVICES,
    FIELD_TYPES,
    ID_DIGITS,
    INITS,
    NEUTRAL,
    OPTIMIZERS,
    RUNTIME_KEYS,
    SCHEDULES,
    SLOPE_LR,
    SLOPES_ONLY,
    SUMMARY_BYTES,
    RunConfig,
    added,
    check_keys,
    check_out,
    check_value,
    config_hash,
    folder_hash,
    runtime,
    validate,
)
from relubench.errors import short
from relubench.yamlio import load_yaml, safe_yaml

__all__ = [
    "CHOICES",
    "DEFAULTS",
    "DEVICES",
    "FIELD_TYPES",
    "ID_DIGITS",
    "INITS",
    "NEUTRAL",
    "OPTIMIZERS",
    "RUNTIME_KEYS",
    "RUN_HEADER",
    "RunConfig",
    "SCHEDULES",
    "SLOPES_ONLY",
    "SLOPE_LR",
    "SUMMARY_BYTES",
    "added",
    "as_run",
    "check_keys",
    "check_out",
    "check_value",
    "config_hash",
    "folder_hash",
    "load_config",
    "load_yaml",
    "merge",
    "parse_set",
    "resolve",
    "runtime",
    "safe_yaml",
    "short",
    "to_yaml",
    "validate",
]
