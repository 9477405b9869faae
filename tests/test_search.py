"""The fast alpha search against its oracle, GridSearchCV over Pipeline(StandardScaler, model).

The search runs on the encoder's output (numeric columns), so the oracle is the model Pipeline
without its encoder step.
"""

import numpy as np
import pytest
from sklearn.datasets import make_regression
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import Pipeline

from regpipe.data import load_diabetes_frame, split_train_test
from regpipe.models import make_pipeline
from regpipe.search import choose_alpha, search_alpha

# The grids of params.yaml, thinned so the oracle's hundreds of refits stay quick.
GRIDS = {"ols": None, "ridge": np.logspace(-3, 2, 12), "lasso": np.logspace(-3, 0, 12)}
ESTIMATOR_PARAMS = {"ols": {}, "ridge": {}, "lasso": {"max_iter": 10000}}


def scaled_model(name: str, **estimator_params: object) -> Pipeline:
    """The part of the model Pipeline the search reproduces: StandardScaler + estimator."""
    return make_pipeline(name, **estimator_params)[1:]


def diabetes_train() -> tuple[np.ndarray, np.ndarray]:
    """The training split the pipeline uses (prepare's defaults)."""
    train, _ = split_train_test(load_diabetes_frame(), test_size=0.2, random_state=42)
    return train.drop(columns="target").to_numpy(), train["target"].to_numpy()


def synthetic() -> tuple[np.ndarray, np.ndarray]:
    """Shifted, unevenly scaled columns, so standardisation and centring both matter."""
    X, y = make_regression(n_samples=240, n_features=8, n_informative=4, noise=15.0, random_state=3)
    return X * np.arange(1, 9) * 10 + 1000.0, y + 500.0


DATASETS = {
    "diabetes": (diabetes_train, KFold(10)),
    "synthetic": (synthetic, KFold(5, shuffle=True, random_state=0)),
}


def oracle(name: str, X: np.ndarray, y: np.ndarray, cv: KFold) -> GridSearchCV:
    grid = {} if GRIDS[name] is None else {"model__alpha": list(GRIDS[name])}
    return GridSearchCV(
        scaled_model(name, **ESTIMATOR_PARAMS[name]),
        grid,
        cv=cv,
        scoring="neg_root_mean_squared_error",
        return_train_score=True,
    ).fit(X, y)


@pytest.mark.heavy
@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize("name", ["ols", "ridge", "lasso"])
def test_search_agrees_with_grid_search_cv(name: str, dataset: str) -> None:
    load, cv = DATASETS[dataset]
    X, y = load()
    fast = search_alpha(name, X, y, alphas=GRIDS[name], cv=cv)
    slow = oracle(name, X, y, cv)

    assert fast.best_index == slow.best_index_
    # Ridge and OLS are solved exactly by both; LASSO's oracle stops at Lasso's tol=1e-4.
    rtol = 1e-4 if name == "lasso" else 1e-10
    np.testing.assert_allclose(fast.cv_rmse_mean, -slow.cv_results_["mean_test_score"], rtol=rtol)
    np.testing.assert_allclose(
        fast.train_rmse.mean(axis=0), -slow.cv_results_["mean_train_score"], rtol=rtol
    )
    spread = np.abs(slow.cv_results_["mean_test_score"]).max()
    np.testing.assert_allclose(
        fast.cv_rmse_std, slow.cv_results_["std_test_score"], atol=rtol * spread
    )


@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize("name", ["ridge", "lasso"])
def test_fold_and_path_coefficients_equal_sklearns(name: str, dataset: str) -> None:
    load, cv = DATASETS[dataset]
    X, y = load()
    fast = search_alpha(name, X, y, alphas=GRIDS[name], cv=cv)
    folds = list(cv.split(X))
    for a in (0, 5, 11):
        alpha = GRIDS[name][a]
        for k in (0, len(folds) - 1):
            train = folds[k][0]
            exact = {"tol": 1e-12, "max_iter": 100000} if name == "lasso" else {}
            model = scaled_model(name, alpha=alpha, **exact).fit(X[train], y[train])
            coef = model.named_steps["model"].coef_
            scale = np.abs(coef).max()
            np.testing.assert_allclose(fast.fold_coef[k, a], coef, rtol=0, atol=1e-8 * scale)
        default = scaled_model(name, alpha=alpha, **ESTIMATOR_PARAMS[name]).fit(X, y)
        coef = default.named_steps["model"].coef_
        # Against the default solver settings: within Lasso's tolerance, same zero pattern.
        np.testing.assert_allclose(fast.path_coef[a], coef, atol=1e-3 * np.abs(coef).max())
        np.testing.assert_array_equal(fast.path_coef[a] == 0, coef == 0)


def sparse_truth(seed: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """12 independent features, 4 of them carry the signal."""
    X, y, coef = make_regression(
        n_samples=200, n_features=12, n_informative=4, noise=5.0, coef=True, random_state=seed
    )
    return X, y, coef


def test_ridge_never_yields_exact_zeros() -> None:
    X, y = diabetes_train()
    ridge = search_alpha("ridge", X, y, alphas=np.logspace(-3, 4, 30), cv=KFold(5))
    assert np.count_nonzero(ridge.path_coef == 0) == 0


def test_lasso_zero_count_grows_with_alpha_on_independent_features() -> None:
    # Monotone for (near-)orthogonal designs only: on Diabetes' correlated serum features a
    # coefficient leaves the active set and comes back along the path (see README).
    X, y, _ = sparse_truth()
    lasso = search_alpha("lasso", X, y, alphas=np.logspace(-3, 2.5, 60), cv=KFold(5))
    zeros = (lasso.path_coef == 0).sum(axis=1)
    assert np.all(np.diff(zeros) >= 0), zeros
    assert zeros[0] == 0 and zeros[-1] == X.shape[1]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_lasso_recovers_the_true_support(seed: int) -> None:
    """The true features are the first to enter the path, and CV's choice keeps all of them.

    (CV minimises prediction error, so it may add a few tiny false positives: the known
    behaviour of the LASSO's CV choice, which is why the path is the support test.)
    """
    X, y, coef = sparse_truth(seed)
    lasso = search_alpha("lasso", X, y, alphas=np.logspace(-2, 2, 200), cv=KFold(5))
    support = lasso.path_coef != 0
    n_true = np.count_nonzero(coef)
    first_with_true_size = np.flatnonzero(support.sum(axis=1) == n_true)[-1]
    np.testing.assert_array_equal(support[first_with_true_size], coef != 0)
    assert np.all(support[lasso.best_index][coef != 0])


def test_fixed_alpha_is_a_one_point_grid() -> None:
    X, y = synthetic()
    cv = KFold(5)
    one = search_alpha("ridge", X, y, alphas=np.array([3.0]), cv=cv)
    many = search_alpha("ridge", X, y, alphas=np.array([0.1, 3.0, 100.0]), cv=cv)
    assert one.alpha == 3.0
    np.testing.assert_allclose(one.test_rmse[:, 0], many.test_rmse[:, 1], rtol=1e-12)


def test_constant_column_is_left_unscaled_like_standard_scaler() -> None:
    X, y = synthetic()
    X = np.column_stack([X, np.full(len(X), 7.0)])
    fast = search_alpha("ridge", X, y, alphas=np.array([1.0]), cv=KFold(4))
    model = scaled_model("ridge", alpha=1.0).fit(X, y)
    np.testing.assert_allclose(fast.path_coef[0], model.named_steps["model"].coef_, atol=1e-8)


def test_one_se_rule_takes_the_largest_alpha_within_one_standard_error() -> None:
    alphas = np.array([0.1, 1.0, 10.0, 100.0])
    mean = np.array([5.0, 4.0, 4.5, 6.0])
    std = np.array([1.0, 2.0, 1.0, 1.0])  # SE at the minimum: 2 / sqrt(4) = 1
    assert choose_alpha(alphas, mean, std, n_splits=4, rule="min") == 1
    assert choose_alpha(alphas, mean, std, n_splits=4, rule="one_se") == 2


def test_refuses_folds_that_do_not_partition_the_rows() -> None:
    from sklearn.model_selection import ShuffleSplit

    X, y = synthetic()
    with pytest.raises(ValueError, match="partition the rows"):
        search_alpha("ridge", X, y, alphas=None, cv=ShuffleSplit(3, random_state=0))


def test_search_never_mutates_its_input() -> None:
    X, y = synthetic()
    X_before, y_before = X.copy(), y.copy()
    search_alpha("lasso", X, y, alphas=GRIDS["lasso"], cv=KFold(3))
    np.testing.assert_array_equal(X, X_before)
    np.testing.assert_array_equal(y, y_before)
