"""Each stage imports what it uses and no more (issue 18's pipeline overhead: eight processes
pay their imports separately), and skops' trust is the project's allowlist alone."""

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import skops.io
from sklearn.datasets import load_diabetes
from sklearn.linear_model import HuberRegressor
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from regpipe.data import load_diabetes_frame, split_indices, split_permutation
from regpipe.errors import UserError
from regpipe.io import load_safe_model
from tests.helpers import command_env

ROOT = Path(__file__).resolve().parents[1]

# What a stage script imports before its main() runs (its `--help` exits there): the heavy
# libraries only where a stage uses them at every run; the rest is imported inside the
# functions that need it (the contract's pandera schema, the Dask engine, skops).
MODULE_LEVEL_FORBIDDEN = {
    "generate": {"sklearn", "scipy", "skops", "pandera", "dask", "distributed"},
    "prepare": {"sklearn", "scipy", "skops", "pandera", "dask", "distributed"},
    "current": {"sklearn", "scipy", "skops", "pandera", "dask", "distributed"},
    "train": {"skops", "pandera", "dask", "distributed"},
    "evaluate": {"skops", "pandera", "dask", "distributed"},
    "drift": {"sklearn", "skops", "pandera", "dask", "distributed"},
}


# What a whole run of the stage (Diabetes, default params, the contract present) must not
# import: scikit-learn and SciPy cost ~2 s of CPU per process, so only the stages that fit,
# score or load a model pay them.
RUN_FORBIDDEN = {
    "generate": {"sklearn", "scipy", "skops", "pandera", "dask", "distributed"},
    "prepare": {"sklearn", "scipy", "skops", "dask", "distributed"},
}


def imported_after(code: str, cwd: Path = ROOT) -> set[str]:
    """Every module a fresh interpreter has loaded after running ``code`` in ``cwd``."""
    done = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys\nprint(*sys.modules, sep='\\n')"],
        cwd=cwd,
        env=command_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    return set(done.stdout.split())


@pytest.mark.process
@pytest.mark.parametrize("stage", sorted(MODULE_LEVEL_FORBIDDEN))
def test_a_stage_script_imports_no_library_it_only_sometimes_uses(stage: str) -> None:
    argv = ["train_ols", "--help"] if stage == "train" else ["--help"]
    loaded = imported_after(
        "import runpy, sys\n"
        f"sys.argv = ['{stage}.py', *{argv!r}]\n"
        "try:\n"
        f"    runpy.run_path('stages/{stage}.py', run_name='__main__')\n"
        "except SystemExit:\n"
        "    pass"
    )
    assert "regpipe.params" in loaded  # the script's own imports did run
    top_level = {name.partition(".")[0] for name in loaded}
    assert not top_level & MODULE_LEVEL_FORBIDDEN[stage]


def run_stage(script: str, *argv: str) -> str:
    """Python code running ``stages/<script>`` with ``argv`` as its command line."""
    return (
        "import runpy, sys\n"
        f"sys.argv = ['{script}', *{list(argv)!r}]\n"
        f"runpy.run_path({str(ROOT / 'stages' / script)!r}, run_name='__main__')"
    )


@pytest.mark.process
def test_generate_and_prepare_run_without_scikit_learn(tmp_path: Path) -> None:
    for name in ("params.yaml", "data_contract.yaml"):
        shutil.copy(ROOT / name, tmp_path)
    generated = imported_after(
        run_stage("generate.py", "--out-data", "raw.parquet", "--out-truth", "truth.json"),
        tmp_path,
    )
    prepared = imported_after(
        run_stage(
            "prepare.py",
            *("--data", "raw.parquet", "--contract", "data_contract.yaml"),
            *("--out-train", "train.parquet", "--out-test", "test.parquet"),
            *("--out-stats", "stats.json", "--out-quality", "quality.json"),
        ),
        tmp_path,
    )
    assert pd.read_parquet(tmp_path / "raw.parquet").shape == (442, 11)
    assert len(pd.read_parquet(tmp_path / "test.parquet")) == 89  # the run went to its end
    for stage, loaded in (("generate", generated), ("prepare", prepared)):
        top_level = {name.partition(".")[0] for name in loaded}
        assert not top_level & RUN_FORBIDDEN[stage], stage


def test_the_diabetes_source_is_scikit_learns_load_diabetes() -> None:
    expected = load_diabetes(as_frame=True).frame
    pd.testing.assert_frame_equal(load_diabetes_frame(), expected, check_exact=True)
    renamed = load_diabetes_frame("progression")
    assert list(renamed.columns) == [*expected.columns[:-1], "progression"]
    np.testing.assert_array_equal(renamed.to_numpy(), expected.to_numpy())


@pytest.mark.parametrize("n_rows", [10, 99, 442, 1001, 54_321])
@pytest.mark.parametrize("test_size", [0.1, 0.2, 0.25, 1 / 3, 0.5, 0.7])
@pytest.mark.parametrize("random_state", [0, 42, 2**32 - 1])
def test_the_split_is_scikit_learns_train_test_split(
    n_rows: int, test_size: float, random_state: int
) -> None:
    train, test = split_indices(n_rows, test_size=test_size, random_state=random_state)
    expected_train, expected_test = train_test_split(
        np.arange(n_rows), test_size=test_size, random_state=random_state
    )
    np.testing.assert_array_equal(train, expected_train, strict=True)
    np.testing.assert_array_equal(test, expected_test, strict=True)
    # prepare's form: the same permutation held in 4 bytes a row, test rows first
    permutation, n_test = split_permutation(n_rows, test_size=test_size, random_state=random_state)
    assert permutation.dtype == np.int32 and n_test == len(expected_test)
    np.testing.assert_array_equal(permutation, np.r_[expected_test, expected_train])


@pytest.mark.process
def test_saving_and_loading_a_safe_model_does_not_walk_scikit_learn(tmp_path: Path) -> None:
    loaded = imported_after(
        "import numpy as np, pandas as pd\n"
        "from regpipe.io import load_safe_model, save_safe_model\n"
        "from regpipe.models import make_pipeline\n"
        "X = pd.DataFrame({'a': np.arange(10.0), 'b': np.arange(10.0) ** 2})\n"
        "model = make_pipeline('ridge', alpha=1.0).fit(X, 2 * X['a'])\n"
        f"save_safe_model(model, {str(tmp_path / 'm.skops')!r})\n"
        f"load_safe_model({str(tmp_path / 'm.skops')!r})\n"
        "import sklearn.utils, sklearn.utils.discovery\n"
        "assert sklearn.utils.all_estimators is sklearn.utils.discovery.all_estimators"
    )
    assert "skops.io" in loaded
    # all_estimators() imports every scikit-learn module, and dask.array through
    # sklearn.externals.array_api_compat: none of those is loaded.
    assert not {"sklearn.gaussian_process", "sklearn.neural_network", "dask"} & loaded


def fitted(model: Pipeline) -> Pipeline:
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(40, 3)), columns=["a", "b", "c"])
    return model.fit(X, X["a"] - 2 * X["b"] + rng.normal(size=40))


def test_a_pipeline_holding_another_scikit_learn_estimator_is_refused(tmp_path: Path) -> None:
    # skops trusts every scikit-learn estimator by default (this module imported skops.io before
    # regpipe did, as a user's notebook may); the project's allowlist does not.
    path = tmp_path / "huber.skops"
    path.write_bytes(
        skops.io.dumps(
            fitted(Pipeline([("scaler", StandardScaler()), ("model", HuberRegressor())]))
        )
    )
    with pytest.raises(UserError, match="outside the allowlist.*HuberRegressor"):
        load_safe_model(path)
