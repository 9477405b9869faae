"""The alpha search of Pipeline(StandardScaler, OLS | Ridge | LASSO) at the cost of one data pass.

``GridSearchCV(Pipeline(StandardScaler(), Ridge()))`` refits the scaler and the model for every
(fold, alpha) pair: 1000 fits for 10 folds x 100 alphas, each a pass over the data. For linear
models everything the search needs is in per-fold *sufficient statistics*: the row count, the
column sums, the Gram matrix ``XᵀX``, ``Xᵀy``, the sum of ``y`` and ``yᵀy``. K-fold test folds
partition the rows, so each training fold's statistics are the totals minus its test fold's, and
from them follow exactly:

- the training fold's StandardScaler (mean, population std with ddof=0, constant columns left
  unscaled as scikit-learn does) and the standardised problem ``H = ZᵀZ``, ``q = Zᵀ(y - ȳ)``;
- Ridge for every alpha from one eigen-decomposition ``H = V diag(λ) Vᵀ``:
  ``w(alpha) = V diag(1 / (λ + alpha)) Vᵀ q`` (OLS is alpha = 0 with a pseudo-inverse, the
  minimum-norm solution LinearRegression's lstsq returns);
- LASSO along the whole grid from scikit-learn's ``lars_path_gram``: LARS with the LASSO
  modification works on ``H`` and ``q`` alone and returns the exact, piecewise-linear solution
  path, read off at the grid's alphas. (We measured the alternative the issue suggests,
  ``lasso_path`` with a precomputed Gram: it insists on an X with n_samples rows, and its
  coordinate descent needs 0.5-1 s per model on Diabetes' correlated serum features to reach a
  duality gap tight enough to call exact; LARS takes about 10 ms per fold and has no tolerance.)
- the validation and training sums of squared errors of every (fold, alpha) from quadratic
  forms of the statistics, so no prediction is ever computed.

The data are read once, one test fold at a time (a fold-sized copy at most), after subtracting
a centre close to the column means so that the Gram matrices do not lose digits to
cancellation. The cost is one pass over the data plus O(n_splits · n_alphas · p²) arithmetic,
independent of n_samples.

The search only chooses alpha and reports the curves; the deployable model is still refitted by
scikit-learn on the whole training split (see regpipe.models). ``GridSearchCV`` is kept as the
test oracle (tests/test_search.py): same chosen alpha, Ridge coefficients to 1e-8, LASSO within
the solver tolerance with the same zero pattern.
"""

from dataclasses import dataclass
from typing import Literal

import numpy as np
from sklearn import config_context
from sklearn.linear_model import lars_path_gram
from sklearn.model_selection import BaseCrossValidator

Kind = Literal["ols", "ridge", "lasso"]
AlphaRule = Literal["min", "one_se"]

# Relative to the largest coefficient of a LASSO path: below this a coefficient is rounding
# noise. Far above LARS' rounding (~1e-16 relative), far below any coefficient that matters.
ZERO_TOL = 1e-10


@dataclass(frozen=True)
class SufficientStatistics:
    """Per-row-group sums of the centred data (one group per test fold).

    Arrays carry the group on axis 0: ``n`` (k,), ``X_sum`` (k, p), ``XtX`` (k, p, p),
    ``Xty`` (k, p), ``y_sum`` (k,), ``yty`` (k,). ``X_center``/``y_center`` are the centre
    subtracted before summing (it cancels out of every fitted quantity).
    """

    n: np.ndarray
    X_sum: np.ndarray
    XtX: np.ndarray
    Xty: np.ndarray
    y_sum: np.ndarray
    yty: np.ndarray
    X_center: np.ndarray
    y_center: float

    def complement(self) -> "SufficientStatistics":
        """The statistics of every group's complement (the training fold of each test fold)."""
        return SufficientStatistics(
            *(part.sum(axis=0, keepdims=True) - part for part in self._sums()),
            X_center=self.X_center,
            y_center=self.y_center,
        )

    def total(self) -> "SufficientStatistics":
        """The statistics of all rows, as a single group."""
        return SufficientStatistics(
            *(part.sum(axis=0, keepdims=True) for part in self._sums()),
            X_center=self.X_center,
            y_center=self.y_center,
        )

    def _sums(self) -> tuple[np.ndarray, ...]:
        return self.n, self.X_sum, self.XtX, self.Xty, self.y_sum, self.yty


def _test_fold_rows(test: np.ndarray) -> slice | np.ndarray:
    """A slice (a view, no copy) when the fold's rows form one block, as unshuffled KFold's do.

    The statistics are sums, so the order of the rows does not matter, only the set; a
    duplicated row would break the partition check in :func:`fold_statistics`.
    """
    low, high = int(test.min()), int(test.max())
    return slice(low, high + 1) if high - low + 1 == len(test) else test


def _center(values: np.ndarray, max_rows: int = 10_000) -> np.ndarray:
    """The mean of an evenly strided sample of rows: close enough to the data to stop the
    cancellation in ``XᵀX``, and it drops out of every fitted quantity exactly."""
    return values[:: max(1, len(values) // max_rows)].mean(axis=0)


def fold_statistics(X: np.ndarray, y: np.ndarray, cv: BaseCrossValidator) -> SufficientStatistics:
    """One pass over (X, y): the sufficient statistics of every test fold of ``cv``.

    Each fold is copied once, centred, into ``[X, y, 1]``, whose Gram matrix holds all the
    statistics (``XᵀX``, ``Xᵀy``, ``yᵀy``, the sums and the count) from one BLAS call.
    Raises ValueError unless the test folds partition the rows (each row in exactly one test
    fold, each training fold its complement), which K-fold splitters guarantee.
    """
    n_samples, p = X.shape
    X_center, y_center = _center(X), float(_center(y))
    seen = np.zeros(n_samples, dtype=bool)
    grams = []
    for train, test in cv.split(X):
        rows = _test_fold_rows(test)
        if len(test) == 0 or len(train) + len(test) != n_samples or seen[rows].any():
            raise ValueError("the fast search needs test folds that partition the rows (K-fold)")
        seen[rows] = True
        augmented = np.empty((len(test), p + 2))
        np.subtract(X[rows], X_center, out=augmented[:, :p])
        np.subtract(y[rows], y_center, out=augmented[:, p])
        augmented[:, p + 1] = 1.0
        grams.append(augmented.T @ augmented)
        del augmented
    if not seen.all():
        raise ValueError("the fast search needs test folds that partition the rows (K-fold)")
    gram = np.array(grams)
    return SufficientStatistics(
        n=gram[:, p + 1, p + 1],
        X_sum=gram[:, p + 1, :p],
        XtX=gram[:, :p, :p],
        Xty=gram[:, :p, p],
        y_sum=gram[:, p + 1, p],
        yty=gram[:, p, p],
        X_center=X_center,
        y_center=y_center,
    )


@dataclass(frozen=True)
class Standardised:
    """Each group's least-squares problem on StandardScaler's scale, with ``y`` centred.

    ``mean``/``scale`` are the scaler's (in centred coordinates) and ``y_mean`` the
    intercept's reference; ``H = ZᵀZ``, ``q = Zᵀ(y - y_mean)``, ``yy = ||y - y_mean||²``.
    """

    n: np.ndarray
    mean: np.ndarray
    scale: np.ndarray
    y_mean: np.ndarray
    H: np.ndarray
    q: np.ndarray
    yy: np.ndarray


def standardise(stats: SufficientStatistics) -> Standardised:
    """StandardScaler fitted on each group, exactly: population variance, constant columns unscaled.

    A column is constant by scikit-learn's own test (``sklearn.preprocessing._data``): its
    variance is within the rounding error of its mean, and then its scale is 1.
    """
    n = stats.n
    mean = stats.X_sum / n[:, None]
    y_mean = stats.y_sum / n
    G = stats.XtX - n[:, None, None] * mean[:, :, None] * mean[:, None, :]
    b = stats.Xty - n[:, None] * mean * y_mean[:, None]
    yy = stats.yty - n * y_mean**2
    var = np.clip(np.diagonal(G, axis1=1, axis2=2) / n[:, None], 0.0, None)
    eps = np.finfo(np.float64).eps
    raw_mean = mean + stats.X_center
    constant = var <= n[:, None] * eps * var + (n[:, None] * raw_mean * eps) ** 2
    scale = np.where(constant, 1.0, np.sqrt(var))
    H = G / scale[:, :, None] / scale[:, None, :]
    return Standardised(n, mean, scale, y_mean, H, b / scale, np.clip(yy, 0.0, None))


def ridge_coefficients(problem: Standardised, alphas: np.ndarray) -> np.ndarray:
    """Ridge coefficients (standardised scale), shape (groups, alphas, p), one eigh per group.

    ``alpha = 0`` is OLS: eigenvalues below p · eps · λ_max, the rounding level of a Gram
    matrix, are dropped (a pseudo-inverse), so a rank-deficient design gets the minimum-norm
    solution, as LinearRegression's lstsq gives it.
    """
    eigenvalues, V = np.linalg.eigh(problem.H)
    cutoff = eigenvalues.max(axis=1, keepdims=True) * eigenvalues.shape[1] * np.finfo(float).eps
    projected = np.einsum("gji,gj->gi", V, problem.q)
    shrunk = eigenvalues[:, None, :] + alphas[None, :, None]
    keep = (eigenvalues > cutoff)[:, None, :] | (alphas[None, :, None] > 0)
    factors = np.where(keep, projected[:, None, :] / np.where(keep, shrunk, 1.0), 0.0)
    return np.einsum("gij,gaj->gai", V, factors)


def lasso_coefficients(problem: Standardised, alphas: np.ndarray) -> np.ndarray:
    """LASSO coefficients (standardised scale), shape (groups, alphas, p), exact.

    scikit-learn's ``lars_path_gram`` (LARS with the LASSO modification) computes the whole
    solution path from the Gram matrix and ``Xᵀy`` alone. The path is piecewise linear in alpha
    between its knots, so interpolating it at the grid's alphas is exact, not an approximation;
    above the largest knot every coefficient is zero.
    """
    coefs = np.empty((len(problem.n), len(alphas), problem.H.shape[1]))
    for group in range(len(problem.n)):
        # Our arrays are well-formed: skip sklearn's per-call argument checks (a third of the
        # time on a 10 x 10 Gram matrix).
        with config_context(skip_parameter_validation=True):
            knots, _, path = lars_path_gram(
                problem.q[group],
                problem.H[group],
                n_samples=int(problem.n[group]),
                method="lasso",
                alpha_min=float(alphas.min()),
            )
        # A coefficient that LARS drops at a knot is left at rounding level (1e-16), not at
        # zero; snap such values so the path's zero pattern is the LASSO's.
        path[np.abs(path) <= ZERO_TOL * np.abs(path).max(initial=0.0)] = 0.0
        for feature, values in enumerate(path):
            coefs[group, :, feature] = np.interp(alphas, knots[::-1], values[::-1])
    return coefs


def squared_errors(
    problem: Standardised, stats: SufficientStatistics, coefs: np.ndarray
) -> np.ndarray:
    """Sum of squared errors on ``stats``' rows of each group's model, shape (groups, alphas).

    The model of group g predicts ``y_mean[g] + ((x - mean[g]) / scale[g]) · w``; its squared
    errors on a row group are a quadratic form of that group's statistics, centred first at the
    model's means so that nothing large cancels.
    """
    beta = coefs / problem.scale[:, None, :]
    n, mean, y_mean = stats.n, problem.mean, problem.y_mean
    ee = stats.yty - 2 * y_mean * stats.y_sum + n * y_mean**2
    de = (
        stats.Xty
        - mean * stats.y_sum[:, None]
        - y_mean[:, None] * stats.X_sum
        + n[:, None] * mean * y_mean[:, None]
    )
    outer = stats.X_sum[:, :, None] * mean[:, None, :]
    dd = (
        stats.XtX
        - outer
        - outer.transpose(0, 2, 1)
        + n[:, None, None] * mean[:, :, None] * mean[:, None, :]
    )
    quadratic = np.einsum("gai,gij,gaj->ga", beta, dd, beta)
    sse = ee[:, None] - 2 * np.einsum("gai,gi->ga", beta, de) + quadratic
    return np.clip(sse, 0.0, None)


@dataclass(frozen=True)
class SearchResult:
    """The CV curve over ``alphas`` (in the grid's order) and the chosen alpha.

    ``test_rmse``/``train_rmse`` are (n_splits, n_alphas): each fold's validation and training
    RMSE. ``fold_coef`` (n_splits, n_alphas, p) are the fold models' coefficients and ``path_coef``
    (n_alphas, p) the models fitted on all rows, all on the standardised scale.
    """

    alphas: np.ndarray
    test_rmse: np.ndarray
    train_rmse: np.ndarray
    fold_coef: np.ndarray
    path_coef: np.ndarray
    best_index: int

    @property
    def alpha(self) -> float:
        return float(self.alphas[self.best_index])

    @property
    def cv_rmse_mean(self) -> np.ndarray:
        return self.test_rmse.mean(axis=0)

    @property
    def cv_rmse_std(self) -> np.ndarray:
        return self.test_rmse.std(axis=0)


def choose_alpha(
    alphas: np.ndarray, rmse_mean: np.ndarray, rmse_std: np.ndarray, n_splits: int, rule: AlphaRule
) -> int:
    """The index of the chosen alpha.

    ``min``: the lowest mean CV RMSE, ties to the first in grid order (as GridSearchCV ranks).
    ``one_se``: the largest alpha (the simplest model) whose mean CV RMSE is within one standard
    error (std over folds / sqrt(n_splits)) of the minimum's.
    """
    best = int(np.argmin(rmse_mean))
    if rule == "min":
        return best
    threshold = rmse_mean[best] + rmse_std[best] / np.sqrt(n_splits)
    within = np.flatnonzero(rmse_mean <= threshold)
    return int(within[np.argmax(alphas[within])])


def search_alpha(
    kind: Kind,
    X: np.ndarray,
    y: np.ndarray,
    *,
    alphas: np.ndarray | None,
    cv: BaseCrossValidator,
    alpha_rule: AlphaRule = "min",
) -> SearchResult:
    """Cross-validate Pipeline(StandardScaler, ``kind``) over ``alphas`` from one pass over X.

    ``alphas=None`` (OLS) scores the single unpenalised model; a one-element grid scores a fixed
    alpha. Equivalent to GridSearchCV with RMSE scoring and ``return_train_score=True``.
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    grid = np.zeros(1) if alphas is None else np.asarray(alphas, dtype=np.float64)
    stats = fold_statistics(X, y, cv)
    train_stats = stats.complement()
    problems = standardise(train_stats)
    whole = standardise(stats.total())

    def fit(problem: Standardised) -> np.ndarray:
        if kind == "lasso":
            return lasso_coefficients(problem, grid)
        return ridge_coefficients(problem, grid)

    fold_coef = fit(problems)
    test_rmse = np.sqrt(squared_errors(problems, stats, fold_coef) / stats.n[:, None])
    train_rmse = np.sqrt(squared_errors(problems, train_stats, fold_coef) / train_stats.n[:, None])
    best = choose_alpha(
        grid, test_rmse.mean(axis=0), test_rmse.std(axis=0), len(stats.n), alpha_rule
    )
    return SearchResult(grid, test_rmse, train_rmse, fold_coef, fit(whole)[0], best)
