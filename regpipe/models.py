"""The three models, and the cross-validated choice of alpha for Ridge and LASSO.

A model is always ONE scikit-learn Pipeline (StandardScaler + estimator), fitted on the training
split only; during cross-validation the scaler is refitted inside every fold, so no statistic of
a validation fold reaches the fit that is scored on it.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer, make_column_selector
from sklearn.linear_model import Lasso, LinearRegression, Ridge
from sklearn.model_selection import KFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from regpipe.errors import UserError
from regpipe.io import parquet_num_rows, read_parquet_chunks
from regpipe.reports import TrainMetrics
from regpipe.search import (
    CHUNK_ROWS,
    AlphaRule,
    Rows,
    SearchResult,
    Standardised,
    effective_rank,
    lasso_refit,
    ridge_coefficients,
    search_rows,
)

MODEL_NAMES = ("ols", "ridge", "lasso")


ESTIMATORS = {"ols": LinearRegression, "ridge": Ridge, "lasso": Lasso}


def make_encoder() -> ColumnTransformer:
    """One-hot encoding of the non-numeric (categorical) columns; numeric ones pass unchanged.

    Part of the model, so serving takes raw category labels. The first level of each column is
    the reference and gets no column (``drop="first"``): with every level encoded, a column's
    indicators sum to the intercept, an exactly singular Gram matrix on which the LARS search
    of LASSO degenerates (on ISLP's Credit its CV RMSE came out 73 where scikit-learn's
    GridSearchCV measures 103). A level unseen in training is encoded as the reference level.
    With no categorical column the output is X itself, in its order.
    """
    return ColumnTransformer(
        [
            (
                "categorical",
                OneHotEncoder(drop="first", handle_unknown="ignore", sparse_output=False),
                make_column_selector(dtype_exclude="number"),
            )
        ],
        remainder="passthrough",
        verbose_feature_names_out=False,
    )


def fit_encoder(frames: Callable[[list[str] | None], Iterator[pd.DataFrame]]) -> ColumnTransformer:
    """The encoder ``make_encoder().fit`` on the whole table would be, learnt chunk by chunk.

    ``frames(columns)`` reads the table's feature columns (all when None) in chunks. The
    encoder only learns the categorical columns' levels (and the columns' names and types),
    so one pass over the categorical columns collects them, and the encoder is fitted on a
    few rows holding every level; numeric data needs no pass at all.
    """
    first = next(iter(frames(None)))
    categorical = list(first.select_dtypes(exclude="number").columns)
    if not categorical:
        return make_encoder().fit(first.iloc[:1])
    levels: dict[str, set] = {column: set() for column in categorical}
    missing = set()  # columns with a missing value: OneHotEncoder makes it a level (the last)
    for chunk in frames(categorical):
        for column in categorical:
            levels[column].update(chunk[column].dropna().unique())
            if chunk[column].isna().any():
                missing.add(column)
    n_rows = max(len(values) + (column in missing) for column, values in levels.items())
    sample = first.iloc[[0] * n_rows].reset_index(drop=True)
    for column, values in levels.items():
        ordered = sorted(values) + ([None] if column in missing else [])
        cycled = [ordered[i % len(ordered)] for i in range(n_rows)]
        sample[column] = pd.Series(cycled, dtype=first[column].dtype)
    return make_encoder().fit(sample)


def parquet_rows(
    path: str,
    target: str,
    encode: Callable[[pd.DataFrame], np.ndarray],
    client: object | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> Rows:
    """A Parquet table as chunks of (``encode``d features, target), read batch by batch; with
    a dask.distributed ``client`` (regpipe.engine), its passes run on that cluster."""
    to_arrays = partial(frame_arrays, target=target, encode=encode, source=path)
    n_rows = parquet_num_rows(path)
    rows = Rows.from_frames(
        n_rows, lambda: read_parquet_chunks(path, chunk_rows), to_arrays, chunk_rows
    )
    if client is None:
        return rows
    from regpipe.engine import DaskRows

    return DaskRows(rows.sizes, rows.read, client=client, path=path, to_arrays=to_arrays)


def frame_arrays(
    chunk: pd.DataFrame,
    *,
    target: str,
    encode: Callable[[pd.DataFrame], np.ndarray],
    source: str = "the table",
) -> tuple[np.ndarray, np.ndarray]:
    """A chunk of the table as (encoded features, target), float64.

    A missing or infinite number would turn every sum of the statistics into NaN (numpy's eigh
    then fails with "Eigenvalues did not converge"); scikit-learn's fit refuses it too, so it
    is named here, with its column and ``source`` (the file)."""
    X = np.asarray(encode(chunk.drop(columns=target)), dtype=np.float64)
    y = chunk[target].to_numpy(dtype=np.float64)
    if not (np.isfinite(X).all() and np.isfinite(y).all()):
        numbers = chunk.select_dtypes("number")
        column = next(name for name in numbers if not np.isfinite(numbers[name]).all())
        raise UserError(
            f"{source}: column '{column}' holds a missing or infinite value; train and evaluate "
            f"need finite numbers (prepare.on_violation: fix drops or imputes them)"
        )
    return X, y


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


def make_folds(
    n_splits: int, shuffle: bool, random_state: int, *, n_rows: int | None = None, key: str = "cv"
) -> KFold:
    """K folds; with ``n_rows``, refuses more folds than rows (``key`` names the params key)."""
    if n_rows is not None and n_splits > n_rows:
        raise UserError(
            f"params.yaml: {key}.n_splits={n_splits} is more than the {n_rows} training rows; "
            f"lower {key}.n_splits to at most {n_rows}"
        )
    return KFold(n_splits=n_splits, shuffle=shuffle, random_state=random_state if shuffle else None)


@dataclass(frozen=True)
class TrainResult:
    model: Pipeline
    alpha: float | None
    alpha_rule: AlphaRule
    search: SearchResult

    @property
    def n_alphas_searched(self) -> int:
        return 0 if self.alpha is None else len(self.search.alphas)


def fit_with_cv(
    name: str,
    X: pd.DataFrame,
    y: pd.Series,
    *,
    alphas: np.ndarray | None,
    cv: KFold,
    alpha_rule: AlphaRule = "min",
    **estimator_params: object,
) -> TrainResult:
    """:func:`fit_rows` on an in-memory training split."""
    encoder = make_encoder().fit(X)
    rows = Rows.from_arrays(
        np.asarray(encoder.transform(X), dtype=np.float64), y.to_numpy(dtype=np.float64)
    )
    return fit_rows(
        name, encoder, rows, alphas=alphas, cv=cv, alpha_rule=alpha_rule, **estimator_params
    )


def fit_rows(
    name: str,
    encoder: ColumnTransformer,
    rows: Rows,
    *,
    alphas: np.ndarray | None,
    cv: KFold,
    alpha_rule: AlphaRule = "min",
    **estimator_params: object,
) -> TrainResult:
    """Choose alpha among ``alphas`` by K-fold CV, then fit ``name`` on all the rows.

    ``rows`` are the training split encoded by ``encoder`` (fitted, one-hot levels of the whole
    split: levels only, no statistic of a validation fold's target or scale), read chunk by
    chunk. The search runs on sufficient statistics (regpipe.search: the same numbers
    GridSearchCV over the Pipeline gives, from one pass); so does the final fit, from the same
    pass, so the training split is never held in memory at once. With ``alphas=None`` (OLS)
    nothing is searched but the CV RMSE is still measured, so every model reports the same
    numbers.
    """
    search = search_rows(name, rows, alphas=alphas, cv=cv, alpha_rule=alpha_rule)
    alpha = None if alphas is None else search.alpha
    params = estimator_params if alpha is None else {**estimator_params, "alpha": alpha}
    return TrainResult(
        model=pipeline_from_statistics(name, encoder, search, params),
        alpha=alpha,
        alpha_rule=alpha_rule,
        search=search,
    )


def pipeline_from_statistics(
    name: str, encoder: ColumnTransformer, search: SearchResult, params: dict
) -> Pipeline:
    """The fitted Pipeline(encoder, StandardScaler, estimator) that ``fit`` on the training
    split would give, its attributes computed from the split's sufficient statistics.

    StandardScaler's mean, variance and scale and OLS/Ridge's coefficients equal scikit-learn's
    fit (to rounding; tests/test_models.py compares them); LASSO is scikit-learn's coordinate
    descent on the Gram matrix, run to convergence (1e-13) rather than stopped at its ``tol``.
    """
    whole: Standardised = search.whole
    centre = search.total.X_center
    p = len(centre)
    scaler = StandardScaler()
    scaler.mean_ = whole.mean[0] + centre
    scaler.var_ = whole.var[0]
    scaler.scale_ = whole.scale[0]
    scaler.n_samples_seen_ = int(whole.n[0])
    scaler.n_features_in_ = p
    estimator = ESTIMATORS[name](**params)
    if name == "lasso":
        coef, estimator.n_iter_ = lasso_refit(whole, estimator.alpha, max_sweeps=estimator.max_iter)
        estimator.coef_ = coef[0]
    else:
        estimator.coef_ = ridge_coefficients(whole, np.array([params.get("alpha", 0.0)]))[0, 0]
        estimator.n_iter_ = None
    if name == "ols":
        estimator.rank_ = int(effective_rank(whole)[0])
        estimator.singular_ = np.sqrt(np.clip(np.linalg.eigvalsh(whole.H[0])[::-1], 0, None))
    if name == "ridge":
        estimator.solver_ = "cholesky"
    # The scaled features have mean zero, so the intercept is the target's mean.
    estimator.intercept_ = float(whole.y_mean[0] + search.total.y_center)
    estimator.n_features_in_ = p
    return Pipeline([("encoder", encoder), ("scaler", scaler), ("model", estimator)])


def feature_names(model: Pipeline) -> list[str]:
    """The estimator's input names: raw numeric columns, one ``column_level`` per category."""
    return list(model[:-1].get_feature_names_out())


def categorical_levels(model: object) -> dict[str, list[str]]:
    """The raw columns the fitted encoder one-hot encodes, each with the levels it learned.

    Empty when the encoder selected no column (then it passes X through unchanged), or for a
    model that is not a Pipeline with an encoder.
    """
    encoder = getattr(model, "named_steps", {}).get("encoder")
    if encoder is None:
        return {}
    for name, transformer, columns in encoder.transformers_:
        if name == "categorical" and len(columns):
            levels = transformer.categories_
            return {str(c): list(map(str, lv)) for c, lv in zip(columns, levels, strict=True)}
    return {}


def coefficients(model: Pipeline) -> dict[str, float]:
    """The estimator's coefficients by input name, on the standardised scale the model uses."""
    coef = map(float, model.named_steps["model"].coef_)
    return dict(zip(feature_names(model), coef, strict=True))


def grid_edge(result: TrainResult) -> str | None:
    """A warning when CV chose the first or last alpha of a searched grid: the best alpha may
    lie beyond it, so the grid should be widened on that side (None when inside, or no search)."""
    if result.n_alphas_searched < 2:
        return None
    last = result.n_alphas_searched - 1
    if result.search.best_index not in (0, last):
        return None
    side, key = (
        ("lowest", "log10_start") if result.search.best_index == 0 else ("highest", "log10_stop")
    )
    return (
        f"alpha {result.alpha:.6g} is the {side} value of the grid: the best alpha may lie "
        f"beyond it; widen the grid (alpha_grid.{key})"
    )


def unconverged(result: TrainResult) -> str | None:
    """A warning when LASSO's final fit stopped at ``max_iter`` sweeps before converging (its
    coefficients are not the LASSO's yet), as scikit-learn's ConvergenceWarning; else None."""
    estimator = result.model.named_steps["model"]
    if not isinstance(estimator, Lasso) or estimator.n_iter_ < estimator.max_iter:
        return None
    return (
        f"the LASSO fit stopped at estimator.max_iter={estimator.max_iter} coordinate-descent "
        f"sweeps before converging; raise estimator.max_iter"
    )


def train_report(result: TrainResult) -> TrainMetrics:
    """The scalars and coefficients of metrics/train_<name>.json (curves go to plots)."""
    coef = coefficients(result.model)
    search, best = result.search, result.search.best_index
    return TrainMetrics(
        alpha=result.alpha,
        alpha_rule=None if result.alpha is None else result.alpha_rule,
        n_alphas_searched=result.n_alphas_searched,
        alpha_on_grid_edge=grid_edge(result),
        cv_rmse_mean=float(search.cv_rmse_mean[best]),
        cv_rmse_std=float(search.cv_rmse_std[best]),
        train_rmse_mean=float(search.train_rmse.mean(axis=0)[best]),
        n_zero_coef=sum(value == 0.0 for value in coef.values()),
        intercept=float(result.model.named_steps["model"].intercept_),
        coef=coef,
    )


def _significant(frame: pd.DataFrame, digits: int = 10) -> pd.DataFrame:
    """Float columns cut to ``digits`` significant digits: last-bit noise never changes a plot."""
    floats = frame.select_dtypes("float").columns
    return frame.assign(
        **{name: frame[name].map(lambda v: float(f"{v:.{digits}g}") + 0.0) for name in floats}
    )


def validation_curve(result: TrainResult) -> pd.DataFrame:
    """Per alpha: mean/std over folds of validation and training RMSE, and the number of
    non-zero coefficients of the model fitted on the whole training split (the bias/variance
    picture: training error rises with alpha, validation error has its minimum in between)."""
    search = result.search
    return _significant(
        pd.DataFrame(
            {
                "alpha": search.alphas,
                "cv_rmse_mean": search.cv_rmse_mean,
                "cv_rmse_std": search.cv_rmse_std,
                "train_rmse_mean": search.train_rmse.mean(axis=0),
                "train_rmse_std": search.train_rmse.std(axis=0),
                "n_nonzero_coef": np.count_nonzero(search.path_coef, axis=1),
            }
        )
    )


def coefficient_path(result: TrainResult) -> pd.DataFrame:
    """Per alpha and feature, the coefficient (standardised scale) fitted on all training rows.

    Long format (alpha, feature, coef), so the plot needs no list of feature names.
    """
    path = pd.DataFrame(result.search.path_coef, columns=feature_names(result.model))
    long = path.assign(alpha=result.search.alphas).melt(
        id_vars="alpha", var_name="feature", value_name="coef"
    )
    return _significant(long)


def _qualified(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


# What this project's models are made of (make_pipeline): the only non-builtin, non-numpy types a
# served model file may name (regpipe.io.load_safe_model). A fitted ColumnTransformer holds its
# passthrough remainder as an identity FunctionTransformer (func=None; a function it named would
# need its own place on this list).
SAFE_MODEL_CLASSES = (
    Pipeline,
    ColumnTransformer,
    make_column_selector,
    OneHotEncoder,
    FunctionTransformer,
    StandardScaler,
    *ESTIMATORS.values(),
)
SAFE_MODEL_TYPES = tuple(_qualified(cls) for cls in SAFE_MODEL_CLASSES)
