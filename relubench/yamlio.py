"""Reading YAML that users give: config files, sweep files, `--set` values, bounded.

yaml.safe_load builds no objects but data; this loader also refuses, while composing and before
anything is built, nesting past MAX_DEPTH and aliases past MAX_ALIASES, and files over a
megabyte, so a hostile file is one ConfigError line in milliseconds. Torch-free.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from relubench.errors import ConfigError, short

MAX_YAML_BYTES = 1 << 20  # a config or sweep file is a few hundred bytes
MAX_DEPTH = 50  # nesting
MAX_ALIASES = 100  # `*name` references: a few are handy, many are an alias bomb


class _Loader(yaml.SafeLoader):
    """yaml.SafeLoader with bounds on nesting and aliases, checked while composing, before
    anything is built: a hostile file is refused in milliseconds, not by running out of
    memory or recursion."""

    depth = aliases = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self.aliases += 1
            if self.aliases > MAX_ALIASES:
                raise ConfigError(f"uses more than {MAX_ALIASES} aliases (*name)")
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ConfigError(f"is nested more than {MAX_DEPTH} levels deep")
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def safe_yaml(text: str) -> Any:
    """yaml.safe_load within the bounds above (ConfigError past them)."""
    loader = _Loader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a config file into a dict; missing, unparsable or non-mapping files: ConfigError."""
    path = Path(path)
    try:
        if path.is_file() and path.stat().st_size > MAX_YAML_BYTES:
            raise ConfigError(f"config file {path} is over {MAX_YAML_BYTES >> 20} MB: not a config")
        data = safe_yaml(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {path} not found") from None
    except IsADirectoryError:
        raise ConfigError(f"config file {path} is a folder, not a YAML file") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file {path} is not text (UTF-8): not a YAML file") from None
    except OSError as e:
        raise ConfigError(f"config file {path} cannot be read: {e.strerror or e}") from None
    except ConfigError as e:
        if str(e).startswith("config file"):
            raise
        raise ConfigError(f"config file {path} {e}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(
            f"config file {path} is not valid YAML{where}: {short(problem, 120)}"
        ) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"config file {path} must be a mapping of key: value, not a list or scalar"
        )
    return data
