"""Column and dataset verdicts: which test each column gets, its result, and the dataset alarm."""

import os
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from regpipe.drift.reference import (
    SampledColumn,
    sampled_distinct,
    sampled_test,
    tested_as_numeric,
)
from regpipe.drift.statistics import (
    CATEGORICAL_INTEGERS,
    P_VALUE_TESTS,
    clean,
    default_test,
    is_integer_coded,
    labels,
    n_distinct,
    psi,
    run_test,
)
from regpipe.errors import UserError
from regpipe.reports import ColumnDrift, DatasetDrift

if TYPE_CHECKING:
    from regpipe.params import Drift


def psi_band(value: float, bands: tuple[float, float]) -> str:
    if value < bands[0]:
        return "stable"
    return "moderate" if value < bands[1] else "significant"


def quality(
    reference: "pd.Series | SampledColumn",
    current: pd.Series,
    numeric: bool,
    stats: dict | None,
) -> dict[str, float | None]:
    """Missing-value rate on both sides and the share of current values outside the reference.

    Outside means below the training minimum or above its maximum (from the training
    statistics when they have them), +-inf, or a category the reference never had (of a
    summarised reference: its counted levels, else every value it kept, else its sample's).
    A numeric column with no present value in the reference has no range: its share is None.
    """
    present = current.dropna()
    sampled = isinstance(reference, SampledColumn)
    if numeric:
        values = present.to_numpy(dtype=float)
        low, high = (stats or {}).get("min"), (stats or {}).get("max")
        if (low is None or high is None) and sampled:
            low, high = reference.low, reference.high
        elif low is None or high is None:
            known = reference.dropna().to_numpy(float)
            low, high = (known.min(), known.max()) if len(known) else (np.inf, -np.inf)
        # low > high (or NaN): no present value in the reference, so no range to be outside of
        outside = int(np.count_nonzero((values < low) | (values > high))) if low <= high else None
    else:
        if not sampled:
            known = set(labels(reference))
        else:
            known = set(reference.level_counts or reference.distribution().tolist())
        outside = int((~pd.Series(labels(present)).isin(known)).sum())
    if sampled:
        missing = reference.n_missing / reference.n_rows if reference.n_rows else None
    else:
        missing = float(reference.isna().mean()) if len(reference) else None
    return {
        "missing_reference": missing,
        "missing_current": float(current.isna().mean()) if len(current) else None,
        "out_of_range_current": None
        if outside is None or not len(present)
        else outside / len(present),
    }


def untestable(
    reference: "pd.Series | SampledColumn", current: pd.Series | None, numeric: bool
) -> tuple[str | None, np.ndarray, np.ndarray]:
    """Why a column cannot be tested (or None), with the values the test would see (of a
    summarised reference: every value when it kept them, else its sample's)."""
    if isinstance(reference, SampledColumn):
        ref = reference.distribution()
        n_ref = reference.n_values  # the sample may miss the few values a column has
    else:
        ref = clean(reference, numeric)
        n_ref = len(ref)
    cur = clean(current, numeric) if current is not None else np.array([])
    if current is None:
        return "absent from the current batch", ref, cur
    if len(current) == 0:
        return "the current batch is empty", ref, cur
    if n_ref == 0:
        return "no finite values in the reference", ref, cur
    if len(cur) == 0:
        return "no finite values in the current batch (all missing or infinite)", ref, cur
    return None, ref, cur


def column_drift(
    reference: "pd.Series | SampledColumn",
    current: pd.Series | None,
    *,
    stats: dict | None,
    test: str | None,
    threshold: float | None,
    p_value: float,
    distance: float,
    small_reference: int,
    psi_bins: int,
    psi_epsilon: float,
    psi_bands: tuple[float, float],
) -> ColumnDrift:
    """The drift report for one column: the test, its result, PSI, missing and range shares.

    ``reference`` is the column itself, or a :class:`~regpipe.drift.reference.SampledColumn`
    of a reference too long to hold: its counts where they are exact, its sample otherwise.
    """
    sampled = isinstance(reference, SampledColumn)
    numeric = reference.numeric if sampled else tested_as_numeric(reference, current)
    reason, ref, cur = untestable(reference, current, numeric)
    n_ref = reference.n_values if sampled else len(ref)
    # a summarised column that kept every value is tested as the whole reference is
    sampled = sampled and reference.values is None
    fields: dict = {"type": "numeric" if numeric else "categorical"}  # ColumnDrift orders them
    if reason:
        fields.update(test=None, drift=None, reason=reason)
    else:
        if sampled:
            distinct = sampled_distinct(reference, cur)
            as_levels = not numeric or (
                distinct <= CATEGORICAL_INTEGERS
                and reference.whole
                and np.array_equal(cur, np.round(cur))
            )
        else:
            distinct = n_distinct(ref, cur, numeric)
            as_levels = not numeric or is_integer_coded(ref, cur, distinct)
        chosen = test or default_test(
            min(n_ref, len(cur)), distinct, not as_levels, small_reference
        )
        if chosen in ("ks", "wasserstein", "psi") and not numeric:
            raise UserError(
                f"drift.columns.{reference.name}.test: {chosen!r} needs a numeric column; "
                "use chisquare, z or jensenshannon"
            )
        if distinct <= 1:
            fields.update(
                test="constant",
                statistic=0.0,
                p_value=None,
                distance=0.0,
                threshold=None,
                drift=False,
            )
        else:
            limit = (
                threshold
                if threshold is not None
                else (p_value if chosen in P_VALUE_TESTS else distance)
            )
            if sampled:
                result = sampled_test(chosen, reference, cur, threshold=limit)
            else:
                result = run_test(chosen, ref, cur, numeric=numeric, threshold=limit)
            fields.update(test=chosen, **result)
        fields["n_distinct"] = distinct if distinct <= 5 else None  # null: more than 5
        if numeric:
            score = psi(ref, cur, n_bins=psi_bins, epsilon=psi_epsilon)
            fields.update(psi=score, psi_band=psi_band(score, psi_bands))
    fields["n_reference"], fields["n_current"] = n_ref, len(cur)
    if current is not None:
        fields.update(quality(reference, current, numeric, stats))
    return ColumnDrift(**fields)


def drift_settings(params: "Drift") -> dict:
    """data_drift's keyword arguments from the ``drift`` params section (all but ``stats``)."""
    return {
        "overrides": {name: override.model_dump() for name, override in params.columns.items()},
        "p_value": params.p_value,
        "distance": params.distance,
        "small_reference": params.small_reference,
        "psi_bins": params.psi.n_bins,
        "psi_epsilon": params.psi.epsilon,
        "psi_bands": params.psi.bands,
    }


def data_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    columns: list[str],
    *,
    stats: dict | None = None,
    overrides: dict[str, dict] | None = None,
    **settings,
) -> dict[str, ColumnDrift]:
    """Per column of ``columns``, :func:`column_drift` with that column's override, if any.

    ``settings`` are column_drift's keyword arguments shared by every column (p_value,
    distance, small_reference, psi_bins, psi_epsilon, psi_bands).
    """
    overrides = overrides or {}
    unknown = sorted(set(overrides) - set(columns))
    if unknown:
        raise UserError(f"drift.columns: unknown column(s) {unknown}; valid: {columns}")
    missing = [column for column in columns if column not in reference.columns]
    if missing:
        raise UserError(f"reference (training split): column(s) {missing} not found")

    def one_column(column: str) -> ColumnDrift:
        override = overrides.get(column, {})
        if column in current.columns:
            values = current[column]
        else:  # an empty batch (an empty log has no columns at all) is reported as empty
            values = pd.Series([], dtype=float, name=column) if len(current) == 0 else None
        return column_drift(
            reference[column],
            values,
            stats=(stats or {}).get(column),
            test=override.get("test"),
            threshold=override.get("threshold"),
            **settings,
        )

    # numpy sorts and searches release the GIL, so columns run in parallel on threads
    with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
        return dict(zip(columns, pool.map(one_column, columns), strict=True))


def dataset_verdict(
    columns: dict[str, ColumnDrift],
    *,
    drift_share: float,
    strict: bool = False,
    p_value: float = 0.05,
) -> DatasetDrift:
    """Dataset drift: the share of drifted columns reaches ``drift_share``.

    With ``strict``, also when any p-value test falls below ``p_value`` / number of columns
    (Bonferroni), so one strongly moved column is enough to raise the alarm. Columns that could
    not be tested are listed and left out of the share; with none tested the verdict is None.
    """
    tested = {name: result for name, result in columns.items() if result.drift is not None}
    drifted = sorted(name for name, result in tested.items() if result.drift)
    untested = sorted(set(columns) - set(tested))
    share = len(drifted) / len(tested) if tested else None
    bonferroni = p_value / len(columns) if columns else None
    strict_hits = sorted(
        name
        for name, result in tested.items()
        if result.p_value is not None and result.p_value < bonferroni
    )
    verdict = None
    if tested:
        verdict = share >= drift_share or (strict and bool(strict_hits))
    return DatasetDrift(
        drift=verdict,
        drifted_columns=drifted,
        n_drifted=len(drifted),
        n_tested=len(tested),
        share_drifted=share,
        drift_share=drift_share,
        strict=strict,
        bonferroni_p_value=bonferroni,
        bonferroni_columns=strict_hits,
        untested_columns=untested,
    )
