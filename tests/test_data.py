"""Data tests: the three sources, the data contract, and bad input refused with a clear report."""

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from regpipe.contract import (
    ContractError,
    enforce_contract,
    feature_names,
    imputation_value,
    imputation_values,
    impute,
    infer_contract,
    repeated_rows,
    training_statistics,
)
from regpipe.contract import _repeated_values as repeated_values
from regpipe.data import load_csv_source, load_diabetes_frame, synthetic_chunks, synthetic_truth
from regpipe.errors import UserError
from regpipe.io import read_table, write_table_chunks
from regpipe.models import candidate_alphas, coefficients, fit_with_cv, make_folds
from tests.helpers import edit_params, sh

FAIL = dict.fromkeys(("types", "finite", "range", "missing", "duplicates", "target"), "fail")
FIX = dict.fromkeys(FAIL, "fix")


def synthetic(n_samples: int, chunk_size: int, **truth_params: int) -> pd.DataFrame:
    truth = synthetic_truth(**{"n_features": 10, "n_informative": 3, "n_categorical": 0,
                               "n_levels": 3, "random_state": 7, **truth_params})  # fmt: skip
    chunks = synthetic_chunks(
        truth,
        n_samples=n_samples,
        noise=1.0,
        correlation=0.5,
        chunk_size=chunk_size,
        target="target",
        random_state=7,
    )
    return pd.concat(chunks, ignore_index=True)


def clean_frame(n: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "z": rng.uniform(0, 10, n),
            "colour": rng.choice(["red", "blue"], n),
            "target": rng.normal(size=n),
        }
    )


def enforce(frame: pd.DataFrame, on_violation: dict = FAIL, **contract_frame: pd.DataFrame):
    contract = infer_contract(
        contract_frame.get("like", clean_frame()), target="target", max_missing=0.1
    )
    return enforce_contract(
        frame,
        contract,
        on_violation=on_violation,
        min_rows=5,
        source="data/raw/data.parquet",
        max_listed=1000,
    )


# sources ---------------------------------------------------------------------------------------


def test_synthetic_rows_do_not_depend_on_the_chunk_size() -> None:
    pd.testing.assert_frame_equal(synthetic(2500, 1000), synthetic(2500, 2500))


def test_synthetic_truth_is_sparse_and_features_correlated() -> None:
    truth = synthetic_truth(
        n_features=10, n_informative=3, n_categorical=0, n_levels=3, random_state=7
    )
    assert len(truth["support"]) == 3
    assert sum(value != 0 for value in truth["coef"].values()) == 3
    frame = synthetic(20_000, 5000)
    assert list(frame.columns) == [f"x{j}" for j in range(10)] + ["target"]
    assert frame["x0"].corr(frame["x1"]) == pytest.approx(0.5, abs=0.03)


def test_lasso_recovers_the_support_of_the_synthetic_truth() -> None:
    truth = synthetic_truth(
        n_features=10, n_informative=3, n_categorical=0, n_levels=3, random_state=7
    )
    frame = synthetic(3000, 3000)
    result = fit_with_cv(
        "lasso",
        frame.drop(columns="target"),
        frame["target"],
        alphas=candidate_alphas(0.1, None),
        cv=make_folds(5, False, 0),
        max_iter=10_000,
    )
    kept = sorted(name for name, value in coefficients(result.model).items() if value != 0)
    assert kept == truth["support"]


def test_the_pipeline_recovers_the_support_written_beside_the_synthetic_data(
    repo_copy: Path,
) -> None:
    """Through `dvc repro`: LASSO with CV's one-SE rule keeps exactly the truth's features.

    (The plain CV minimum keeps spurious features here too: it optimises prediction, not support.)
    """
    edit_params(
        repo_copy / "params.yaml",
        {
            "generate.source": "synthetic",
            "generate.synthetic.n_samples": 3000,
            "generate.synthetic.n_informative": 3,
            "generate.synthetic.correlation": 0.5,
            "generate.current.shift_sd": {},
            "train_lasso.alpha_rule": "one_se",
        },
    )
    (repo_copy / "data_contract.yaml").unlink()  # Diabetes' contract: infer the new data's

    sh("dvc", "repro", "train_lasso", cwd=repo_copy)
    truth = json.loads((repo_copy / "data/raw/truth.json").read_text())
    trained = json.loads((repo_copy / "metrics/train_lasso.json").read_text())
    kept = sorted(name for name, value in trained["coef"].items() if value != 0)
    assert kept == truth["support"]


def test_categorical_columns_are_one_hot_encoded_inside_the_model() -> None:
    frame = synthetic(600, 600, n_categorical=1)
    assert set(frame["c0"]) == {"a", "b", "c"}
    X, y = frame.drop(columns="target"), frame["target"]
    result = fit_with_cv("ridge", X, y, alphas=np.array([1.0]), cv=make_folds(3, False, 0))
    # the first level is the reference: no column, so the one-hot block is not collinear
    assert {"c0_b", "c0_c", "x0"} <= set(coefficients(result.model))
    assert "c0_a" not in coefficients(result.model)
    unseen = X.head(2).assign(c0=["zzz", "a"])  # raw labels in, an unknown level is ignored
    assert np.isfinite(result.model.predict(unseen)).all()


def test_chunks_are_written_as_one_table(tmp_path: Path) -> None:
    frame = synthetic(2500, 1000, n_categorical=1)
    for suffix in (".parquet", ".csv"):
        path = tmp_path / f"data{suffix}"
        assert write_table_chunks(iter([frame[:1000], frame[1000:]]), path) == 2500
        pd.testing.assert_frame_equal(read_table(path), frame, check_dtype=False)


def test_csv_source_reads_a_good_file(tmp_path: Path) -> None:
    path = tmp_path / "user.csv"
    path.write_text("a, b ,target\n1,x,2.5\n 3 ,y,4\n")
    frame = load_csv_source(path, target="target")
    assert list(frame.columns) == ["a", "b", "target"] and len(frame) == 2


# bad CSV input: refused by generate, naming the file and what is wrong --------------------------


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "the file is empty"),
        (b"a,b,target\n", "header only, no data rows"),
        (b"a,b\n1,2\n", "no target column 'target' (prepare.target); columns: ['a', 'b']"),
        (b"a,a,target\n1,2,3\n", "duplicated column name(s) at header positions {'a': [0, 1]}"),
        (b"a;b;target\n1;2;3\n", "the file looks ';'-separated; expected commas"),
        (b"a,b,target\n1,2,3\n4,\xe9t\xe9,5\n", "not UTF-8 text: byte b'\\xe9' at line 3"),
        (b"a,b,target\n1,2,3\n4,5,6,7,8\n", "cannot parse as CSV"),
    ],
    ids=["empty", "header-only", "no-target", "duplicated-names", "delimiter", "latin-1", "ragged"],
)
def test_unreadable_csv_is_refused(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "user.csv"
    path.write_bytes(content)
    with pytest.raises(UserError) as raised:
        load_csv_source(path, target="target")
    assert str(raised.value).startswith(f"{path}: ")
    assert expected in str(raised.value)


def test_csv_path_that_does_not_exist(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"nope.csv: file not found \(generate.csv.path\)"):
        load_csv_source(tmp_path / "nope.csv", target="target")


# bad values: the contract finds every violation, names column and rows ----------------------


def violation(frame: pd.DataFrame) -> ContractError:
    with pytest.raises(ContractError) as raised:
        enforce(frame)
    assert str(raised.value).startswith("data/raw/data.parquet: data contract violated")
    return raised.value


def test_target_all_missing() -> None:
    error = violation(clean_frame().assign(target=np.nan))
    assert "target: column 'target': 60 at row(s) 0, 1, 2" in str(error)


def test_text_in_a_numeric_column() -> None:
    frame = clean_frame().astype({"z": object})
    frame.loc[7, "z"] = "seven"
    error = violation(frame)
    assert "types: column 'z': 1 at row(s) 7 (e.g. 'seven')" in str(error)


def test_infinite_value() -> None:
    frame = clean_frame()
    frame.loc[[4, 9], "x"] = [np.inf, -np.inf]
    assert "finite: column 'x': 2 at row(s) 4, 9" in str(violation(frame))


def test_half_missing_column() -> None:
    frame = clean_frame()
    frame.loc[::2, "z"] = np.nan
    assert "missing: column 'z': 30 at row(s) 0, 2, 4" in str(violation(frame))


def test_every_violation_is_reported_at_once_as_a_table() -> None:
    frame = clean_frame().drop(columns="colour").astype({"z": object})
    frame.loc[3, "z"] = "abc"
    frame.loc[5, "x"] = 1e9
    frame.loc[[1, 7], "target"] = np.nan
    frame.loc[11] = frame.loc[10]
    error = violation(frame)
    checks = {(item["check"], item["column"], item["row"]) for item in error.report["violations"]}
    assert {
        ("columns", "colour", None),
        ("types", "z", 3),
        ("range", "x", 5),
        ("target", "target", 1),
        ("target", "target", 7),
        ("duplicates", None, 11),
    } <= checks
    assert error.report["failed_checks"] == ["columns", "types", "range", "duplicates", "target"]
    json.dumps(error.report)  # the report is plain JSON


def test_fix_policies_repair_and_count() -> None:
    frame = clean_frame().astype({"z": object})
    frame.loc[3, "z"] = " 2,5 "  # a decimal comma and spaces: normalised, not a violation
    frame.loc[4, "z"] = "n/a"
    frame.loc[5, "x"] = np.inf
    frame.loc[6, "x"] = 1e9
    frame.loc[7, "target"] = np.nan
    frame.loc[8, "colour"] = "  RED "
    frame.loc[9, "colour"] = "green"
    frame.loc[11] = frame.loc[10]
    fixed, report = enforce(frame, FIX)
    assert report["passed"] is True
    assert report["normalised_cells"] == {"z": 1, "colour": 1}
    assert fixed.loc[3, "z"] == 2.5
    assert fixed.loc[7, "colour"] == "red"  # row 8 of the input: row 7 was dropped
    assert report["fixes"]["dropped_rows"] == {"target": 1, "duplicates": 1}
    assert report["fixes"]["clipped"] == {"x": 1}
    assert report["fixes"]["set_missing"] == {"z": 1, "x": 1, "colour": 1}
    assert len(fixed) == 58

    contract = infer_contract(clean_frame(), target="target", max_missing=0.1)
    values = imputation_values(fixed[:40], contract)  # from the training rows only
    (train, train_imputed), (test, test_imputed) = (
        impute(part, values) for part in (fixed[:40], fixed[40:])
    )
    assert not train.isna().any().any() and not test.isna().any().any()
    assert sum(train_imputed.values()) + sum(test_imputed.values()) == 3


def test_repeated_rows_match_pandas_duplicated() -> None:
    frame = clean_frame(200).round(0)
    frame = pd.concat([frame, frame.sample(30, random_state=1)], ignore_index=True)
    pd.testing.assert_series_equal(repeated_rows(frame), frame.duplicated())


@pytest.mark.parametrize("block", [1, 7, 1 << 20])
def test_repeated_values_in_blocks_are_numpys(block: int) -> None:
    # runs of equal hashes across block boundaries, a run at each end, values with no repeat
    hashes = np.random.default_rng(2).integers(0, 60, 500).astype(np.uint64)
    values, counts = np.unique(hashes, return_counts=True)
    found = repeated_values(np.sort(hashes), block=block)
    np.testing.assert_array_equal(found, values[counts > 1], strict=True)
    assert len(repeated_values(np.sort(hashes[:1]), block=block)) == 0


@pytest.mark.parametrize("missing", [0.0, 0.1, 0.9])
@pytest.mark.parametrize("n_rows", [1, 2, 3, 601, 100_001])
def test_training_std_and_median_are_pandas_own(missing: float, n_rows: int) -> None:
    # prepare computes them holding fewer copies of the column: the floats must not move
    rng = np.random.default_rng(n_rows)
    for values in (rng.normal(size=n_rows), rng.standard_cauchy(n_rows) * 1e6):
        values[rng.random(n_rows) < missing] = np.nan
        column = pd.Series(values, name="x")
        if column.notna().any():  # exact equality, NaN (one value's std) equal to NaN
            np.testing.assert_equal(
                training_statistics(column.to_frame())["x"]["std"], float(column.std())
            )
            np.testing.assert_equal(
                imputation_value(column, {"type": "numeric"}), float(column.median())
            )


def test_too_few_rows_left_after_the_fixes() -> None:
    frame = clean_frame(8)
    frame.loc[:5, "target"] = np.nan
    with pytest.raises(ContractError, match="2 rows left after the fixes, fewer than prepare.min"):
        enforce(frame, FIX, like=clean_frame(8))


def test_inferred_contract_and_statistics_of_diabetes() -> None:
    frame = load_diabetes_frame()
    contract = infer_contract(frame, target="target", max_missing=0.05)
    assert feature_names(contract) == list(frame.columns[:-1])
    assert contract["columns"]["bmi"]["type"] == "numeric"
    fixed, report = enforce_contract(
        frame, contract, on_violation=FAIL, min_rows=20, source="diabetes", max_listed=1000
    )
    assert report["n_violations"] == 0 and len(fixed) == 442
    stats = training_statistics(clean_frame(), infer_contract(clean_frame(), target="target",
                                                              max_missing=0.1))  # fmt: skip
    assert stats["colour"]["kind"] == "categorical"
    assert sum(stats["colour"]["frequencies"].values()) == pytest.approx(1.0)


# the real pipeline: a bad CSV stops it, the CSV is a dependency, outputs come back -------------


def diabetes_csv(change: Callable[[pd.DataFrame], pd.DataFrame] = lambda frame: frame) -> bytes:
    """The Diabetes data as a user's CSV, after ``change``."""
    return change(load_diabetes_frame().astype({"s6": object})).to_csv(index=False).encode()


def with_cells(column: str, rows: slice | int, value: object):
    def change(frame: pd.DataFrame) -> pd.DataFrame:
        frame.loc[rows, column] = value
        return frame

    return change


HEADER = b"age,sex,bmi,bp,s1,s2,s3,s4,s5,s6,target\n"
# The bad inputs, each fed to the real pipeline as the user's CSV (None: no file there).
BAD_CSVS = {
    "empty file": (b"", "user.csv: the file is empty"),
    "header only": (HEADER, "user.csv: header only, no data rows"),
    "missing target column": (
        diabetes_csv(lambda frame: frame.drop(columns="target")),
        "user.csv: no target column 'target'",
    ),
    "target all NaN": (
        diabetes_csv(with_cells("target", slice(None), np.nan)),
        "target: column 'target': 442 at row(s) 0, 1, 2",
    ),
    "text in a numeric column": (
        diabetes_csv(with_cells("s6", 7, "high")),
        "types: column 's6': 1 at row(s) 7 (e.g. 'high')",
    ),
    "inf": (diabetes_csv(with_cells("bmi", 3, np.inf)), "finite: column 'bmi': 1 at row(s) 3"),
    "duplicated column names": (
        HEADER.replace(b"bp,", b"bmi,") + diabetes_csv().split(b"\n", 1)[1],
        "user.csv: duplicated column name(s) at header positions {'bmi': [2, 3]}",
    ),
    "wrong delimiter": (
        diabetes_csv().replace(b",", b";"),
        "user.csv: one column 'age;sex;bmi;bp;s1;s2;s3;s4;s5;s6;target': the file looks "
        "';'-separated",
    ),
    "50% missing in one column": (
        diabetes_csv(with_cells("bp", slice(0, 220), np.nan)),
        "missing: column 'bp': 221 at row(s) 0, 1, 2",
    ),
    "a path that does not exist": (None, "user.csv"),
    "not UTF-8": (
        diabetes_csv(with_cells("s6", 4, "caf\u00e9")).decode().encode("latin-1"),
        "user.csv: not UTF-8 text: byte b'\\xe9' at line 6",
    ),
}


@pytest.mark.parametrize(("content", "expected"), BAD_CSVS.values(), ids=BAD_CSVS)
def test_bad_csv_stops_the_pipeline_and_outputs_are_restorable(
    repo_copy: Path, content: bytes | None, expected: str
) -> None:
    outputs = [repo_copy / "data/prepared/train.parquet", repo_copy / "data/raw/data.parquet"]
    before = [path.read_bytes() for path in outputs]
    if content is not None:
        (repo_copy / "user.csv").write_bytes(content)
    edit_params(
        repo_copy / "params.yaml", {"generate.source": "csv", "generate.csv.path": "user.csv"}
    )

    result = sh("dvc", "repro", "prepare", cwd=repo_copy, check=False)
    assert result.returncode != 0
    assert expected in result.stderr
    assert "Traceback" not in result.stderr

    # The last good state: params, dvc.lock and metrics from git, outputs from DVC's cache.
    sh("git", "checkout", "--", "params.yaml", "dvc.lock", "metrics", cwd=repo_copy)
    sh("dvc", "checkout", cwd=repo_copy)
    assert [path.read_bytes() for path in outputs] == before
    assert "up to date" in sh("dvc", "status", cwd=repo_copy).stdout


def test_a_contract_violation_is_reported_per_cell_and_the_csv_is_a_dependency(
    repo_copy: Path,
) -> None:
    (repo_copy / "user.csv").write_bytes(diabetes_csv(with_cells("s6", 7, "high")))
    edit_params(
        repo_copy / "params.yaml", {"generate.source": "csv", "generate.csv.path": "user.csv"}
    )

    result = sh("dvc", "repro", "prepare", cwd=repo_copy, check=False)
    assert "error: user.csv (as data/raw/data.parquet): data contract violated" in result.stderr
    quality = json.loads((repo_copy / "metrics/data_quality.json").read_text())
    assert {"column": "s6", "check": "types", "value": "high", "row": 7} in quality["violations"]
    assert quality["violation_counts"] == [{"check": "types", "column": "s6", "n": 1}]

    user_csv = repo_copy / "user.csv"
    user_csv.write_text(user_csv.read_text().replace("high", "0.01", 1))
    assert "generate" in json.loads(sh("dvc", "status", "--json", cwd=repo_copy).stdout)
