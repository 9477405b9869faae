"""Test-set metrics for the trained models and a mean-predictor baseline, and the champion.

Also what the test number alone does not show: cross-validated metrics on the training split,
and the bias²/variance/noise decomposition of each model's test error by bootstrap refits.
Every fit here sees training rows only; the test split is only ever predicted.

The refits are not run one by one: as in regpipe.search, a linear Pipeline(StandardScaler,
OLS | Ridge | LASSO) is a function of the sufficient statistics of its rows (count, sums,
``XᵀX``, ``Xᵀy``, ``yᵀy``), so the CV folds' refits come from per-fold statistics and each
bootstrap replicate's from the count-weighted statistics of the training split, all summed in
one pass over the data (:class:`Rows` may be read chunk by chunk). Ridge and OLS are exactly
scikit-learn's refits; LASSO is the exact solution (LARS on the weighted Gram matrix), where
scikit-learn's coordinate descent stops at its tolerance. tests/test_evaluation_stats.py
compares every number with scikit-learn's refits.
"""

from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd
from sklearn.linear_model import Lasso, LinearRegression, Ridge
from sklearn.model_selection import BaseCrossValidator

from regpipe.reports import Evaluation, LeaderboardRow, ModelCard, TrainMetrics
from regpipe.search import (
    FoldLabels,
    Kind,
    Rows,
    Standardised,
    SufficientStatistics,
    augmented,
    effective_rank,
    fold_labels,
    from_grams,
    group_statistics,
    lasso_refit,
    prediction_coefficients,
    ridge_coefficients,
    standardise,
)

BASELINE = "baseline"


def pick_champion(metrics: dict[str, dict[str, float]], order: list[str]) -> str:
    """The lowest test RMSE; on a tie, the model earlier in ``order`` (simpler first)."""
    return min(order, key=lambda name: (metrics[name]["rmse"], order.index(name)))


@dataclass(frozen=True)
class ErrorSums:
    """What the test metrics need from some rows: per predictor (the models, then the
    baseline) the sums of squared and absolute errors; the sums of ``y - centre`` and its
    square (R²'s total sum of squares, merged over chunks); and the plot rows among them
    (actual, then each model's prediction), in row order. Chunks' sums add up with ``+``."""

    squared: np.ndarray
    absolute: np.ndarray
    deviation: float
    squared_deviation: float
    sample: np.ndarray

    def __add__(self, other: "ErrorSums") -> "ErrorSums":
        return ErrorSums(
            self.squared + other.squared,
            self.absolute + other.absolute,
            self.deviation + other.deviation,
            self.squared_deviation + other.squared_deviation,
            np.concatenate([self.sample, other.sample]),
        )


def error_sums(
    X: np.ndarray,
    y: np.ndarray,
    offset: int,
    *,
    predictors: dict[str, object],
    baseline: float,
    y_centre: float,
    sample_rows: np.ndarray,
) -> ErrorSums:
    """A chunk's :class:`ErrorSums`: each predictor's ``predict`` of the chunk's (encoded) X,
    the baseline's constant, and the chunk's share of ``sample_rows`` (sorted, whole-table
    positions). Each sum is numpy's over one contiguous column, as scikit-learn's metrics
    take it, so a test split read in one chunk gives their numbers bit for bit."""
    predictions = [np.asarray(p.predict(X), dtype=np.float64) for p in predictors.values()]
    errors = [y - predicted for predicted in predictions] + [y - baseline]
    first, last = np.searchsorted(sample_rows, [offset, offset + len(y)])
    chosen = sample_rows[first:last] - offset
    return ErrorSums(
        squared=np.array([np.sum(np.square(error)) for error in errors]),
        absolute=np.array([np.sum(np.abs(error)) for error in errors]),
        deviation=float(np.sum(y - y_centre)),
        squared_deviation=float(np.sum(np.square(y - y_centre))),
        sample=np.column_stack([y[chosen], *(predicted[chosen] for predicted in predictions)]),
    )


def plot_rows(n_rows: int, max_points: int, random_state: int = 0) -> np.ndarray:
    """The test rows drawn for the plots, sorted: all of them up to ``max_points``, else
    ``max_points`` drawn without replacement. Memory: numpy draws by Floyd's method (the draw's
    size) only while ``max_points`` <= ``n_rows`` / 50; above that it permutes every row (8
    bytes a row: 16 MiB for 100,000 points of 2e6 rows, measured with tracemalloc)."""
    if n_rows <= max_points:
        return np.arange(n_rows)
    rng = np.random.default_rng(random_state)
    return np.sort(rng.choice(n_rows, size=max_points, replace=False))


def score_rows(
    predictors: dict[str, object],
    rows: Rows,
    *,
    baseline: float,
    max_points: int,
    random_state: int = 0,
) -> tuple[dict[str, dict[str, float]], pd.DataFrame]:
    """RMSE, MAE and R² of every predictor and of the ``baseline`` constant (named BASELINE)
    on the test ``rows``, and the plot sample (actual and predicted, ``max_points`` rows at
    most): one pass, one chunk in memory.

    ``predictors`` take the encoded X of ``rows`` (a fitted model without its encoder).
    R²'s total sum of squares is summed around the first chunk's mean of y and corrected by
    the mean's offset from it, so the merged chunks give scikit-learn's r2_score over the
    whole split to rounding; exactly its bits only when the split is one chunk of under 20,000
    rows (past that, :func:`~regpipe.search.center` is a strided mean, not y's).
    """
    n = rows.n_rows
    _, y_centre = rows.first_centre()
    sums = rows.reduce(
        partial(
            error_sums,
            predictors=predictors,
            baseline=baseline,
            y_centre=y_centre,
            sample_rows=plot_rows(n, max_points, random_state),
        ),
        "test metrics",
    )
    total = sums.squared_deviation - sums.deviation**2 / n
    metrics = {
        name: {
            "rmse": float(np.sqrt(squared / n)),
            "mae": float(absolute / n),
            "r2": _r2(squared, total, n),
        }
        for name, squared, absolute in zip(
            [*predictors, BASELINE], sums.squared, sums.absolute, strict=True
        )
    }
    sample = pd.DataFrame(sums.sample, columns=["actual", *predictors])
    # Rounded so last-bit float noise never changes the file (and so its hash in dvc.lock).
    return metrics, sample.round(6)


def _r2(squared_errors: float, total: float, n: int) -> float:
    """scikit-learn's r2_score from its two sums (force_finite: a constant y scores 1 or 0)."""
    if n < 2:
        return float("nan")
    if squared_errors == 0:
        return 1.0
    return 0.0 if total == 0 else float(1 - squared_errors / total)


def evaluate(metrics: dict[str, dict[str, float]], model_order: list[str]) -> dict:
    """The metrics of :func:`score_rows` and the champion among ``model_order``."""
    return {"models": metrics, "champion": pick_champion(metrics, model_order)}


def model_spec(model: object) -> tuple[Kind, float]:
    """What the final step of a fitted Pipeline is, as the statistics fit it: kind and alpha."""
    estimator = model.named_steps["model"]
    kind = {LinearRegression: "ols", Ridge: "ridge", Lasso: "lasso"}[type(estimator)]
    return kind, 0.0 if kind == "ols" else float(estimator.alpha)


def design(models: dict[str, object], X: pd.DataFrame) -> np.ndarray:
    """X as the models' scalers see it: the fitted encoder's one-hot design, float64.

    The three models were fitted on the same training split, so their encoders agree; a refit
    on a subset of it (a fold, a resample) that lacks a level has that column constant, hence a
    zero coefficient, which predicts what the subset's own encoder (ignoring the level) would.
    """
    encoders = [model[:-2] for model in models.values()]
    names = {tuple(encoder.get_feature_names_out()) for encoder in encoders}
    if len(names) != 1:
        raise ValueError(f"the models encode their inputs differently: {sorted(names)}")
    return np.asarray(encoders[0].transform(X), dtype=np.float64)


def _fitted(
    models: dict[str, object], stats: SufficientStatistics
) -> tuple[Standardised, np.ndarray]:
    """Every model refitted on each group of ``stats`` at its own alpha, as prediction
    coefficients (groups, models, p+1), and the groups' standardised problems."""
    problem = standardise(stats)
    thetas = []
    for model in models.values():
        kind, alpha = model_spec(model)
        if kind == "lasso":
            coefs, _ = lasso_refit(problem, alpha)
        else:
            coefs = ridge_coefficients(problem, np.array([alpha]))[:, 0]
        thetas.append(prediction_coefficients(problem, coefs))
    return problem, np.stack(thetas, axis=1)


def cv_metrics(
    models: dict[str, object], rows: Rows, *, cv: BaseCrossValidator
) -> dict[str, dict[str, float | None]]:
    """Mean RMSE, MAE and R² over ``cv``'s folds of each model refitted at its chosen alpha,
    and of the mean-predictor baseline: ``cross_validate``'s numbers, from two passes.

    The first pass sums each test fold's sufficient statistics; every training fold's refit
    (scaler and model) and its squared errors follow from them exactly. MAE has no sufficient
    statistic, so a second pass predicts each row with its fold's models.

    The alphas were chosen on these same folds, so these are slightly optimistic: the test
    split is the unbiased number, the CV numbers show how stable the model is across folds.
    R² is None when a validation fold holds a single row: its R² is undefined.
    """
    labels = fold_labels(cv, rows.n_rows)
    n_folds = labels.n_groups
    stats = group_statistics(rows, labels)
    _, thetas = _fitted(models, stats.complement())
    # The baseline predicts its training fold's mean: a model with every slope zero.
    train_y_mean = (stats.y_sum.sum() - stats.y_sum) / (stats.n.sum() - stats.n)
    baseline = np.zeros((n_folds, 1, thetas.shape[2]))
    baseline[:, 0, 0] = train_y_mean
    thetas = np.concatenate([thetas, baseline], axis=1)

    sse = np.stack([_squared_errors(stats, thetas[:, m]) for m in range(thetas.shape[1])], 1)
    absolute = rows.reduce(
        partial(
            absolute_errors,
            labels=labels,
            thetas=thetas,
            centre=(stats.X_center, stats.y_center),
        ),
        "CV absolute errors",
    )
    n = stats.n[:, None]
    total = (stats.yty - stats.y_sum**2 / stats.n)[:, None]
    # A fold whose target is constant (total 0 but for rounding) scores as r2_score's
    # force_finite does: 1 when predicted exactly, else 0.
    constant = total <= 8 * np.finfo(float).eps * stats.yty[:, None]
    names = [*models, BASELINE]
    r2_defined = bool((stats.n >= 2).all())  # a 1-row fold's total sum of squares is 0
    with np.errstate(divide="ignore", invalid="ignore"):
        rmse, mae = np.sqrt(sse / n), absolute / n
        r2 = np.where(constant, np.where(sse == 0, 1.0, 0.0), 1.0 - sse / total)
    return {
        name: {
            "rmse": float(rmse[:, m].mean()),
            "mae": float(mae[:, m].mean()),
            "r2": float(r2[:, m].mean()) if r2_defined else None,
        }
        for m, name in enumerate(names)
    }


def absolute_errors(
    X: np.ndarray,
    y: np.ndarray,
    offset: int,
    *,
    labels: FoldLabels,
    thetas: np.ndarray,
    centre: tuple[np.ndarray, float],
) -> np.ndarray:
    """A chunk's sums of absolute errors (folds, models): each row predicted by its validation
    fold's models ``thetas`` (folds, models, p+1), in the coordinates centred at ``centre``."""
    fold = labels[offset : offset + len(X)]
    absolute = np.zeros(thetas.shape[:2])
    for group in np.unique(fold):
        part = fold == group
        predicted = thetas[group, :, 0] + (X[part] - centre[0]) @ thetas[group, :, 1:].T
        absolute[group] += np.abs((y[part] - centre[1])[:, None] - predicted).sum(0)
    return absolute


def _squared_errors(stats: SufficientStatistics, theta: np.ndarray) -> np.ndarray:
    """Sums of squared errors of models ``theta = [intercept, slope]`` (in the statistics'
    centred coordinates): (groups, p+1) models on their own groups, or on one group's rows
    when ``stats`` has one group; a single model (p+1,) on every group."""
    theta = np.atleast_2d(theta)
    k = max(len(stats.n), len(theta))
    theta = np.broadcast_to(theta, (k, theta.shape[1]))
    n, y_sum, yty = (np.broadcast_to(a, (k,)) for a in (stats.n, stats.y_sum, stats.yty))
    X_sum, Xty = (np.broadcast_to(a, (k, a.shape[1])) for a in (stats.X_sum, stats.Xty))
    XtX = np.broadcast_to(stats.XtX, (k, *stats.XtX.shape[1:]))
    intercept, slope = theta[:, 0], theta[:, 1:]
    quadratic = (
        np.einsum("gi,gij,gj->g", slope, XtX, slope)
        + 2 * intercept * np.einsum("gi,gi->g", slope, X_sum)
        + n * intercept**2
    )
    cross = np.einsum("gi,gi->g", slope, Xty) + intercept * y_sum
    return np.clip(yty - 2 * cross + quadratic, 0.0, None)


def noise_variance(rows: Rows) -> float:
    """The irreducible error σ², estimated as OLS's unbiased residual variance RSS / (n - r - 1),
    r the rank of the centred (encoded) training design: n - p - 1 for p independent features.

    ``rows`` are the model's encoded training matrix (one-hot levels, numbers), not the raw
    columns. The degrees of freedom count the intercept and the independent columns only, so a
    one-hot block (its levels sum to the intercept) is not counted twice. It assumes the truth
    is linear in the features with additive noise; under that assumption it is the same for
    every model, so the decomposition below compares models fairly.
    """
    total = total_statistics(rows, what="noise (OLS residuals)")
    problem = standardise(total)
    theta = prediction_coefficients(problem, ridge_coefficients(problem, np.zeros(1))[:, 0])
    rss = _squared_errors(total, theta)[0]
    dof = total.n[0] - effective_rank(problem)[0] - 1
    if dof <= 0:
        return float("nan")  # as many parameters as rows: no residual left to measure σ²
    return float(rss / dof)


@dataclass(frozen=True)
class Bootstrap:
    """The multinomial bootstrap of rows in blocks of ``sizes`` rows: replicate b's count of
    each row (how often its resample repeats it), for any range of rows, drawn where needed.

    Drawing n rows with replacement is split exactly in two: how many of the n draws land in
    each block (one multinomial over the blocks' shares, ``totals``), then which rows inside
    the block (uniform draws). The resamples therefore have today's distribution for any
    blocking, but the draws depend on ``random_state`` and on the block sizes. Each (block,
    replicate) has its own seed (a child of ``random_state``'s SeedSequence), so the counts of
    a range of rows do not depend on which process draws them, when, or how the rows are
    partitioned: a Dask partition that straddles blocks draws the same counts as the chunks.
    """

    sizes: tuple[int, ...]
    random_state: int
    totals: np.ndarray  # (replicates, blocks): resampled rows falling in each block

    @classmethod
    def draw(cls, sizes: list[int], n_bootstrap: int, random_state: int) -> "Bootstrap":
        shares = np.asarray(sizes, dtype=np.float64) / sum(sizes)
        rng = np.random.default_rng(np.random.SeedSequence(random_state, spawn_key=(0,)))
        totals = rng.multinomial(sum(sizes), shares, size=n_bootstrap)
        return cls(tuple(sizes), random_state, totals)

    @property
    def n_bootstrap(self) -> int:
        return len(self.totals)

    def counts(self, b: int, start: int, stop: int) -> np.ndarray:
        """Replicate ``b``'s count of each row in ``start:stop`` (whole-table positions)."""
        parts, first = [], 0
        for block, size in enumerate(self.sizes):
            if first < stop and start < first + size:
                seed = np.random.SeedSequence(self.random_state, spawn_key=(block + 1, b))
                drawn = np.random.default_rng(seed).integers(0, size, self.totals[b, block])
                counts = np.bincount(drawn, minlength=size)
                parts.append(counts[max(start - first, 0) : stop - first])
            first += size
        return np.concatenate(parts)


def bootstrap_grams(
    X: np.ndarray,
    y: np.ndarray,
    offset: int,
    *,
    bootstrap: Bootstrap,
    centre: tuple[np.ndarray, float],
    block_rows: int = 16_384,
) -> np.ndarray:
    """A chunk's count-weighted augmented Gram matrix in every replicate, (replicates, p+2, p+2).

    All replicates in one matrix product per block of rows: (replicates x rows) counts times
    (rows x upper triangle) products of each row's entries, 5x less CPU than one weighted
    product per replicate. Memory: the counts in 2 bytes a row per replicate, one block's
    products and float counts.
    """
    chunk = augmented(X, y, *centre)
    upper_rows, upper_cols = np.triu_indices(chunk.shape[1])
    counts = np.empty((bootstrap.n_bootstrap, len(X)), dtype=np.int16)
    for b in range(bootstrap.n_bootstrap):
        counts[b] = bootstrap.counts(b, offset, offset + len(X))
    upper = np.zeros((bootstrap.n_bootstrap, len(upper_rows)))
    for start in range(0, len(X), block_rows):
        block = chunk[start : start + block_rows]
        products = block[:, upper_rows] * block[:, upper_cols]
        upper += counts[:, start : start + block_rows].astype(np.float64) @ products
    grams = np.empty((bootstrap.n_bootstrap, chunk.shape[1], chunk.shape[1]))
    grams[:, upper_rows, upper_cols] = upper
    grams[:, upper_cols, upper_rows] = upper
    return grams


def bootstrap_statistics(
    rows: Rows, *, n_bootstrap: int, random_state: int
) -> SufficientStatistics:
    """One pass: each bootstrap replicate's statistics, the count-weighted sums of the training
    rows (a resample that repeats a row k times has exactly these sums), one group per replicate.
    The replicates are the same for every model."""
    centre = rows.first_centre()
    bootstrap = Bootstrap.draw(rows.sizes, n_bootstrap, random_state)
    grams = rows.reduce(
        partial(bootstrap_grams, bootstrap=bootstrap, centre=centre), "bootstrap statistics"
    )
    return from_grams(grams, *centre)


def total_statistics(
    rows: Rows, centre: tuple[np.ndarray, float] | None = None, what: str = "totals"
) -> SufficientStatistics:
    """One pass: the statistics of all of ``rows`` as one group."""
    return group_statistics(rows, FoldLabels.blocks([rows.n_rows]), centre, what)


def target_sum(X: np.ndarray, y: np.ndarray, offset: int) -> np.ndarray:
    return np.array([y.sum()])


def target_mean(rows: Rows) -> float:
    """The training target's mean (what the baseline predicts), in one pass."""
    return float(rows.reduce(target_sum, "target mean")[0] / rows.n_rows)


def bias_variance(
    models: dict[str, object],
    replicates: SufficientStatistics,
    test: SufficientStatistics,
    *,
    noise: float,
) -> dict[str, dict[str, float]]:
    """The test MSE of each model split into bias², variance and noise over bootstrap refits.

    Each replicate of ``replicates`` (:func:`bootstrap_statistics`) is refitted at the model's
    chosen alpha. A linear model's prediction is ``θ · (1, x)``, so per test row the variance
    of the refits' predictions is ``(1, x)ᵀ C (1, x)`` with C the covariance of their θ, and
    every mean over the test rows is a quadratic form of the test split's statistics ``test``
    (centred as ``replicates``): no prediction is computed. (mean prediction - y)² is bias² +
    noise, so ``expected_mse = bias_sq + variance + noise`` holds exactly with ``noise`` from
    :func:`noise_variance`. bias² is what is left of ``bias_sq_plus_noise`` after the noise
    estimate, so it carries that estimate's sampling error (about sqrt(2 / (n - p - 1)) of
    σ², 8% on Diabetes): a small negative bias² means "below what this data can resolve".
    """
    _, thetas = _fitted(models, replicates)
    n_test = test.n[0]
    moments = np.block(
        [[test.n[:, None], test.X_sum], [test.X_sum.T, test.XtX[0]]]
    )  # Σ (1, x)(1, x)ᵀ over the test rows
    result = {}
    for m, name in enumerate(models):
        theta = thetas[:, m]
        mean_theta = theta.mean(axis=0)
        spread = theta - mean_theta
        variance = np.einsum("bi,ij,bj->", spread, moments, spread) / len(theta) / n_test
        squared_bias_and_noise = float(_squared_errors(test, mean_theta)[0] / n_test)
        result[name] = {
            "expected_mse": float(_squared_errors(test, theta).mean() / n_test),
            "bias_sq_plus_noise": squared_bias_and_noise,
            "bias_sq": squared_bias_and_noise - noise,
            "variance": float(variance),
            "noise": noise,
        }
    return result


def refit_metrics(
    models: dict[str, object],
    train: Rows,
    test: Rows,
    *,
    cv: BaseCrossValidator,
    n_bootstrap: int,
    random_state: int,
) -> dict:
    """The CV metrics and the bias/variance decomposition of every model: four passes over the
    training rows (CV statistics, CV absolute errors, bootstrap, noise) and one over the test's."""
    replicates = bootstrap_statistics(train, n_bootstrap=n_bootstrap, random_state=random_state)
    test_stats = total_statistics(
        test, (replicates.X_center, replicates.y_center), "test split statistics"
    )
    return {
        "cv": cv_metrics(models, train, cv=cv),
        "n_bootstrap": n_bootstrap,
        "bias_variance": bias_variance(models, replicates, test_stats, noise=noise_variance(train)),
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
    evaluation: Evaluation,
    training: TrainMetrics,
    data_sha256: dict[str, str],
) -> ModelCard:
    """What a reviewer or the registry needs to know about the deployable model.

    No git revision or timestamp is written: they would change the file on every commit and
    break byte-for-byte reproducibility; the registry tag that points at this commit adds them.
    ``sha256`` is the joblib's (the scikit-learn artifact), ``skops_sha256`` the skops file's
    (the form that is served).
    """
    return ModelCard(
        artifact="champion",
        model=champion,
        sha256=sha256,
        skops_sha256=skops_sha256,
        data_sha256=data_sha256,
        alpha=training.alpha,
        cv_rmse_mean=training.cv_rmse_mean,
        test_metrics=evaluation.models[champion],
        baseline_metrics=evaluation.models[BASELINE],
        gate=evaluation.gate,
        cv_metrics=evaluation.cv[champion],
        n_bootstrap=evaluation.n_bootstrap,
        bias_variance=evaluation.bias_variance[champion],
        leaderboard=leaderboard(evaluation),
        coef=training.coef,
        zero_features=[name for name, value in training.coef.items() if value == 0.0],
    )


def leaderboard(evaluation: Evaluation) -> list[LeaderboardRow]:
    """Every model and the baseline, best test RMSE first: test and CV metrics, bias², variance."""
    rows = [
        LeaderboardRow(
            model=name,
            **{f"test_{key}": value for key, value in test.model_dump().items()},
            **{f"cv_{key}": value for key, value in evaluation.cv[name].model_dump().items()},
            **(
                evaluation.bias_variance[name].model_dump()
                if name in evaluation.bias_variance
                else {}
            ),
        )
        for name, test in evaluation.models.items()
    ]
    return sorted(rows, key=lambda row: row.test_rmse)


def model_card_markdown(card: ModelCard) -> str:
    gate = "passed" if card.gate.passed else "FAILED: " + "; ".join(card.gate.reasons)
    rows = "\n".join(f"| {name} | {value:.4g} |" for name, value in card.coef.items())
    metrics = card.test_metrics
    columns = ["test_rmse", "test_mae", "test_r2", "cv_rmse", "cv_r2", "bias_sq", "variance"]
    board = "\n".join(
        f"| {row.model} | "
        + " | ".join(
            f"{value:.4g}" if (value := getattr(row, key)) is not None else "" for key in columns
        )
        + " |"
        for row in card.leaderboard
    )
    return (
        f"# Model card: {card.artifact} ({card.model})\n\n"
        f"- test RMSE {metrics.rmse:.4g}, MAE {metrics.mae:.4g}, R² {metrics.r2:.4g} "
        f"(baseline RMSE {card.baseline_metrics.rmse:.4g})\n"
        f"- alpha: {card.alpha}; CV RMSE {card.cv_rmse_mean:.4g}\n"
        f"- quality gate: {gate}\n"
        f"- zero coefficients: {', '.join(card.zero_features) or 'none'}\n"
        f"- model file sha256: `{card.sha256}` (joblib), `{card.skops_sha256}` (skops)\n\n"
        f"| feature | coefficient (standardised) |\n| --- | --- |\n{rows}\n\n"
        f"## Leaderboard (best test RMSE first)\n\n"
        f"| model | {' | '.join(columns)} |\n|{' --- |' * (len(columns) + 1)}\n{board}\n\n"
        f"bias² + variance + noise = expected test MSE over {card.n_bootstrap} bootstrap "
        f"refits on the training split; noise {card.bias_variance.noise:.4g} is OLS's "
        f"residual variance (a linear truth assumed), so bias² can come out slightly negative.\n\n"
        f"No git revision or date in this card: it must stay byte-for-byte reproducible; the "
        f"registry's tag for the commit that holds this card names the revision.\n"
    )


def residual_sample(sample: pd.DataFrame) -> pd.DataFrame:
    """Long format (model, predicted, residual) of :func:`score_rows`' plot sample."""
    long = sample.melt(id_vars="actual", var_name="model", value_name="predicted")
    long["residual"] = (long["actual"] - long["predicted"]).round(6)
    return long[["model", "predicted", "residual"]]
