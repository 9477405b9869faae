"""The three models, and the cross-validated choice of alpha for Ridge and LASSO.

A model is always ONE scikit-learn Pipeline (StandardScaler + estimator), fitted on the training
split only; during cross-validation the scaler is refitted inside every fold, so no statistic of
a validation fold reaches the fit that is scored on it.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer, make_column_selector
from sklearn.linear_model import Lasso, LinearRegression, Ridge
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

MODEL_NAMES = ("ols", "ridge", "lasso")


ESTIMATORS = {"ols": LinearRegression, "ridge": Ridge, "lasso": Lasso}


def make_encoder() -> ColumnTransformer:
    """One-hot encoding of the non-numeric (categorical) columns; numeric ones pass unchanged.

    Part of the model, so serving takes raw category labels; a level unseen in training is
    encoded as all zeros. With no categorical column the output is X itself, in its order.
    """
    return ColumnTransformer(
        [
            (
                "categorical",
                OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                make_column_selector(dtype_exclude="number"),
            )
        ],
        remainder="passthrough",
        verbose_feature_names_out=False,
    )


def make_pipeline(name: str, **estimator_params: object) -> Pipeline:
    """Encoder, StandardScaler, then the estimator ``name`` built with ``estimator_params``."""
    return Pipeline(
        [
            ("encoder", make_encoder()),
            ("scaler", StandardScaler()),
            ("model", ESTIMATORS[name](**estimator_params)),
        ]
    )


def candidate_alphas(alpha: float | None, alpha_grid: dict | None) -> np.ndarray | None:
    """The alphas to cross-validate: none (OLS), the one fixed ``alpha``, or the log-spaced grid."""
    if alpha is not None:
        return np.array([alpha])
    if alpha_grid is None:
        return None
    return np.logspace(alpha_grid["log10_start"], alpha_grid["log10_stop"], alpha_grid["num"])


def make_folds(n_splits: int, shuffle: bool, random_state: int) -> KFold:
    return KFold(n_splits=n_splits, shuffle=shuffle, random_state=random_state if shuffle else None)


@dataclass(frozen=True)
class TrainResult:
    model: Pipeline
    alpha: float | None
    n_alphas_searched: int
    cv_rmse_mean: float
    cv_rmse_std: float


def fit_with_cv(
    name: str,
    X: pd.DataFrame,
    y: pd.Series,
    *,
    alphas: np.ndarray | None,
    cv: KFold,
    **estimator_params: object,
) -> TrainResult:
    """Fit ``name`` on (X, y), choosing alpha among ``alphas`` by lowest mean CV RMSE.

    With ``alphas=None`` (OLS) nothing is searched but the CV RMSE is still measured, so every
    model reports the same numbers. Ties go to the first alpha of the grid.
    """
    grid = {} if alphas is None else {"model__alpha": list(alphas)}
    search = GridSearchCV(
        make_pipeline(name, **estimator_params),
        grid,
        cv=cv,
        scoring="neg_root_mean_squared_error",
        refit=True,
    ).fit(X, y)
    best = search.best_index_
    return TrainResult(
        model=search.best_estimator_,
        alpha=None if alphas is None else float(search.best_params_["model__alpha"]),
        n_alphas_searched=0 if alphas is None else len(alphas),
        cv_rmse_mean=float(-search.cv_results_["mean_test_score"][best]),
        cv_rmse_std=float(search.cv_results_["std_test_score"][best]),
    )


def coefficients(model: Pipeline) -> dict[str, float]:
    """The estimator's coefficients by input name (one per category level for a categorical
    column, e.g. ``c0_a``), on the standardised scale the model uses."""
    names = model[:-1].get_feature_names_out()
    return dict(zip(names, map(float, model.named_steps["model"].coef_), strict=True))


def train_report(result: TrainResult) -> dict:
    coef = coefficients(result.model)
    return {
        "alpha": result.alpha,
        "n_alphas_searched": result.n_alphas_searched,
        "cv_rmse_mean": result.cv_rmse_mean,
        "cv_rmse_std": result.cv_rmse_std,
        "n_zero_coef": sum(value == 0.0 for value in coef.values()),
        "intercept": float(result.model.named_steps["model"].intercept_),
        "coef": coef,
    }
