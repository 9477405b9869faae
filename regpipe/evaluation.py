"""Test-set metrics for the trained models and a mean-predictor baseline, and the champion."""

import numpy as np
import pandas as pd
from sklearn.metrics import mean_absolute_error, r2_score, root_mean_squared_error

BASELINE = "baseline"


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
    evaluation: dict,
    training: dict,
    data_sha256: dict[str, str],
) -> dict:
    """What a reviewer or the registry needs to know about the deployable model.

    No git revision or timestamp is written: they would change the file on every commit and
    break byte-for-byte reproducibility; the registry tag that points at this commit adds them.
    """
    coef = training["coef"]
    return {
        "artifact": "champion",
        "model": champion,
        "sha256": sha256,
        "data_sha256": data_sha256,
        "alpha": training["alpha"],
        "cv_rmse_mean": training["cv_rmse_mean"],
        "test_metrics": evaluation["models"][champion],
        "baseline_metrics": evaluation["models"][BASELINE],
        "gate": evaluation["gate"],
        "coef": coef,
        "zero_features": [name for name, value in coef.items() if value == 0.0],
    }


def model_card_markdown(card: dict) -> str:
    gate = "passed" if card["gate"]["passed"] else "FAILED: " + "; ".join(card["gate"]["reasons"])
    rows = "\n".join(f"| {name} | {value:.4g} |" for name, value in card["coef"].items())
    metrics = card["test_metrics"]
    return (
        f"# Model card: {card['artifact']} ({card['model']})\n\n"
        f"- test RMSE {metrics['rmse']:.4g}, MAE {metrics['mae']:.4g}, R² {metrics['r2']:.4g} "
        f"(baseline RMSE {card['baseline_metrics']['rmse']:.4g})\n"
        f"- alpha: {card['alpha']}; CV RMSE {card['cv_rmse_mean']:.4g}\n"
        f"- quality gate: {gate}\n"
        f"- zero coefficients: {', '.join(card['zero_features']) or 'none'}\n"
        f"- model file sha256: `{card['sha256']}`\n\n"
        f"| feature | coefficient (standardised) |\n| --- | --- |\n{rows}\n"
    )


def plot_sample(
    predictions: pd.DataFrame, y_test: pd.Series, *, max_points: int, random_state: int = 0
) -> pd.DataFrame:
    """Actual vs predicted per model, at most ``max_points`` rows so the plot stays light."""
    frame = predictions.drop(columns=BASELINE).assign(actual=y_test.to_numpy())
    if len(frame) > max_points:
        frame = frame.sample(n=max_points, random_state=random_state).sort_index()
    # Rounded so last-bit float noise never changes the file (and so its hash in dvc.lock).
    return frame[["actual", *frame.columns.drop("actual")]].round(6)
