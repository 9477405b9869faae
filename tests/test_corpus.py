"""Real tables a user might bring, end to end: each through the real `dvc repro` in a temporary
clone with only the README's steps for your own CSV (generate.source: csv, its path,
prepare.target, delete data_contract.yaml, no drift scenario), plus the policy keys the data
needs. Test RMSE per model must equal an independent scikit-learn Pipeline + GridSearchCV on
the same split, and a batch of held-out rows must show no dataset drift. One table (Hitters:
missing targets, text columns) runs the real `dvc repro`; the others run the same stage
commands in this process (tests/stages.py), which is the numbers without eight interpreters
starting per table.

The tables ship inside PyPI packages (requirements-corpus.txt): ISLP's CSV files and
palmerpenguins', read from the installed folders, never downloaded. A synthetic table with two
categorical columns also goes through serving and batch prediction.
"""

import importlib.metadata
import json
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.compose import ColumnTransformer, make_column_selector
from sklearn.linear_model import Lasso, LassoLars, LinearRegression, Ridge
from sklearn.metrics import root_mean_squared_error
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from tests.helpers import clone_working_tree, commit_all, edit_params, sh
from tests.serving import running_server
from tests.stages import run_stages_in_process

pytestmark = [pytest.mark.pipeline, pytest.mark.slow]

# The default scenario names a Diabetes column: a user's own data starts with none.
NO_SCENARIO = {
    f"generate.current.{key}": {}
    for key in ("shift_sd", "scale", "category_proportions", "missing_rate")
} | {"generate.current.relabel": None}
# Fewer bootstrap refits than the default 100: the decomposition is not what these tests check,
# and it is most of evaluate's time on small tables.
LEAN = {"evaluate.n_bootstrap": 20}
# 25 alphas instead of 100 on the same ranges: the independent GridSearchCV refits the pipeline
# for every (fold, alpha), 500 fits per table instead of 2000.
GRID = {"train_ridge.alpha_grid.num": 25, "train_lasso.alpha_grid.num": 25}
# name: (package, file inside it, target, params beyond the README's steps the table needs)
CORPUS = {
    # 59 missing targets (fixed: rows dropped), three text columns
    "Hitters": ("islp", "ISLP/data/Hitters.csv", "Salary", {"prepare.on_violation.target": "fix"}),
    "Carseats": ("islp", "ISLP/data/Carseats.csv", "Sales", {}),
    # an integer ID column (a row counter: left out), labels with stray spaces (" Male")
    "Credit": ("islp", "ISLP/data/Credit.csv", "Balance", {}),
    # a text name column with 301 levels: refused unless listed in drop_columns
    "Auto": ("islp", "ISLP/data/Auto.csv", "mpg", {"prepare.drop_columns": ["name"]}),
    # logwage is the target's logarithm: a leak, dropped; repeated rows are kept
    "Wage": ("islp", "ISLP/data/Wage.csv", "wage", {"prepare.drop_columns": ["logwage"]}),
    "College": ("islp", "ISLP/data/College.csv", "Apps", {}),
    # missing values in features and target
    "penguins": (
        "palmerpenguins",
        "palmerpenguins/data/penguins.csv",
        "body_mass_g",
        {"prepare.on_violation.target": "fix", "prepare.on_violation.missing": "fix"},
    ),
}


# The table that goes through the real `dvc repro`; the others run its stages in this process.
END_TO_END = "Hitters"


def repro_with(repo: Path, changes: dict, *, dvc_repro: bool = True) -> tuple[float, str]:
    """Apply ``changes`` to params.yaml as a user would, delete the contract, run `dvc repro`
    (or, with ``dvc_repro=False``, its stages in this process: their output goes to pytest's
    capture, not the returned text)."""
    edit_params(repo / "params.yaml", changes)
    (repo / "data_contract.yaml").unlink()
    start = time.perf_counter()
    if not dvc_repro:
        run_stages_in_process(repo)
        return time.perf_counter() - start, ""
    result = sh("dvc", "repro", cwd=repo)
    return time.perf_counter() - start, result.stdout + result.stderr


def independent_test_rmse(repo: Path, target: str) -> dict[str, float]:
    """Each model rebuilt with scikit-learn alone on the prepared split, alpha by GridSearchCV."""
    params = yaml.safe_load((repo / "params.yaml").read_text())
    train = pd.read_parquet(repo / "data/prepared/train.parquet")
    test = pd.read_parquet(repo / "data/prepared/test.parquet")
    X, y = train.drop(columns=target), train[target]
    encode = ColumnTransformer(
        [
            (
                "levels",
                OneHotEncoder(drop="first", handle_unknown="ignore", sparse_output=False),
                make_column_selector(dtype_exclude="number"),
            )
        ],
        remainder="passthrough",
    )
    rmse = {}
    for name, estimator in [
        ("ols", LinearRegression()),
        ("ridge", Ridge()),
        # the same objective solved exactly (LARS per fit): on flat CV curves coordinate
        # descent's default tolerance alone can move the argmin one grid step
        ("lasso", LassoLars()),
    ]:
        section = params[f"train_{name}"]
        pipeline = Pipeline([("encode", encode), ("scale", StandardScaler()), ("model", estimator)])
        folds = KFold(n_splits=section["cv"]["n_splits"])
        if name == "ols":
            fitted = pipeline.fit(X, y)
        else:
            grid = section["alpha_grid"]
            alphas = np.logspace(grid["log10_start"], grid["log10_stop"], grid["num"])
            search = GridSearchCV(
                pipeline,
                {"model__alpha": alphas},
                cv=folds,
                scoring="neg_root_mean_squared_error",
            )
            fitted = search.fit(X, y)
            if name == "lasso":  # the shipped model: coordinate descent at that alpha, run
                # to convergence as train's fit from statistics is (not stopped at tol=1e-4)
                chosen = search.best_params_["model__alpha"]
                shipped = Lasso(alpha=chosen, tol=1e-13, max_iter=1_000_000)
                fitted = Pipeline(
                    [("encode", encode), ("scale", StandardScaler()), ("model", shipped)]
                )
                fitted.fit(X, y)
        rmse[name] = root_mean_squared_error(
            test[target], fitted.predict(test.drop(columns=target))
        )
    return rmse


def installed_file(package: str, relative: str) -> Path:
    path = Path(importlib.metadata.distribution(package).locate_file(relative))
    assert path.is_file(), f"{relative} not in the installed {package} (make setup)"
    return path


@pytest.mark.parametrize("name", list(CORPUS))
def test_real_table_through_dvc_repro(
    name: str, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    package, relative, target, needs = CORPUS[name]
    repo = clone_working_tree(tmp_path / "repo")
    (repo / "data/user").mkdir(parents=True)
    shutil.copyfile(installed_file(package, relative), repo / "data/user/table.csv")
    seconds, output = repro_with(
        repo,
        {
            "generate.source": "csv",
            "generate.csv.path": "data/user/table.csv",
            "prepare.target": target,
            **NO_SCENARIO,
            **needs,
            **LEAN,
            **GRID,
        },
        dvc_repro=name == END_TO_END,
    )
    output += "".join(capfd.readouterr())

    evaluation = json.loads((repo / "metrics/evaluate.json").read_text())
    expected = independent_test_rmse(repo, target)
    for model, rmse in expected.items():
        assert evaluation["models"][model]["rmse"] == pytest.approx(rmse, rel=1e-6), model
    drift = json.loads((repo / "metrics/drift.json").read_text())
    assert drift["dataset"]["drift"] is False, drift["dataset"]
    assert drift["concept"]["drift"] in (False, None)
    quality = json.loads((repo / "metrics/data_quality.json").read_text())
    raw = pd.read_csv(repo / "data/user/table.csv")
    print(
        f"\ncorpus {name}: {raw.shape[0]} x {raw.shape[1]}, "
        f"{'dvc repro' if name == END_TO_END else 'stages in process'} {seconds:.1f} s, "
        f"test RMSE "
        + ", ".join(
            f"{m} {evaluation['models'][m]['rmse']:.6g} (sklearn {r:.6g})"
            for m, r in expected.items()
        )
        + f"; drift {drift['dataset']['n_drifted']}/{drift['dataset']['n_tested']} columns, "
        f"dataset drift {drift['dataset']['drift']}; left out {quality['columns_left_out']}; "
        f"repeated rows kept {quality['repeated_rows_kept']}"
    )
    if name == "Credit":
        assert "prepare: column 'ID' left out of the features" in output
        assert quality["columns_left_out"] == {
            "ID": "identifier-like: a row counter: each integer 1..400 once"
        }
    if name == "Hitters":
        assert quality["fixes"]["dropped_rows"]["target"] == raw[target].isna().sum()


@pytest.mark.service
def test_categorical_columns_through_every_stage(tmp_path: Path) -> None:
    """Synthetic data with two text columns: repro, model card, plots, drift (data and concept,
    with and without a scenario), the real service and batch prediction."""
    import joblib

    repo = clone_working_tree(tmp_path / "repo")
    # 2,500 rows: a reference (training split) above drift.small_reference with a current batch
    # below it, where Evidently's rule alone would pick distances that alarm on sampling noise
    synthetic = {"n_samples": 2500, "n_categorical": 2, "n_levels": 3}
    repro_with(
        repo,
        {
            "generate.source": "synthetic",
            **{f"generate.synthetic.{key}": value for key, value in synthetic.items()},
            **NO_SCENARIO,
            **LEAN,
        },
    )
    commit_all(repo, "the synthetic pipeline with categoricals")  # --workspace trusts HEAD's card
    card = json.loads((repo / "metrics/model_card.json").read_text())
    assert {"c0_b", "c0_c", "c1_b", "c1_c"} <= set(card["coef"])
    assert card["bias_variance"]["noise"] == pytest.approx(1.0, rel=0.15), "noise sd 1 in truth"
    contract = yaml.safe_load((repo / "data_contract.yaml").read_text())
    assert contract["columns"]["c0"] == {
        "type": "categorical",
        "levels": ["a", "b", "c"],
        "max_missing": 0.05,
    }
    # the plot's data (every test row: 200 < evaluate.plot_max_points) is each model's predict
    test = pd.read_parquet(repo / "data/prepared/test.parquet")
    plotted = pd.read_csv(repo / "metrics/plots/predictions.csv")
    np.testing.assert_allclose(plotted["actual"], test["target"], atol=1e-6)
    for name in ("ols", "ridge", "lasso"):
        fitted = joblib.load(repo / f"models/{name}.joblib")
        expected = fitted.predict(test.drop(columns="target"))
        np.testing.assert_allclose(plotted[name], expected, atol=1e-6, err_msg=name)
    drift = json.loads((repo / "metrics/drift.json").read_text())
    assert drift["columns"]["c0"]["type"] == "categorical"
    assert drift["dataset"]["drift"] is False and drift["concept"]["drift"] is False

    # batch prediction and the service take raw labels; both equal the champion's own predict
    model = joblib.load(repo / "models/champion.joblib")
    X = pd.read_csv(repo / "data/prepared/current.csv").drop(columns="target")
    X.to_csv(tmp_path / "features.csv", index=False)  # what a user scores: features, no target
    predict = ["python", "-m", "regpipe.serve", "predict", str(tmp_path / "features.csv")]
    sh(*predict, str(tmp_path / "scored.csv"), "--workspace", cwd=repo)
    scored = pd.read_csv(tmp_path / "scored.csv")
    np.testing.assert_allclose(scored["prediction"], model.predict(X), rtol=1e-9)
    record = X.iloc[0].to_dict()
    with running_server(repo, "--workspace") as client:
        response = client.post("/predict", json=record)
    assert response.status_code == 200, response.text
    assert response.json()["predictions"][0] == pytest.approx(model.predict(X.head(1))[0], rel=1e-9)

    # a level's share moved: data drift on c0; the target relabelled: concept drift
    edit_params(
        repo / "params.yaml",
        {
            "generate.current.category_proportions": {"c0": {"a": 0.8}},
            "generate.current.relabel": {"target": "target", "slope_sd": {"x1": 1.0}},
        },
    )
    result = sh("dvc", "repro", cwd=repo)
    assert "Running stage 'train_ridge'" not in result.stdout
    drift = json.loads((repo / "metrics/drift.json").read_text())
    assert drift["columns"]["c0"]["drift"] is True and drift["columns"]["c1"]["drift"] is False
    assert drift["concept"]["drift"] is True
