"""Model tests: column order, the bias/variance decomposition, the quality gate, no test leakage."""

import json
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
import yaml

from regpipe.evaluation import BASELINE, Rows, design, leaderboard, refit_metrics, residual_sample
from regpipe.io import save_model
from regpipe.models import (
    candidate_alphas,
    fit_encoder,
    fit_with_cv,
    make_encoder,
    make_folds,
    make_pipeline,
)
from regpipe.reports import BiasVariance, Evaluation, Gate, Metrics, report_data
from tests.helpers import edit_params, sh
from tests.test_evaluation_stats import SPLITS, diabetes_split


@pytest.fixture(scope="module")
def split() -> tuple[pd.DataFrame, pd.Series, pd.DataFrame, pd.Series]:
    return diabetes_split()


@pytest.mark.parametrize("name", ["ols", "ridge", "lasso"])
def test_predictions_do_not_depend_on_column_order(name: str, split) -> None:
    X_train, y_train, X_test, _ = split
    alphas = candidate_alphas(None, {"log10_start": -3, "log10_stop": 0, "num": 5})
    model = fit_with_cv(
        name, X_train, y_train, alphas=None if name == "ols" else alphas, cv=make_folds(5, False, 0)
    ).model
    # The encoder takes columns by name: another order or an extra column predicts the same.
    shuffled = X_test[list(reversed(X_test.columns))].assign(extra=1.0)
    np.testing.assert_array_equal(model.predict(shuffled), model.predict(X_test))


def decomposition(models, split, *, n_bootstrap: int, random_state: int) -> dict:
    X_train, y_train, X_test, y_test = split
    return refit_metrics(
        models,
        Rows.from_arrays(design(models, X_train), y_train.to_numpy(float)),
        Rows.from_arrays(design(models, X_test), y_test.to_numpy(float)),
        cv=make_folds(3, False, 0),
        n_bootstrap=n_bootstrap,
        random_state=random_state,
    )["bias_variance"]


def test_variance_shrinks_and_bias_grows_with_alpha(split) -> None:
    """The course's picture, as numbers. (That bias² + variance + noise is the expected MSE holds
    for any refits by construction; the parts themselves are checked against one scikit-learn
    refit per resample in test_evaluation_stats.py.)"""
    X_train, y_train, _, _ = split
    models = {
        str(alpha): fit_with_cv(
            "ridge", X_train, y_train, alphas=np.array([alpha]), cv=make_folds(3, False, 0)
        ).model
        for alpha in (0.01, 1000.0)
    }
    parts = decomposition(models, split, n_bootstrap=20, random_state=0)
    # A heavy penalty trades variance for bias.
    assert parts["1000.0"]["variance"] < parts["0.01"]["variance"]
    assert parts["1000.0"]["bias_sq"] > parts["0.01"]["bias_sq"]


def test_bias_variance_is_seeded(split) -> None:
    X_train, y_train, _, _ = split
    model = fit_with_cv("ols", X_train, y_train, alphas=None, cv=make_folds(3, False, 0)).model
    runs = [decomposition({"ols": model}, split, n_bootstrap=5, random_state=s) for s in (7, 7, 8)]
    assert runs[0] == runs[1] != runs[2]


def test_leaderboard_sorts_by_test_rmse_and_residuals_are_long() -> None:
    def metrics(rmse: float) -> Metrics:
        return Metrics(rmse=rmse, mae=rmse / 2, r2=None)

    def split(variance: float) -> BiasVariance:
        return BiasVariance(
            expected_mse=1.0, bias_sq_plus_noise=1.0, bias_sq=0.0, variance=variance, noise=1.0
        )

    evaluation = Evaluation(
        models={"a": metrics(2.0), "b": metrics(1.0), BASELINE: metrics(3.0)},
        champion="b",
        gate=Gate(
            passed=True, reasons=[], improvement_over_baseline=0.5, min_improvement=0.1, min_r2=0
        ),
        cv={"a": metrics(2.1), "b": metrics(1.1), BASELINE: metrics(3.1)},
        n_bootstrap=5,
        bias_variance={"a": split(0.5), "b": split(0.4)},
    )
    board = [report_data(row) for row in leaderboard(evaluation)]
    assert [row["model"] for row in board] == ["b", "a", BASELINE]
    assert board[0] == {
        "model": "b",
        "test_rmse": 1.0,
        "test_mae": 0.5,
        "test_r2": None,
        "cv_rmse": 1.1,
        "cv_mae": 0.55,
        "cv_r2": None,
        **split(0.4).model_dump(),
    }
    assert set(board[2]) == {
        "model",
        "test_rmse",
        "test_mae",
        "test_r2",
        "cv_rmse",
        "cv_mae",
        "cv_r2",
    }
    sample = pd.DataFrame({"actual": [1.0, 2.0], "m": [1.5, 1.0]})
    residuals = residual_sample(sample)
    assert residuals.to_dict("list") == {
        "model": ["m", "m"],
        "predicted": [1.5, 1.0],
        "residual": [-0.5, 1.0],
    }


def test_the_test_split_never_reaches_a_refit(split) -> None:
    """The CV and bootstrap refits are functions of the training rows: another test split
    (here: its targets shuffled) changes the test-side numbers only."""
    X_train, y_train, X_test, y_test = split
    model = fit_with_cv(
        "ridge", X_train, y_train, alphas=np.array([1.0]), cv=make_folds(3, False, 0)
    )
    models = {"ridge": model.model}
    shuffled = pd.Series(np.random.default_rng(0).permutation(y_test.to_numpy()), y_test.index)
    runs = [
        refit_metrics(
            models,
            Rows.from_arrays(design(models, X_train), y_train.to_numpy(float)),
            Rows.from_arrays(design(models, X_test), target.to_numpy(float)),
            cv=make_folds(4, False, 0),
            n_bootstrap=3,
            random_state=0,
        )
        for target in (y_test, shuffled)
    ]
    assert runs[0]["cv"] == runs[1]["cv"]
    assert runs[0]["bias_variance"]["ridge"]["noise"] == runs[1]["bias_variance"]["ridge"]["noise"]
    assert runs[0]["bias_variance"] != runs[1]["bias_variance"]


def test_no_training_stage_reads_the_test_split(built_repo: Path) -> None:
    stages = yaml.safe_load((built_repo / "dvc.lock").read_text())["stages"]
    readers = sorted(
        name
        for name, stage in stages.items()
        if any(dep["path"] == "data/prepared/test.parquet" for dep in stage.get("deps", []))
    )
    # current cuts the drift stage's held-out batch from the test split; nothing is fitted on it
    assert readers == ["current", "evaluate"]


def test_gate_passes_at_defaults_and_fails_at_an_impossible_margin(
    built_repo: Path, repo_copy: Path
) -> None:
    assert json.loads((built_repo / "metrics/evaluate.json").read_text())["gate"]["passed"] is True

    edit_params(repo_copy / "params.yaml", {"evaluate.gate.min_improvement": 0.99})
    result = sh("dvc", "repro", cwd=repo_copy)  # a failed gate does not fail the pipeline
    assert "quality gate FAILED" in result.stdout
    gate = json.loads((repo_copy / "metrics/evaluate.json").read_text())["gate"]
    assert gate["passed"] is False
    assert "the gate asks for 99.0%" in gate["reasons"][0]


@pytest.mark.parametrize("data", ["diabetes", "categorical"])
@pytest.mark.parametrize("name", ["ols", "ridge", "lasso"])
def test_model_from_statistics_is_sklearns_fit(name: str, data: str, tmp_path: Path) -> None:
    """train fits the shipped Pipeline from sufficient statistics; scikit-learn's own fit on
    the same rows (LASSO run to convergence) gives the same scaler, coefficients, predictions."""
    X, y, X_test, _ = SPLITS[data]()
    alphas = {"ols": None, "ridge": np.array([0.5]), "lasso": np.array([0.05])}[name]
    knobs = {"max_iter": 10**6} if name == "lasso" else {}
    result = fit_with_cv(name, X, y, alphas=alphas, cv=make_folds(4, False, 0), **knobs)
    params = {} if alphas is None else {"alpha": float(alphas[0])}
    if name == "lasso":
        params |= {"tol": 1e-13, "max_iter": 10**6}
    expected = make_pipeline(name, **params).fit(X, y)
    got = result.model
    for attribute in ("mean_", "var_", "scale_", "n_samples_seen_"):
        np.testing.assert_allclose(
            getattr(got["scaler"], attribute), getattr(expected["scaler"], attribute), rtol=1e-10
        )
    scale = np.abs(expected["model"].coef_).max()
    if not (name == "lasso" and data == "categorical"):  # collinear one-hot: coef not unique
        np.testing.assert_allclose(got["model"].coef_, expected["model"].coef_, atol=1e-8 * scale)
    np.testing.assert_allclose(got.predict(X_test), expected.predict(X_test), rtol=1e-8)
    save_model(got, tmp_path / "model.joblib")  # and it loads and predicts as it was saved
    reloaded = joblib.load(tmp_path / "model.joblib")
    np.testing.assert_array_equal(reloaded.predict(X_test), got.predict(X_test))


def test_encoder_from_chunks_is_the_encoder_of_the_whole_table() -> None:
    X, _, X_test, _ = SPLITS["categorical"]()
    X = X.assign(rare=np.where(np.arange(len(X)) == 150, "only_in_a_late_chunk", "common"))
    X_test = X_test.assign(rare="common")

    def frames(columns: list[str] | None = None):
        for start in range(0, len(X), 40):
            yield (
                X.iloc[start : start + 40]
                if columns is None
                else X.iloc[start : start + 40][columns]
            )

    got, expected = fit_encoder(frames), make_encoder().fit(X)
    assert list(got.get_feature_names_out()) == list(expected.get_feature_names_out())
    ours_levels = got.transformers_[0][1].categories_
    for ours, theirs in zip(ours_levels, expected.transformers_[0][1].categories_, strict=True):
        np.testing.assert_array_equal(ours, theirs)
    np.testing.assert_array_equal(got.transform(X_test), expected.transform(X_test))
