"""Test-set metrics for the trained models and a mean-predictor baseline, and the champion.

Also what the test number alone does not show: cross-validated metrics on the training split,
and the bias²/variance/noise decomposition of each model's test error by bootstrap refits.
Every fit here sees training rows only; the test split is only ever predicted.
"""

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.dummy import DummyRegressor
from sklearn.linear_model import LinearRegression
from sklearn.metrics import mean_absolute_error, r2_score, root_mean_squared_error
from sklearn.model_selection import KFold, cross_validate

BASELINE = "baseline"
CV_SCORING = {"rmse": "neg_root_mean_squared_error", "mae": "neg_mean_absolute_error", "r2": "r2"}


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    return {
        "rmse": float(root_mean_squared_error(y_true, y_pred)),
        "mae": float(mean_absolute_error(y_true, y_pred)),
        "r2": float(r2_score(y_true, y_pred)),
    }


def predict_all(
    models: dict[str, object], X_test: pd.DataFrame, *, train_target_mean: float
) -> pd.DataFrame:
    """One column of test predictions per model, plus the baseline that predicts the train mean."""
    predictions = pd.DataFrame({name: model.predict(X_test) for name, model in models.items()})
    predictions[BASELINE] = train_target_mean
    return predictions


def pick_champion(metrics: dict[str, dict[str, float]], order: list[str]) -> str:
    """The lowest test RMSE; on a tie, the model earlier in ``order`` (simpler first)."""
    return min(order, key=lambda name: (metrics[name]["rmse"], order.index(name)))


def evaluate(predictions: pd.DataFrame, y_test: pd.Series, model_order: list[str]) -> dict:
    """The metrics for every column of ``predictions`` and the champion among ``model_order``."""
    metrics = {
        name: regression_metrics(y_test.to_numpy(), predictions[name].to_numpy())
        for name in predictions.columns
    }
    return {"models": metrics, "champion": pick_champion(metrics, model_order)}


def cv_metrics(
    models: dict[str, object], X_train: pd.DataFrame, y_train: pd.Series, *, cv: KFold
) -> dict[str, dict[str, float | None]]:
    """Mean RMSE, MAE and R² over ``cv``'s folds of each model refitted at its chosen alpha,
    and of the mean-predictor baseline.

    The alphas were chosen on these same folds, so these are slightly optimistic: the test
    split is the unbiased number, the CV numbers show how stable the model is across folds.
    R² is None when a validation fold holds a single row: its R² is undefined.
    """
    r2_defined = len(X_train) // cv.get_n_splits() >= 2
    candidates = {**models, BASELINE: DummyRegressor(strategy="mean")}
    result = {}
    for name, model in candidates.items():
        scores = cross_validate(model, X_train, y_train, cv=cv, scoring=CV_SCORING)
        result[name] = {
            "rmse": float(-scores["test_rmse"].mean()),
            "mae": float(-scores["test_mae"].mean()),
            "r2": float(scores["test_r2"].mean()) if r2_defined else None,
        }
    return result


def noise_variance(design: np.ndarray, y_train: pd.Series) -> float:
    """The irreducible error σ², estimated as OLS's unbiased residual variance RSS / (n - rank).

    ``design`` is the model's encoded training matrix (one-hot levels, numbers), not the raw
    columns. The degrees of freedom count the intercept and the independent columns only, so a
    one-hot block (its levels sum to the intercept) is not counted twice. It assumes the truth
    is linear in the features with additive noise; under that assumption it is the same for
    every model, so the decomposition below compares models fairly.
    """
    design = np.asarray(design, dtype=np.float64)
    residuals = y_train - LinearRegression().fit(design, y_train).predict(design)
    rank = np.linalg.matrix_rank(design - design.mean(axis=0)) + 1
    if len(design) <= rank:
        return float("nan")  # as many parameters as rows: no residual left to measure σ²
    return float(residuals @ residuals / (len(design) - rank))


def bias_variance(
    model: object,
    X_train: pd.DataFrame,
    y_train: pd.Series,
    X_test: pd.DataFrame,
    y_test: pd.Series,
    *,
    n_bootstrap: int,
    random_state: int,
    noise: float,
) -> dict[str, float]:
    """The test MSE of ``model`` split into bias², variance and noise by bootstrap refits.

    Each of ``n_bootstrap`` refits (alpha fixed at the chosen one) sees a resample of the
    training rows; the same seed gives every model the same resamples. Per test row, variance
    is the spread of the refits' predictions and (mean prediction - y)² is bias² + noise, so
    ``expected_mse = bias_sq + variance + noise`` holds exactly with ``noise`` from
    :func:`noise_variance`. bias² is what is left of ``bias_sq_plus_noise`` after the noise
    estimate, so it carries that estimate's sampling error (about sqrt(2 / (n - p - 1)) of
    σ², 8% on Diabetes): a small negative bias² means "below what this data can resolve".
    """
    rng = np.random.default_rng(random_state)
    predictions = np.empty((n_bootstrap, len(X_test)))
    for b in range(n_bootstrap):
        rows = rng.integers(0, len(X_train), size=len(X_train))
        refit = clone(model).fit(X_train.iloc[rows], y_train.iloc[rows])
        predictions[b] = refit.predict(X_test)
    y = y_test.to_numpy()
    squared_bias_and_noise = float(np.mean((predictions.mean(axis=0) - y) ** 2))
    return {
        "expected_mse": float(np.mean((predictions - y) ** 2)),
        "bias_sq_plus_noise": squared_bias_and_noise,
        "bias_sq": squared_bias_and_noise - noise,
        "variance": float(np.mean(predictions.var(axis=0))),
        "noise": noise,
    }


def quality_gate(
    metrics: dict[str, dict[str, float]], champion: str, *, min_improvement: float, min_r2: float
) -> dict:
    """May the champion ship? Its test RMSE must beat the baseline's by ``min_improvement``
    (a fraction: 0.1 means at least 10% lower) and its R² must reach ``min_r2``."""
    rmse, baseline_rmse = metrics[champion]["rmse"], metrics[BASELINE]["rmse"]
    r2 = metrics[champion]["r2"]
    improvement = 1.0 - rmse / baseline_rmse
    reasons = []
    if improvement < min_improvement:
        reasons.append(
            f"test RMSE {rmse:.4g} is {improvement:.1%} below the baseline's {baseline_rmse:.4g}; "
            f"the gate asks for {min_improvement:.1%}"
        )
    if r2 < min_r2:
        reasons.append(f"test R² {r2:.4g} is below the floor {min_r2:.4g}")
    return {
        "passed": not reasons,
        "reasons": reasons,
        "improvement_over_baseline": improvement,
        "min_improvement": min_improvement,
        "min_r2": min_r2,
    }


def model_card(
    *,
    champion: str,
    sha256: str,
    skops_sha256: str,
    evaluation: dict,
    training: dict,
    data_sha256: dict[str, str],
) -> dict:
    """What a reviewer or the registry needs to know about the deployable model.

    No git revision or timestamp is written: they would change the file on every commit and
    break byte-for-byte reproducibility; the registry tag that points at this commit adds them.
    ``sha256`` is the joblib's (the scikit-learn artifact), ``skops_sha256`` the skops file's
    (the form that is served).
    """
    coef = training["coef"]
    return {
        "artifact": "champion",
        "model": champion,
        "sha256": sha256,
        "skops_sha256": skops_sha256,
        "data_sha256": data_sha256,
        "alpha": training["alpha"],
        "cv_rmse_mean": training["cv_rmse_mean"],
        "test_metrics": evaluation["models"][champion],
        "baseline_metrics": evaluation["models"][BASELINE],
        "gate": evaluation["gate"],
        "cv_metrics": evaluation["cv"][champion],
        "n_bootstrap": evaluation["n_bootstrap"],
        "bias_variance": evaluation["bias_variance"][champion],
        "leaderboard": leaderboard(evaluation),
        "coef": coef,
        "zero_features": [name for name, value in coef.items() if value == 0.0],
    }


def leaderboard(evaluation: dict) -> list[dict]:
    """Every model and the baseline, best test RMSE first: test and CV metrics, bias², variance."""
    rows = [
        {
            "model": name,
            **{f"test_{key}": value for key, value in test.items()},
            **{f"cv_{key}": value for key, value in evaluation["cv"][name].items()},
            **evaluation["bias_variance"].get(name, {}),
        }
        for name, test in evaluation["models"].items()
    ]
    return sorted(rows, key=lambda row: row["test_rmse"])


def model_card_markdown(card: dict) -> str:
    gate = "passed" if card["gate"]["passed"] else "FAILED: " + "; ".join(card["gate"]["reasons"])
    rows = "\n".join(f"| {name} | {value:.4g} |" for name, value in card["coef"].items())
    metrics = card["test_metrics"]
    columns = ["test_rmse", "test_mae", "test_r2", "cv_rmse", "cv_r2", "bias_sq", "variance"]
    board = "\n".join(
        f"| {row['model']} | "
        + " | ".join(f"{row[key]:.4g}" if row.get(key) is not None else "" for key in columns)
        + " |"
        for row in card["leaderboard"]
    )
    return (
        f"# Model card: {card['artifact']} ({card['model']})\n\n"
        f"- test RMSE {metrics['rmse']:.4g}, MAE {metrics['mae']:.4g}, R² {metrics['r2']:.4g} "
        f"(baseline RMSE {card['baseline_metrics']['rmse']:.4g})\n"
        f"- alpha: {card['alpha']}; CV RMSE {card['cv_rmse_mean']:.4g}\n"
        f"- quality gate: {gate}\n"
        f"- zero coefficients: {', '.join(card['zero_features']) or 'none'}\n"
        f"- model file sha256: `{card['sha256']}` (joblib), `{card['skops_sha256']}` (skops)\n\n"
        f"| feature | coefficient (standardised) |\n| --- | --- |\n{rows}\n\n"
        f"## Leaderboard (best test RMSE first)\n\n"
        f"| model | {' | '.join(columns)} |\n|{' --- |' * (len(columns) + 1)}\n{board}\n\n"
        f"bias² + variance + noise = expected test MSE over {card['n_bootstrap']} bootstrap "
        f"refits on the training split; noise {card['bias_variance']['noise']:.4g} is OLS's "
        f"residual variance (a linear truth assumed), so bias² can come out slightly negative.\n\n"
        f"No git revision or date in this card: it must stay byte-for-byte reproducible; the "
        f"registry's tag for the commit that holds this card names the revision.\n"
    )


def residual_sample(sample: pd.DataFrame) -> pd.DataFrame:
    """Long format (model, predicted, residual) of :func:`plot_sample`'s rows, for a scatter."""
    long = sample.melt(id_vars="actual", var_name="model", value_name="predicted")
    long["residual"] = (long["actual"] - long["predicted"]).round(6)
    return long[["model", "predicted", "residual"]]


def plot_sample(
    predictions: pd.DataFrame, y_test: pd.Series, *, max_points: int, random_state: int = 0
) -> pd.DataFrame:
    """Actual vs predicted per model, at most ``max_points`` rows so the plot stays light."""
    frame = predictions.drop(columns=BASELINE).assign(actual=y_test.to_numpy())
    if len(frame) > max_points:
        frame = frame.sample(n=max_points, random_state=random_state).sort_index()
    # Rounded so last-bit float noise never changes the file (and so its hash in dvc.lock).
    return frame[["actual", *frame.columns.drop("actual")]].round(6)
