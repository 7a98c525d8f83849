"""Reading YAML that users give: config files, sweep files, `--set` values, bounded.

yaml.safe_load builds no objects but data; this loader also refuses, while composing and before
anything is built, nesting past MAX_DEPTH and aliases past MAX_ALIASES, a key given twice in one
mapping (YAML would keep the last one silently), and files over a megabyte, so a hostile file is
one ConfigError line in milliseconds. Only regular files are read (never a device such as
/dev/zero, nor a FIFO, which could block forever), and never more than the bound, whatever the
size the file claims. Numbers are plain decimals: `010` is ten, and YAML 1.1's octal, hex,
sexagesimal (`1:0`) and underscored (`1_0`) forms stay strings, so an int key refuses them.
Torch-free.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Any

import yaml

from relubench.errors import ConfigError, short

MAX_YAML_BYTES = 1 << 20  # a config or sweep file is a few hundred bytes
MAX_DEPTH = 50  # nesting
MAX_ALIASES = 100  # `*name` references: a few are handy, many are an alias bomb
MAX_DIGITS = 4000  # an integer longer than this is no config value (Python refuses > 4300)

_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
PLAIN_INT = re.compile(r"^[-+]?[0-9]+$")
PLAIN_FLOAT = re.compile(  # YAML 1.1's floats less `_` and 1:0 (`1e-3` stays a string, which
    # float keys read as a number: yaml.safe_load reads it so too)
    r"^(?:[-+]?[0-9]+\.[0-9]*(?:[eE][-+][0-9]+)?|\.[0-9]+(?:[eE][-+][0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
)


class NumberTooLong(ConfigError):
    """An integer with more digits than any config value could need."""


class _Loader(yaml.SafeLoader):
    """yaml.SafeLoader with bounds on nesting and aliases, checked while composing, before
    anything is built: a hostile file is refused in milliseconds, not by running out of
    memory or recursion. Duplicate keys are refused; numbers are plain decimals."""

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

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue  # `<<: *base` is made to be overridden
                key = self.construct_object(key_node, deep=deep)
                try:
                    first = seen.setdefault(key, key_node.start_mark.line + 1)
                except TypeError:  # unhashable: SafeLoader says so below
                    continue
                if first != key_node.start_mark.line + 1:
                    raise ConfigError(
                        f"gives key {short(key)} twice (lines {first} and "
                        f"{key_node.start_mark.line + 1}); keep one"
                    )
        return super().construct_mapping(node, deep=deep)

    def construct_plain_int(self, node: Any) -> int:
        text = str(self.construct_scalar(node))
        digits = text.lstrip("+-")
        if len(digits) > MAX_DIGITS:
            raise NumberTooLong(
                f"holds a number of {len(digits):,} digits ({text[:12]}...); no config value is "
                "that large"
            )
        if not PLAIN_INT.match(text):  # an explicit !!int 0x10
            raise ConfigError(f"holds {short(text)}: write whole numbers in plain decimal digits")
        return int(text)


# YAML 1.1's resolvers, less its int and float forms (octal 010, hex, 1:0, 1_0), plus ours
_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in (_INT, _FLOAT)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(_INT, PLAIN_INT, list("-+0123456789"))
_Loader.add_implicit_resolver(_FLOAT, PLAIN_FLOAT, list("-+0123456789."))
_Loader.add_constructor(_INT, _Loader.construct_plain_int)


def safe_yaml(text: str) -> Any:
    """yaml.safe_load within the bounds above (ConfigError past them)."""
    loader = _Loader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def read_text(path: str | Path, what: str = "config file", limit: int = MAX_YAML_BYTES) -> str:
    """The text of a user's file: a regular file (not a device, FIFO or folder), at most `limit`
    bytes, UTF-8; anything else is one ConfigError line naming `what` and the path. A FIFO is
    opened without blocking, so one that no writer opens cannot hang the read."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise ConfigError(f"{what} {path} not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{what} {path} is a folder, not a YAML file") from None
    except OSError as e:
        raise ConfigError(f"{what} {path} cannot be read: {e.strerror or e}") from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise ConfigError(f"{what} {path} is a folder, not a YAML file")
        if not stat.S_ISREG(mode):
            kind = "a FIFO" if stat.S_ISFIFO(mode) else "a device or special file"
            raise ConfigError(f"{what} {path} is {kind}, not a regular file: give a YAML file")
        if os.fstat(fd).st_size > limit:
            raise ConfigError(f"{what} {path} is over {limit >> 20} MB: not a config")
        with os.fdopen(fd, "rb", closefd=True) as f:
            fd = -1
            raw = f.read(limit + 1)  # a file that grows while read is still bounded
    except OSError as e:
        raise ConfigError(f"{what} {path} cannot be read: {e.strerror or e}") from None
    finally:
        if fd >= 0:
            os.close(fd)
    if len(raw) > limit:
        raise ConfigError(f"{what} {path} is over {limit >> 20} MB: not a config")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{what} {path} is not text (UTF-8): not a YAML file") from None


def parse_yaml(text: str, path: str | Path, what: str = "config file") -> dict[str, Any]:
    """A config file's text -> its mapping; unparsable or non-mapping text: ConfigError."""
    try:
        data = safe_yaml(text)
    except ConfigError as e:
        raise type(e)(f"{what} {path} {e}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(
            f"{what} {path} is not valid YAML{where}: {short(problem, 120)}"
        ) from None
    except (ValueError, RecursionError) as e:  # a constructor's own refusal
        raise ConfigError(f"{what} {path} cannot be read as YAML: {short(str(e), 120)}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{what} {path} must be a mapping of key: value, not a list or scalar")
    return data


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a config file into a dict; missing, special, oversized, unparsable or non-mapping
    files: ConfigError."""
    return parse_yaml(read_text(path), Path(path))
