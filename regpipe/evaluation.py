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


def plot_sample(
    predictions: pd.DataFrame, y_test: pd.Series, *, max_points: int, random_state: int = 0
) -> pd.DataFrame:
    """Actual vs predicted per model, at most ``max_points`` rows so the plot stays light."""
    frame = predictions.drop(columns=BASELINE).assign(actual=y_test.to_numpy())
    if len(frame) > max_points:
        frame = frame.sample(n=max_points, random_state=random_state).sort_index()
    # Rounded so last-bit float noise never changes the file (and so its hash in dvc.lock).
    return frame[["actual", *frame.columns.drop("actual")]].round(6)
