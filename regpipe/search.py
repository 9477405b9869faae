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

The data are read once, block by block (a copy of one block at most, so the same code runs
over Parquet row groups that never sit in memory together), after subtracting a centre close
to the column means so that the Gram matrices do not lose digits to cancellation. The cost
is one pass over the data plus O(n_splits · n_alphas · p²) arithmetic, independent of
n_samples.

The search only chooses alpha and reports the curves; the deployable model is still refitted by
scikit-learn on the whole training split (see regpipe.models). ``GridSearchCV`` is kept as the
test oracle (tests/test_search.py): same chosen alpha, Ridge coefficients to 1e-8, LASSO within
the solver tolerance with the same zero pattern.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from functools import partial
from typing import Literal

import numpy as np
from sklearn import config_context
from sklearn.linear_model import lars_path_gram
from sklearn.model_selection import BaseCrossValidator, KFold
from sklearn.utils import check_random_state

from regpipe.progress import PassLog

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


@dataclass(frozen=True)
class FoldLabels:
    """Each row's group (its test fold), for any range of rows: ``labels[start:stop]``.

    Unshuffled K-fold (the default) cuts the rows into contiguous blocks, so the labels of a
    range follow from the blocks' ends and nothing is held per row. Otherwise the labels are
    stored: one byte per row for shuffled K-fold (up to 255 folds), two for other splitters.
    """

    n_groups: int
    ends: np.ndarray | None = None  # contiguous groups: each group's last row + 1
    stored: np.ndarray | None = None  # otherwise: every row's group

    @classmethod
    def blocks(cls, sizes: list[int] | np.ndarray) -> "FoldLabels":
        """Groups of ``sizes`` consecutive rows, in order (one group: every row)."""
        return cls(len(sizes), ends=np.cumsum(np.asarray(sizes, dtype=np.int64)))

    def __len__(self) -> int:
        return len(self.stored) if self.stored is not None else int(self.ends[-1])

    def __getitem__(self, rows: slice) -> np.ndarray:
        if self.stored is not None:
            return self.stored[rows]
        start, stop, _ = rows.indices(len(self))
        # Each group's share of start:stop, repeated: one array the size of the range.
        lengths = np.diff(np.clip(np.concatenate([[0], self.ends]), start, stop))
        return np.repeat(np.arange(self.n_groups, dtype=np.min_scalar_type(self.n_groups)), lengths)


def fold_labels(cv: BaseCrossValidator, n_samples: int) -> FoldLabels:
    """Each row's test fold under ``cv`` (a small integer per row, so chunks can be labelled).

    Raises ValueError unless the test folds partition the rows (each row in exactly one test
    fold, each training fold its complement), which K-fold splitters guarantee. KFold is not
    asked for its index arrays (int64 per row, several at once): without shuffling its folds
    are contiguous blocks of known sizes, with shuffling they are blocks of the same
    permutation of the rows KFold draws, drawn here in int32 positions.
    """
    if isinstance(cv, KFold):
        if cv.n_splits > n_samples:
            raise ValueError(f"{cv.n_splits} folds of {n_samples} rows: a fold would be empty")
        sizes = np.full(cv.n_splits, n_samples // cv.n_splits, dtype=np.int64)
        sizes[: n_samples % cv.n_splits] += 1
        if not cv.shuffle:
            return FoldLabels.blocks(sizes)
        order = np.arange(n_samples, dtype=np.int32 if n_samples < 2**31 else np.int64)
        check_random_state(cv.random_state).shuffle(order)
        labels = np.empty(n_samples, dtype=np.min_scalar_type(cv.n_splits))
        ends = np.cumsum(sizes)
        for fold, (start, stop) in enumerate(zip(ends - sizes, ends, strict=True)):
            labels[order[start:stop]] = fold
        return FoldLabels(cv.n_splits, stored=labels)
    n_splits = cv.get_n_splits(np.empty((n_samples, 0)))
    labels = np.full(n_samples, -1, dtype=np.int16 if n_splits < 2**15 else np.int32)
    for fold, (train, test) in enumerate(cv.split(np.empty((n_samples, 0)))):
        if len(test) == 0 or len(train) + len(test) != n_samples or (labels[test] >= 0).any():
            raise ValueError("the fast search needs test folds that partition the rows (K-fold)")
        labels[test] = fold
    if (labels < 0).any():
        raise ValueError("the fast search needs test folds that partition the rows (K-fold)")
    return FoldLabels(int(labels.max()) + 1, stored=labels)


def center(values: np.ndarray, max_rows: int = 10_000) -> np.ndarray:
    """The mean of an evenly strided sample of rows: close enough to the data to stop the
    cancellation in ``XᵀX``, and it drops out of every fitted quantity exactly."""
    return values[:: max(1, len(values) // max_rows)].mean(axis=0)


def augmented(X: np.ndarray, y: np.ndarray, X_center: np.ndarray, y_center: float) -> np.ndarray:
    """``[X - X_center, y - y_center, 1]``: its Gram matrix holds every statistic at once."""
    p = X.shape[1]
    out = np.empty((len(X), p + 2))
    np.subtract(X, X_center, out=out[:, :p])
    np.subtract(y, y_center, out=out[:, p])
    out[:, p + 1] = 1.0
    return out


def group_grams(rows: np.ndarray, labels: np.ndarray, n_groups: int) -> np.ndarray:
    """The Gram matrix of each group's rows of an augmented chunk, shape (n_groups, p+2, p+2)."""
    grams = np.zeros((n_groups, rows.shape[1], rows.shape[1]))
    if len(labels) and labels.min() == labels.max():  # one group (unshuffled K-fold): no copy
        grams[labels[0]] = rows.T @ rows
        return grams
    for group in np.unique(labels):
        part = rows[labels == group]
        grams[group] = part.T @ part
    return grams


def from_grams(grams: np.ndarray, X_center: np.ndarray, y_center: float) -> "SufficientStatistics":
    """The statistics held in augmented Gram matrices (groups, p+2, p+2)."""
    p = grams.shape[1] - 2
    return SufficientStatistics(
        n=grams[:, p + 1, p + 1],
        X_sum=grams[:, p + 1, :p],
        XtX=grams[:, :p, :p],
        Xty=grams[:, :p, p],
        y_sum=grams[:, p + 1, p],
        yty=grams[:, p, p],
        X_center=X_center,
        y_center=y_center,
    )


# Rows per block when the statistics are summed block by block: the augmented copy of one
# block (CHUNK_ROWS x (p+2) float64, 25 MiB at p = 10) is all the extra memory a pass needs.
CHUNK_ROWS = 1 << 18

Chunks = Iterable[tuple[np.ndarray, np.ndarray]]
# A per-chunk computation: f(X, y, offset) with ``offset`` the chunk's first row in the whole
# table; a pass is the sum of its results over the chunks (see Rows.reduce).
ChunkFunction = Callable[[np.ndarray, np.ndarray, int], np.ndarray]


def row_chunks(X: np.ndarray, y: np.ndarray, size: int = CHUNK_ROWS) -> Chunks:
    """(X, y) in blocks of ``size`` rows (views, no copy)."""
    for start in range(0, len(X), size):
        yield X[start : start + size], y[start : start + size]


@dataclass(frozen=True)
class Rows:
    """A re-readable source of (X, y) float64 chunks, with each chunk's row count known upfront
    (the bootstrap draws how many resampled rows fall in each chunk before the pass).

    Every pass over the data is a :meth:`reduce`: the sum over chunks of a function of one
    chunk and its position, so an engine that reads the chunks elsewhere (regpipe.engine's
    Dask partitions) runs the same passes by overriding :meth:`reduce` and :meth:`first_centre`.
    """

    sizes: list[int]
    read: Callable[[], Chunks]
    log: PassLog = field(default_factory=PassLog, compare=False, kw_only=True)

    @classmethod
    def from_arrays(cls, X: np.ndarray, y: np.ndarray, chunk_rows: int = CHUNK_ROWS) -> "Rows":
        """In-memory arrays, read in views of ``chunk_rows`` rows."""
        sizes = [len(c) for c, _ in row_chunks(X, y, chunk_rows)]
        return cls(sizes, lambda: row_chunks(X, y, chunk_rows))

    @classmethod
    def from_frames(
        cls,
        n_rows: int,
        frames: Callable[[], Iterable[object]],
        to_arrays: Callable[[object], tuple[np.ndarray, np.ndarray]],
        chunk_rows: int = CHUNK_ROWS,
    ) -> "Rows":
        """Chunks of ``chunk_rows`` rows from ``frames()`` (e.g. a Parquet file read batch by
        batch), each turned into arrays by ``to_arrays`` as it is read."""
        return cls(block_sizes(n_rows, chunk_rows), lambda: map(to_arrays, frames()))

    @property
    def n_rows(self) -> int:
        return sum(self.sizes)

    def reduce(self, function: ChunkFunction, what: str) -> np.ndarray:
        """One pass (``what`` it computes, for its progress bar): the sum over the chunks of
        ``function(X, y, offset)``, in chunk order."""
        total, offset = None, 0
        for X, y in self.log.track(self.read(), len(self.sizes), what):
            part = function(X, y, offset)
            total = part if total is None else total + part
            offset += len(X)
        if total is None or offset != self.n_rows:
            raise ValueError(f"the chunks hold {offset} rows, {self.n_rows} were announced")
        return total

    def first_centre(self) -> tuple[np.ndarray, float]:
        """:func:`center` of the first chunk's X and y: the centre every pass subtracts."""
        X, y = next(iter(self.read()))
        return center(X), float(center(y))


def block_sizes(n_rows: int, chunk_rows: int = CHUNK_ROWS) -> list[int]:
    """``n_rows`` cut in blocks of ``chunk_rows`` (the last shorter)."""
    return [min(chunk_rows, n_rows - start) for start in range(0, n_rows, chunk_rows)]


def labelled_grams(
    X: np.ndarray,
    y: np.ndarray,
    offset: int,
    *,
    labels: FoldLabels,
    centre: tuple[np.ndarray, float],
) -> np.ndarray:
    """A chunk's augmented Gram matrix per group of rows (``labels`` for the whole table)."""
    chunk = augmented(X, y, *centre)
    return group_grams(chunk, labels[offset : offset + len(X)], labels.n_groups)


def group_statistics(
    rows: Rows,
    labels: FoldLabels,
    centre: tuple[np.ndarray, float] | None = None,
    what: str = "fold statistics",
) -> SufficientStatistics:
    """One pass over ``rows``: the statistics of every group of rows (``labels``, one per row),
    centred at ``centre`` or the first chunk's near-mean."""
    if len(labels) != rows.n_rows:
        raise ValueError(f"the rows number {rows.n_rows}, the labels {len(labels)}")
    centre = centre or rows.first_centre()
    grams = rows.reduce(partial(labelled_grams, labels=labels, centre=centre), what)
    return from_grams(grams, *centre)


@dataclass(frozen=True)
class Standardised:
    """Each group's least-squares problem on StandardScaler's scale, with ``y`` centred.

    ``mean``/``var``/``scale`` are the scaler's (mean in centred coordinates) and ``y_mean``
    the intercept's reference; ``H = ZᵀZ``, ``q = Zᵀ(y - y_mean)``, ``yy = ||y - y_mean||²``.
    """

    n: np.ndarray
    mean: np.ndarray
    var: np.ndarray
    scale: np.ndarray
    y_mean: np.ndarray
    H: np.ndarray
    q: np.ndarray
    yy: np.ndarray


STANDARDISED_FIELDS = [item.name for item in fields(Standardised)]


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
    return Standardised(n, mean, var, scale, y_mean, H, b / scale, np.clip(yy, 0.0, None))


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

    LARS needs a full-rank Gram matrix: on a singular one (a column that is a multiple or a sum
    of others) it drops regressors and its path goes astray (on palmerpenguins with a doubled
    column, a fold RMSE of 1e9 where the refit scores 290). Such groups take
    :func:`lasso_refit`, scikit-learn's coordinate descent, at every alpha instead, warm-started
    down the grid as ``lasso_path`` (LassoCV) does. With collinear columns the predictions are
    unique, so the CV curve is GridSearchCV's (tests/test_train_evaluate_offpath.py); with fewer
    training rows than columns the LASSO is not unique off the training rows, and the curve is
    the warm-started path's, as LassoCV's is, not that of refits from zero.
    """
    coefs = np.empty((len(problem.n), len(alphas), problem.H.shape[1]))
    singular = effective_rank(problem) < problem.H.shape[1]
    if singular.any():
        some = Standardised(*(getattr(problem, name)[singular] for name in STANDARDISED_FIELDS))
        w = None  # warm-started from the next larger alpha, as lasso_path does
        for index in np.argsort(alphas)[::-1]:
            w = lasso_refit(some, float(alphas[index]), start=w)[0]
            coefs[singular, index] = w
    for group in np.flatnonzero(~singular):
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


def lasso_refit(
    problem: Standardised,
    alpha: float,
    *,
    tol: float = 1e-13,
    max_sweeps: int = 100_000,
    start: np.ndarray | None = None,
) -> tuple[np.ndarray, int]:
    """LASSO coefficients (standardised scale) of every group at one alpha, shape (groups, p),
    and the number of coordinate-descent sweeps made.

    scikit-learn's Lasso algorithm (cyclic coordinate descent from zero, the same updates on
    the Gram matrix instead of X), all groups at once, run until no coefficient moves by more
    than ``tol`` of the largest. LARS (:func:`lasso_coefficients`) goes astray when regressors
    are collinear, as a one-hot encoded column set is with the intercept: there the
    coefficients are not unique, nor the predictions for a level unseen in training, and
    following scikit-learn's own iteration reaches the solution its refit would. ``start``
    (groups, p) replaces the zero start (a warm start along a path).
    """
    w = np.zeros_like(problem.q) if start is None else start.copy()
    H, q, penalty = problem.H, problem.q, problem.n * alpha
    diagonal = np.diagonal(H, axis1=1, axis2=2)
    safe = np.where(diagonal > 0, diagonal, 1.0)
    sweeps = 0
    while sweeps < max_sweeps:
        sweeps += 1
        largest_step = 0.0
        for j in range(w.shape[1]):
            rho = q[:, j] - np.einsum("gk,gk->g", H[:, j], w) + diagonal[:, j] * w[:, j]
            new = np.where(
                diagonal[:, j] > 0,
                np.sign(rho) * np.maximum(np.abs(rho) - penalty, 0) / safe[:, j],
                0,
            )
            largest_step = max(largest_step, float(np.abs(new - w[:, j]).max()))
            w[:, j] = new
        if largest_step <= tol * max(float(np.abs(w).max()), np.finfo(float).tiny):
            break
    return w, sweeps


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


def fit_coefficients(kind: Kind, problem: Standardised, alphas: np.ndarray) -> np.ndarray:
    """Each group's coefficients at each alpha (OLS: alpha 0), shape (groups, alphas, p)."""
    if kind == "lasso":
        return lasso_coefficients(problem, alphas)
    return ridge_coefficients(problem, alphas)


def prediction_coefficients(problem: Standardised, coefs: np.ndarray) -> np.ndarray:
    """Each group's model as ``[intercept, slope]`` on the centred raw features, (groups, p+1).

    ``y_mean + ((x - mean) / scale) · w`` is ``intercept + x · slope`` with ``slope = w / scale``.
    """
    slope = coefs / problem.scale
    intercept = problem.y_mean - np.einsum("gi,gi->g", problem.mean, slope)
    return np.concatenate([intercept[:, None], slope], axis=1)


def effective_rank(problem: Standardised) -> np.ndarray:
    """Each group's rank of ``H`` at the rounding cutoff :func:`ridge_coefficients` uses."""
    eigenvalues = np.linalg.eigvalsh(problem.H)
    cutoff = eigenvalues.max(axis=1, keepdims=True) * eigenvalues.shape[1] * np.finfo(float).eps
    return (eigenvalues > cutoff).sum(axis=1)


@dataclass(frozen=True)
class SearchResult:
    """The CV curve over ``alphas`` (in the grid's order) and the chosen alpha.

    ``test_rmse``/``train_rmse`` are (n_splits, n_alphas): each fold's validation and training
    RMSE. ``fold_coef`` (n_splits, n_alphas, p) are the fold models' coefficients and ``path_coef``
    (n_alphas, p) the models fitted on all rows, all on the standardised scale. ``whole`` is
    the problem of all rows, from which the deployed model is fitted.
    """

    alphas: np.ndarray
    test_rmse: np.ndarray
    train_rmse: np.ndarray
    fold_coef: np.ndarray
    path_coef: np.ndarray
    best_index: int
    whole: Standardised  # the whole training split's problem, for the final fit
    total: SufficientStatistics

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
    rows = Rows.from_arrays(np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.float64))
    return search_rows(kind, rows, alphas=alphas, cv=cv, alpha_rule=alpha_rule)


def search_rows(
    kind: Kind,
    rows: Rows,
    *,
    alphas: np.ndarray | None,
    cv: BaseCrossValidator,
    alpha_rule: AlphaRule = "min",
) -> SearchResult:
    """:func:`search_alpha` over a chunked source of rows (one pass, one chunk in memory)."""
    grid = np.zeros(1) if alphas is None else np.asarray(alphas, dtype=np.float64)
    labels = fold_labels(cv, rows.n_rows)
    stats = group_statistics(rows, labels)
    train_stats = stats.complement()
    problems = standardise(train_stats)
    whole = standardise(stats.total())

    fold_coef = fit_coefficients(kind, problems, grid)
    test_rmse = np.sqrt(squared_errors(problems, stats, fold_coef) / stats.n[:, None])
    train_rmse = np.sqrt(squared_errors(problems, train_stats, fold_coef) / train_stats.n[:, None])
    best = choose_alpha(
        grid, test_rmse.mean(axis=0), test_rmse.std(axis=0), len(stats.n), alpha_rule
    )
    path = fit_coefficients(kind, whole, grid)[0]
    return SearchResult(grid, test_rmse, train_rmse, fold_coef, path, best, whole, stats.total())
