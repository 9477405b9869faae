"""Every bad input the project handles, in one table: each is refused with a UserError whose
message names what is wrong and where. tests/README.md shows the same table with the messages;
a test keeps the two in step."""

import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from regpipe.contract import FIXABLE, enforce_contract, infer_contract, leave_out_columns
from regpipe.current import make_current_batch
from regpipe.data import load_csv_source, load_diabetes_frame, split_train_test
from regpipe.errors import UserError
from regpipe.io import (
    atomic_path,
    describe_table,
    load_model,
    locked_md5,
    read_json,
    read_table,
    save_model,
    write_table_chunks,
)
from regpipe.models import make_folds, parquet_rows
from regpipe.params import load_params
from regpipe.tables import Table
from tests.helpers import DROP, PARAMS, ROOT, edit_params

# The contract the bad data files are checked against: two numeric features and the target,
# inferred from a good frame (ranges widened by 10%), no missing value allowed.
CONTRACT = infer_contract(
    pd.DataFrame({"age": [1.0, 3.0], "bmi": [1.0, 3.0], "target": [1.0, 3.0]}),
    target="target",
    max_missing=0.0,
)


def params_with(section: str, key: str, value: object) -> Callable[[Path], object]:
    """Load ``section`` from a copy of params.yaml whose ``key`` (dotted) is set to ``value``."""

    def trigger(tmp_path: Path) -> object:
        path = tmp_path / "params.yaml"
        return load_params(
            section, edit_params(path, {f"{section}.{key}": value}, start_from=PARAMS)
        )

    return trigger


def params_file(content: bytes, section: str = "prepare") -> Callable[[Path], object]:
    def trigger(tmp_path: Path) -> object:
        path = tmp_path / "params.yaml"
        path.write_bytes(content)
        return load_params(section, path)

    return trigger


def damaged_parquet(tmp_path: Path) -> Path:
    """A Parquet file cut short, as a failed copy leaves it: no footer."""
    path = tmp_path / "train.parquet"
    load_diabetes_frame().to_parquet(path)
    path.write_bytes(path.read_bytes()[:2000])
    return path


def parquet_folder(tmp_path: Path) -> Path:
    """A partitioned dataset's folder named like the one file expected."""
    path = tmp_path / "train.parquet"
    path.mkdir()
    load_diabetes_frame().to_parquet(path / "part.0.parquet")
    return path


def split_with_missing_number(tmp_path: Path) -> object:
    """A prepared training split with a NaN in a feature, read as train and evaluate read it."""
    path = tmp_path / "train.parquet"
    frame = load_diabetes_frame()
    frame.loc[300, "bmi"] = float("nan")
    frame.to_parquet(path)
    return list(parquet_rows(str(path), "target", lambda x: x.to_numpy(), chunk_rows=100).read())


def data_file(name: str, content: bytes | None) -> Callable[[Path], object]:
    """``content`` as the user's CSV ``name``, read and written as generate does and checked as
    prepare does (every check set to ``fail``)."""

    def trigger(tmp_path: Path) -> object:
        path = tmp_path / name
        if content is not None:  # None: the file does not exist
            path.write_bytes(content)
        raw = tmp_path / "data/raw/data.parquet"
        write_table_chunks([load_csv_source(path, target="target")], raw, origin=str(path))
        return enforce_contract(
            read_table(raw),
            CONTRACT,
            on_violation=dict.fromkeys(FIXABLE, "fail"),
            min_rows=1,
            source=describe_table(raw),
            max_listed=1000,
        )

    return trigger


def written_model(tmp_path: Path) -> Path:
    path = tmp_path / "models/ridge.joblib"
    save_model({"coef": [1.0]}, path)
    return path


def unwritable_output(tmp_path: Path) -> None:
    (tmp_path / "models").write_text("a file where the folder should be")
    with atomic_path(tmp_path / "models/ridge.joblib") as tmp:
        tmp.write_bytes(b"")


def broken_json(tmp_path: Path) -> dict:
    path = tmp_path / "stats.json"
    path.write_text("{")
    return read_json(path)


def lock_without_the_model(tmp_path: Path) -> str:
    lock = tmp_path / "dvc.lock"
    lock.write_text((ROOT / "dvc.lock").read_text())
    return locked_md5(tmp_path / "models/svm.joblib", lock)


# (kind, bad input, trigger, a fragment of the message that names what and where)
# fmt: off
CASES: list[tuple[str, str, Callable[[Path], object], str]] = [
    ("params", "`prepare.test_size: 1.5`", params_with("prepare", "test_size", 1.5),
     "prepare.test_size: Input should be less than 1 (got 1.5)"),
    ("params", "`prepare.test_size: big`", params_with("prepare", "test_size", "big"),
     "prepare.test_size: Input should be a valid number"),
    ("params", "`prepare.test_size: .nan`", params_with("prepare", "test_size", float("nan")),
     "prepare.test_size: Input should be a finite number"),
    ("params", "`prepare.min_rows: 2`", params_with("prepare", "min_rows", 2),
     "prepare.min_rows: Input should be greater than or equal to 3"),
    ("params", "`prepare.on_violation.types: drop` (not a policy)",
     params_with("prepare", "on_violation.types", "drop"),
     "prepare.on_violation.types: Input should be 'fail' or 'fix'"),
    ("params", "`prepare.random_state: -1`", params_with("prepare", "random_state", -1),
     "prepare.random_state: Input should be greater than or equal to 0"),
    ("params", "`train_ridge.alpha: -1`", params_with("train_ridge", "alpha", -1),
     "train_ridge.alpha: Input should be greater than 0"),
    ("params", "`train_ridge.alpha: .inf`", params_with("train_ridge", "alpha", float("inf")),
     "train_ridge.alpha: Input should be a finite number"),
    ("params", "`train_ridge.alpha_grid.num: 0`", params_with("train_ridge", "alpha_grid.num", 0),
     "train_ridge.alpha_grid.num: Input should be greater than or equal to 1"),
    ("params", "`train_ridge.alpha_grid.log10_stop: -5` (below the start)",
     params_with("train_ridge", "alpha_grid.log10_stop", -5),
     "log10_stop must be >= log10_start"),
    ("params", "`train_lasso.alpha_grid.log10_stop: 400` (10**400 is no float)",
     params_with("train_lasso", "alpha_grid.log10_stop", 400),
     "train_lasso.alpha_grid.log10_stop: Input should be less than or equal to 10"),
    ("params", "`train_ridge.alpha_grid.num: 1000000`",
     params_with("train_ridge", "alpha_grid.num", 10**6),
     "train_ridge.alpha_grid.num: Input should be less than or equal to 10000"),
    ("params", "`train_ridge.alpha_grid.log10_start: .nan`",
     params_with("train_ridge", "alpha_grid.log10_start", float("nan")),
     "train_ridge.alpha_grid.log10_start: Input should be a finite number"),
    ("params", "`train_ridge.cv.n_splits: 1`", params_with("train_ridge", "cv.n_splits", 1),
     "train_ridge.cv.n_splits: Input should be greater than or equal to 2"),
    ("params", "`train_lasso.estimator.max_iter: 0`",
     params_with("train_lasso", "estimator.max_iter", 0),
     "train_lasso.estimator.max_iter: Input should be greater than or equal to 1"),
    ("params", "misspelt key `train_ridge.alpah`", params_with("train_ridge", "alpah", 1.0),
     "train_ridge.alpah: Extra inputs are not permitted"),
    ("params", "missing key `train_lasso.estimator.max_iter`",
     params_with("train_lasso", "estimator.max_iter", DROP),
     "train_lasso.estimator.max_iter: Field required"),
    ("params", "`generate.current.n_samples: -3`",
     params_with("generate", "current.n_samples", -3),
     "generate.current.n_samples: Input should be greater than or equal to 1"),
    ("params", "`evaluate.gate.min_improvement: 1`",
     params_with("evaluate", "gate.min_improvement", 1),
     "evaluate.gate.min_improvement: Input should be less than 1"),
    ("params", "`drift.p_value: 1.0`", params_with("drift", "p_value", 1.0),
     "drift.p_value: Input should be less than 1"),
    ("params", "`drift.drift_share: 0`", params_with("drift", "drift_share", 0),
     "drift.drift_share: Input should be greater than 0"),
    ("params", "unknown section `train_elasticnet:` in params.yaml",
     params_file(b"train_elasticnet: {alpha: 1}\n"),
     "unknown section(s) ['train_elasticnet']; valid sections:"),
    ("params", "a stage asks for section `train_svm`",
     lambda tmp_path: load_params("train_svm", ROOT / "params.yaml"),
     "unknown params section 'train_svm'; valid sections:"),
    ("params", "section missing from params.yaml", params_file(b"drift: {}\n"),
     "section 'prepare' is missing"),
    ("params", "params.yaml not found",
     lambda tmp_path: load_params("prepare", tmp_path / "params.yaml"),
     "params.yaml: file not found (run from the repository root)"),
    ("params", "params.yaml not YAML", params_file(b"prepare: [unclosed\n"),
     "params.yaml: not valid YAML"),
    ("params", "params.yaml not UTF-8", params_file(b"prepare: \x80\n"),
     "params.yaml: not valid YAML"),
    ("params", "params.yaml a list, not a mapping", params_file(b"- prepare\n"),
     "params.yaml: expected a mapping of sections, got list"),
    ("params", "`generate.current.shift_sd: {zz: 1}` (no such column)",
     lambda tmp_path: make_current_batch(
         load_diabetes_frame(), n_samples=5, shift_sd={"zz": 1.0}, random_state=0
     ),
     "generate.current.shift_sd: unknown column(s) ['zz']; valid:"),
    ("params", "`prepare.test_size` leaving an empty part",
     lambda tmp_path: split_train_test(
         pd.DataFrame({"a": [1.0, 2.0, 3.0]}), test_size=0.1, random_state=0
     ),
     "prepare.test_size=0.1 leaves an empty part with 3 rows"),
    ("data file", "a feature column missing",
     data_file("raw.csv", b"age,target\n1,2\n"),
     "columns: column 'bmi': 1 at row(s) - (e.g. 'column not in the data')"),
    ("data file", "text in a numeric column",
     data_file("raw.csv", b"age,bmi,target\n1,x,2\n1,2,3\n"),
     "types: column 'bmi': 1 at row(s) 0 (e.g. 'x')"),
    ("data file", "missing target",
     data_file("raw.csv", b"age,bmi,target\n1,2,\n1,2,3\n"),
     "target: column 'target': 1 at row(s) 0 (e.g. nan)"),
    ("data file", "target all missing",
     data_file("raw.csv", b"age,bmi,target\n1,2,\n3,2,\n"),
     "target: column 'target': 2 at row(s) 0, 1"),
    ("data file", "missing feature value",
     data_file("raw.csv", b"age,bmi,target\n1,2,3\n,2,3\n"),
     "missing: column 'age': 1 at row(s) 1 (e.g. nan)"),
    ("data file", "50% missing in one column",
     data_file("raw.csv", b"age,bmi,target\n1,2,3\n,2,3\n2,,1\n,1,1\n"),
     "missing: column 'age': 2 at row(s) 1, 3"),
    ("data file", "infinite value",
     data_file("raw.csv", b"age,bmi,target\n1,inf,3\n1,2,3\n"),
     "finite: column 'bmi': 1 at row(s) 0 (e.g. inf)"),
    ("data file", "a value out of the contract's range",
     data_file("raw.csv", b"age,bmi,target\n1,2,3\n1,99,3\n"),
     "range: column 'bmi': 1 at row(s) 1 (e.g. 99.0)"),
    ("data file",
     "a duplicated row (`prepare.on_violation.duplicates: fail`; the default `keep` counts it)",
     data_file("raw.csv", b"age,bmi,target\n1,2,3\n1,2,3\n"),
     "duplicates: whole rows: 1 at row(s) 1"),
    ("data file", "every failing check names its policy key",
     data_file("raw.csv", b"age,bmi,target\n1,x,\n1,2,3\n1,2,3\n"),
     "to change what types does: prepare.on_violation.types: fix sets them missing"),
    ("params", "`prepare.drop_columns` naming no column of the data",
     lambda tmp_path: leave_out_columns(
         pd.DataFrame({"a": [1.0], "target": [2.0]}), drop_columns=["nme"], detect_ids=False,
         target="target", source="data/raw/data.parquet",
     ),
     "prepare.drop_columns: no column(s) ['nme'] in data/raw/data.parquet; columns: "
     "['a', 'target']"),
    ("params", "`prepare.drop_columns` listing the target",
     params_with("prepare", "drop_columns", ["target"]),
     "prepare: Value error, the target 'target' cannot be in drop_columns"),
    ("params", "`cv.n_splits` above the training rows",
     lambda tmp_path: make_folds(10, False, 0, n_rows=8, key="train_ridge.cv"),
     "params.yaml: train_ridge.cv.n_splits=10 is more than the 8 training rows; lower "
     "train_ridge.cv.n_splits to at most 8"),
    ("params", "a test split under `prepare.min_test_rows`",
     lambda tmp_path: split_train_test(
         pd.DataFrame({"a": range(40)}), test_size=0.1, random_state=0, min_test_rows=10
     ),
     "prepare.test_size=0.1 of 40 rows gives a test split of 4 rows, fewer than "
     "prepare.min_test_rows=10"),
    ("params", "`prepare.target` named like a feature (`bmi`, diabetes source)",
     lambda tmp_path: load_diabetes_frame("bmi"),
     "params.yaml: prepare.target='bmi' is also a feature of the diabetes source"),
    ("data file", "a text column over the level limit",
     lambda tmp_path: infer_contract(
         pd.DataFrame({"name": [f"n{i % 60}" for i in range(120)], "target": 1.0}),
         target="target", max_missing=0.0,
     ),
     "column 'name': text with 60 distinct values is neither numeric nor categorical (at most 50 "
     "levels, prepare.max_levels); list it in prepare.drop_columns or raise prepare.max_levels"),
    ("data file", "a feature near 1e300 (breaks the least-squares solve)",
     lambda tmp_path: infer_contract(
         pd.DataFrame({"x": [1.0, 1e300], "target": [1.0, 2.0]}), target="target",
         max_missing=0.0,
     ),
     "column 'x': value 1e+300 at row 1 is beyond ±1e+100, the limit"),
    ("data file", "a CSV field over 131,072 characters",
     data_file("raw.csv", b"age,bmi,target\n1,2," + b"9" * 200_000 + b"\n"),
     "raw.csv: line 2: a field of 200000 characters, over the limit of 131072"),
    ("data file", "a header of 100,000 columns",
     data_file("raw.csv", b",".join(b"c%d" % i for i in range(100_000)) + b",target\n"),
     "raw.csv: line 1: 100001 columns, over the limit of 10000"),
    ("data file", "unsupported format (`.txt`)",
     lambda tmp_path: read_table(tmp_path / "raw.txt"),
     "raw.txt: unsupported table format '.txt'; use .csv or .parquet"),
    ("data file", "file not found", data_file("../elsewhere/raw.csv", None),
     "raw.csv: file not found (generate.csv.path)"),
    ("data file", "a damaged Parquet file (cut short: no footer)",
     lambda tmp_path: read_table(damaged_parquet(tmp_path)),
     "train.parquet: cannot read it as Parquet: Could not open Parquet input source"),
    ("data file", "a damaged raw Parquet file that prepare reads (cut short)",
     lambda tmp_path: Table(damaged_parquet(tmp_path), 100),
     "train.parquet: cannot read it as Parquet: Parquet magic bytes not found"),
    ("data file", "a missing number in a split that train or evaluate reads",
     split_with_missing_number,
     "train.parquet: column 'bmi' holds a missing or infinite value"),
    ("data file", "a folder where a file is expected (a Dask output)",
     lambda tmp_path: read_table(parquet_folder(tmp_path)),
     "train.parquet: a folder, not a file"),
    ("data file", "a one-row test split under `generate.current.shift_sd`",
     lambda tmp_path: make_current_batch(
         load_diabetes_frame().iloc[:1], n_samples=5, shift_sd={"bmi": 1.0}, random_state=0
     ),
     "generate.current.shift_sd.bmi: one number only, no spread"),
    ("data file", "empty file", data_file("raw.csv", b""),
     "raw.csv: the file is empty; expected a header line and data rows"),
    ("data file", "header only", data_file("raw.csv", b"age,bmi,target\n"),
     "raw.csv: header only, no data rows"),
    ("data file", "no target column", data_file("raw.csv", b"age,bmi\n1,2\n"),
     "raw.csv: no target column 'target' (prepare.target); columns: ['age', 'bmi']"),
    ("data file", "duplicated column names", data_file("raw.csv", b"age,age,target\n1,2,3\n"),
     "raw.csv: duplicated column name(s) at header positions {'age': [0, 1]}"),
    ("data file", "another delimiter than the comma",
     data_file("raw.csv", b"age;bmi;target\n1;2;3\n"),
     "the file looks ';'-separated; expected commas"),
    ("data file", "not UTF-8", data_file("raw.csv", b"age,bmi,target\n\xff\xfe,1,2\n"),
     "raw.csv: not UTF-8 text: byte b'\\xff' at line 2; save the file as UTF-8"),
    ("data file", "ragged CSV rows", data_file("raw.csv", b"age,bmi,target\n1,2,3\n1,2,3,4,5\n"),
     "raw.csv: cannot parse as CSV: Error tokenizing data"),
    ("data file", "a JSON file (training statistics) that is not JSON",
     broken_json,
     "stats.json: not valid JSON"),
    ("model file", "model file missing", lambda tmp_path: load_model(tmp_path / "m.joblib"),
     "m.joblib: model file not found (run `dvc repro` or `dvc checkout`)"),
    ("model file", "model file swapped (SHA-256 differs from the model card's)",
     lambda tmp_path: load_model(written_model(tmp_path), sha256="0" * 64),
     "ridge.joblib: refusing to load: sha256"),
    ("model file", "model file swapped (MD5 differs from dvc.lock's)",
     lambda tmp_path: load_model(written_model(tmp_path), md5="0" * 32),
     "ridge.joblib: refusing to load: md5"),
    ("model file", "model not recorded in dvc.lock", lock_without_the_model,
     "svm.joblib: no hash recorded in"),
    ("output", "output folder not writable (read-only, or a file in its place)",
     unwritable_output, "models/ridge.joblib: cannot write here: File exists"),
]

# Command-line arguments: argparse refuses them (status 2, usage and the reason on stderr).
CLI_CASES = [
    ("CLI arguments", "unknown model section: `stages/train.py train_svm ...`",
     ["stages/train.py", "train_svm", "--train", "t.csv", "--out-model", "m", "--out-metrics", "j"],
     "argument section: invalid choice: 'train_svm' (choose from 'train_ols', 'train_ridge', "
     "'train_lasso')"),
    ("CLI arguments", "a required path missing: `stages/drift.py` without `--current`",
     ["stages/drift.py", "--train", "t.csv", "--stats", "s.json", "--out-metrics", "d.json"],
     "the following arguments are required: --current"),
]
# fmt: on


@pytest.mark.parametrize(
    ("kind", "bad_input", "trigger", "expected"), CASES, ids=[case[1] for case in CASES]
)
def test_bad_input_is_refused_with_a_message(
    tmp_path: Path, kind: str, bad_input: str, trigger: Callable, expected: str
) -> None:
    with pytest.raises(UserError) as raised:
        trigger(tmp_path)
    assert expected in str(raised.value)


@pytest.mark.process
@pytest.mark.parametrize(
    ("kind", "bad_input", "argv", "expected"), CLI_CASES, ids=[case[1] for case in CLI_CASES]
)
def test_bad_command_line_is_refused_with_usage(
    kind: str, bad_input: str, argv: list[str], expected: str
) -> None:
    result = subprocess.run([sys.executable, *argv], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 2
    assert expected in result.stderr
    assert "Traceback" not in result.stderr


def test_tests_readme_lists_every_bad_input() -> None:
    readme = (ROOT / "tests/README.md").read_text()
    rows = set(re.findall(r"^\| [^|]+ \| (.+?) \|", readme, flags=re.MULTILINE))
    assert [case[1] for case in [*CASES, *CLI_CASES] if case[1] not in rows] == []
