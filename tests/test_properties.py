"""Property-based tests: random params and random small frames never produce a traceback, only
a UserError (with a message) or a valid result.

Derandomized, so the suite gives the same verdict on every run; to explore new examples run
`pytest tests/test_properties.py --hypothesis-seed=N` with ``derandomize`` removed.
"""

import contextlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from regpipe.contract import FIXABLE, enforce_contract, infer_contract
from regpipe.errors import UserError
from regpipe.models import candidate_alphas
from regpipe.params import SECTIONS, load_params, parse_section
from tests.helpers import examples

ROOT = Path(__file__).resolve().parents[1]
DEFAULTS = yaml.safe_load((ROOT / "params.yaml").read_text())

# What a YAML file can hold: scalars of every kind (NaN and infinities included), lists, maps.
# Values at the edges of the declared ranges, drawn often so a mutation hits them.
edges = st.sampled_from(
    [float("nan"), float("inf"), -float("inf"), 1e308, -1e308, 400, -400, -1, 0, 1, 2**40, ""]
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    edges,
    st.text(max_size=8),
)
yaml_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


def key_paths(node: object, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every key path of a nested mapping, so mutations hit keys the schema knows."""
    if not isinstance(node, dict):
        return [prefix]
    paths = [prefix] if prefix else []
    for key, value in node.items():
        paths += key_paths(value, (*prefix, key))
    return paths


@st.composite
def mutated_sections(draw: st.DrawFn) -> tuple[str, object]:
    """A section of the committed params.yaml with a few keys replaced, dropped or added."""
    name = draw(st.sampled_from(sorted(SECTIONS)))
    section = yaml.safe_load(yaml.safe_dump(DEFAULTS[name]))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(key_paths(section) or [()]))
        if not path:
            return name, draw(yaml_values)
        parent = section
        for key in path[:-1]:
            parent = parent.get(key) if isinstance(parent, dict) else None
        if not isinstance(parent, dict):
            continue
        action = draw(st.sampled_from(["replace", "drop", "add"]))
        if action == "replace":
            parent[path[-1]] = draw(edges | scalars | yaml_values)
        elif action == "drop":
            parent.pop(path[-1], None)
        else:
            parent[draw(st.text(min_size=1, max_size=8))] = draw(yaml_values)
    return name, section


def floats_in(node: object) -> list[float]:
    if isinstance(node, dict):
        return [x for value in node.values() for x in floats_in(value)]
    if isinstance(node, list):
        return [x for value in node for x in floats_in(value)]
    return [node] if isinstance(node, float) else []


def check_valid(name: str, params: object) -> None:
    """What a stage relies on once its section validated: the schema's type, finite numbers,
    a usable alpha grid, a split that leaves two parts."""
    assert isinstance(params, SECTIONS[name])
    assert np.all(np.isfinite(floats_in(params.model_dump())))
    if name in ("train_ridge", "train_lasso"):
        alphas = candidate_alphas(params.alpha, params.alpha_grid.model_dump())
        assert np.all(np.isfinite(alphas)) and np.all(alphas > 0)
    if name == "prepare":
        assert 0 < params.test_size < 1


@settings(max_examples=examples(250), deadline=None, derandomize=True)
@given(mutated_sections())
def test_mutated_params_give_a_user_error_or_a_valid_section(case: tuple[str, object]) -> None:
    name, raw = case
    try:
        params = parse_section(name, raw, SECTIONS[name])
    except UserError as error:
        assert f"{name}." in str(error) or "invalid params" in str(error)
    else:
        check_valid(name, params)


def value_at(node: object, path: tuple[str, ...]) -> object:
    for key in path:
        node = node[key]
    return node


# Every number in the committed params.yaml, by section and key path.
NUMERIC_KEYS = [
    (name, path)
    for name in sorted(SECTIONS)
    for path in key_paths(DEFAULTS[name])
    if isinstance(value_at(DEFAULTS[name], path), int | float)
    and not isinstance(value_at(DEFAULTS[name], path), bool)
]


@settings(max_examples=examples(300), deadline=None, derandomize=True)
@given(
    st.sampled_from(NUMERIC_KEYS),
    edges | st.floats() | st.integers(min_value=-(2**70), max_value=2**70),
)
def test_any_number_in_a_numeric_param_gives_a_user_error_or_a_valid_section(
    key: tuple[str, tuple[str, ...]], number: float
) -> None:
    name, path = key
    section = yaml.safe_load(yaml.safe_dump(DEFAULTS[name]))
    value_at(section, path[:-1])[path[-1]] = number
    try:
        params = parse_section(name, section, SECTIONS[name])
    except UserError as error:
        assert ".".join([name, *path]) in str(error) or "must be" in str(error)
    else:
        check_valid(name, params)


@settings(max_examples=examples(100), deadline=None, derandomize=True)
@given(st.sampled_from(sorted(SECTIONS)), yaml_values)
def test_any_yaml_value_as_a_section_gives_a_user_error_or_a_valid_section(
    name: str, raw: object
) -> None:
    try:
        params = parse_section(name, raw, SECTIONS[name])
    except UserError:
        return
    check_valid(name, params)


@settings(
    max_examples=examples(100),
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_any_params_file_gives_a_user_error_or_a_valid_section(
    tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / "params.yaml"
    path.write_bytes(content)
    for name in SECTIONS:
        with contextlib.suppress(UserError):
            check_valid(name, load_params(name, path))


# The data contract ------------------------------------------------------------------------

FEATURES = ["a", "b"]
TARGET = "y"
# Numeric a, b, y in [-1.2, 1.2] (the observed range widened); no missing value allowed.
CONTRACT = infer_contract(
    pd.DataFrame({"a": [-1.0, 1.0], "b": [-1.0, 1.0], "y": [-1.0, 1.0]}),
    target=TARGET,
    max_missing=0,
)
cells = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.booleans(),
    st.none(),
    st.text(max_size=5),
    st.sampled_from(["1.5", "nan", "inf", "-inf", "1e400", "", " 2"]),
)


@st.composite
def small_frames(draw: st.DrawFn) -> pd.DataFrame:
    """Up to 6 rows; each expected column present or not, plus an unexpected one at times;
    a column is all floats (as a CSV reader would give) or mixed cells."""
    n_rows = draw(st.integers(0, 6))
    columns = draw(st.lists(st.sampled_from([*FEATURES, TARGET, "extra"]), unique=True, max_size=4))
    data = {}
    for column in columns:
        all_floats = draw(st.booleans())
        element = st.floats(allow_nan=True, allow_infinity=True) if all_floats else cells
        data[column] = draw(st.lists(element, min_size=n_rows, max_size=n_rows))
    return pd.DataFrame(data, index=range(n_rows))


@settings(max_examples=examples(150), deadline=None, derandomize=True)
@given(small_frames())
@pytest.mark.parametrize("policy", ["fail", "fix"])
def test_contract_gives_a_contract_error_or_a_clean_frame(policy: str, frame: pd.DataFrame) -> None:
    try:
        clean, report = enforce_contract(
            frame,
            CONTRACT,
            on_violation=dict.fromkeys(FIXABLE, policy),
            min_rows=1,
            source="random.csv",
            max_listed=1000,
        )
    except UserError as error:  # ContractError is a UserError
        assert str(error).startswith("random.csv: ")
        return
    assert report["passed"] and list(clean.columns) == [*FEATURES, TARGET]
    assert len(clean) == report["n_rows_out"] <= len(frame)
    assert all(dtype == np.float64 for dtype in clean.dtypes)
    values = clean.to_numpy(dtype=float, na_value=np.nan)
    assert not np.isinf(values).any()
    for name in FEATURES:
        bounds = CONTRACT["columns"][name]
        assert clean[name].dropna().between(bounds["min"], bounds["max"]).all(), name
    # Missing feature values left by a fix are imputed after the split (impute).
    assert policy == "fix" or not np.isnan(values).any()


@pytest.mark.parametrize("name", sorted(SECTIONS))
def test_committed_sections_pass_the_property_checks(name: str) -> None:
    check_valid(name, load_params(name, ROOT / "params.yaml"))
