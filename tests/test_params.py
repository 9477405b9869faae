"""Unit tests of the params schemas: every bad value is refused with the key and valid range."""

from pathlib import Path

import pytest
import yaml

from regpipe.errors import UserError
from regpipe.params import SECTIONS, load_params
from tests.helpers import DROP, PARAMS, edit_params

DEFAULTS = yaml.safe_load(PARAMS.read_text())


def write_params(tmp_path: Path, section: str, key: str, value: object) -> Path:
    """A copy of the committed params.yaml with one (dotted) key changed."""
    return edit_params(tmp_path / "params.yaml", {f"{section}.{key}": value}, start_from=PARAMS)


def test_the_committed_params_are_valid() -> None:
    for name in SECTIONS:
        load_params(name, PARAMS)


@pytest.mark.parametrize(
    ("section", "key", "value", "expected"),
    [
        ("prepare", "test_size", 1.5, "prepare.test_size: Input should be less than 1"),
        ("prepare", "test_size", "big", "prepare.test_size: Input should be a valid number"),
        ("train_ridge", "alpha", -1, "train_ridge.alpha: Input should be greater than 0"),
        ("train_lasso", "alpha", 0, "train_lasso.alpha: Input should be greater than 0"),
        ("train_ridge", "alpha_grid.num", 0, "train_ridge.alpha_grid.num: Input should be greater"),
        ("train_ridge", "alpha_grid.log10_stop", -5, "log10_stop must be >= log10_start"),
        ("train_ridge", "cv.n_splits", 1, "train_ridge.cv.n_splits: Input should be greater than"),
        (
            "train_lasso",
            "estimator.max_iter",
            0,
            "train_lasso.estimator.max_iter: Input should be greater than",
        ),
        ("train_ridge", "estimator.tol", 1e-4, "train_ridge.estimator.tol: Extra inputs are not"),
        ("train_ridge", "alpah", 1.0, "train_ridge.alpah: Extra inputs are not permitted"),
        ("prepare", "on_violation.types", "drop", "prepare.on_violation.types: Input should be"),
        ("generate", "source", "excel", "generate.source: Input should be 'diabetes'"),
        ("generate", "synthetic.n_informative", 11, "n_informative=11 must be <= n_features=10"),
        ("generate", "synthetic.correlation", 1.0, "generate.synthetic.correlation: Input should"),
        ("drift", "p_value", 1.0, "drift.p_value: Input should be less than 1"),
        ("drift", "reference_sample.rows", 999, "drift.reference_sample.rows: Input should be"),
        ("generate", "current.n_samples", -3, "generate.current.n_samples: Input should be"),
    ],
)
def test_bad_value_names_the_key_and_valid_range(
    tmp_path: Path, section: str, key: str, value: object, expected: str
) -> None:
    path = write_params(tmp_path, section, key, value)
    with pytest.raises(UserError, match="invalid params") as raised:
        load_params(section, path)
    assert expected in str(raised.value)


def test_missing_key_is_named(tmp_path: Path) -> None:
    path = write_params(tmp_path, "train_lasso", "estimator.max_iter", DROP)
    with pytest.raises(UserError, match=r"train_lasso.estimator.max_iter: Field required"):
        load_params("train_lasso", path)


def test_unknown_section_in_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({**DEFAULTS, "train_elasticnet": {"alpha": 1}}))
    with pytest.raises(UserError, match=r"unknown section\(s\) \['train_elasticnet'\]"):
        load_params("train_ridge", path)


def test_unknown_section_requested_is_refused() -> None:
    with pytest.raises(UserError, match="unknown params section 'train_svm'"):
        load_params("train_svm", PARAMS)


def test_missing_or_broken_file(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="file not found"):
        load_params("prepare", tmp_path / "nope.yaml")
    broken = tmp_path / "params.yaml"
    broken.write_text("prepare: [unclosed\n")
    with pytest.raises(UserError, match="not valid YAML"):
        load_params("prepare", broken)


def test_fixed_alpha_is_accepted(tmp_path: Path) -> None:
    params = load_params("train_ridge", write_params(tmp_path, "train_ridge", "alpha", 10))
    assert params.alpha == 10.0
