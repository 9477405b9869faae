"""evaluate's CV metrics and bootstrap decomposition from sufficient statistics, against the
refits they replace: scikit-learn's cross_validate and one clone().fit per bootstrap resample."""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.dummy import DummyRegressor
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import KFold, cross_validate

from regpipe.data import load_diabetes_frame, split_train_test
from regpipe.evaluation import (
    BASELINE,
    Bootstrap,
    Rows,
    design,
    noise_variance,
    refit_metrics,
)
from regpipe.models import fit_with_cv, make_folds

SCORING = {"rmse": "neg_root_mean_squared_error", "mae": "neg_mean_absolute_error", "r2": "r2"}
ALPHAS = {"ols": None, "ridge": np.array([0.3]), "lasso": np.array([0.02])}


def categorical_split() -> tuple[pd.DataFrame, pd.Series, pd.DataFrame, pd.Series]:
    """Numeric and categorical features, one level so rare that some folds and resamples lack
    it (then a refit's own encoder drops it), and a level seen only in the test split."""
    rng = np.random.default_rng(3)
    n = 260
    X = pd.DataFrame(
        rng.normal(size=(n, 4)) * [1, 10, 0.1, 1] + [0, 50, 0, 0], columns=list("abcd")
    )
    X["colour"] = rng.choice(["red", "green", "blue"], size=n, p=[0.5, 0.46, 0.04])
    X["size"] = rng.choice(["S", "M"], size=n)
    y = 2 * X["a"] - 0.1 * X["b"] + (X["colour"] == "blue") * 3 + rng.normal(size=n)
    X_test = X.iloc[200:].copy()
    X_test.iloc[:5, X.columns.get_loc("size")] = "XL"
    return X.iloc[:200], y.iloc[:200], X_test, y.iloc[200:]


def diabetes_split() -> tuple[pd.DataFrame, pd.Series, pd.DataFrame, pd.Series]:
    train, test = split_train_test(load_diabetes_frame(), test_size=0.2, random_state=42)
    return (
        train.drop(columns="target"),
        train["target"],
        test.drop(columns="target"),
        test["target"],
    )


SPLITS = {"diabetes": diabetes_split, "categorical": categorical_split}


def fitted_models(X: pd.DataFrame, y: pd.Series) -> dict[str, object]:
    cv = make_folds(3, False, 0)
    return {name: fit_with_cv(name, X, y, alphas=a, cv=cv).model for name, a in ALPHAS.items()}


def exact(model: object) -> object:
    """The refit scikit-learn would make, with LASSO's coordinate descent run to convergence."""
    refit = clone(model)
    if "lasso" in type(model.named_steps["model"]).__name__.lower():
        refit.set_params(model__tol=1e-13, model__max_iter=1_000_000)
    return refit


@pytest.mark.heavy
@pytest.mark.parametrize("data", SPLITS)
@pytest.mark.parametrize("chunk_rows", [10**6, 37])
@pytest.mark.parametrize("shuffle", [False, True])
def test_cv_metrics_are_cross_validates(data: str, chunk_rows: int, shuffle: bool) -> None:
    X, y, X_test, y_test = SPLITS[data]()
    models = fitted_models(X, y)
    cv = make_folds(5, shuffle, 7)
    result = refit_metrics(
        models,
        Rows.from_arrays(design(models, X), y.to_numpy(float), chunk_rows),
        Rows.from_arrays(design(models, X_test), y_test.to_numpy(float), chunk_rows),
        cv=cv,
        n_bootstrap=2,
        random_state=0,
    )["cv"]
    oracles = {name: exact(model) for name, model in models.items()}
    oracles[BASELINE] = DummyRegressor()
    assert list(result) == list(oracles)
    for name, oracle in oracles.items():
        scores = cross_validate(oracle, X, y, cv=cv, scoring=SCORING)
        sign = {"rmse": -1, "mae": -1, "r2": 1}
        expected = {key: sign[key] * scores[f"test_{key}"].mean() for key in SCORING}
        for key, value in expected.items():
            assert result[name][key] == pytest.approx(value, rel=1e-8, abs=1e-10), (name, key)


def resampled_oracle(model, X, y, X_test, y_test, counts: np.ndarray, noise: float) -> dict:
    """The decomposition as evaluate computed it before: one refit per resample, predictions."""
    predictions = np.array(
        [
            exact(model).fit(X.iloc[rows], y.iloc[rows]).predict(X_test)
            for rows in (np.repeat(np.arange(len(X)), c) for c in counts)
        ]
    )
    target = y_test.to_numpy()
    squared_bias_and_noise = float(np.mean((predictions.mean(axis=0) - target) ** 2))
    return {
        "expected_mse": float(np.mean((predictions - target) ** 2)),
        "bias_sq_plus_noise": squared_bias_and_noise,
        "bias_sq": squared_bias_and_noise - noise,
        "variance": float(np.mean(predictions.var(axis=0))),
        "noise": noise,
    }


@pytest.mark.heavy
@pytest.mark.parametrize("data", SPLITS)
@pytest.mark.parametrize("chunk_rows", [10**6, 45])
def test_bootstrap_decomposition_is_the_refits(data: str, chunk_rows: int) -> None:
    X, y, X_test, y_test = SPLITS[data]()
    models = fitted_models(X, y)
    train = Rows.from_arrays(design(models, X), y.to_numpy(float), chunk_rows)
    n_bootstrap = 12
    result = refit_metrics(
        models,
        train,
        Rows.from_arrays(design(models, X_test), y_test.to_numpy(float), chunk_rows),
        cv=KFold(3),
        n_bootstrap=n_bootstrap,
        random_state=5,
    )
    assert result["n_bootstrap"] == n_bootstrap
    bootstrap = Bootstrap.draw(train.sizes, n_bootstrap, 5)
    counts = np.array([bootstrap.counts(b, 0, train.n_rows) for b in range(n_bootstrap)])
    assert (counts.sum(axis=1) == len(X)).all()  # every resample has n rows
    noise = result["bias_variance"]["ols"]["noise"]
    for name, model in models.items():
        expected = resampled_oracle(model, X, y, X_test, y_test, counts, noise)
        got = result["bias_variance"][name]
        for key, value in expected.items():
            assert got[key] == pytest.approx(value, rel=1e-8, abs=1e-9), (name, key)


def test_noise_is_ols_residual_variance() -> None:
    X, y, _, _ = diabetes_split()
    residuals = y - LinearRegression().fit(X, y).predict(X)
    expected = residuals @ residuals / (len(X) - X.shape[1] - 1)
    models = fitted_models(X, y)
    got = noise_variance(Rows.from_arrays(design(models, X), y.to_numpy(float), 50))
    assert got == pytest.approx(expected, rel=1e-10)


def test_bootstrap_counts_are_seeded_multinomial() -> None:
    sizes = [400, 400, 200]
    bootstrap = Bootstrap.draw(sizes, 300, 9)
    runs = []
    for order in (range(300), reversed(range(300))):  # a replicate's draw is the same any time
        counts = {b: bootstrap.counts(b, 0, 1000) for b in order}
        runs.append(np.array([counts[b] for b in range(300)]))
    # ...and the same for any cut of the rows (a Dask partition that straddles blocks).
    cut = [
        np.concatenate([bootstrap.counts(b, a, z) for a, z in [(0, 7), (7, 650), (650, 1000)]])
        for b in range(300)
    ]
    runs.append(np.array(cut))
    runs.append(np.array([Bootstrap.draw(sizes, 300, 9).counts(b, 0, 1000) for b in range(300)]))
    for run in runs[1:]:
        np.testing.assert_array_equal(runs[0], run)
    counts = runs[0]
    assert (counts.sum(axis=1) == 1000).all()
    # Multinomial(n, 1/n) per row: mean 1, variance 1 - 1/n; over 3e5 cells the average is
    # within a few standard errors (sd 1 / sqrt(3e5) ≈ 0.002).
    assert counts.mean() == pytest.approx(1.0, abs=1e-12)
    assert counts.var() == pytest.approx(1 - 1 / 1000, abs=0.02)
    # The rows of the last (smaller) chunk are drawn as often as the others'.
    assert counts[:, 800:].mean() == pytest.approx(1.0, abs=0.02)
