"""Concept drift: the champion's error on the current batch against its test error."""

import math
from collections.abc import Iterable

import numpy as np
import pandas as pd

from regpipe.reports import ConceptDrift

MAX_BOOTSTRAP_ROWS = 100_000


def _finite_numbers(values: pd.Series) -> pd.Series:
    numbers = pd.to_numeric(values, errors="coerce").astype(float)
    return numbers.where(np.isfinite(numbers))


def concept_rows(
    current: pd.DataFrame, features: list[str], target: str, numeric: Iterable[str] = ()
) -> tuple[pd.DataFrame | None, np.ndarray | None, str | None]:
    """The rows concept drift is measured on (target and every feature present), or why none.

    The ``numeric`` features (those the model reads as numbers: the training statistics'
    numeric kind) must hold finite numbers: a batch with text or +-inf in such a column (a
    CSV of your own; data drift reports them as out of range) is measured on its other rows,
    where the champion would refuse the whole batch.
    """
    if target not in current.columns:
        return None, None, f"the current batch has no {target!r} column"
    absent = [column for column in features if column not in current.columns]
    if absent:
        return None, None, f"feature(s) {absent} absent from the current batch"
    X = current[features].copy()
    for column in set(numeric) & set(features):
        X[column] = _finite_numbers(X[column])
    y = _finite_numbers(current[target]).to_numpy(dtype=float, na_value=np.nan)
    complete = X.notna().all(axis=1).to_numpy() & np.isfinite(y)
    if not complete.any():
        return None, None, "no row has the target and every feature"
    return X.loc[complete], y[complete], None


def champion_predictions(model: object, X: pd.DataFrame) -> tuple[np.ndarray | None, str | None]:
    """The champion's predictions on ``X``, or why it could not make them: scikit-learn refuses
    a whole batch whose scaled values overflow (a feature near 1e308), named instead of a
    traceback that would lose the data drift report."""
    try:
        with np.errstate(over="ignore", invalid="ignore"):  # the overflow is the reason below
            return model.predict(X), None
    except ValueError as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else "ValueError"
        return None, f"the champion cannot score the batch: {reason}"


def concept_drift(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    *,
    test_rmse: float,
    max_rmse_increase: float,
    n_bootstrap: int,
    confidence: float,
    random_state: int,
) -> ConceptDrift:
    """The champion's RMSE on the current batch against its test RMSE, with a bootstrap interval.

    Drift when even the interval's lower end is above the test RMSE by more than
    ``max_rmse_increase`` (a fraction): the model is then reliably worse than when it was chosen.

    Above ``MAX_BOOTSTRAP_ROWS`` rows the bootstrap resamples a seeded subsample of that size and
    narrows the spread by sqrt(m / n) (the m-out-of-n bootstrap of a mean), so a batch of 1e7
    rows costs what one of 1e5 does.
    """
    squared_error = (np.asarray(y_true, float) - np.asarray(y_pred, float)) ** 2
    squared_error = squared_error[np.isfinite(squared_error)]
    n = len(squared_error)
    if n == 0:
        return ConceptDrift(drift=None, reason="no rows with a finite target and prediction")
    rng = np.random.default_rng(random_state)
    sample = (
        squared_error if n <= MAX_BOOTSTRAP_ROWS else rng.choice(squared_error, MAX_BOOTSTRAP_ROWS)
    )
    m = len(sample)
    means = np.array([sample[rng.integers(0, m, m)].mean() for _ in range(n_bootstrap)])
    means = squared_error.mean() + (means - sample.mean()) * math.sqrt(m / n)
    tail = (1 - confidence) / 2
    low, high = np.sqrt(np.maximum(np.quantile(means, [tail, 1 - tail]), 0.0))
    limit = test_rmse * (1 + max_rmse_increase)
    return ConceptDrift(
        drift=bool(low > limit),
        rmse_current=float(np.sqrt(squared_error.mean())),
        rmse_interval=(float(low), float(high)),
        confidence=confidence,
        rmse_test=test_rmse,
        rmse_limit=limit,
        n_rows=len(squared_error),
    )
