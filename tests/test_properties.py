"""Property-based tests of what a user types: whatever `--set` and a YAML file hold, config
parsing either gives a valid RunConfig or raises ConfigError, one line, a bounded message."""

from __future__ import annotations

import math

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relubench.config import FIELD_TYPES, load_yaml, merge, parse_set, safe_yaml
from relubench.errors import ConfigError

KEYS = sorted(FIELD_TYPES)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=20,
)


def check(cfg_or_error) -> None:
    """A RunConfig that passed validation has finite numbers and a readable id."""
    for key, kind in FIELD_TYPES.items():
        v = getattr(cfg_or_error, key)
        if kind == "float":
            assert math.isfinite(v), key
    assert cfg_or_error.run_id.startswith(f"{cfg_or_error.dataset}-{cfg_or_error.model}-")


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), values, max_size=4))
def test_any_mapping_is_a_valid_config_or_one_config_error(layer):
    try:
        cfg = merge(layer)
    except ConfigError as e:
        message = str(e)
        assert "\n" not in message and len(message) < 400
    else:
        check(cfg)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(max_size=40), max_size=4))
def test_any_set_arguments_parse_or_fail_in_one_line(items):
    try:
        cfg = merge(parse_set(items))
    except ConfigError as e:
        assert "\n" not in str(e) and len(str(e)) < 400
    else:
        check(cfg)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_any_file_loads_as_a_mapping_or_fails_in_one_line(tmp_path, data):
    path = tmp_path / "c.yaml"
    path.write_bytes(data)
    try:
        loaded = load_yaml(path)
    except ConfigError as e:
        assert str(e).startswith(f"config file {path}") and "\n" not in str(e)
    else:
        assert isinstance(loaded, dict)


@given(values)
@settings(max_examples=200, deadline=None)
def test_the_bounded_loader_reads_what_safe_load_reads(value):
    text = yaml.safe_dump({"v": value})
    assert repr(safe_yaml(text)) == repr(yaml.safe_load(text))


@pytest.mark.parametrize(("depth", "ok"), [(40, True), (60, False)])
def test_nesting_is_bounded(depth, ok):
    text = "a: " + "[" * depth + "]" * depth
    if ok:
        assert safe_yaml(text)["a"] is not None
    else:
        with pytest.raises(ConfigError, match="nested more than 50 levels"):
            safe_yaml(text)
