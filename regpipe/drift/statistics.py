"""The per-column statistics: cleaning, counting levels, the choice of test, and each test.

Numeric columns are sorted once (:func:`clean`) and every statistic reuses the sorted arrays;
scipy.stats is imported only by the p-value tests (small samples), since its import alone costs
more than testing 1e5 rows.
"""

import math

import numpy as np
import pandas as pd

P_VALUE_TESTS = ("ks", "chisquare", "z")
JS_BINS = 30  # Evidently's bins for Jensen-Shannon on numeric columns...
JS_VALUE_BINS = 20  # ...unless the reference has at most this many values: one bin per value
CATEGORICAL_INTEGERS = 10  # integer columns with at most this many values are tested as levels
MIN_STD = 0.001  # Evidently's floor on the reference std that normalises Wasserstein


def is_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def clean(series: pd.Series, numeric: bool) -> np.ndarray:
    """The values a test sees: NaN and +-inf dropped; numbers as sorted float64, labels as str.

    Numbers are sorted once here, so every statistic after this is a binary search or a linear
    pass instead of another sort (what makes 1e6 rows per side take seconds, not minutes).
    """
    if numeric:
        values = series.to_numpy(dtype=float, na_value=np.nan)
        values = values[np.isfinite(values)]
        values.sort()
        return values
    return labels(series)


def labels(series: pd.Series) -> np.ndarray:
    """The present values of a column tested as levels, as text. Dates and durations are
    written each in full: pandas' ``astype(str)`` leaves out the time of day when every value
    of the Series is at midnight, so a chunk of a column would get other labels than the whole.
    """
    present = series.dropna()
    if present.dtype.kind in "mM":
        present = present.astype(object)  # Timestamps and Timedeltas: str() of each, in full
    return present.astype(str).to_numpy()


def _sorted_levels(values: np.ndarray) -> np.ndarray:
    return values[np.r_[True, values[1:] != values[:-1]]] if len(values) else values


def level_counts(
    reference: np.ndarray, current: np.ndarray, numeric: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every level seen on either side (sorted) and its count on each side."""
    if numeric:
        levels = np.union1d(_sorted_levels(reference), _sorted_levels(current))
        counts = [
            np.searchsorted(values, levels, "right") - np.searchsorted(values, levels, "left")
            for values in (reference, current)
        ]
        return levels, counts[0], counts[1]
    ref, cur = pd.Series(reference).value_counts(), pd.Series(current).value_counts()
    levels = np.union1d(ref.index.to_numpy(), cur.index.to_numpy())
    return (
        levels,
        ref.reindex(levels, fill_value=0).to_numpy(),
        cur.reindex(levels, fill_value=0).to_numpy(),
    )


def n_distinct(reference: np.ndarray, current: np.ndarray, numeric: bool) -> int:
    """Distinct values over both sides: exact up to CATEGORICAL_INTEGERS, else a lower bound
    (all a choice of test needs)."""
    if not numeric:
        return len(level_counts(reference, current, numeric)[0])
    sides = [np.count_nonzero(values[1:] != values[:-1]) + 1 for values in (reference, current)]
    if max(sides) > CATEGORICAL_INTEGERS:
        return max(sides)
    return len(level_counts(reference, current, numeric)[0])


def is_integer_coded(reference: np.ndarray, current: np.ndarray, n_distinct: int) -> bool:
    """Whole numbers with at most CATEGORICAL_INTEGERS values: Evidently tests them as levels."""
    return n_distinct <= CATEGORICAL_INTEGERS and all(
        np.array_equal(values, np.round(values)) for values in (reference, current)
    )


def default_test(n_smaller: int, n_distinct: int, numeric: bool, small_reference: int) -> str:
    """Evidently's choice of test for this column (``numeric`` False for levels), made on the
    smaller of the two samples rather than on the reference alone.

    Evidently switches to distances above ``small_reference`` reference rows, assuming the
    current batch is as large: a distance has no notion of sampling noise, and between a
    200-row batch and any reference from the same population Wasserstein / sd is ~0.09 on
    average (>= 0.1 for a third of normal columns). The noise of a two-sample statistic is set
    by the smaller sample, so that is the one compared with ``small_reference``: both sides
    large gives Evidently's distances (and its verdicts), a small batch gets a calibrated test.
    """
    if n_smaller <= small_reference:
        if numeric and n_distinct > 5:
            return "ks"
        return "chisquare" if n_distinct > 2 else "z"
    return "wasserstein" if numeric and n_distinct > 5 else "jensenshannon"


def _bin_counts(sorted_values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts in (-inf, e0), [e0, e1), ..., [e_last, inf) of a sorted array."""
    below = np.searchsorted(sorted_values, edges, side="left")
    return np.diff(np.concatenate([[0], below, [len(sorted_values)]]))


def binned(
    reference: np.ndarray, current: np.ndarray, numeric: bool, n_bins: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bin labels and shares per bin on both sides.

    Numeric: ``n_bins`` equal-width bins over both sides' range (as ``np.histogram`` draws
    them), labelled by their centre; categorical: one bin per level.
    """
    if numeric:
        low, high = min(reference[0], current[0]), max(reference[-1], current[-1])
        if low == high:
            low, high = low - 0.5, high + 0.5
        edges = np.linspace(low, high, n_bins + 1)
        labels = (edges[:-1] + edges[1:]) / 2
        ref, cur = _bin_counts(reference, edges[1:-1]), _bin_counts(current, edges[1:-1])
    else:
        labels, ref, cur = level_counts(reference, current, numeric)
    return labels, ref / ref.sum(), cur / cur.sum()


def wasserstein(reference: np.ndarray, current: np.ndarray) -> float:
    """First Wasserstein distance of two sorted samples: the area between their quantile functions.

    The value of ``scipy.stats.wasserstein_distance``, which sorts both samples and their union
    again; on inputs already sorted this is linear and several times faster at 1e6 rows.
    """
    n, m = len(reference), len(current)
    steps = np.concatenate([np.arange(1, n + 1) / n, np.arange(1, m + 1) / m])
    steps.sort(kind="stable")  # two sorted runs: merged in linear time
    width = np.diff(steps, prepend=0.0)
    middle = steps - width / 2
    i = np.minimum((middle * n).astype(np.int64), n - 1)
    j = np.minimum((middle * m).astype(np.int64), m - 1)
    return float(np.dot(width, np.abs(reference[i] - current[j])))


def jensenshannon(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon distance, natural log: ``scipy.spatial.distance.jensenshannon``'s value."""
    middle = (p + q) / 2
    divergence = sum(
        np.sum(shares[shares > 0] * np.log(shares[shares > 0] / middle[shares > 0]))
        for shares in (p, q)
    )
    return float(np.sqrt(max(divergence / 2, 0.0)))


def psi(reference: np.ndarray, current: np.ndarray, *, n_bins: int, epsilon: float) -> float:
    """Population stability index on ``n_bins`` reference-quantile bins (empty bins -> epsilon).

    Both samples sorted (as :func:`clean` returns them).
    """
    edges = np.unique(np.quantile(reference, np.linspace(0, 1, n_bins + 1)[1:-1]))
    ref = np.maximum(_bin_counts(reference, edges) / len(reference), epsilon)
    cur = np.maximum(_bin_counts(current, edges) / len(current), epsilon)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def chisquare_counts(reference: np.ndarray, current: np.ndarray) -> tuple[float, float]:
    """The two-sample chi-square test of homogeneity on both samples' counts per level.

    Evidently's goodness-of-fit test takes the reference shares as exact, which only holds for
    a reference far larger than the batch: 1,000 rows against 500 alarm on ~40% of unchanged
    3-level columns. A level seen on one side only is part of the table.
    """
    from scipy.stats import chi2_contingency

    result = chi2_contingency(np.vstack([reference, current]), correction=False)
    return float(result.statistic), float(result.pvalue)


def z_counts(first: tuple[int, int], sizes: tuple[int, int]) -> tuple[float, float]:
    """Two-proportion z-test: the first level's count on each side, out of each side's size."""
    from scipy.stats import norm

    (ref, cur), (n_ref, n_cur) = first, sizes
    pooled = (ref + cur) / (n_ref + n_cur)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / n_ref + 1 / n_cur))
    statistic = float((ref / n_ref - cur / n_cur) / spread) if spread > 0 else 0.0
    return statistic, float(2 * norm.sf(abs(statistic)))


def ks_counts(below: np.ndarray, not_above: np.ndarray, n_reference: int, current: np.ndarray):
    """Two-sample KS statistic and p-value from the reference's counts at the batch's values.

    ``current`` sorted; ``below[i]`` and ``not_above[i]`` count the reference values < and <=
    ``current[i]``. Both empirical distribution functions are steps, so the largest gap is at
    a batch value or just before one: these counts give ``scipy.stats.ks_2samp``'s statistic
    without the reference values. The p-value is ks_2samp's asymptotic one (its choice once a
    sample has more than 10,000 values), so ``n_reference`` must exceed that.
    """
    from scipy.stats import kstwo

    m = len(current)
    gaps = [
        np.abs(not_above / n_reference - np.searchsorted(current, current, "right") / m),
        np.abs(below / n_reference - np.searchsorted(current, current, "left") / m),
    ]
    statistic = float(max(gap.max() for gap in gaps))
    effective = round(n_reference * m / (n_reference + m))
    return statistic, float(np.clip(kstwo.sf(statistic, effective), 0, 1))


def result_fields(
    statistic: float, p_value: float | None, distance: float | None, threshold: float, drift: bool
) -> dict:
    return {
        "statistic": statistic,
        "p_value": p_value,
        "distance": distance,
        "threshold": threshold,
        "drift": bool(drift),
    }


def run_test(
    test: str, reference: np.ndarray, current: np.ndarray, *, numeric: bool, threshold: float
) -> dict:
    """One test's statistic, p-value or distance, and drift flag (Evidently's comparisons).

    Samples as :func:`clean` returns them. scipy.stats is imported only by the p-value tests.
    """
    p_value = distance = None
    if test == "ks":
        from scipy.stats import ks_2samp

        result = ks_2samp(reference, current)
        statistic, p_value = float(result.statistic), float(result.pvalue)
        drift = p_value <= threshold
    elif test == "chisquare":
        _, ref, cur = level_counts(reference, current, numeric)
        statistic, p_value = chisquare_counts(ref, cur)
        drift = p_value < threshold
    elif test == "z":
        _, ref, cur = level_counts(reference, current, numeric)
        statistic, p_value = z_counts((ref[0], cur[0]), (len(reference), len(current)))
        drift = p_value < threshold
    elif test == "wasserstein":
        norm_std = max(float(np.std(reference)), MIN_STD)
        statistic = distance = wasserstein(reference, current) / norm_std
        drift = distance >= threshold
    elif test == "jensenshannon":
        few_values = numeric and len(_sorted_levels(reference)) <= JS_VALUE_BINS
        # Evidently: one bin per value when the reference has few of them, else equal widths
        _, ref, cur = binned(reference, current, numeric and not few_values, JS_BINS)
        statistic = distance = jensenshannon(ref, cur)
        drift = distance >= threshold
    else:  # psi as the deciding test, when a column's override asks for it
        statistic = distance = psi(reference, current, n_bins=10, epsilon=1e-4)
        drift = distance >= threshold
    return result_fields(statistic, p_value, distance, threshold, drift)
